import { describe, expect, it } from 'vitest';
import type { StepRow } from './contract.js';
import { imagesComputed } from '../scaling/worker-pool.js';
import { judgeTargets, targetLine } from './targets.js';

function row(step: number, replicas: number, rps: number, p95Ms: number | null, ratio: number | null): StepRow {
  return {
    step,
    replicas,
    users: 16,
    replicaRange: null,
    startS: 0,
    readyS: 0,
    measuredFromS: 0,
    endS: 10,
    measuredS: 10,
    requests: 100,
    failures: 0,
    rps,
    meanMs: p95Ms,
    p50Ms: p95Ms,
    p95Ms,
    p99Ms: p95Ms,
    ratio,
    imagesByReplica: null,
    otherCores: null,
  };
}

describe('judgeTargets', () => {
  it('judges the last step against step 1: req/s ratio (when asked) and a lower p95', () => {
    const steps = [row(1, 1, 10, 900, 1), row(2, 2, 15, 600, 1.5)];
    expect(judgeTargets(steps, 1.3)).toEqual([
      { name: 'req/s, 2 workers ÷ 1 worker', measured: '1.50×', want: '≥ 1.3×', met: true },
      { name: 'p95 response time, 2 workers vs 1 worker', measured: '600 ms vs 900 ms', want: 'lower', met: true },
    ]);
    expect(judgeTargets(steps, undefined).map((t) => t.name)).toEqual(['p95 response time, 2 workers vs 1 worker']);
  });

  it('a miss is reported as a miss, on either target and at the boundary', () => {
    const [ratio, p95] = judgeTargets([row(1, 1, 10, 900, 1), row(2, 3, 12.9, 900, 1.29)], 1.3);
    expect(ratio?.met).toBe(false);
    expect(p95?.met).toBe(false); // equal is not lower
    expect(targetLine(ratio ?? { name: '', measured: '', want: '', met: null })).toBe('target: req/s, 3 workers ÷ 1 worker: 1.29× (want ≥ 1.3×): missed');
    expect(judgeTargets([row(1, 1, 10, 900, 1), row(2, 2, 13, 899, 1.3)], 1.3).map((t) => t.met)).toEqual([true, true]);
  });

  it('other work on the host above 0.3 cores in a step: measured, not judged, and says why', () => {
    const busy = { ...row(2, 2, 11, 1200, 1.1), otherCores: 1.02 };
    const targets = judgeTargets([row(1, 1, 10, 900, 1), busy], 1.3);
    expect(targets.map((t) => [t.met, t.measured])).toEqual([
      [null, '1.10×'],
      [null, '1200 ms vs 900 ms'],
    ]);
    expect(targetLine(targets[0] ?? { name: '', measured: '', want: '', met: null })).toBe(
      'target: req/s, 2 workers ÷ 1 worker: 1.10× (want ≥ 1.3×): not judged: other work on this host used 1.02 cores in a step (more than 0.3)',
    );
    expect(judgeTargets([row(1, 1, 10, 900, 1), { ...busy, otherCores: 0.3 }], 1.3).map((t) => t.met)).toEqual([false, false]);
  });

  it('cannot judge a step without successful requests, and judges nothing without a scale-up', () => {
    expect(judgeTargets([row(1, 1, 0, null, null), row(2, 2, 5, 100, null)], 1.3).map((t) => t.met)).toEqual([null, null]);
    expect(judgeTargets([row(1, 2, 10, 900, 1), row(2, 1, 5, 1200, 0.5)], 1.3)).toEqual([]);
    expect(judgeTargets([row(1, 1, 10, 900, 1)], 1.3)).toEqual([]);
  });
});

describe('imagesComputed (a worker’s /metrics)', () => {
  it('sums swarmserve_batch_size_sum over every model version, and nothing else', () => {
    const text = [
      '# HELP swarmserve_batch_size Items per batch',
      'swarmserve_batch_size_bucket{model="resnet50",version="1",le="1"} 3',
      'swarmserve_batch_size_sum{model="resnet50",version="1"} 120',
      'swarmserve_batch_size_count{model="resnet50",version="1"} 30',
      'swarmserve_batch_size_sum{model="resnet50",version="2"} 7',
    ].join('\n');
    expect(imagesComputed(text)).toBe(127);
    expect(imagesComputed('')).toBe(0);
  });
});
