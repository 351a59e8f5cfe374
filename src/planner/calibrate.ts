// Measures the calibration constants on generated models (calibration-models.ts) — never on
// the models being planned — in fresh worker-like child processes, and fits them:
//   baseline            median RSS of the children before any real model
//   session, small      least squares over the models: RSS after load (memory released)
//                       − weights = session + (smallTensorFactor − 1) × bytes of tensors
//                       below the load-time mmap threshold
//   load copies         least squares over the load peaks of the models whose weights are
//                       mostly rewritten (conv): loadCopies × R + rewriteCopies × largest R
//                       + (smallLoadFactor − 1) × small bytes;
//                       prepackCopies from the FC-dominated models (see estimate.ts)
//   arenaFactor         Σ measured activation RSS / Σ simulated arena pages
//   MACs per second     least squares of seconds per image = dense/d + grouped/g (1 thread)
//   parallel efficiency one model at 2 threads against 1
//   int8 MACs per second least squares as above over the quantized calibration models
//                       (calibration-int8.ts), which take part in no other fit
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LOAD_MMAP_THRESHOLD_BYTES } from '../runtime/allocator.js';
import { analyzeGraph, type GraphAnalysis } from './analyze.js';
import { INT8_CALIBRATION_MODELS, buildInt8Model } from './calibration-int8.js';
import { CALIBRATION_MODELS } from './calibration-models.js';
import { machineInfo } from './calibration.js';
import { CALIBRATION_SCHEMA_ID, type Calibration } from './contract.js';
import { Estimator, macSplit, weightStats, type WeightStats } from './estimate.js';
import { errorPct, median, runChild } from './measure.js';
import type { ChildResult } from './measure-child.js';
import { readOnnxGraph } from '../onnx/read-graph.js';

/** What a calibration records besides the fitted constants. */
export type CalibrationBase = Pick<Calibration, 'schema' | 'source' | 'measuredAt' | 'machine' | 'mmapThresholdBytes'>;

export interface CalibrationPoint {
  model: string;
  batch: number;
  threads: number;
  result: ChildResult;
}

export interface CalibrateOptions {
  log?: (line: string) => void;
  /** Seconds of timed runs per child (default 2). */
  seconds?: number;
}

/** Solves the normal equations of min ‖Ax − y‖² (small, dense). */
export function leastSquares(rows: ReadonlyArray<readonly number[]>, y: readonly number[]): number[] | undefined {
  const n = rows[0]?.length ?? 0;
  const m: number[][] = Array.from({ length: n }, () => new Array<number>(n + 1).fill(0));
  rows.forEach((row, r) => {
    for (let i = 0; i < n; i++) {
      const mi = m[i] as number[];
      for (let j = 0; j < n; j++) mi[j] = (mi[j] ?? 0) + (row[i] ?? 0) * (row[j] ?? 0);
      mi[n] = (mi[n] ?? 0) + (row[i] ?? 0) * (y[r] ?? 0);
    }
  });
  for (let col = 0; col < n; col++) {
    let pivot = col;
    for (let r = col + 1; r < n; r++) if (Math.abs(m[r]?.[col] ?? 0) > Math.abs(m[pivot]?.[col] ?? 0)) pivot = r;
    if (Math.abs(m[pivot]?.[col] ?? 0) < 1e-12) return undefined;
    [m[col], m[pivot]] = [m[pivot] as number[], m[col] as number[]];
    const pr = m[col] as number[];
    for (let r = 0; r < n; r++) {
      if (r === col) continue;
      const row = m[r] as number[];
      const f = (row[col] ?? 0) / (pr[col] ?? 1);
      for (let j = col; j <= n; j++) row[j] = (row[j] ?? 0) - f * (pr[j] ?? 0);
    }
  }
  return m.map((row, i) => (row[n] ?? 0) / (row[i] ?? 1));
}

/** Fits the constants to measurements of the calibration models. */
export function fitCalibration(analyses: ReadonlyMap<string, GraphAnalysis>, points: readonly CalibrationPoint[], base: CalibrationBase): Calibration {
  // the quantized models only measure the integer kernels' speed: the memory constants stay those of the float models
  const int8Names = new Set(INT8_CALIBRATION_MODELS.map((m) => m.name));
  const int8Points = points.filter((p) => p.threads === 1 && int8Names.has(p.model));
  const single = points.filter((p) => p.threads === 1 && !int8Names.has(p.model));
  const baselineBytes = median(single.map((p) => p.result.baselinePeakBytes));

  // weights: one row per model (median over its children), fitted term by term (estimate.ts)
  const models = [...new Set(single.map((p) => p.model))];
  const stats = new Map(models.map((m) => [m, weightStats(analyses.get(m) as GraphAnalysis, base.mmapThresholdBytes)]));
  const w = (m: string): WeightStats => stats.get(m) as WeightStats;
  const resident = new Map(
    models.map((m) => [m, median(single.filter((p) => p.model === m).map((p) => p.result.afterLoadRssBytes - p.result.baselineRssBytes))]),
  );
  const loadPeak = new Map(models.map((m) => [m, median(single.filter((p) => p.model === m).map((p) => p.result.loadPeakBytes - p.result.baselinePeakBytes))]));
  const at = (map: ReadonlyMap<string, number>, m: string): number => map.get(m) ?? 0;
  // resident after load − W = session + (smallTensorFactor − 1) × S
  let [sessionBytes = 0, smallExtra = 0] =
    leastSquares(
      models.map((m) => [1, w(m).smallBytes]),
      models.map((m) => at(resident, m) - w(m).totalBytes),
    ) ?? [];
  if (sessionBytes < 0) {
    sessionBytes = 0;
    [smallExtra = 0] =
      leastSquares(
        models.map((m) => [w(m).smallBytes]),
        models.map((m) => at(resident, m) - w(m).totalBytes),
      ) ?? [];
  }
  const smallTensorFactor = 1 + Math.max(0, smallExtra);
  // load peak of the models whose weights are mostly rewritten
  //   = session + a × R + b × largest R + F + (smallLoadFactor − 1) × S
  const rewritten = models.filter((m) => w(m).fcBytes < 0.2 * w(m).totalBytes);
  const [fitCopies = 2, fitRewrite = 3, smallLoadExtra = 0] =
    leastSquares(
      rewritten.map((m) => [w(m).rewrittenBytes, w(m).largestRewrittenBytes, w(m).smallBytes]),
      rewritten.map((m) => at(loadPeak, m) - sessionBytes - w(m).fcBytes),
    ) ?? [];
  const loadCopies = Math.max(1, fitCopies);
  const rewriteCopies = Math.max(0, fitRewrite);
  const smallLoadFactor = 1 + Math.max(0, smallLoadExtra);
  const fixed = (m: string): number => sessionBytes + (smallLoadFactor - 1) * w(m).smallBytes;
  // load peak of the models whose weights are mostly fully-connected = fixed + W + p × largest F
  const connected = models.filter((m) => w(m).fcBytes >= 0.5 * w(m).totalBytes);
  const [prepackFit] =
    leastSquares(
      connected.map((m) => [w(m).largestFcBytes]),
      connected.map((m) => at(loadPeak, m) - fixed(m) - w(m).totalBytes),
    ) ?? [];
  const prepackCopies = Math.max(0, prepackFit ?? 1);

  // arena: activation RSS beyond the loaded model, where the run (not the load) set the peak
  let measuredArena = 0;
  let simulatedArena = 0;
  const unit = {
    ...provisional(base),
    baselineBytes,
    sessionBytes,
    smallTensorFactor,
    smallLoadFactor,
    loadCopies,
    rewriteCopies,
    prepackCopies,
    arenaFactor: 1,
  };
  for (const p of single) {
    const r = p.result;
    const simulated = new Estimator(analyses.get(p.model) as GraphAnalysis, unit).memory(p.batch).arenaBytes;
    const measured = r.peakBytes - r.afterLoadRssBytes - r.inputBufferBytes;
    if (simulated < 8 * 2 ** 20 || r.peakBytes <= r.loadPeakBytes + 2 ** 20) continue;
    measuredArena += measured;
    simulatedArena += simulated;
  }
  const arenaFactor = simulatedArena > 0 ? measuredArena / simulatedArena : 1;

  // speed: the largest batch of each model, one thread; not the FC-dominated models, whose
  // time goes to reading weights (memory bandwidth), not to multiply-accumulates
  const speedRows: number[][] = [];
  const seconds: number[] = [];
  for (const m of models.filter((x) => !connected.includes(x))) {
    const runs = single.filter((p) => p.model === m);
    const best = runs.reduce((a, b) => (b.batch > a.batch ? b : a));
    const t = analyses.get(m)?.totals;
    if (t === undefined) continue;
    speedRows.push([t.denseMacsPerImage, t.groupedMacsPerImage]);
    seconds.push(median(best.result.latenciesMs) / 1000 / best.batch);
  }
  let [a, g] = leastSquares(speedRows, seconds) ?? [0, 0];
  if ((a ?? 0) <= 0 || (g ?? 0) <= 0) {
    const pooled = seconds.reduce((x, y) => x + y, 0) / speedRows.reduce((x, r) => x + (r[0] ?? 0) + (r[1] ?? 0), 0);
    a = pooled;
    g = (g ?? 0) > 0 ? g : pooled;
  }
  const denseMacsPerSecond = 1 / (a as number);
  const groupedMacsPerSecond = 1 / (g as number);
  const int8 = fitInt8Speed(analyses, int8Points);

  // parallel efficiency: a model run at 2 threads against 1 thread at the same batch
  let parallelEfficiency = 0.85;
  const two = points.find((p) => p.threads === 2);
  const one = two === undefined ? undefined : single.find((p) => p.model === two.model && p.batch === two.batch);
  if (two !== undefined && one !== undefined) {
    const speedup = median(one.result.latenciesMs) / median(two.result.latenciesMs);
    parallelEfficiency = Math.min(1, Math.max(0, speedup - 1));
  }

  const calibration: Calibration = {
    ...base,
    baselineBytes,
    sessionBytes,
    smallTensorFactor,
    smallLoadFactor,
    loadCopies,
    rewriteCopies,
    prepackCopies,
    arenaFactor,
    denseMacsPerSecond,
    groupedMacsPerSecond,
    ...int8,
    parallelEfficiency,
    warnings: [],
    fits: [],
  };
  calibration.fits = points.map((p) => {
    const e = new Estimator(analyses.get(p.model) as GraphAnalysis, calibration);
    return {
      model: p.model,
      batch: p.batch,
      threads: p.threads,
      memoryErrorPct: round1(errorPct(e.memory(p.batch).totalBytes, p.result.peakBytes)),
      latencyErrorPct: round1(errorPct(e.latencyMs(p.batch, p.threads), median(p.result.latenciesMs))),
    };
  });
  const single1 = calibration.fits.filter((f) => f.threads === 1 && !int8Names.has(f.model));
  const bias = median(single1.map((f) => f.memoryErrorPct));
  if (Math.abs(bias) > 5)
    calibration.warnings.push(
      `the fit is biased (median memory error ${bias.toFixed(1)}% on the calibration models): RSS was disturbed while measuring; re-run on a quiet machine`,
    );
  const spread = Math.max(...single.map((p) => p.result.baselinePeakBytes)) - Math.min(...single.map((p) => p.result.baselinePeakBytes));
  if (spread > 8 * 2 ** 20)
    calibration.warnings.push(`the baseline varied by ${(spread / 2 ** 20).toFixed(0)} MiB between the child processes: re-run on a quiet machine`);
  if (two !== undefined && parallelEfficiency < 0.5)
    calibration.warnings.push(
      `2 threads were only ${(1 + parallelEfficiency).toFixed(2)}× faster than 1: other work was probably using the CPUs; re-run on a quiet machine`,
    );
  return calibration;
}

/** int8 dense and grouped MACs per second: seconds per image = int8 dense / d + int8 grouped / g at each quantized model's largest batch. */
function fitInt8Speed(
  analyses: ReadonlyMap<string, GraphAnalysis>,
  points: readonly CalibrationPoint[],
): Pick<Calibration, 'int8DenseMacsPerSecond' | 'int8GroupedMacsPerSecond'> {
  const rows: number[][] = [];
  const seconds: number[] = [];
  for (const m of new Set(points.map((p) => p.model))) {
    const analysis = analyses.get(m);
    if (analysis === undefined) continue;
    const best = points.filter((p) => p.model === m).reduce((x, y) => (y.batch > x.batch ? y : x));
    const s = macSplit(analysis);
    rows.push([s.int8Dense, s.int8Grouped]);
    seconds.push(median(best.result.latenciesMs) / 1000 / best.batch);
  }
  if (rows.length === 0) return {};
  const [d, g] = leastSquares(rows, seconds) ?? [];
  if (d !== undefined && g !== undefined && d > 0 && g > 0) return { int8DenseMacsPerSecond: 1 / d, int8GroupedMacsPerSecond: 1 / g };
  // too few models, or a negative fit: one pooled rate
  const pooled = seconds.reduce((a, b) => a + b, 0) / rows.reduce((a, r) => a + (r[0] ?? 0) + (r[1] ?? 0), 0);
  return pooled > 0 ? { int8DenseMacsPerSecond: 1 / pooled, int8GroupedMacsPerSecond: 1 / pooled } : {};
}

function provisional(base: CalibrationBase): Calibration {
  return {
    ...base,
    baselineBytes: 0,
    sessionBytes: 0,
    smallTensorFactor: 1,
    smallLoadFactor: 1,
    loadCopies: 1,
    rewriteCopies: 0,
    prepackCopies: 0,
    arenaFactor: 1,
    denseMacsPerSecond: 1,
    groupedMacsPerSecond: 1,
    parallelEfficiency: 1,
    warnings: [],
    fits: [],
  };
}

const round1 = (x: number): number => Math.round(x * 10) / 10;

/** What a calibration measured: enough to fit the constants again (bench/planner.ts refits without each model). */
export interface CalibrationMeasurements {
  analyses: Map<string, GraphAnalysis>;
  points: CalibrationPoint[];
  base: CalibrationBase;
}

/** Generates the calibration models and measures them in worker-like child processes. */
export async function measureCalibrationModels(options: CalibrateOptions = {}): Promise<CalibrationMeasurements> {
  const log = options.log ?? ((): void => undefined);
  const dir = await mkdtemp(join(tmpdir(), 'swarmserve-calibrate-'));
  try {
    const analyses = new Map<string, GraphAnalysis>();
    const paths = new Map<string, string>();
    for (const m of CALIBRATION_MODELS) {
      const bytes = m.build().toBytes();
      const path = join(dir, `${m.name}.onnx`);
      await writeFile(path, bytes);
      analyses.set(m.name, analyzeGraph(readOnnxGraph(bytes, m.name)));
      paths.set(m.name, path);
    }
    const points: CalibrationPoint[] = [];
    const measure = async (model: string, batch: number, threads: number): Promise<void> => {
      const result = await runChild({ model: paths.get(model) as string, batch, threads, minRuns: 3, seconds: options.seconds ?? 2, maxRuns: 30 });
      points.push({ model, batch, threads, result });
      log(
        `calibrate: ${model} batch ${batch} threads ${threads}: peak ${(result.peakBytes / 2 ** 20).toFixed(1)} MiB, ${median(result.latenciesMs).toFixed(1)} ms`,
      );
    };
    for (const m of INT8_CALIBRATION_MODELS) {
      const bytes = await buildInt8Model(m);
      const path = join(dir, `${m.name}.onnx`);
      await writeFile(path, bytes);
      analyses.set(m.name, analyzeGraph(readOnnxGraph(bytes, m.name)));
      paths.set(m.name, path);
    }
    for (const m of [...CALIBRATION_MODELS, ...INT8_CALIBRATION_MODELS]) for (const b of m.batches) await measure(m.name, b, 1);
    const machine = machineInfo();
    if (machine.cores >= 2) await measure('cal-residual', 4, 2);
    return {
      analyses,
      points,
      base: {
        schema: CALIBRATION_SCHEMA_ID,
        source: 'measured now',
        measuredAt: new Date().toISOString().slice(0, 10),
        machine,
        mmapThresholdBytes: LOAD_MMAP_THRESHOLD_BYTES,
      },
    };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** Generates the calibration models, measures them in child processes, and fits the constants. */
export async function calibrate(options: CalibrateOptions = {}): Promise<Calibration> {
  const measured = await measureCalibrationModels(options);
  const fitted = fitCalibration(measured.analyses, measured.points, measured.base);
  for (const w of fitted.warnings) (options.log ?? ((): void => undefined))(`calibrate: WARNING: ${w}`);
  return fitted;
}
