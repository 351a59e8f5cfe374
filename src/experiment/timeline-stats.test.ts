import { describe, expect, it } from 'vitest';
import { failuresByKind, latencyStats, percentile, slidingWindow, stepTable } from './timeline-stats.js';
import { Timeline } from './timeline.js';

const T0 = 1_700_000_000_000;

/** Step 1 = [0, 10) s settling until 2 s; step 2 = [10, 20) s, its workers ready at 13 s. */
function knownTimeline(): Timeline {
  const timeline = new Timeline();
  const add = (t: number, latencyMs: number, ok = true, failure?: string): void =>
    timeline.add({ endEpochMs: T0 + t * 1000, latencyMs, ok, ...(failure === undefined ? {} : { failure }) });
  // Added out of order on purpose: completion order and clock order can differ.
  add(9.5, 5, false, '503');
  add(1, 1000);
  add(1.5, 1000);
  for (let i = 0; i < 8; i++) add(2 + i, 100 * (i + 1)); // t = 2…9, latency 100…800
  add(10, 7000); // step 2's settling part
  add(12.5, 9000, false, 'ECONNRESET'); // before step 2's workers were ready
  for (let k = 0; k < 28; k++) add(13 + k * 0.25, 50); // t = 13 … 19.75
  return timeline;
}

const steps = [
  { step: 1, replicas: 1, users: 16, replicaRange: null, startS: 0, readyS: 0, measuredFromS: 2, endS: 10 },
  { step: 2, replicas: 2, users: 16, replicaRange: null, startS: 10, readyS: 13, measuredFromS: 13, endS: 20 },
];

describe('percentile (nearest rank)', () => {
  it('is the smallest value with at least p % at or below it', () => {
    const v = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10];
    expect(percentile(v, 50)).toBe(5);
    expect(percentile(v, 95)).toBe(10);
    expect(percentile(v, 90)).toBe(9);
    expect(percentile(v, 91)).toBe(10);
    expect(percentile([42], 99)).toBe(42);
    expect(() => percentile([], 50)).toThrow(RangeError);
  });

  it('latencyStats: mean and p50/p95/p99, nulls without values', () => {
    expect(latencyStats([300, 100, 200, 400])).toEqual({ meanMs: 250, p50Ms: 200, p95Ms: 400, p99Ms: 400 });
    expect(latencyStats([])).toEqual({ meanMs: null, p50Ms: null, p95Ms: null, p99Ms: null });
  });
});

describe('timeline columns', () => {
  it('sorts by completion time, relative to the start, and keeps each failure with its request', () => {
    const cols = knownTimeline().columns(T0);
    expect(cols.t.slice(0, 4)).toEqual([1, 1.5, 2, 3]);
    expect(cols.t.every((t, i) => i === 0 || t >= (cols.t[i - 1] ?? 0))).toBe(true);
    const at = cols.t.indexOf(9.5);
    expect(cols.ok[at]).toBe(false);
    expect(cols.failures.get(at)).toBe('503');
    expect(failuresByKind(cols)).toEqual({ '503': 1, ECONNRESET: 1 });
  });
});

describe('stepTable', () => {
  it('counts [measuredFrom, end) of each step: requests, failures, successful req/s, latency of successes, ratio to step 1', () => {
    const rows = stepTable(knownTimeline().columns(T0), steps);
    expect(rows).toEqual([
      {
        ...steps[0],
        measuredS: 8,
        requests: 9,
        failures: 1,
        rps: 1,
        meanMs: 450,
        p50Ms: 400,
        p95Ms: 800,
        p99Ms: 800,
        ratio: 1,
        imagesByReplica: null,
        otherCores: null,
      },
      {
        ...steps[1],
        measuredS: 7,
        requests: 28,
        failures: 0,
        rps: 4,
        meanMs: 50,
        p50Ms: 50,
        p95Ms: 50,
        p99Ms: 50,
        ratio: 4,
        imagesByReplica: null,
        otherCores: null,
      },
    ]);
  });

  it('gives no ratio when the first step served nothing', () => {
    const rows = stepTable(new Timeline().columns(T0), steps);
    expect(rows.map((r) => [r.requests, r.rps, r.meanMs, r.ratio])).toEqual([
      [0, 0, null, null],
      [0, 0, null, null],
    ]);
  });
});

describe('slidingWindow', () => {
  const cols = knownTimeline().columns(T0);

  it('one point per second over (t − window, t], req/s over the time elapsed while t < window', () => {
    const points = slidingWindow(cols, { durationS: 20, windowS: 2 });
    expect(points).toHaveLength(20);
    expect(points.map((p) => p.t)).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
    // (−1, 1]: the request at 1 s (1000 ms) over 1 s elapsed.
    expect(points[0]).toEqual({ t: 1, requests: 1, failures: 0, rps: 1, meanMs: 1000, p95Ms: 1000 });
    // (1, 3]: 1.5 s (1000), 2 s (100), 3 s (200).
    expect(points[2]).toEqual({ t: 3, requests: 3, failures: 0, rps: 1.5, meanMs: 1300 / 3, p95Ms: 1000 });
    // (8, 10]: 9 s (800), 9.5 s (failed), 10 s (7000).
    expect(points[9]).toEqual({ t: 10, requests: 3, failures: 1, rps: 1, meanMs: 3900, p95Ms: 7000 });
    // (11, 13]: 12.5 s failed, 13 s (50): one success.
    expect(points[12]).toEqual({ t: 13, requests: 2, failures: 1, rps: 0.5, meanMs: 50, p95Ms: 50 });
    // (18, 20]: 18.25 … 19.75 = 7 requests of 50 ms.
    expect(points[19]).toEqual({ t: 20, requests: 7, failures: 0, rps: 3.5, meanMs: 50, p95Ms: 50 });
  });

  it('null latency where a window holds no success, and a coarser sample for long runs', () => {
    const points = slidingWindow(cols, { durationS: 25, windowS: 1, sampleS: 5 });
    expect(points.map((p) => p.t)).toEqual([5, 10, 15, 20, 25]);
    expect(points[4]).toEqual({ t: 25, requests: 0, failures: 0, rps: 0, meanMs: null, p95Ms: null });
    expect(slidingWindow(cols, { durationS: 10_000, windowS: 10 })).toHaveLength(2000);
  });
});
