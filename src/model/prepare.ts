// Generates the bundled models' ONNX files when they are missing: nothing is downloaded,
// both come from what npm installed (nsfwjs weights) or from code (resnet50).
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import { readFile, rename, rm, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import type { Logger } from '../common/logger.js';
import { bundledModelsDir } from '../config/paths.js';
import { MODEL_FILE } from './repository/repository.js';
import { FP32_VERSION, INT8_VERSION, prepareInt8, recalibrateCommand, type Int8Outcome } from './prepare-int8.js';

export interface BundledModel {
  name: string;
  version: string;
  /** Bump when the generator's output changes, so prepared files are regenerated. */
  generator: string;
  describe: string;
  generate: (outPath: string) => Promise<unknown>;
}

/** Beside a generated model: which generator made it (a stale file is regenerated). */
const STAMP_FILE = '.generator';

/** Where npm put the nsfwjs MobileNetV2 (TF.js layers bundle). */
export function nsfwjsModelDir(): string {
  const require = createRequire(import.meta.url);
  const entry = require.resolve('nsfwjs'); // …/nsfwjs/dist/cjs/index.js
  return join(dirname(entry), '..', 'models', 'mobilenet_v2');
}

export const BUNDLED_MODELS: readonly BundledModel[] = [
  {
    name: 'moderation',
    version: '1',
    generator: 'import-tfjs/2',
    describe: 'import the nsfwjs MobileNetV2 (TF.js layers) into ONNX',
    generate: async (out) => (await import('./import/tfjs-layers.js')).importTfjsToFile(nsfwjsModelDir(), out),
  },
  {
    name: 'resnet50',
    version: '1',
    generator: 'resnet50/2',
    describe: 'build ResNet50 v1.5 with deterministic random weights',
    generate: async (out) => (await import('./build/resnet50.js')).buildResnet50ToFile(out),
  },
];

export interface PrepareOptions {
  force?: boolean;
  /** Model names, or model:version pairs (as --only gives them); default: every bundled model. */
  only?: readonly string[];
  /** false: build no INT8 version (the FP32 versions only). */
  int8?: boolean;
}

/** Does `only` ask for this model's `version`? */
function wanted(only: readonly string[] | undefined, name: string, version: string): boolean {
  return only === undefined || only.some((o) => o === name || o === `${name}:${version}`);
}

/**
 * Generates each bundled model whose directory exists in `modelsDir` but has no ONNX file
 * yet (version 1, FP32), then its INT8 version 2 from the calibration file shipped beside
 * its config.json (docs/quantization.md). Returns the files written.
 */
export async function prepareBundledModels(modelsDir: string, logger: Logger, options: PrepareOptions = {}): Promise<string[]> {
  const made: string[] = [];
  const int8: Int8Outcome[] = [];
  for (const model of BUNDLED_MODELS) {
    const needFp32 = wanted(options.only, model.name, FP32_VERSION);
    const needInt8 = options.int8 !== false && wanted(options.only, model.name, INT8_VERSION);
    if (!needFp32 && !needInt8) continue;
    const modelDir = join(modelsDir, model.name);
    if (!existsSync(join(modelDir, 'config.json'))) continue;
    const out = join(modelDir, model.version, MODEL_FILE);
    const stamp = join(modelDir, model.version, STAMP_FILE);
    const current = existsSync(stamp) ? (await readFile(stamp, 'utf8')).trim() : undefined;
    // Version 1 is also the source of version 2: make it whenever either is wanted.
    if (!existsSync(out) || current !== model.generator || options.force === true) {
      const started = performance.now();
      logger.info({ model: model.name }, `preparing ${model.name}: ${model.describe}…`);
      // Write beside and rename, so a crash never leaves a half-written model behind.
      const partial = `${out}.partial-${process.pid}`;
      try {
        await model.generate(partial);
        await rename(partial, out);
        await writeFile(stamp, `${model.generator}\n`);
      } finally {
        await rm(partial, { force: true });
      }
      logger.info({ model: model.name, path: out, seconds: ((performance.now() - started) / 1000).toFixed(1) }, `prepared ${model.name}`);
      made.push(out);
    }
    if (needInt8) {
      const outcome = await prepareInt8(modelDir, model.name, logger, options.force === true);
      if (outcome.state === 'built') made.push(outcome.path);
      int8.push(outcome);
    }
  }
  for (const o of int8.filter((o) => o.state !== 'built' && o.state !== 'current'))
    logger.warn(
      { model: o.model, state: o.state },
      `INT8 version ${INT8_VERSION} of ${o.model} not built (version ${FP32_VERSION}, FP32, serves as usual): ${o.reason ?? 'no calibration file'}. To measure it again from photos: ${recalibrateCommand(o.model)}`,
    );
  return made;
}

/**
 * At a server's start: generates the missing bundled models when `modelsDir` is the bundled
 * repository (a user's repository is never written to). `only` as --only gives it (names or
 * model:version pairs).
 */
export async function prepareIfBundled(modelsDir: string, only: readonly string[] | undefined, logger: Logger): Promise<void> {
  if (resolve(modelsDir) !== resolve(bundledModelsDir())) return;
  await prepareBundledModels(modelsDir, logger, only === undefined ? {} : { only });
}
