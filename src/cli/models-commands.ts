import type { Command } from 'commander';
import { createLogger } from '../common/logger.js';
import { ServeError } from '../common/errors.js';
import { bundledModelsDir } from '../config/paths.js';
import { buildResnet50ToFile } from '../model/build/resnet50.js';
import { importTfjsToFile } from '../model/import/tfjs-layers.js';
import { prepareBundledModels } from '../model/prepare.js';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { writeCalibrationFile } from '../model/quantize/calibration-file.js';
import { loadRepository } from '../model/repository/repository.js';
import { calibrateVersion, DEFAULT_QUANTIZE_OPTIONS, quantizeVersion } from '../model/quantize/quantize.js';
import { RANGE_METHODS, type RangeMethod } from '../model/quantize/ranges.js';
import { WEIGHT_BITS, WEIGHT_MODES, type WeightBits, type WeightMode } from '../model/quantize/qdq.js';
import { registerEvaluateCommand } from './models-evaluate-command.js';

export function registerModelsCommands(program: Command): void {
  const models = program.command('models').description('import, build, prepare and list models');

  models
    .command('prepare')
    .description(
      'generate the bundled models where missing: version 1 (FP32) of moderation and resnet50, and their INT8 version 2 from the calibration shipped beside each config.json (models/<name>/int8-calibration.json; no photos needed)',
    )
    .option('-m, --models <dir>', 'model repository [env: SWARMSERVE_MODELS]', process.env.SWARMSERVE_MODELS ?? bundledModelsDir())
    .option('--no-int8', 'build no INT8 version 2')
    .option('--force', 'regenerate even if present', false)
    .action(async (opts: { models: string; int8: boolean; force: boolean }) => {
      const logger = createLogger('info');
      const made = await prepareBundledModels(opts.models, logger, { force: opts.force, int8: opts.int8 });
      if (made.length === 0) logger.info('bundled models already prepared');
    });

  models
    .command('import-tfjs <dir> <out>')
    .description('convert a TF.js layers model (model.json + shards, or the nsfwjs bundle) to ONNX')
    .action(async (dir: string, out: string) => {
      const started = performance.now();
      const model = await importTfjsToFile(dir, out);
      process.stdout.write(
        `wrote ${out}: ${model.layerCount} layers, input ${model.inputName} [${model.inputShape.join(', ')}], output ${model.outputName} [${model.outputShape.join(', ')}] in ${((performance.now() - started) / 1000).toFixed(1)} s\n`,
      );
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
      process.stdout.write(
        `wrote ${opts.out}: ResNet50 v1.5, ${built.parameterCount.toLocaleString('en-US')} parameters, random untrained weights (load tests only), ${((performance.now() - started) / 1000).toFixed(1)} s\n`,
      );
    });

  models
    .command('quantize <model>')
    .description('static INT8 quantization (QDQ) of a model version into a new version, calibrated on photos')
    .option('-m, --models <dir>', 'model repository [env: SWARMSERVE_MODELS]', process.env.SWARMSERVE_MODELS ?? bundledModelsDir())
    .option('--version <v>', 'the FP32 version to quantize (default: the default version)')
    .requiredOption('--calibration <dir...>', 'one or more directories of calibration photos (preprocessed as the model config says)')
    .option('--out-version <v>', 'version to write (default: the highest version + 1)')
    .option('--method <method>', `activation range method: ${RANGE_METHODS.join(' | ')}`, DEFAULT_QUANTIZE_OPTIONS.method)
    .option('--percentile <p>', 'for --method percentile: share of values kept in range', String(DEFAULT_QUANTIZE_OPTIONS.percentile))
    .option('--keep <nodes>', 'comma-separated node names to leave in FP32 (e.g. the first conv or the classifier)', '')
    .option(
      '--weight-zero-point <mode>',
      'int8 weights: symmetric (zero point 0) | asymmetric (per-channel zero point) | auto (asymmetric for convs larger than 1×1)',
      DEFAULT_QUANTIZE_OPTIONS.weightZeroPoint,
    )
    .option(
      '--weight-bits <n>',
      'int8 weight range: 7 ([-64, 63], exact on every x86 CPU) | 8 ([-128, 127], exact only with VNNI or AMX: AVX2-only CPUs saturate)',
      String(DEFAULT_QUANTIZE_OPTIONS.weightBits),
    )
    .option('--batch-size <n>', 'calibration batch size', String(DEFAULT_QUANTIZE_OPTIONS.batchSize))
    .option('--no-bias-correction', "skip moving each layer's mean quantization shift into its bias")
    .option(
      '--write-calibration <file>',
      'write what calibration measured (ranges, bias corrections, settings, digests) to FILE instead of a new version; models prepare builds version 2 of a bundled model from models/<name>/int8-calibration.json',
    )
    .action(async (name: string, opts: QuantizeCliOptions) => {
      const repository = await loadRepository(opts.models, [name]);
      const entry = repository.models.get(name);
      if (entry === undefined) throw new ServeError('MODEL_NOT_FOUND', `no model "${name}" in ${repository.root}`);
      const started = performance.now();
      const tty = process.stderr.isTTY;
      const options = {
        ...parseQuantizeOptions(opts),
        onProgress: (done: number, total: number) =>
          process.stderr.write(`${tty ? '\r' : ''}calibrating ${entry.name}: ${done}/${total} photos${tty && done < total ? '' : '\n'}`),
      };
      if (opts.writeCalibration !== undefined) {
        if (opts.outVersion !== undefined) throw new ServeError('BAD_PARAMETER', '--write-calibration writes no version: drop --out-version');
        const version = opts.version ?? entry.defaultVersion;
        const stamp = await readFile(join(entry.dir, version, '.generator'), 'utf8').then(
          (s) => s.trim(),
          () => null,
        );
        const { report, file } = await calibrateVersion(entry, version, opts.calibration, options, stamp);
        await writeCalibrationFile(opts.writeCalibration, file);
        process.stdout.write(
          `wrote ${opts.writeCalibration}: calibration of ${entry.name} version ${version}, ${Object.keys(file.ranges).length} activation ranges, ${report.biasCorrected} bias corrections, measured on ${report.calibrationItems} photos in ${((performance.now() - started) / 1000).toFixed(1)} s\n`,
        );
        return;
      }
      const result = await quantizeVersion(entry, opts.version, opts.calibration, opts.outVersion, options);
      process.stdout.write(
        `wrote ${result.path} (version ${result.version}): ${result.foldedBatchNorms} BatchNormalization and ${result.foldedPads} Pad folded into Conv, ${result.foldedActivations} Relu/Clip folded into ranges, ${result.weightedNodes} nodes with int8 weights, ${result.quantizedActivations} uint8 activations, FP32 nodes: ${result.floatNodes.join(', ') || 'none'}, ${result.biasCorrected} biases corrected; calibrated on ${result.calibrationItems} photos in ${((performance.now() - started) / 1000).toFixed(1)} s\n`,
      );
    });

  registerEvaluateCommand(models);

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

interface QuantizeCliOptions {
  models: string;
  version?: string;
  calibration: string[];
  outVersion?: string;
  method: string;
  percentile: string;
  keep: string;
  weightZeroPoint: string;
  weightBits: string;
  batchSize: string;
  biasCorrection: boolean;
  writeCalibration?: string;
}

function parseQuantizeOptions(opts: QuantizeCliOptions): {
  method: RangeMethod;
  percentile: number;
  keep: string[];
  weightZeroPoint: WeightMode;
  weightBits: WeightBits;
  batchSize: number;
  biasCorrection: boolean;
} {
  const method = RANGE_METHODS.find((m) => m === opts.method);
  if (method === undefined) throw new ServeError('BAD_PARAMETER', `--method must be one of ${RANGE_METHODS.join(', ')}, got "${opts.method}"`);
  const percentile = Number(opts.percentile);
  if (!(percentile > 50 && percentile <= 100)) throw new ServeError('BAD_PARAMETER', `--percentile must be in (50, 100], got "${opts.percentile}"`);
  const weightZeroPoint = WEIGHT_MODES.find((m) => m === opts.weightZeroPoint);
  if (weightZeroPoint === undefined)
    throw new ServeError('BAD_PARAMETER', `--weight-zero-point must be one of ${WEIGHT_MODES.join(', ')}, got "${opts.weightZeroPoint}"`);
  const weightBits = WEIGHT_BITS.find((b) => String(b) === opts.weightBits);
  if (weightBits === undefined) throw new ServeError('BAD_PARAMETER', `--weight-bits must be one of ${WEIGHT_BITS.join(', ')}, got "${opts.weightBits}"`);
  const batchSize = Number(opts.batchSize);
  if (!Number.isSafeInteger(batchSize) || batchSize < 1)
    throw new ServeError('BAD_PARAMETER', `--batch-size must be a positive integer, got "${opts.batchSize}"`);
  const keep = opts.keep
    .split(',')
    .map((k) => k.trim())
    .filter((k) => k !== '');
  return { method, percentile, keep, weightZeroPoint, weightBits, batchSize, biasCorrection: opts.biasCorrection };
}
