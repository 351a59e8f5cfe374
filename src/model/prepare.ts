// Generates the bundled models' ONNX files when they are missing: nothing is downloaded,
// both come from what npm installed (nsfwjs weights) or from code (resnet50).
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import { readFile, rename, rm, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import type { Logger } from '../common/logger.js';
import { bundledModelsDir } from '../config/paths.js';
import { buildResnet50ToFile } from './build/resnet50.js';
import { importTfjsToFile } from './import/tfjs-layers.js';
import { MODEL_FILE } from './repository/repository.js';

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
    generate: (out) => importTfjsToFile(nsfwjsModelDir(), out),
  },
  {
    name: 'resnet50',
    version: '1',
    generator: 'resnet50/2',
    describe: 'build ResNet50 v1.5 with deterministic random weights',
    generate: (out) => buildResnet50ToFile(out),
  },
];

/** Generates each bundled model whose directory exists in `modelsDir` but has no ONNX file yet. */
export async function prepareBundledModels(modelsDir: string, logger: Logger, options: { force?: boolean; only?: readonly string[] } = {}): Promise<string[]> {
  const made: string[] = [];
  for (const model of BUNDLED_MODELS) {
    if (options.only !== undefined && !options.only.includes(model.name)) continue;
    const modelDir = join(modelsDir, model.name);
    if (!existsSync(join(modelDir, 'config.json'))) continue;
    const out = join(modelDir, model.version, MODEL_FILE);
    const stamp = join(modelDir, model.version, STAMP_FILE);
    const current = existsSync(stamp) ? (await readFile(stamp, 'utf8')).trim() : undefined;
    if (existsSync(out) && current === model.generator && options.force !== true) continue;
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
  return made;
}

/**
 * At a server's start: generates the missing bundled models when `modelsDir` is the bundled
 * repository (a user's repository is never written to). `only` as --only gives it (names or
 * model:version pairs).
 */
export async function prepareIfBundled(modelsDir: string, only: readonly string[] | undefined, logger: Logger): Promise<void> {
  if (resolve(modelsDir) !== resolve(bundledModelsDir())) return;
  await prepareBundledModels(modelsDir, logger, only === undefined ? {} : { only: only.map((s) => s.split(':')[0] ?? s) });
}
