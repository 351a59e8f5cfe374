// Latency histograms small enough to publish every second and merge across processes:
// logarithmic buckets, 10 per decade from 0.1 ms (each bucket 26 % wider than the one
// before), so a quantile read from merged buckets is within ±13 % of the true value.
import type { SparseHistogram } from './contract.js';

const PER_DECADE = 10;
const SMALLEST_MS = 0.1;
/** Bucket 70 ends at 1,000 s; anything longer falls in it. */
const LAST_BUCKET = 70;

/** The bucket of a duration: the first whose upper bound is ≥ ms. */
export function bucketOf(ms: number): number {
  if (!(ms > SMALLEST_MS)) return 0;
  return Math.min(LAST_BUCKET, Math.ceil(PER_DECADE * Math.log10(ms / SMALLEST_MS) - 1e-9));
}

/** Upper bound of a bucket, ms. */
export const bucketUpperMs = (bucket: number): number => SMALLEST_MS * 10 ** (bucket / PER_DECADE);

/** Counts per bucket, dense while recording; `sparse()` for the wire. */
export class LatencyHistogram {
  private readonly counts = new Float64Array(LAST_BUCKET + 1);
  count = 0;

  record(ms: number): void {
    this.counts[bucketOf(ms)]! += 1;
    this.count += 1;
  }

  /** Adds counts in the sparse form, each times `weight` (a share of a sample that spans several seconds). */
  add(sparse: SparseHistogram, weight = 1): void {
    for (const [bucket, n] of sparse) {
      if (bucket < 0 || bucket > LAST_BUCKET) continue;
      this.counts[bucket]! += n * weight;
      this.count += n * weight;
    }
  }

  sparse(): SparseHistogram {
    const out: SparseHistogram = [];
    this.counts.forEach((n, bucket) => {
      if (n > 0) out.push([bucket, n]);
    });
    return out;
  }

  reset(): void {
    this.counts.fill(0);
    this.count = 0;
  }

  /**
   * The q-quantile (0 < q ≤ 1), ms, or undefined when empty: found by cumulative count,
   * then interpolated geometrically inside its bucket.
   */
  quantile(q: number): number | undefined {
    if (this.count === 0) return undefined;
    const rank = q * this.count;
    let seen = 0;
    for (let bucket = 0; bucket <= LAST_BUCKET; bucket++) {
      const n = this.counts[bucket]!;
      if (n === 0) continue;
      if (seen + n >= rank) {
        const upper = bucketUpperMs(bucket);
        const lower = bucket === 0 ? 0 : bucketUpperMs(bucket - 1);
        const within = n === 0 ? 1 : Math.min(1, Math.max(0, (rank - seen) / n));
        return bucket === 0 ? upper * within : lower * (upper / lower) ** within;
      }
      seen += n;
    }
    return bucketUpperMs(LAST_BUCKET);
  }
}
