// `swarmserve models evaluate`: one version of a model against another on a directory of
// photos, each photo preprocessed once (as the server does) and run through both.
import { readFile } from 'node:fs/promises';
import { basename } from 'node:path';
import { ServeError } from '../../common/errors.js';
import { ImagePreprocessor } from '../../runtime/preprocess.js';
import { listImageFiles } from '../image-files.js';
import type { ModelEntry, ModelVersion } from '../repository/contract.js';
import { checkBounds, compareOutputs, DEFAULT_LOW_MARGIN, type Bounds, type ImageOutputs } from './compare.js';
import { EVALUATION_SCHEMA_ID, type EvaluationReport } from './contract.js';
import { VersionRunner } from './version-runner.js';

export interface EvaluateOptions {
  /** [reference, candidate] */
  versions: readonly [string, string];
  imageDirs: readonly string[];
  batchSize: number;
  threads: number;
  lowMargin: number;
  bounds: Bounds;
  onProgress?: (done: number, total: number) => void;
}

export const DEFAULT_EVALUATE_OPTIONS = { batchSize: 8, threads: 2, lowMargin: DEFAULT_LOW_MARGIN } as const;

function versionOf(entry: ModelEntry, version: string): ModelVersion {
  const found = entry.versions.find((v) => v.version === version);
  if (found === undefined)
    throw new ServeError('VERSION_NOT_FOUND', `model "${entry.name}" has no version ${version} (versions: ${entry.versions.map((v) => v.version).join(', ')})`);
  return found;
}

export async function evaluateVersions(entry: ModelEntry, options: EvaluateOptions): Promise<EvaluationReport> {
  const started = performance.now();
  const [referenceVersion, candidateVersion] = options.versions.map((v) => versionOf(entry, v)) as [ModelVersion, ModelVersion];
  const files: string[] = [];
  for (const dir of options.imageDirs) files.push(...(await listImageFiles(dir, 'EVALUATION_FAILED', 'evaluation')));
  const pre = new ImagePreprocessor(entry.config.preprocess);
  const cfg = entry.config.preprocess;
  const itemDims = cfg.layout === 'NCHW' ? [3, cfg.height, cfg.width] : [cfg.height, cfg.width, 3];
  const batch = Math.max(1, Math.min(options.batchSize, files.length));
  const buffer = new Float32Array(batch * pre.itemSize); // reused for every batch
  const reference = await VersionRunner.create(entry, referenceVersion, options.threads);
  const outputs: ImageOutputs[] = [];
  try {
    const candidate = await VersionRunner.create(entry, candidateVersion, options.threads);
    try {
      for (let start = 0; start < files.length; start += batch) {
        const chunk = files.slice(start, start + batch);
        for (const [i, file] of chunk.entries()) {
          try {
            pre.fill(await pre.decode(await readFile(file)), buffer, i);
          } catch (err) {
            throw new ServeError('EVALUATION_FAILED', `photo ${file}: ${(err as Error).message}`);
          }
        }
        const refOut = await reference.run(buffer, chunk.length, itemDims);
        const candOut = await candidate.run(buffer, chunk.length, itemDims);
        chunk.forEach((file, i) => {
          const r = refOut[i];
          const c = candOut[i];
          if (r === undefined || c === undefined || r.probabilities.length !== c.probabilities.length || r.logits.length !== c.logits.length) {
            throw new ServeError(
              'EVALUATION_FAILED',
              `versions ${referenceVersion.version} and ${candidateVersion.version} give outputs of different sizes (${r?.probabilities.length ?? 0} vs ${c?.probabilities.length ?? 0}): not the same classifier`,
            );
          }
          outputs.push({ file: basename(file), reference: r, candidate: c });
        });
        options.onProgress?.(start + chunk.length, files.length);
      }
      const metrics = compareOutputs(outputs, entry.labels, options.lowMargin, reference.logitsTensor);
      const checks = checkBounds(metrics, options.bounds);
      return {
        schema: EVALUATION_SCHEMA_ID,
        model: entry.name,
        reference: { version: referenceVersion.version, path: referenceVersion.onnxPath },
        candidate: { version: candidateVersion.version, path: candidateVersion.onnxPath },
        images: { dirs: [...options.imageDirs], count: files.length },
        ...metrics,
        checks,
        pass: checks.every((c) => c.pass),
        seconds: (performance.now() - started) / 1000,
      };
    } finally {
      await candidate.close();
    }
  } finally {
    await reference.close();
  }
}
