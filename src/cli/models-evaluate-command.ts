// `swarmserve models evaluate MODEL --versions A,B --images DIR`: the accuracy report.
import type { Command } from 'commander';
import { ServeError } from '../common/errors.js';
import { addOptions, cliFlags, resolveOptions } from '../config/options.js';
import type { Bounds } from '../model/evaluate/compare.js';
import { evaluateVersions } from '../model/evaluate/evaluate.js';
import { formatEvaluation } from '../model/evaluate/format.js';
import { loadRepository } from '../model/repository/repository.js';
import { EVALUATE_OPTIONS } from './models-options.js';

export function registerEvaluateCommand(models: Command): void {
  const command = models.command('evaluate <model>').description('accuracy of one version against another (e.g. INT8 against FP32) on a directory of photos');
  addOptions(command, EVALUATE_OPTIONS).action(async (name: string, _opts: unknown, cmd: Command) => {
    const o = resolveOptions(EVALUATE_OPTIONS, cliFlags(cmd));
    const bounds: Bounds = {};
    if (o.minTop1 !== undefined) bounds.minTop1 = o.minTop1;
    if (o.minLowMarginTop1 !== undefined) bounds.minLowMarginTop1 = o.minLowMarginTop1;
    if (o.maxMeanAbsDiff !== undefined) bounds.maxMeanAbsDiff = o.maxMeanAbsDiff;
    if (o.minCosine !== undefined) bounds.minMeanCosine = o.minCosine;
    const repository = await loadRepository(o.models, [name]);
    const entry = repository.models.get(name);
    if (entry === undefined) throw new ServeError('MODEL_NOT_FOUND', `no model "${name}" in ${repository.root}`);
    const tty = process.stderr.isTTY;
    const report = await evaluateVersions(entry, {
      versions: o.versions,
      imageDirs: o.images,
      batchSize: o.batchSize,
      threads: o.threads,
      lowMargin: o.lowMargin,
      bounds,
      onProgress: (done, total) =>
        process.stderr.write(`${tty ? '\r' : ''}evaluating ${entry.name}: ${done}/${total} images${tty && done < total ? '' : '\n'}`),
    });
    process.stdout.write(o.json ? `${JSON.stringify(report, null, 2)}\n` : formatEvaluation(report));
    if (!report.pass) process.exitCode = 1;
  });
}
