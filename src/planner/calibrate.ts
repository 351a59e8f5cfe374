// Measures the calibration constants on generated models (calibration-models.ts) — never on
// the models being planned — in fresh worker-like child processes, and fits them:
//   baseline            median RSS of the children before any real model
//   session + weights   least squares over the models: RSS after load = session
//                       + convWeightFactor × non-FC bytes + fcWeightFactor × FC bytes;
//                       fcLoadFactor from the load peaks of the models with FC weights
//   arenaFactor         Σ measured activation RSS / Σ simulated arena pages
//   MACs per second     least squares of seconds per image = dense/d + grouped/g (1 thread)
//   parallel efficiency one model at 2 threads against 1
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { analyzeGraph, type GraphAnalysis } from './analyze.js';
import { CALIBRATION_MODELS } from './calibration-models.js';
import { machineInfo } from './calibration.js';
import { CALIBRATION_SCHEMA_ID, type Calibration } from './contract.js';
import { Estimator } from './estimate.js';
import { errorPct, median, runChild } from './measure.js';
import type { ChildResult } from './measure-child.js';
import { readOnnxGraph } from './onnx-graph.js';

/** What a calibration records besides the fitted constants. */
export type CalibrationBase = Pick<Calibration, 'schema' | 'source' | 'measuredAt' | 'machine'>;

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
  const single = points.filter((p) => p.threads === 1);
  const baselineBytes = median(single.map((p) => p.result.baselinePeakBytes));

  // weights: one row per model (median over its children)
  const models = [...new Set(single.map((p) => p.model))];
  const splits = new Map(models.map((m) => [m, new Estimator(analyses.get(m) as GraphAnalysis, { ...provisional(base), baselineBytes }).split]));
  const resident = models.map((m) => median(single.filter((p) => p.model === m).map((p) => p.result.afterLoadRssBytes - p.result.baselineRssBytes)));
  const loadPeak = models.map((m) => median(single.filter((p) => p.model === m).map((p) => p.result.loadPeakBytes - p.result.baselinePeakBytes)));
  const rows = models.map((m) => [1, splits.get(m)?.otherBytes ?? 0, splits.get(m)?.fcBytes ?? 0]);
  let [sessionBytes, convWeightFactor, fcWeightFactor] = leastSquares(rows, resident) ?? [0, 3, 1.1];
  if ((sessionBytes ?? 0) < 0 || (convWeightFactor ?? 0) <= 0 || (fcWeightFactor ?? 0) <= 0) {
    sessionBytes = 0;
    [convWeightFactor, fcWeightFactor] = leastSquares(rows.map((r) => r.slice(1)), resident) ?? [3, 1.1];
  }
  const conv = Math.max(convWeightFactor ?? 3, 0.5);
  const fc = Math.max(fcWeightFactor ?? 1.1, 0.5);
  const session = Math.max(sessionBytes ?? 0, 0);
  let num = 0;
  let den = 0;
  models.forEach((m, i) => {
    const f = splits.get(m)?.fcBytes ?? 0;
    num += ((loadPeak[i] ?? 0) - session - conv * (splits.get(m)?.otherBytes ?? 0)) * f;
    den += f * f;
  });
  const fcLoadFactor = Math.max(den > 0 ? num / den : fc, fc);

  // arena: activation RSS beyond the loaded model, where the run (not the load) set the peak
  let measuredArena = 0;
  let simulatedArena = 0;
  const unit = { ...provisional(base), baselineBytes, sessionBytes: session, convWeightFactor: conv, fcWeightFactor: fc, fcLoadFactor, arenaFactor: 1 };
  for (const p of single) {
    const r = p.result;
    const simulated = new Estimator(analyses.get(p.model) as GraphAnalysis, unit).memory(p.batch).arenaBytes;
    const measured = r.peakBytes - r.afterLoadRssBytes - r.inputBufferBytes;
    if (simulated < 8 * 2 ** 20 || r.peakBytes <= r.loadPeakBytes + 2 ** 20) continue;
    measuredArena += measured;
    simulatedArena += simulated;
  }
  const arenaFactor = simulatedArena > 0 ? measuredArena / simulatedArena : 1;

  // speed: the largest batch of each model, one thread
  const speedRows: number[][] = [];
  const seconds: number[] = [];
  for (const m of models) {
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
    sessionBytes: session,
    convWeightFactor: conv,
    fcWeightFactor: fc,
    fcLoadFactor,
    arenaFactor,
    denseMacsPerSecond,
    groupedMacsPerSecond,
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
  const single1 = calibration.fits.filter((f) => f.threads === 1);
  const bias = median(single1.map((f) => f.memoryErrorPct));
  if (Math.abs(bias) > 5) calibration.warnings.push(`the fit is biased (median memory error ${bias.toFixed(1)}% on the calibration models): RSS was disturbed while measuring; re-run on a quiet machine`);
  const spread = Math.max(...single.map((p) => p.result.baselinePeakBytes)) - Math.min(...single.map((p) => p.result.baselinePeakBytes));
  if (spread > 8 * 2 ** 20) calibration.warnings.push(`the baseline varied by ${(spread / 2 ** 20).toFixed(0)} MiB between the child processes: re-run on a quiet machine`);
  if (two !== undefined && parallelEfficiency < 0.5) calibration.warnings.push(`2 threads were only ${(1 + parallelEfficiency).toFixed(2)}× faster than 1: other work was probably using the CPUs; re-run on a quiet machine`);
  return calibration;
}

function provisional(base: CalibrationBase): Calibration {
  return { ...base, baselineBytes: 0, sessionBytes: 0, convWeightFactor: 1, fcWeightFactor: 1, fcLoadFactor: 1, arenaFactor: 1, denseMacsPerSecond: 1, groupedMacsPerSecond: 1, parallelEfficiency: 1, warnings: [], fits: [] };
}

const round1 = (x: number): number => Math.round(x * 10) / 10;

/** Generates the calibration models, measures them in child processes, and fits the constants. */
export async function calibrate(options: CalibrateOptions = {}): Promise<Calibration> {
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
      log(`calibrate: ${model} batch ${batch} threads ${threads}: peak ${(result.peakBytes / 2 ** 20).toFixed(1)} MiB, ${median(result.latenciesMs).toFixed(1)} ms`);
    };
    for (const m of CALIBRATION_MODELS) for (const b of m.batches) await measure(m.name, b, 1);
    const machine = machineInfo();
    if (machine.cores >= 2) await measure('cal-residual', 4, 2);
    const fitted = fitCalibration(analyses, points, { schema: CALIBRATION_SCHEMA_ID, source: 'measured now', measuredAt: new Date().toISOString().slice(0, 10), machine });
    for (const w of fitted.warnings) log(`calibrate: WARNING: ${w}`);
    return fitted;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
