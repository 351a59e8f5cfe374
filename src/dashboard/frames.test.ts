import { describe, expect, it } from 'vitest';
import type { GatewayModelSample, StampedSample } from '../stats/contract.js';
import { gatewaySample, workerSample } from '../../test/helpers/stats-conformance.js';
import { LatencyHistogram } from '../stats/histogram.js';
import { FrameBuilder } from './frames.js';

const T = 1_800_000_000;

function model(outcomes: number[], latencies: number[], extra: Partial<GatewayModelSample> = {}): GatewayModelSample {
  const h = new LatencyHistogram();
  for (const ms of latencies) h.record(ms);
  return {
    outcomes,
    total: h.sparse(),
    queue: h.sparse(),
    inference: [],
    items: latencies.length,
    batchSum: latencies.length * 4,
    backlog: 0,
    oldestWaitMs: -1,
    ...extra,
  };
}

/** A gateway sample covering `intervalMs` before its stamp (default: all within the stamp's second, when stamped at its end). */
function gateway(id: string, atMs: number, total: number, models: Record<string, GatewayModelSample>, intervalMs = 400): StampedSample {
  return { at: atMs, source: `gateway:${id}`, sample: { ...gatewaySample(id, total), intervalMs, models } };
}

describe('FrameBuilder', () => {
  it('sums two gateways in one second and merges their histograms before taking quantiles', () => {
    const b = new FrameBuilder();
    b.add([
      gateway('a', T * 1000 + 900, 10, { 'm:1': model([10, 1, 0, 0, 0], Array(10).fill(10) as number[], { backlog: 3, oldestWaitMs: 40 }) }),
      gateway('b', T * 1000 + 920, 7, { 'm:1': model([0, 0, 2, 1, 0], []), 'n:1': model([5, 0, 0, 0, 1], Array(5).fill(1000) as number[]) }),
    ]);
    const [frame] = b.finish(T);
    expect(frame!.t).toBe(T);
    expect(frame!.gateways).toBe(2);
    expect(frame!.models['m:1']!.outcomes).toEqual([10, 1, 2, 1, 0]);
    expect(frame!.models['m:1']!.backlog).toBe(3);
    expect(frame!.models['m:1']!.oldestWaitMs).toBe(40);
    expect(frame!.all.outcomes).toEqual([15, 1, 2, 1, 1]);
    // 10 answers at 10 ms and 5 at 1 s: the merged p50 is ≈ 10 ms, the p95 ≈ 1 s.
    expect(frame!.all.total![0]).toBeGreaterThan(8);
    expect(frame!.all.total![0]).toBeLessThan(11);
    expect(frame!.all.total![1]).toBeGreaterThan(800);
    expect(frame!.all.batch).toBe(4);
    expect(b.requestsTotal(T * 1000 + 1000)).toBe(17);
    // A gateway not heard from for 10 s no longer counts.
    expect(b.requestsTotal(T * 1000 + 11_000)).toBe(0);
  });

  it('gives one frame per second, empty ones included; a sample for a finished second is dropped and counted', () => {
    const b = new FrameBuilder();
    b.add([gateway('a', T * 1000 + 900, 1, { 'm:1': model([1, 0, 0, 0, 0], [5]) })]);
    b.add([gateway('a', (T + 3) * 1000 + 900, 2, { 'm:1': model([1, 0, 0, 0, 0], [5]) })]);
    const frames = b.finish(T + 3);
    expect(frames.map((f) => f.t)).toEqual([T, T + 1, T + 2, T + 3]);
    expect(frames.map((f) => f.all.outcomes[0])).toEqual([1, 0, 0, 1]);
    expect(frames[1]!.all.total).toBeNull();
    b.add([gateway('a', (T + 2) * 1000 + 900, 3, { 'm:1': model([1, 0, 0, 0, 0], [5]) })]);
    expect(b.lateSamples).toBe(1);
    expect(b.finish(T + 4).map((f) => f.t)).toEqual([T + 4]);
    // Each gateway's newest sample gives its total: not the late one, stamped before.
    expect(b.requestsTotal((T + 4) * 1000)).toBe(2);
  });

  it("spreads a sample's counts over the seconds its interval covers: a late sample fills the second it missed", () => {
    const b = new FrameBuilder();
    // Samples each covering one second; the one for T+1 comes 600 ms late (stamped in T+2), the next on time.
    b.add([gateway('a', (T + 1) * 1000 + 50, 1, { 'm:1': model([10, 0, 0, 0, 0], []) }, 1000)]);
    b.add([gateway('a', (T + 2) * 1000 + 650, 2, { 'm:1': model([16, 0, 0, 0, 0], []) }, 1600)]);
    b.add([gateway('a', (T + 3) * 1000 + 50, 3, { 'm:1': model([4, 0, 0, 0, 0], []) }, 400)]);
    const frames = b.finish(T + 2, T);
    // No empty second, no doubled one: 10 per second throughout.
    expect(frames.map((f) => Math.round(f.all.outcomes[0]))).toEqual([10, 10, 10]);
  });

  it('counts a worker live in a second when it sent a sample then or the second before', () => {
    const b = new FrameBuilder();
    const w = (id: string, t: number, items: number): StampedSample => ({ at: t * 1000 + 500, source: `worker:${id}`, sample: workerSample(id, items) });
    b.add([w('x', T, 1), w('y', T, 1), w('x', T + 1, 2), w('x', T + 3, 3)]);
    expect(b.finish(T + 3).map((f) => f.workers)).toEqual([2, 2, 1, 1]);
  });

  it("computes each worker's rates over its recent samples, and lists the live ones only", () => {
    const b = new FrameBuilder();
    const samples: StampedSample[] = [];
    for (let i = 0; i <= 5; i++) {
      samples.push({ at: (T + i) * 1000, source: 'worker:x', sample: { ...workerSample('x', 100 * i), batches: 25 * i, busyMs: 500 * i } });
      samples.push({ at: (T + i) * 1000, source: 'worker:y', sample: workerSample('y', 0) });
    }
    b.add(samples);
    const rows = b.workerRows((T + 5) * 1000, new Set(['x']), 3000);
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ id: 'x', imagesPerS: 100, meanBatch: 4, busyPct: 50 });
    // Without the registry's view: those heard from lately.
    expect(b.workerRows((T + 5) * 1000, undefined, 3000).map((r) => r.id)).toEqual(['x', 'y']);
    expect(b.workerRows((T + 10) * 1000, undefined, 3000)).toEqual([]);
  });

  it('carries autoscaler decisions with their reason', () => {
    const b = new FrameBuilder();
    b.add([
      {
        at: T * 1000 + 100,
        source: 'autoscaler:svc',
        sample: { kind: 'autoscaler', id: 'svc', desired: 3, current: 3, live: 1, reason: 'backlog', changed: true },
      },
    ]);
    expect(b.finish(T)[0]!.autoscalers).toEqual({ svc: { desired: 3, current: 3, live: 1, reason: 'backlog', changed: true } });
  });
});
