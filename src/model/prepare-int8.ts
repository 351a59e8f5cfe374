// The INT8 version 2 of each bundled model, quantized from its FP32 version 1 with the
// calibration photos of scripts/fetch-photos.sh (docs/photos.md). Without those photos no
// version 2 is built: never one calibrated on anything else.
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readFile, rename, rm, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import type { Logger } from '../common/logger.js';
import { packageRoot } from '../config/paths.js';
import { listImageFiles } from './image-files.js';
import { loadModel as loadEntry, MODEL_FILE } from './repository/repository.js';

export const INT8_VERSION = '2';
export const FP32_VERSION = '1';
/** Bump when the quantizer's output for the same inputs changes. */
export const INT8_GENERATOR = 'quantize/3';
const STAMP_FILE = '.generator';

/** Where scripts/fetch-photos.sh writes by default; SWARMSERVE_PHOTOS or --photos override it. */
export function defaultPhotosDir(): string {
  return process.env.SWARMSERVE_PHOTOS ?? join(packageRoot(), '.cache', 'photos');
}

/**
 * The calibration directory of a photo set. Its flips and crops (calibration-augmented/)
 * are left out: on the bundled models they changed no evaluation figure beyond noise and
 * tripled the time (docs/quantization.md); `models quantize --calibration` takes both.
 */
export function calibrationDirs(photosDir: string): string[] {
  return [join(photosDir, 'calibration')].filter((d) => existsSync(d));
}

/** A digest of the calibration file names and sizes: a changed set means a new version 2. */
async function calibrationDigest(dirs: readonly string[]): Promise<string> {
  const hash = createHash('sha256');
  for (const dir of dirs)
    for (const file of await listImageFiles(dir, 'CALIBRATION_FAILED', 'calibration')) hash.update(`${basename(dir)}/${basename(file)}\n`);
  return hash.digest('hex').slice(0, 16);
}

async function readStamp(dir: string): Promise<string | undefined> {
  const path = join(dir, STAMP_FILE);
  return existsSync(path) ? (await readFile(path, 'utf8')).trim() : undefined;
}

export interface Int8Outcome {
  model: string;
  state: 'built' | 'current' | 'no-photos' | 'removed-stale';
  path: string;
}

/**
 * Builds (or keeps) models/<name>/2 for one bundled model whose version 1 is prepared.
 * The stamp names the quantizer, version 1's generator and the calibration set; without
 * photos a version 2 made from the same version 1 is kept (e.g. baked into an image), one
 * made from an older version 1 is removed.
 */
export async function prepareInt8(modelDir: string, name: string, photosDir: string, logger: Logger, force = false): Promise<Int8Outcome> {
  const out = join(modelDir, INT8_VERSION, MODEL_FILE);
  const fp32Stamp = (await readStamp(join(modelDir, FP32_VERSION))) ?? 'unknown';
  const current = await readStamp(join(modelDir, INT8_VERSION));
  const dirs = calibrationDirs(photosDir);
  const havePhotos = existsSync(join(photosDir, 'manifest.json')) && dirs.length > 0;
  if (!havePhotos) {
    const sameSource = current?.split(' ')[1] === fp32Stamp && existsSync(out);
    if (sameSource) return { model: name, state: 'current', path: out };
    if (existsSync(out)) {
      await rm(join(modelDir, INT8_VERSION), { recursive: true, force: true });
      logger.warn(
        { model: name },
        `removed ${name} version ${INT8_VERSION}: it was quantized from an older version ${FP32_VERSION} and there are no photos to quantize again`,
      );
      return { model: name, state: 'removed-stale', path: out };
    }
    return { model: name, state: 'no-photos', path: out };
  }
  const stamp = `${INT8_GENERATOR} ${fp32Stamp} ${await calibrationDigest(dirs)}`;
  if (existsSync(out) && current === stamp && !force) return { model: name, state: 'current', path: out };
  const started = performance.now();
  // The quantizer (onnx-proto, protobufjs…) is loaded only to build: a server that finds its
  // version 2 current keeps none of it on its heap.
  const [{ photoSource }, { loadModel, saveModel }, { DEFAULT_QUANTIZE_OPTIONS, quantizeModel }] = await Promise.all([
    import('./quantize/calibrate.js'),
    import('../onnx/proto.js'),
    import('./quantize/quantize.js'),
  ]);
  const entry = await loadEntry(name, modelDir);
  const source = await photoSource(dirs, entry.config.preprocess);
  logger.info(
    { model: name },
    `quantizing ${name} version ${FP32_VERSION} to INT8 version ${INT8_VERSION} on ${source.count} calibration samples from ${photosDir}…`,
  );
  const model = await loadModel(join(modelDir, FP32_VERSION, MODEL_FILE));
  let lastLogged = 0;
  const report = await quantizeModel(model, source, {
    ...DEFAULT_QUANTIZE_OPTIONS,
    onProgress: (done, total) => {
      // A line every ~25 % (a log, not a terminal: no carriage returns).
      if (done === total || done - lastLogged >= total / 4) {
        lastLogged = done;
        logger.info({ model: name, done, total }, `calibrating ${name}: ${done}/${total}`);
      }
    },
  });
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
