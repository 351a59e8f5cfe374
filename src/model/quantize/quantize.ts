// Static post-training quantization of an FP32 image classifier: BN folding, calibration
// on photos, QDQ rewrite. One entry point for the CLI and the tests.
import { access } from 'node:fs/promises';
import { join } from 'node:path';
import { ServeError } from '../../common/errors.js';
import { MODEL_FILE } from '../repository/repository.js';
import type { ModelEntry, ModelVersion } from '../repository/contract.js';
import { foldBatchNorms } from './bn-fold.js';
import { collectStats, photoSource, type CalibrationSource } from './calibrate.js';
import { foldPads } from './pad-fold.js';
import { applyBiasCorrections, measureBiasCorrections, type CorrectedNode } from './bias-correct.js';
import { decodeModel, encodeModel, loadModel, saveModel, type Model } from '../../onnx/proto.js';
import { planQuantization, type QuantizationPlan } from './plan.js';
import { insertQdq } from './qdq.js';
import { toCalibrationFile, type CalibrationFile, type CalibrationResult, type QuantizeSettings } from './calibration-file.js';

export interface QuantizeOptions extends QuantizeSettings {
  onProgress?: (done: number, total: number) => void;
}

export const DEFAULT_QUANTIZE_OPTIONS: QuantizeSettings = {
  method: 'percentile',
  percentile: 99.999,
  keep: [],
  weightZeroPoint: 'auto',
  weightBits: 7,
  batchSize: 4,
  biasCorrection: true,
};

export interface QuantizeReport {
  foldedBatchNorms: number;
  foldedPads: number;
  /** Conv/Gemm/MatMul nodes given int8 weights. */
  weightedNodes: number;
  /** Activations given a uint8 Q→DQ pair. */
  quantizedActivations: number;
  foldedActivations: number;
  floatNodes: string[];
  calibrationItems: number;
  /** Nodes whose bias was corrected (0 without --bias-correction). */
  biasCorrected: number;
}

interface Prepared {
  foldedBatchNorms: number;
  foldedPads: number;
  plan: QuantizationPlan;
  /** The tensors calibration measures: the plan's, less those tied to another. */
  roots: string[];
}

function prepare(model: Model, keep: readonly string[]): Prepared {
  const foldedBatchNorms = foldBatchNorms(model);
  const foldedPads = foldPads(model);
  const plan = planQuantization(model, new Set(keep));
  return { foldedBatchNorms, foldedPads, plan, roots: [...plan.tensors].filter((t) => !plan.ties.has(t)) };
}

function finish(model: Model, prepared: Prepared, settings: QuantizeSettings, items: number, biasCorrected: number): QuantizeReport {
  const { plan } = prepared;
  model.producerName = 'swarmserve-quantize';
  model.docString =
    `${model.docString ?? ''}\nQDQ int8 (weights per channel, ${settings.weightZeroPoint}, ${settings.weightBits} bits; activations uint8 per tensor, ${settings.method}${settings.method === 'percentile' ? ` ${settings.percentile}` : ''}) calibrated on ${items} items`.trim();
  return {
    foldedBatchNorms: prepared.foldedBatchNorms,
    foldedPads: prepared.foldedPads,
    weightedNodes: plan.weighted.length,
    quantizedActivations: plan.tensors.size,
    foldedActivations: plan.foldedActivations.size,
    floatNodes: plan.floatNodes.map((n) => n.name ?? ''),
    calibrationItems: items,
    biasCorrected,
  };
}

const correctedNodes = (plan: QuantizationPlan): CorrectedNode[] => plan.weighted.map(({ node }) => ({ node }));

/** Quantizes `model` in place (it is also returned), calibrated on `source`; the report holds what calibration measured. */
export async function quantizeModel(
  model: Model,
  source: CalibrationSource,
  options: QuantizeOptions,
): Promise<QuantizeReport & { calibration: CalibrationResult }> {
  const prepared = prepare(model, options.keep);
  const { plan } = prepared;
  const stats = await collectStats(model, prepared.roots, source, {
    batchSize: options.batchSize,
    withHistogram: options.method !== 'minmax',
    ...(options.onProgress === undefined ? {} : { onProgress: options.onProgress }),
  });
  const ranges = new Map([...stats].map(([name, s]) => [name, s.range(options.method, options.percentile)]));
  // The float model the rewrite starts from, for bias correction (a deep copy: insertQdq rewrites in place).
  const fp32 = options.biasCorrection ? decodeModel(encodeModel(model)) : undefined;
  insertQdq(model, plan, { ranges, weightZeroPoint: options.weightZeroPoint, weightBits: options.weightBits });
  const biasCorrections =
    fp32 === undefined ? new Map<string, number[]>() : await measureBiasCorrections(fp32, model, correctedNodes(plan), source, options.batchSize);
  const biasCorrected = applyBiasCorrections(model, correctedNodes(plan), biasCorrections);
  return { ...finish(model, prepared, options, source.count, biasCorrected), calibration: { ranges, biasCorrections, items: source.count } };
}

/**
 * Quantizes `model` in place from a calibration measured before (a calibration file), with
 * the settings it was measured with: no photos, no onnxruntime, the same bytes every time —
 * and the same as quantizeModel's when its calibration measured the same.
 */
export function quantizeWithCalibration(model: Model, calibration: CalibrationResult, settings: QuantizeSettings): QuantizeReport {
  const prepared = prepare(model, settings.keep);
  const { plan } = prepared;
  const missing = prepared.roots.filter((t) => !calibration.ranges.has(t));
  const roots = new Set(prepared.roots);
  const extra = [...calibration.ranges.keys()].filter((t) => !roots.has(t));
  if (missing.length > 0 || extra.length > 0)
    throw new ServeError(
      'CALIBRATION_FAILED',
      `the calibration does not fit this model: ${missing.length} activations without a range${missing.length > 0 ? ` (e.g. "${missing[0]}")` : ''}, ${extra.length} ranges of tensors it does not quantize${extra.length > 0 ? ` (e.g. "${extra[0]}")` : ''}`,
    );
  insertQdq(model, plan, { ranges: calibration.ranges, weightZeroPoint: settings.weightZeroPoint, weightBits: settings.weightBits });
  const biasCorrected = applyBiasCorrections(model, correctedNodes(plan), calibration.biasCorrections);
  return finish(model, prepared, settings, calibration.items, biasCorrected);
}

export interface QuantizeVersionResult extends QuantizeReport {
  path: string;
  version: string;
}

function versionOf(entry: ModelEntry, version: string | undefined): ModelVersion {
  const from = version ?? entry.defaultVersion;
  const source = entry.versions.find((v) => v.version === from);
  if (source === undefined)
    throw new ServeError('VERSION_NOT_FOUND', `model "${entry.name}" has no version ${from} (versions: ${entry.versions.map((v) => v.version).join(', ')})`);
  return source;
}

/**
 * Measures a repository model version's calibration on photos, as quantizeVersion would, and
 * returns it as a calibration file (written by `models quantize --write-calibration`); no
 * version is written. `generator` is the version's .generator stamp when it has one.
 */
export async function calibrateVersion(
  entry: ModelEntry,
  version: string | undefined,
  calibrationDirs: readonly string[],
  options: QuantizeOptions,
  generator: string | null = null,
): Promise<{ report: QuantizeReport; file: CalibrationFile }> {
  const source = versionOf(entry, version);
  const photos = await photoSource(calibrationDirs, entry.config.preprocess);
  const model = await loadModel(source.onnxPath);
  const { calibration, ...report } = await quantizeModel(model, photos, options);
  const info = { model: entry.name, version: source.version, generator, onnxPath: source.onnxPath, dirs: calibrationDirs };
  return { report, file: await toCalibrationFile(info, options, calibration) };
}

/** Quantizes a repository model's version into a new version directory beside it. */
export async function quantizeVersion(
  entry: ModelEntry,
  version: string | undefined,
  calibrationDirs: string | readonly string[],
  outVersion: string | undefined,
  options: QuantizeOptions,
): Promise<QuantizeVersionResult> {
  const source = versionOf(entry, version);
  const last = Number(entry.versions.at(-1)?.version ?? '0');
  const target = outVersion ?? String(last + 1);
  if (!/^\d+$/.test(target)) throw new ServeError('BAD_PARAMETER', `--out-version must be a number, got "${target}"`);
  const path = join(entry.dir, target, MODEL_FILE);
  if (
    await access(path).then(
      () => true,
      () => false,
    )
  )
    throw new ServeError('BAD_PARAMETER', `${path} already exists: choose another --out-version or remove it`);
  const photos = await photoSource(calibrationDirs, entry.config.preprocess);
  const model = await loadModel(source.onnxPath);
  const report = await quantizeModel(model, photos, options);
  await saveModel(model, path);
  return { ...report, path, version: target };
}
