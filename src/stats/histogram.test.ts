import { describe, expect, it } from 'vitest';
import { LatencyHistogram, bucketOf, bucketUpperMs } from './histogram.js';

function exactQuantile(sorted: number[], q: number): number {
  return sorted[Math.max(0, Math.ceil(q * sorted.length) - 1)]!;
}

describe('LatencyHistogram', () => {
  it('puts each duration in the first bucket whose upper bound holds it', () => {
    for (const ms of [0, 0.05, 0.1, 0.2, 1, 7.3, 33, 999, 12_345]) {
      const b = bucketOf(ms);
      expect(bucketUpperMs(b)).toBeGreaterThanOrEqual(ms * 0.999999);
      if (b > 0) expect(bucketUpperMs(b - 1)).toBeLessThan(ms);
    }
    expect(bucketOf(10 ** 9)).toBe(70);
  });

  it('reads quantiles within 13 % of the exact ones, also after merging through the sparse form', () => {
    let seed = 42;
    const random = (): number => (seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31) / 2 ** 31;
    // A log-normal-ish mix: most around 20 ms, a tail to seconds.
    const values = Array.from({ length: 20_000 }, () => 20 * Math.exp(random() * 2 - 1) * (random() < 0.05 ? 30 : 1));
    const a = new LatencyHistogram();
    const b = new LatencyHistogram();
    values.forEach((v, i) => (i % 2 === 0 ? a : b).record(v));
    const merged = new LatencyHistogram();
    merged.add(a.sparse());
    merged.add(b.sparse());
    expect(merged.count).toBe(values.length);
    const sorted = [...values].sort((x, y) => x - y);
    for (const q of [0.5, 0.95, 0.99]) {
      const exact = exactQuantile(sorted, q);
      expect(Math.abs(merged.quantile(q)! - exact) / exact, `q=${q}`).toBeLessThan(0.13);
    }
  });

  it('is empty after reset, and says so', () => {
    const h = new LatencyHistogram();
    h.record(5);
    expect(h.sparse()).toEqual([[bucketOf(5), 1]]);
    h.reset();
    expect(h.count).toBe(0);
    expect(h.quantile(0.5)).toBeUndefined();
    expect(h.sparse()).toEqual([]);
  });
});
