// The INT8 version 2 of each bundled model, quantized from its FP32 version 1 with the
// calibration shipped beside its config.json (models/<name>/int8-calibration.json: ranges
// and bias corrections measured on the photos of scripts/fetch-photos.sh, docs/photos.md).
// No photos, no apt, no network: the same bytes on every run. Without a calibration file
// that fits version 1, no version 2 is built: never one calibrated on anything else.
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from '../common/logger.js';
import { CALIBRATION_FILE, calibrationOf, parseCalibrationFile, QUANTIZER_GENERATOR, sha256File, type CalibrationFile } from './quantize/calibration-file.js';
import { MODEL_FILE } from './repository/repository.js';

export const INT8_VERSION = '2';
export const FP32_VERSION = '1';
/** Bump (in calibration-file.ts) when the quantizer's output for the same inputs changes. */
export const INT8_GENERATOR = QUANTIZER_GENERATOR;
const STAMP_FILE = '.generator';

async function readStamp(dir: string): Promise<string | undefined> {
  const path = join(dir, STAMP_FILE);
  return existsSync(path) ? (await readFile(path, 'utf8')).trim() : undefined;
}

export interface Int8Outcome {
  model: string;
  /** no-calibration: no calibration file; stale-calibration: one measured on another version 1 or by another quantizer. */
  state: 'built' | 'current' | 'no-calibration' | 'stale-calibration' | 'removed-stale';
  path: string;
  /** Why no version 2 was built (stale-calibration, removed-stale). */
  reason?: string;
}

/** How to rewrite a bundled model's calibration file (docs/quantization.md). */
export function recalibrateCommand(name: string): string {
  return `npm run photos && node dist/src/cli/main.js models quantize ${name} --version ${FP32_VERSION} --calibration .cache/photos/calibration --write-calibration models/${name}/${CALIBRATION_FILE}`;
}

/** Does the calibration file fit this version 1? undefined if it does, else why not. */
async function mismatch(file: CalibrationFile, fp32Stamp: string, fp32Path: string): Promise<string | undefined> {
  if (file.generator !== INT8_GENERATOR) return `it was measured by ${file.generator}, this quantizer is ${INT8_GENERATOR}`;
  if (file.source.version !== FP32_VERSION) return `it was measured on version ${file.source.version}, not ${FP32_VERSION}`;
  if (file.source.generator !== fp32Stamp)
    return `it was measured on a version ${FP32_VERSION} made by ${file.source.generator ?? 'unknown'}, this one by ${fp32Stamp}`;
  const sha = await sha256File(fp32Path);
  if (file.source.sha256 !== sha)
    return `version ${FP32_VERSION}'s model.onnx differs from the one it was measured on (sha256 ${sha.slice(0, 12)}…, not ${file.source.sha256.slice(0, 12)}…)`;
  return undefined;
}

/**
 * Builds (or keeps) models/<name>/2 for one bundled model whose version 1 is prepared, from
 * the calibration file beside its config.json (offline, deterministic: no photos, no
 * onnxruntime). The stamp names the quantizer, version 1's generator and the calibration
 * file's digest, so a changed file rebuilds it. Without a file that fits, a version 2 made
 * from the same version 1 is kept (e.g. baked into an image), one made from an older
 * version 1 is removed.
 */
export async function prepareInt8(modelDir: string, name: string, logger: Logger, force = false): Promise<Int8Outcome> {
  const out = join(modelDir, INT8_VERSION, MODEL_FILE);
  const fp32Path = join(modelDir, FP32_VERSION, MODEL_FILE);
  const fp32Stamp = (await readStamp(join(modelDir, FP32_VERSION))) ?? 'unknown';
  const current = await readStamp(join(modelDir, INT8_VERSION));
  const calibrationPath = join(modelDir, CALIBRATION_FILE);
  const withoutBuild = async (state: 'no-calibration' | 'stale-calibration', reason?: string): Promise<Int8Outcome> => {
    const sameSource = current?.split(' ')[1] === fp32Stamp && existsSync(out);
    if (sameSource) return { model: name, state: 'current', path: out };
    if (existsSync(out)) {
      await rm(join(modelDir, INT8_VERSION), { recursive: true, force: true });
      const why = `it was quantized from an older version ${FP32_VERSION} and ${reason ?? `there is no ${CALIBRATION_FILE} to quantize again`}`;
      logger.warn({ model: name }, `removed ${name} version ${INT8_VERSION}: ${why}`);
      return { model: name, state: 'removed-stale', path: out, reason: why };
    }
    return { model: name, state, path: out, ...(reason === undefined ? {} : { reason }) };
  };
  if (!existsSync(calibrationPath)) return withoutBuild('no-calibration');
  const text = await readFile(calibrationPath, 'utf8');
  const stamp = `${INT8_GENERATOR} ${fp32Stamp} ${createHash('sha256').update(text).digest('hex').slice(0, 16)}`;
  if (existsSync(out) && current === stamp && !force) return { model: name, state: 'current', path: out };
  let file: CalibrationFile;
  try {
    file = parseCalibrationFile(text, calibrationPath);
  } catch (err) {
    return withoutBuild('stale-calibration', (err as Error).message);
  }
  const why = await mismatch(file, fp32Stamp, fp32Path);
  if (why !== undefined) return withoutBuild('stale-calibration', `${calibrationPath} does not fit: ${why}`);
  const started = performance.now();
  // The quantizer (onnx-proto, protobufjs…) is loaded only to build: a server that finds its
  // version 2 current keeps none of it on its heap.
  const [{ loadModel, saveModel }, { quantizeWithCalibration }] = await Promise.all([import('../onnx/proto.js'), import('./quantize/quantize.js')]);
  logger.info(
    { model: name },
    `quantizing ${name} version ${FP32_VERSION} to INT8 version ${INT8_VERSION} from ${CALIBRATION_FILE} (measured on ${file.photos.items} photos)…`,
  );
  const model = await loadModel(fp32Path);
  let report: ReturnType<typeof quantizeWithCalibration>;
  try {
    report = quantizeWithCalibration(model, calibrationOf(file), file.settings);
  } catch (err) {
    return withoutBuild('stale-calibration', `${calibrationPath} does not fit: ${(err as Error).message}`);
  }
  await mkdir(join(modelDir, INT8_VERSION), { recursive: true });
  // Write beside and rename, so a crash never leaves a half-written model behind.
  const partial = `${out}.partial-${process.pid}`;
  try {
    await saveModel(model, partial);
    await rename(partial, out);
    await writeFile(join(modelDir, INT8_VERSION, STAMP_FILE), `${stamp}\n`);
  } finally {
    await rm(partial, { force: true });
  }
  logger.info(
    { model: name, path: out, seconds: ((performance.now() - started) / 1000).toFixed(1), int8Nodes: report.weightedNodes, floatNodes: report.floatNodes },
    `prepared ${name} version ${INT8_VERSION} (INT8)`,
  );
  return { model: name, state: 'built', path: out };
}
