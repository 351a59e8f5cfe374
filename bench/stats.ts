// Small statistics helpers shared by the benchmark's processes.
import type { LatencySummaryMs } from '../src/loadtest/contract.js';

function round3(value: number): number {
  return Math.round(value * 1000) / 1000;
}

/** Nearest-rank percentiles of a list of millisecond samples (all zero when empty). */
export function summarize(samples: readonly number[]): LatencySummaryMs {
  if (samples.length === 0) return { mean: 0, p50: 0, p90: 0, p95: 0, p99: 0, max: 0 };
  const sorted = Float64Array.from(samples).sort();
  const at = (p: number): number => round3(sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))] ?? 0);
  let sum = 0;
  for (const v of sorted) sum += v;
  return { mean: round3(sum / sorted.length), p50: at(50), p90: at(90), p95: at(95), p99: at(99), max: round3(sorted[sorted.length - 1] ?? 0) };
}

/** The median (the mean of the two middle values for an even count); NaN when empty. */
export function median(values: readonly number[]): number {
  if (values.length === 0) return Number.NaN;
  const sorted = Float64Array.from(values).sort();
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? (sorted[mid] ?? Number.NaN) : ((sorted[mid - 1] ?? Number.NaN) + (sorted[mid] ?? Number.NaN)) / 2;
}
