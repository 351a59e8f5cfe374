// `swarmserve models evaluate MODEL --versions A,B --images DIR`: the accuracy report.
import type { Command } from 'commander';
import { ServeError } from '../common/errors.js';
import { bundledModelsDir } from '../config/paths.js';
import type { Bounds } from '../model/evaluate/compare.js';
import { DEFAULT_EVALUATE_OPTIONS, evaluateVersions } from '../model/evaluate/evaluate.js';
import { formatEvaluation } from '../model/evaluate/format.js';
import { loadRepository } from '../model/repository/repository.js';

interface EvaluateCliOptions {
  models: string;
  versions: string;
  images: string[];
  json: boolean;
  batchSize: string;
  threads: string;
  lowMargin: string;
  minTop1?: string;
  minLowMarginTop1?: string;
  maxMeanAbsDiff?: string;
  minCosine?: string;
}

function ratio(value: string | undefined, flag: string): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (value.trim() === '' || !(n >= 0 && n <= 1)) throw new ServeError('BAD_PARAMETER', `${flag} must be a number in [0, 1], got "${value}"`);
  return n;
}

function positiveInt(value: string, flag: string): number {
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n < 1) throw new ServeError('BAD_PARAMETER', `${flag} must be a positive integer, got "${value}"`);
  return n;
}

export function registerEvaluateCommand(models: Command): void {
  models
    .command('evaluate <model>')
    .description('accuracy of one version against another (e.g. INT8 against FP32) on a directory of photos')
    .option('-m, --models <dir>', 'model repository [env: SWARMSERVE_MODELS]', process.env.SWARMSERVE_MODELS ?? bundledModelsDir())
    .requiredOption('--versions <a,b>', 'reference version, then the version judged against it (e.g. 1,2)')
    .requiredOption('--images <dir...>', 'one or more directories of photos (never the calibration photos)')
    .option('--json', 'print the report as JSON (schema swarmserve.evaluate/1)', false)
    .option('--batch-size <n>', 'images per run', String(DEFAULT_EVALUATE_OPTIONS.batchSize))
    .option('--threads <n>', 'onnxruntime intra-op threads', String(DEFAULT_EVALUATE_OPTIONS.threads))
    .option('--low-margin <p>', "an image is low-margin when the reference's top two probabilities are within this", String(DEFAULT_EVALUATE_OPTIONS.lowMargin))
    .option('--min-top1 <ratio>', 'fail (exit 1) when top-1 agreement is below this, e.g. 0.95')
    .option('--min-low-margin-top1 <ratio>', 'fail when top-1 agreement on low-margin images is below this')
    .option('--max-mean-abs-diff <p>', 'fail when the mean absolute probability difference is above this')
    .option('--min-cosine <c>', 'fail when the mean logits cosine is below this')
    .action(async (name: string, opts: EvaluateCliOptions) => {
      const versions = opts.versions.split(',').map((v) => v.trim());
      if (versions.length !== 2 || versions.some((v) => !/^\d+$/.test(v)) || versions[0] === versions[1]) {
        throw new ServeError('BAD_PARAMETER', `--versions takes two different version numbers, reference first (e.g. 1,2); got "${opts.versions}"`);
      }
      const lowMargin = ratio(opts.lowMargin, '--low-margin') ?? DEFAULT_EVALUATE_OPTIONS.lowMargin;
      const bounds: Bounds = {};
      const minTop1 = ratio(opts.minTop1, '--min-top1');
      const minLow = ratio(opts.minLowMarginTop1, '--min-low-margin-top1');
      const maxDiff = ratio(opts.maxMeanAbsDiff, '--max-mean-abs-diff');
      const minCos = ratio(opts.minCosine, '--min-cosine');
      if (minTop1 !== undefined) bounds.minTop1 = minTop1;
      if (minLow !== undefined) bounds.minLowMarginTop1 = minLow;
      if (maxDiff !== undefined) bounds.maxMeanAbsDiff = maxDiff;
      if (minCos !== undefined) bounds.minMeanCosine = minCos;
      const batchSize = positiveInt(opts.batchSize, '--batch-size');
      const threads = positiveInt(opts.threads, '--threads');
      const repository = await loadRepository(opts.models, [name]);
      const entry = repository.models.get(name);
      if (entry === undefined) throw new ServeError('MODEL_NOT_FOUND', `no model "${name}" in ${repository.root}`);
      const tty = process.stderr.isTTY;
      const report = await evaluateVersions(entry, {
        versions: [versions[0] as string, versions[1] as string],
        imageDirs: opts.images,
        batchSize,
        threads,
        lowMargin,
        bounds,
        onProgress: (done, total) =>
          process.stderr.write(`${tty ? '\r' : ''}evaluating ${entry.name}: ${done}/${total} images${tty && done < total ? '' : '\n'}`),
      });
      process.stdout.write(opts.json ? `${JSON.stringify(report, null, 2)}\n` : formatEvaluation(report));
      if (!report.pass) process.exitCode = 1;
    });
}
