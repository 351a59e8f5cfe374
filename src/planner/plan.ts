// Builds the planner's report: resolves the model (a file or a repository name), analyses the
// graph, estimates memory and speed per batch size, recommends a deployment, and optionally
// measures the model in worker-like child processes to show estimate against measurement.
import { existsSync, statSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { ServeError } from '../common/errors.js';
import { loadModel } from '../model/repository/repository.js';
import type { ModelEntry } from '../model/repository/contract.js';
import { analyzeGraph, type GraphAnalysis } from './analyze.js';
import { PLAN_REPORT_SCHEMA_ID, type Calibration, type Measurement, type PlanReport } from './contract.js';
import { Estimator } from './estimate.js';
import { errorPct, median, percentile, runChild } from './measure.js';
import { readOnnxGraph } from '../onnx/read-graph.js';
import { recommend, type RecommendOptions } from './recommend.js';

export interface ResolvedModel {
  source: string;
  file: string;
  name: string | null;
  version: string | null;
  entry: ModelEntry | null;
}

/** A path to an .onnx file, or the name of a model in the repository (its default version unless one is given). */
export async function resolveModel(model: string, modelsDir: string, version?: string): Promise<ResolvedModel> {
  const asPath = resolve(model);
  if (model.endsWith('.onnx') || (existsSync(asPath) && statSync(asPath).isFile())) {
    if (!existsSync(asPath)) throw new ServeError('BAD_PARAMETER', `${asPath} does not exist`);
    return { source: model, file: asPath, name: null, version: null, entry: null };
  }
  const dir = join(modelsDir, model);
  if (!existsSync(join(dir, 'config.json'))) {
    throw new ServeError(
      'MODEL_NOT_FOUND',
      `"${model}" is neither an .onnx file nor a model of the repository ${resolve(modelsDir)} (no ${join(dir, 'config.json')})`,
    );
  }
  const entry = await loadModel(model, dir);
  const wanted = version ?? entry.defaultVersion;
  const v = entry.versions.find((x) => x.version === wanted);
  if (v === undefined)
    throw new ServeError('VERSION_NOT_FOUND', `model "${model}" has no version ${wanted} (versions: ${entry.versions.map((x) => x.version).join(', ')})`);
  return { source: model, file: v.onnxPath, name: model, version: v.version, entry };
}

export interface PlanOptions {
  model: ResolvedModel;
  batches: readonly number[];
  dims?: Readonly<Record<string, number>>;
  calibration: Calibration;
  /** Threads for the per-batch latency column and for --measure (default: the recommendation's, else 1). */
  threads?: number | undefined;
  recommend: Omit<RecommendOptions, 'batches' | 'maxQueueDelayMs' | 'modelName'> & { maxQueueDelayMs?: number | undefined };
  measure?: { seconds: number; minRuns: number } | undefined;
  onProgress?: (line: string) => void;
}

export interface Plan {
  report: PlanReport;
  analysis: GraphAnalysis;
}

export async function buildPlan(options: PlanOptions): Promise<Plan> {
  const { model, calibration } = options;
  const bytes = await readFile(model.file).catch((err: unknown) => {
    throw new ServeError('BAD_PARAMETER', `cannot read ${model.file}: ${(err as Error).message}`);
  });
  const graph = readOnnxGraph(bytes, model.file);
  const analysis = analyzeGraph(graph, { dims: options.dims });
  let batches = [...new Set(options.batches)].sort((a, b) => a - b);
  if (analysis.fixedBatch !== null) {
    const fixed = analysis.fixedBatch;
    if (batches.some((b) => b !== fixed)) options.onProgress?.(`the graph fixes the batch size at ${fixed}: planning batch ${fixed} only`);
    batches = [fixed];
  }
  const estimator = new Estimator(analysis, calibration);
  const maxQueueDelayMs = options.recommend.maxQueueDelayMs ?? model.entry?.config.batching.maxQueueDelayMs ?? 5;
  const recommendation = analysis.complete
    ? recommend(
        { memoryBytes: (b) => estimator.memory(b).totalBytes, latencyMs: (b, t) => estimator.latencyMs(b, t) },
        { ...options.recommend, batches, maxQueueDelayMs, modelName: model.name },
      )
    : null;
  const threads = options.threads ?? recommendation?.threadsPerReplica ?? 1;
  const batchEstimates = batches.map((b) => estimator.batchEstimate(b, threads));

  let measurements: Measurement[] | null = null;
  if (options.measure !== undefined) {
    measurements = [];
    for (const batch of batches) {
      options.onProgress?.(`measuring batch ${batch} at ${threads} thread(s) in a fresh process…`);
      const r = await runChild({
        model: model.file,
        batch,
        threads,
        minRuns: options.measure.minRuns,
        seconds: options.measure.seconds,
        maxRuns: 50,
        dims: { ...analysis.dims },
      });
      const est = estimator.memory(batch);
      const latencyMs = estimator.latencyMs(batch, threads);
      const medianMs = median(r.latenciesMs);
      measurements.push({
        batch,
        threads,
        runs: r.latenciesMs.length,
        measured: {
          baselineBytes: r.baselinePeakBytes,
          afterLoadBytes: r.afterLoadRssBytes,
          peakBytes: r.peakBytes,
          latencyMedianMs: medianMs,
          latencyP95Ms: percentile(r.latenciesMs, 95),
          imagesPerSecond: medianMs > 0 ? (batch * 1000) / medianMs : 0,
        },
        estimated: { totalBytes: est.totalBytes, latencyMs, imagesPerSecond: latencyMs > 0 ? (batch * 1000) / latencyMs : 0 },
        memoryErrorPct: errorPct(est.totalBytes, r.peakBytes),
        modelMemoryErrorPct: errorPct(est.totalBytes - est.baselineBytes, r.peakBytes - r.baselinePeakBytes),
        latencyErrorPct: errorPct(latencyMs, medianMs),
        seedFormulaErrorPct: errorPct(analysis.seedFormula.bytes, r.peakBytes),
      });
    }
  }

  const secondsPerImage = estimator.secondsPerImage();
  const report: PlanReport = {
    schema: PLAN_REPORT_SCHEMA_ID,
    model: {
      source: model.source,
      name: model.name,
      version: model.version,
      file: model.file,
      fileBytes: bytes.byteLength,
      graphName: graph.name,
      producer: graph.producer,
      opset: graph.opset,
    },
    input: analysis.input,
    outputs: analysis.outputs,
    complete: analysis.complete,
    unsupportedOperators: analysis.unsupported,
    problems: analysis.problems,
    layers: analysis.layers,
    totals: analysis.totals,
    seedFormula: analysis.seedFormula,
    throughput: { secondsPerImagePerThread: secondsPerImage, imagesPerSecondPerThread: secondsPerImage > 0 ? 1 / secondsPerImage : 0 },
    batches: batchEstimates,
    calibration,
    recommendation,
    measurements,
  };
  return { report, analysis };
}
