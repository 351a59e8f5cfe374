import { describe, expect, it } from 'vitest';
import { LoadStats, PERCENTILES } from './stats.js';

/** HDR keeps 3 significant digits: a percentile is within 0.1 % of the exact one. */
function expectWithinHdr(actual: number, exact: number): void {
  expect(Math.abs(actual - exact)).toBeLessThanOrEqual(exact * 0.001 + 0.001);
}

describe('LoadStats', () => {
  it('gives exact percentiles, mean, min, max, counts and failure tallies for a known sequence', () => {
    const stats = new LoadStats(0);
    // Latencies 1, 2, …, 1000 ms in a shuffled order; every 10th fails, alternating two kinds.
    const order = Array.from({ length: 1000 }, (_, i) => ((i * 7919) % 1000) + 1);
    expect(new Set(order).size).toBe(1000);
    for (const [i, ms] of order.entries()) {
      const failure = ms % 10 === 0 ? (ms % 20 === 0 ? 'HTTP 503 QUEUE_FULL' : 'timeout') : undefined;
      stats.record(ms, failure, 100, i);
    }
    expect(stats.requests).toBe(1000);
    expect(stats.failures).toBe(100);
    expect(stats.failuresByKind()).toEqual({ 'HTTP 503 QUEUE_FULL': 50, timeout: 50 });
    expect(stats.avgContentBytes).toBe(100);

    const l = stats.latencyMs();
    expect(l.min).toBe(1);
    expect(l.max).toBe(1000);
    expect(l.mean).toBe(500.5);
    // The p-th percentile of 1…1000 is the value ceil(p × 1000).
    for (const { key, fraction } of PERCENTILES) expectWithinHdr(l[key], Math.ceil(fraction * 1000));
    expectWithinHdr(l.p50, 500);
    expectWithinHdr(l.p90, 900);
    expectWithinHdr(l.p99, 990);
    expect(l.p9999).toBe(1000); // capped at the true max, never the top of its bucket
  });

  it('keeps microsecond resolution and treats failures as requests with a latency, as Locust does', () => {
    const stats = new LoadStats(0);
    stats.record(0.25, undefined, 10, 0);
    stats.record(1.5, undefined, 20, 0);
    stats.record(30_000, 'timeout', 0, 0);
    const l = stats.latencyMs();
    expect(l.min).toBe(0.25);
    expect(l.p50).toBe(1.5);
    expect(l.max).toBe(30_000);
    expect(l.mean).toBeCloseTo((0.25 + 1.5 + 30_000) / 3, 2);
    expect(stats.avgContentBytes).toBe(10);
  });

  it('reports zeros when nothing was recorded', () => {
    const stats = new LoadStats(0);
    expect(stats.latencyMs()).toEqual({ mean: 0, min: 0, max: 0, p50: 0, p66: 0, p75: 0, p80: 0, p90: 0, p95: 0, p98: 0, p99: 0, p999: 0, p9999: 0 });
    expect(stats.failuresByKind()).toEqual({});
    expect(stats.currentRates(5_000)).toEqual({ rps: 0, fps: 0 });
  });

  it('gives current rates over the last whole seconds (at most 10), leaving out the second in progress', () => {
    const stats = new LoadStats(1_000); // origin: clock 1000 ms
    // Seconds 0-14 of the run: 10 requests in each, 2 of them failed; second 15 (in progress): 100.
    for (let s = 0; s < 15; s++) for (let i = 0; i < 10; i++) stats.record(5, i < 2 ? 'timeout' : undefined, 0, 1_000 + s * 1000 + i * 50);
    for (let i = 0; i < 100; i++) stats.record(5, undefined, 0, 1_000 + 15_000 + i);
    expect(stats.currentRates(1_000 + 15_500)).toEqual({ rps: 10, fps: 2 });
    // Early in a run: over the seconds so far (2 whole seconds at 2.5 s).
    const early = new LoadStats(0);
    for (let i = 0; i < 30; i++) early.record(5, undefined, 0, i * 100); // 10 in second 0, 10 in 1, 10 in 2
    expect(early.currentRates(2_500)).toEqual({ rps: 10, fps: 0 });
    expect(early.currentRates(500)).toEqual({ rps: 0, fps: 0 });
  });
});
