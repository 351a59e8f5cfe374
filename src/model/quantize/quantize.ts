// Static post-training quantization of an FP32 image classifier: BN folding, calibration
// on photos, QDQ rewrite. One entry point for the CLI and the tests.
import { access } from 'node:fs/promises';
import { join } from 'node:path';
import { ServeError } from '../../common/errors.js';
import { MODEL_FILE } from '../repository/repository.js';
import type { ModelEntry } from '../repository/contract.js';
import { foldBatchNorms } from './bn-fold.js';
import { collectStats, photoSource, type CalibrationSource } from './calibrate.js';
import { foldPads } from './pad-fold.js';
import { correctBiases } from './bias-correct.js';
import { decodeModel, encodeModel, loadModel, saveModel, type Model } from '../../onnx/proto.js';
import { planQuantization } from './plan.js';
import { insertQdq, type WeightBits, type WeightMode } from './qdq.js';
import type { RangeMethod } from './ranges.js';

export interface QuantizeOptions {
  method: RangeMethod;
  /** For `percentile`: the share of values kept inside the range, e.g. 99.999. */
  percentile: number;
  /** Node names left in FP32. */
  keep: readonly string[];
  weightZeroPoint: WeightMode;
  /** 7 (reduced range: exact on every x86 CPU) or 8 (only where VNNI/AMX); see WeightBits. */
  weightBits: WeightBits;
  batchSize: number;
  /** Move each layer's mean output shift (FP32 vs quantized, per channel) into its bias. */
  biasCorrection: boolean;
  onProgress?: (done: number, total: number) => void;
}

export const DEFAULT_QUANTIZE_OPTIONS: Omit<QuantizeOptions, 'onProgress'> = {
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

/** Quantizes `model` in place (it is also returned). */
export async function quantizeModel(model: Model, source: CalibrationSource, options: QuantizeOptions): Promise<QuantizeReport> {
  const foldedBatchNorms = foldBatchNorms(model);
  const foldedPads = foldPads(model);
  const plan = planQuantization(model, new Set(options.keep));
  const roots = [...plan.tensors].filter((t) => !plan.ties.has(t));
  const stats = await collectStats(model, roots, source, {
    batchSize: options.batchSize,
    withHistogram: options.method !== 'minmax',
    ...(options.onProgress === undefined ? {} : { onProgress: options.onProgress }),
  });
  const ranges = new Map([...stats].map(([name, s]) => [name, s.range(options.method, options.percentile)]));
  // The float model the rewrite starts from, for bias correction (a deep copy: insertQdq rewrites in place).
  const fp32 = options.biasCorrection ? decodeModel(encodeModel(model)) : undefined;
  const fp32Outputs = new Map(plan.weighted.map(({ node }) => [node, node.output?.[0] ?? '']));
  insertQdq(model, plan, { ranges, weightZeroPoint: options.weightZeroPoint, weightBits: options.weightBits });
  const biasCorrected =
    fp32 === undefined
      ? 0
      : await correctBiases(
          fp32,
          model,
          plan.weighted.map(({ node }) => ({ node, fp32Output: fp32Outputs.get(node) ?? '' })),
          source,
          options.batchSize,
        );
  model.producerName = 'swarmserve-quantize';
  model.docString =
    `${model.docString ?? ''}\nQDQ int8 (weights per channel, ${options.weightZeroPoint}, ${options.weightBits} bits; activations uint8 per tensor, ${options.method}${options.method === 'percentile' ? ` ${options.percentile}` : ''}) calibrated on ${source.count} items`.trim();
  return {
    foldedBatchNorms,
    foldedPads,
    weightedNodes: plan.weighted.length,
    quantizedActivations: plan.tensors.size,
    foldedActivations: plan.foldedActivations.size,
    floatNodes: plan.floatNodes.map((n) => n.name ?? ''),
    calibrationItems: source.count,
    biasCorrected,
  };
}

export interface QuantizeVersionResult extends QuantizeReport {
  path: string;
  version: string;
}

/** Quantizes a repository model's version into a new version directory beside it. */
export async function quantizeVersion(
  entry: ModelEntry,
  version: string | undefined,
  calibrationDirs: string | readonly string[],
  outVersion: string | undefined,
  options: QuantizeOptions,
): Promise<QuantizeVersionResult> {
  const from = version ?? entry.defaultVersion;
  const source = entry.versions.find((v) => v.version === from);
  if (source === undefined)
    throw new ServeError('VERSION_NOT_FOUND', `model "${entry.name}" has no version ${from} (versions: ${entry.versions.map((v) => v.version).join(', ')})`);
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
