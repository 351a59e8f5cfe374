// Statistics of a load run: counts, failures by kind, latency in an HDR histogram (µs, 3
// significant digits), response sizes, and per-second buckets for the current rate. Used by
// the engine for its summary and by `swarmserve load` for its live line and CSV history.

import { build } from 'hdr-histogram-js';
import type { Histogram } from 'hdr-histogram-js';
import type { LoadLatencyMs } from './contract.js';

/** Latencies above this still record (the histogram auto-resizes); it only sizes the first array. */
const HISTOGRAM_INITIAL_MAX_US = 60_000_000;

/** Latencies in microseconds, 3 significant digits (0.1 %), pure JS (no WebAssembly start-up). */
export function newLatencyHistogram(): Histogram {
  return build({
    bitBucketSize: 32,
    autoResize: true,
    lowestDiscernibleValue: 1,
    highestTrackableValue: HISTOGRAM_INITIAL_MAX_US,
    numberOfSignificantValueDigits: 3,
    useWebAssembly: false,
  });
}
/** The "current" rates average over this many seconds (Locust's window is 10 s too). */
export const CURRENT_WINDOW_S = 10;

function round3(value: number): number {
  return Math.round(value * 1000) / 1000;
}

/** The percentiles Locust reports (and its CSV columns), with our summary's key for each. */
export const PERCENTILES: ReadonlyArray<{ key: keyof LoadLatencyMs; fraction: number; locust: string }> = [
  { key: 'p50', fraction: 0.5, locust: '50%' },
  { key: 'p66', fraction: 0.66, locust: '66%' },
  { key: 'p75', fraction: 0.75, locust: '75%' },
  { key: 'p80', fraction: 0.8, locust: '80%' },
  { key: 'p90', fraction: 0.9, locust: '90%' },
  { key: 'p95', fraction: 0.95, locust: '95%' },
  { key: 'p98', fraction: 0.98, locust: '98%' },
  { key: 'p99', fraction: 0.99, locust: '99%' },
  { key: 'p999', fraction: 0.999, locust: '99.9%' },
  { key: 'p9999', fraction: 0.9999, locust: '99.99%' },
];

export class LoadStats {
  private readonly histogram: Histogram;
  private readonly kinds = new Map<string, number>();
  private count = 0;
  private failed = 0;
  private sumUs = 0;
  private minUs = Number.POSITIVE_INFINITY;
  private maxUs = 0;
  private contentBytes = 0;
  /** Completions and failures per whole second since `originMs` (index = second); only the last few are kept. */
  private readonly perSecond = new Map<number, { n: number; failed: number }>();

  /** `originMs`: the clock reading (any clock, ms) the per-second buckets count from. */
  constructor(private readonly originMs = 0) {
    this.histogram = newLatencyHistogram();
  }

  /** Records one completed request. `atMs` is on the same clock as `originMs`. */
  record(latencyMs: number, failure: string | undefined, contentBytes: number, atMs: number): void {
    const us = Math.max(1, Math.round(latencyMs * 1000));
    this.count++;
    this.sumUs += us;
    if (us < this.minUs) this.minUs = us;
    if (us > this.maxUs) this.maxUs = us;
    this.histogram.recordValue(us);
    this.contentBytes += contentBytes;
    if (failure !== undefined) {
      this.failed++;
      this.kinds.set(failure, (this.kinds.get(failure) ?? 0) + 1);
    }
    const second = Math.floor((atMs - this.originMs) / 1000);
    let bucket = this.perSecond.get(second);
    if (bucket === undefined) {
      bucket = { n: 0, failed: 0 };
      // Once a second at most: drop buckets older than the window (the map stays ~11 long).
      for (const old of this.perSecond.keys()) if (old < second - CURRENT_WINDOW_S - 1) this.perSecond.delete(old);
      this.perSecond.set(second, bucket);
    }
    bucket.n++;
    if (failure !== undefined) bucket.failed++;
  }

  get requests(): number {
    return this.count;
  }

  get failures(): number {
    return this.failed;
  }

  get avgContentBytes(): number {
    return this.count === 0 ? 0 : this.contentBytes / this.count;
  }

  /** Failure kinds, sorted by name. */
  failuresByKind(): Record<string, number> {
    return Object.fromEntries([...this.kinds].sort((a, b) => a[0].localeCompare(b[0])));
  }

  /**
   * A latency percentile (0 < fraction ≤ 1) in ms, 0 when nothing was recorded. HDR gives the
   * top of the value's bucket (≤ 0.1 % above the true value); never more than the true max.
   */
  percentileMs(fraction: number): number {
    if (this.count === 0) return 0;
    return round3(Math.min(this.histogram.getValueAtPercentile(fraction * 100), this.maxUs) / 1000);
  }

  latencyMs(): LoadLatencyMs {
    const empty = this.count === 0;
    const latency: LoadLatencyMs = {
      mean: empty ? 0 : round3(this.sumUs / this.count / 1000),
      min: empty ? 0 : round3(this.minUs / 1000),
      max: round3(this.maxUs / 1000),
      p50: 0,
      p66: 0,
      p75: 0,
      p80: 0,
      p90: 0,
      p95: 0,
      p98: 0,
      p99: 0,
      p999: 0,
      p9999: 0,
    };
    for (const { key, fraction } of PERCENTILES) latency[key] = this.percentileMs(fraction);
    return latency;
  }

  /**
   * Requests and failures per second over the last whole seconds before `nowMs` (at most
   * CURRENT_WINDOW_S, fewer early in the run); the second in progress is left out.
   */
  currentRates(nowMs: number): { rps: number; fps: number } {
    const current = Math.floor((nowMs - this.originMs) / 1000);
    const first = Math.max(0, current - CURRENT_WINDOW_S);
    const seconds = current - first;
    if (seconds <= 0) return { rps: 0, fps: 0 };
    let n = 0;
    let failed = 0;
    for (let s = first; s < current; s++) {
      const bucket = this.perSecond.get(s);
      if (bucket !== undefined) {
        n += bucket.n;
        failed += bucket.failed;
      }
    }
    return { rps: n / seconds, fps: failed / seconds };
  }
}
