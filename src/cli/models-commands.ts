import type { Command } from 'commander';
import { createLogger } from '../common/logger.js';
import { ServeError } from '../common/errors.js';
import { addOptions, cliFlags, resolveOptions } from '../config/options.js';
import { buildResnet50ToFile } from '../model/build/resnet50.js';
import { importTfjsToFile } from '../model/import/tfjs-layers.js';
import { prepareBundledModels } from '../model/prepare.js';
import { loadRepository } from '../model/repository/repository.js';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { writeCalibrationFile } from '../model/quantize/calibration-file.js';
import { calibrateVersion, quantizeVersion } from '../model/quantize/quantize.js';
import { registerEvaluateCommand } from './models-evaluate-command.js';
import { BUILD_OPTIONS, LIST_OPTIONS, PREPARE_OPTIONS, QUANTIZE_OPTIONS } from './models-options.js';

export function registerModelsCommands(program: Command): void {
  const models = program.command('models').description('import, build, prepare and list models');

  const prepare = models
    .command('prepare')
    .description(
      'generate the bundled models where missing: version 1 (FP32) of moderation and resnet50, and their INT8 version 2 from the calibration shipped beside each config.json (models/<name>/int8-calibration.json; no photos needed)',
    );
  addOptions(prepare, PREPARE_OPTIONS).action(async (_opts: unknown, cmd: Command) => {
    const opts = resolveOptions(PREPARE_OPTIONS, cliFlags(cmd));
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

  const build = models.command('build <architecture>').description('build a model graph with deterministic random weights (architectures: resnet50)');
  addOptions(build, BUILD_OPTIONS).action(async (architecture: string, _opts: unknown, cmd: Command) => {
    const opts = resolveOptions(BUILD_OPTIONS, cliFlags(cmd));
    if (architecture !== 'resnet50') throw new ServeError('USAGE', `unknown architecture "${architecture}" (known: resnet50)`);
    const { seed } = opts;
    const started = performance.now();
    const built = await buildResnet50ToFile(opts.out, { seed });
    process.stdout.write(
      `wrote ${opts.out}: ResNet50 v1.5, ${built.parameterCount.toLocaleString('en-US')} parameters, random untrained weights (load tests only), ${((performance.now() - started) / 1000).toFixed(1)} s\n`,
    );
  });

  const quantize = models.command('quantize <model>').description('static INT8 quantization (QDQ) of a model version into a new version, calibrated on photos');
  addOptions(quantize, QUANTIZE_OPTIONS).action(async (name: string, _opts: unknown, cmd: Command) => {
    const { models: dir, version, calibration, outVersion, writeCalibration, ...settings } = resolveOptions(QUANTIZE_OPTIONS, cliFlags(cmd));
    if (writeCalibration !== undefined && outVersion !== undefined) throw new ServeError('USAGE', '--write-calibration writes no version: drop --out-version');
    const repository = await loadRepository(dir, [name]);
    const entry = repository.models.get(name);
    if (entry === undefined) throw new ServeError('MODEL_NOT_FOUND', `no model "${name}" in ${repository.root}`);
    const started = performance.now();
    const tty = process.stderr.isTTY;
    const options = {
      ...settings,
      onProgress: (done: number, total: number) =>
        process.stderr.write(`${tty ? '\r' : ''}calibrating ${entry.name}: ${done}/${total} photos${tty && done < total ? '' : '\n'}`),
    };
    if (writeCalibration !== undefined) {
      const measured = version ?? entry.defaultVersion;
      const stamp = await readFile(join(entry.dir, measured, '.generator'), 'utf8').then(
        (s) => s.trim(),
        () => null,
      );
      const { report, file } = await calibrateVersion(entry, measured, calibration, options, stamp);
      await writeCalibrationFile(writeCalibration, file);
      process.stdout.write(
        `wrote ${writeCalibration}: calibration of ${entry.name} version ${measured}, ${Object.keys(file.ranges).length} activation ranges, ${report.biasCorrected} bias corrections, measured on ${report.calibrationItems} photos in ${((performance.now() - started) / 1000).toFixed(1)} s\n`,
      );
      return;
    }
    const result = await quantizeVersion(entry, version, calibration, outVersion, options);
    process.stdout.write(
      `wrote ${result.path} (version ${result.version}): ${result.foldedBatchNorms} BatchNormalization and ${result.foldedPads} Pad folded into Conv, ${result.foldedActivations} Relu/Clip folded into ranges, ${result.weightedNodes} nodes with int8 weights, ${result.quantizedActivations} uint8 activations, FP32 nodes: ${result.floatNodes.join(', ') || 'none'}, ${result.biasCorrected} biases corrected; calibrated on ${result.calibrationItems} photos in ${((performance.now() - started) / 1000).toFixed(1)} s\n`,
    );
  });

  registerEvaluateCommand(models);

  const list = models.command('list').description('list the models of a repository');
  addOptions(list, LIST_OPTIONS).action(async (_opts: unknown, cmd: Command) => {
    const opts = resolveOptions(LIST_OPTIONS, cliFlags(cmd));
    const repository = await loadRepository(opts.models);
    for (const entry of repository.models.values()) {
      const pre = entry.config.preprocess;
      process.stdout.write(
        `${entry.name}\tversions ${entry.versions.map((v) => v.version).join(',')} (default ${entry.defaultVersion})\t${entry.labels.length} labels\t${pre.layout} ${pre.width}×${pre.height}\tmaxBatch ${entry.config.batching.maxBatchSize}${entry.config.notice === undefined ? '' : `\t(${entry.config.notice})`}\n`,
      );
    }
  });
}
