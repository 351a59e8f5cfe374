// Statistics over an experiment's timeline: the sliding-window series the chart draws and the
// per-step table. Exact (every latency is kept, percentiles by nearest rank), so a known
// input gives a known output. Latency statistics count successful requests only, as the
// load tester does: a server failing fast must not look faster.
import type { StepRow, StepTiming, WindowPoint } from './contract.js';
import type { TimelineColumns } from './timeline.js';

/** Nearest-rank percentile of ascending `sorted` (p in (0, 100]): the smallest value with at least p % of the values at or below it. */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) throw new RangeError('percentile of no values');
  const rank = Math.max(1, Math.ceil((p / 100) * sorted.length));
  return sorted[Math.min(rank, sorted.length) - 1] as number;
}

export interface LatencyStats {
  meanMs: number | null;
  p50Ms: number | null;
  p95Ms: number | null;
  p99Ms: number | null;
}

export function latencyStats(values: readonly number[]): LatencyStats {
  if (values.length === 0) return { meanMs: null, p50Ms: null, p95Ms: null, p99Ms: null };
  const sorted = [...values].sort((a, b) => a - b);
  const sum = sorted.reduce((a, b) => a + b, 0);
  return { meanMs: sum / sorted.length, p50Ms: percentile(sorted, 50), p95Ms: percentile(sorted, 95), p99Ms: percentile(sorted, 99) };
}

/** First index whose time is > x (`strict`) or ≥ x, in the non-decreasing `t`. */
function lowerBound(t: readonly number[], x: number, strict: boolean): number {
  let lo = 0;
  let hi = t.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    const v = t[mid] as number;
    if (strict ? v <= x : v < x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

interface Slice {
  requests: number;
  failures: number;
  okLatencies: number[];
}

function slice(cols: TimelineColumns, from: number, to: number): Slice {
  const out: Slice = { requests: to - from, failures: 0, okLatencies: [] };
  for (let i = from; i < to; i++) {
    if (cols.ok[i] === true) out.okLatencies.push(cols.latencyMs[i] as number);
    else out.failures++;
  }
  return out;
}

export interface WindowOptions {
  /** Length of the run, seconds: points are drawn up to it. */
  durationS: number;
  windowS: number;
  /** Distance between points (default 1 s; more for long runs, so a chart stays at ≤ 2000 points). */
  sampleS?: number;
}

/**
 * The chart's series: at t = sample, 2·sample, … ≤ duration, the requests that completed in
 * (t − window, t]: how many, their failures, successful requests per second (over the window,
 * or over the t seconds elapsed while t < window), and the mean and p95 of their latencies.
 */
export function slidingWindow(cols: TimelineColumns, options: WindowOptions): WindowPoint[] {
  const sampleS = options.sampleS ?? Math.max(1, Math.ceil(options.durationS / 2000));
  const points: WindowPoint[] = [];
  const n = Math.floor(options.durationS / sampleS + 1e-9);
  for (let k = 1; k <= n; k++) {
    const t = Math.round(k * sampleS * 1e6) / 1e6;
    const from = lowerBound(cols.t, t - options.windowS, true);
    const to = lowerBound(cols.t, t, true);
    const s = slice(cols, from, to);
    const stats = latencyStats(s.okLatencies);
    points.push({
      t,
      requests: s.requests,
      failures: s.failures,
      rps: s.okLatencies.length / Math.min(options.windowS, t),
      meanMs: stats.meanMs,
      p95Ms: stats.p95Ms,
    });
  }
  return points;
}

/** One row per step over the requests that completed in [measuredFromS, endS); ratio = rps / the first step's rps. */
export function stepTable(cols: TimelineColumns, steps: readonly StepTiming[]): StepRow[] {
  const rows = steps.map((step): StepRow => {
    const s = slice(cols, lowerBound(cols.t, step.measuredFromS, false), lowerBound(cols.t, step.endS, false));
    const measuredS = Math.max(0, step.endS - step.measuredFromS);
    return {
      ...step,
      measuredS,
      requests: s.requests,
      failures: s.failures,
      rps: measuredS > 0 ? s.okLatencies.length / measuredS : 0,
      ...latencyStats(s.okLatencies),
      ratio: null,
      imagesByReplica: null,
      otherCores: null,
    };
  });
  const first = rows[0]?.rps ?? 0;
  for (const row of rows) row.ratio = first > 0 ? row.rps / first : null;
  return rows;
}

/** Failed requests of the whole run by kind ("503", "ECONNRESET"), sorted by kind. */
export function failuresByKind(cols: TimelineColumns): Record<string, number> {
  const counts = new Map<string, number>();
  for (const kind of cols.failures.values()) counts.set(kind, (counts.get(kind) ?? 0) + 1);
  return Object.fromEntries([...counts].sort((a, b) => a[0].localeCompare(b[0])));
}
