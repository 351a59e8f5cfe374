import type { Command } from 'commander';
import { createLogger } from '../common/logger.js';
import { ServeError } from '../common/errors.js';
import { bundledModelsDir } from '../config/paths.js';
import { buildResnet50ToFile } from '../model/build/resnet50.js';
import { importTfjsToFile } from '../model/import/tfjs-layers.js';
import { prepareBundledModels } from '../model/prepare.js';
import { loadRepository } from '../model/repository/repository.js';

export function registerModelsCommands(program: Command): void {
  const models = program.command('models').description('import, build, prepare and list models');

  models
    .command('prepare')
    .description('generate the bundled models (moderation, resnet50) where their ONNX files are missing')
    .option('-m, --models <dir>', 'model repository [env: SWARMSERVE_MODELS]', process.env.SWARMSERVE_MODELS ?? bundledModelsDir())
    .option('--force', 'regenerate even if present', false)
    .action(async (opts: { models: string; force: boolean }) => {
      const logger = createLogger('info');
      const made = await prepareBundledModels(opts.models, logger, { force: opts.force });
      if (made.length === 0) logger.info('bundled models already prepared');
    });

  models
    .command('import-tfjs <dir> <out>')
    .description('convert a TF.js layers model (model.json + shards, or the nsfwjs bundle) to ONNX')
    .action(async (dir: string, out: string) => {
      const started = performance.now();
      const model = await importTfjsToFile(dir, out);
      process.stdout.write(`wrote ${out}: ${model.layerCount} layers, input ${model.inputName} [${model.inputShape.join(', ')}], output ${model.outputName} [${model.outputShape.join(', ')}] in ${((performance.now() - started) / 1000).toFixed(1)} s\n`);
    });

  models
    .command('build <architecture>')
    .description('build a model graph with deterministic random weights (architectures: resnet50)')
    .option('-o, --out <file>', 'output .onnx file', `${bundledModelsDir()}/resnet50/1/model.onnx`)
    .option('--seed <n>', 'weight seed', '1')
    .action(async (architecture: string, opts: { out: string; seed: string }) => {
      if (architecture !== 'resnet50') throw new ServeError('BAD_PARAMETER', `unknown architecture "${architecture}" (known: resnet50)`);
      const seed = Number(opts.seed);
      if (!Number.isSafeInteger(seed)) throw new ServeError('BAD_PARAMETER', `--seed must be an integer, got "${opts.seed}"`);
      const started = performance.now();
      const built = await buildResnet50ToFile(opts.out, { seed });
      process.stdout.write(`wrote ${opts.out}: ResNet50 v1.5, ${built.parameterCount.toLocaleString('en-US')} parameters, random untrained weights (load tests only), ${((performance.now() - started) / 1000).toFixed(1)} s\n`);
    });

  models
    .command('list')
    .description('list the models of a repository')
    .option('-m, --models <dir>', 'model repository [env: SWARMSERVE_MODELS]', process.env.SWARMSERVE_MODELS ?? bundledModelsDir())
    .action(async (opts: { models: string }) => {
      const repository = await loadRepository(opts.models);
      for (const entry of repository.models.values()) {
        const pre = entry.config.preprocess;
        process.stdout.write(
          `${entry.name}\tversions ${entry.versions.map((v) => v.version).join(',')} (default ${entry.defaultVersion})\t${entry.labels.length} labels\t${pre.layout} ${pre.width}×${pre.height}\tmaxBatch ${entry.config.batching.maxBatchSize}${entry.config.notice === undefined ? '' : `\t(${entry.config.notice})`}\n`,
        );
      }
    });
}
