// The autoscaler's policy on synthetic traces: no clock, no I/O.
import { describe, expect, it } from 'vitest';
import type { AutoscaleConfig, Decision, PolicyState, Signals } from './contract.js';
import { decide, desiredReplicas, initialState } from './policy.js';

const config: AutoscaleConfig = { minReplicas: 1, maxReplicas: 20, targetWaitMs: 500, headroom: 0.2, stabilizationMs: 60_000 };
const TICK = 3000;
/** Each worker completes 10 jobs/s; a new one starts in 8 s (longer than a tick). */
const base: Omit<Signals, 'at'> = { arrivalPerS: 0, backlog: 0, oldestWaitMs: 0, liveReplicas: 1, perReplicaPerS: 10, startupMs: 8000 };

/** Runs the policy over a trace, one tick apart; `signals(i, replicas)` may depend on what it asked for. */
function run(start: PolicyState, ticks: number, signals: (i: number, replicas: number) => Partial<Signals>, c = config): Decision[] {
  const out: Decision[] = [];
  let state = start;
  for (let i = 0; i < ticks; i++) {
    const d = decide(state, { ...base, at: i * TICK, ...signals(i, state.current) }, c);
    out.push(d);
    state = d.state;
  }
  return out;
}
const counts = (ds: Decision[]): number[] => ds.map((d) => d.replicas);

describe('desiredReplicas', () => {
  it('arrivals with headroom over the per-replica rate, plus what drains the backlog within the target wait', () => {
    expect(desiredReplicas({ ...base, at: 0, arrivalPerS: 25 }, config)).toBe(3); // 30 / 10
    expect(desiredReplicas({ ...base, at: 0, arrivalPerS: 25, backlog: 10 }, config)).toBe(5); // 3 + 10 / (10 × 0.5)
    expect(desiredReplicas({ ...base, at: 0, arrivalPerS: 25, perReplicaPerS: undefined }, config)).toBeUndefined();
    expect(desiredReplicas({ ...base, at: 0, perReplicaPerS: undefined }, config)).toBe(0); // idle: no rate needed
  });
});

describe('decide', () => {
  it('steady load: no change', () => {
    const ds = run(initialState(3), 40, () => ({ arrivalPerS: 24, liveReplicas: 3 }));
    expect(new Set(counts(ds))).toEqual(new Set([3]));
    expect(ds.every((d) => d.reason === 'steady')).toBe(true);
  });

  it('a 5× step: the right count in one decision', () => {
    const ds = run(initialState(2), 3, (i) => ({ arrivalPerS: i === 0 ? 15 : 75, liveReplicas: 2 }));
    expect(counts(ds)).toEqual([2, 9, 9]); // 75 × 1.2 / 10 = 9
    expect(ds[1]?.reason).toBe('arrival-above-capacity');
  });

  it('the oldest job past the target: at least double the live replicas at once ("panic")', () => {
    const [d] = run(initialState(2), 1, () => ({ arrivalPerS: 15, liveReplicas: 2, oldestWaitMs: 900 }));
    expect(d?.replicas).toBe(4);
    expect(d?.reason).toBe('oldest-wait-past-target');
  });

  it('workers slower to start than a tick: no second scale-up while they start', () => {
    // 60 jobs/s arrive; the 6 asked for start 8 s later (ticks 1-2 still see 2 live and a growing backlog)
    const ds = run(initialState(2), 6, (i, replicas) => {
      const live = i === 0 ? 2 : i * TICK - TICK >= 8000 ? replicas : 2;
      return { arrivalPerS: 50, liveReplicas: live, backlog: live < 6 ? 40 * i : 0 };
    });
    expect(ds[0]?.direction).toBe('up');
    expect(ds.slice(1, 3).map((d) => d.reason)).toEqual(['holding-for-startup', 'holding-for-startup']);
    expect(ds.filter((d) => d.direction === 'up').length).toBeLessThanOrEqual(2);
  });

  it('a spike shorter than the window: up at once, and no scale-down until a whole window after it', () => {
    const ds = run(initialState(2), 40, (i) => ({ arrivalPerS: i >= 2 && i < 5 ? 80 : 15, liveReplicas: 2 }));
    const up = ds.findIndex((d) => d.direction === 'up');
    const firstDown = ds.findIndex((d) => d.direction === 'down');
    expect(up).toBe(2);
    expect(firstDown * TICK - up * TICK).toBeGreaterThanOrEqual(config.stabilizationMs);
    // back to what the load needs, one step per tick, never below
    expect(counts(ds).at(-1)).toBe(2);
  });

  it('a fresh controller scales down only after a whole window of readings', () => {
    const ds = run(initialState(5), 25, () => ({ arrivalPerS: 15, liveReplicas: 5 }));
    const firstDown = ds.findIndex((d) => d.direction === 'down');
    expect(firstDown * TICK).toBeGreaterThanOrEqual(config.stabilizationMs);
    expect(ds.slice(0, firstDown).every((d) => d.reason === 'waiting-for-the-window')).toBe(true);
  });

  it('a burst that needs every current replica (no scale-up) puts the scale-down off by a whole window', () => {
    // needs 2 of 5 except at tick 10 (inside the first window), when it needs all 5
    const ds = run(initialState(5), 40, (i) => ({ arrivalPerS: i === 10 ? 40 : 15, liveReplicas: 5 }));
    const firstDown = ds.findIndex((d) => d.direction === 'down');
    expect(ds[10]?.desired).toBe(5);
    expect((firstDown - 10) * TICK).toBeGreaterThanOrEqual(config.stabilizationMs);
    expect(counts(ds).at(-1)).toBe(2);
  });

  it("Ray's oscillation pattern: the queue per replica falls after a scale-up, and that does not scale it back down", () => {
    // a backlog spread over the replicas: more replicas → less queue each → a naive queue-per-replica rule scales down
    const ds = run(initialState(2), 30, (_i, replicas) => ({ arrivalPerS: 40, liveReplicas: replicas, backlog: Math.max(0, 60 - 30 * replicas) }));
    const directions = ds.map((d) => d.direction).filter((d) => d !== 'hold');
    expect(directions).toEqual(['up']);
    expect(counts(ds).at(-1)).toBe(5); // 40 × 1.2 / 10 = 4.8
  });

  it('--min 0: the first job with no worker scales to 1; idle stays at 0', () => {
    const c = { ...config, minReplicas: 0 };
    const idle = run(initialState(0), 3, () => ({ liveReplicas: 0, perReplicaPerS: undefined }), c);
    expect(counts(idle)).toEqual([0, 0, 0]);
    const [d] = run(initialState(0), 1, () => ({ liveReplicas: 0, perReplicaPerS: undefined, backlog: 1 }), c);
    expect(d?.replicas).toBe(1);
    expect(d?.reason).toBe('scale-from-zero');
  });

  it('never measured (the burst that woke it from zero was done before a tick saw it work): idle still scales down to --min', () => {
    const c = { ...config, minReplicas: 0, stabilizationMs: 10_000 };
    const ds = run(initialState(1), 8, () => ({ liveReplicas: 1, perReplicaPerS: undefined }), c);
    expect(ds.some((d) => d.reason === 'no-measurement-yet')).toBe(false);
    expect(counts(ds).at(-1)).toBe(0);
    expect(ds.find((d) => d.direction === 'down')?.reason).toBe('below-for-the-window');
    // work waiting and no rate yet: still held, not sized on a guess
    const [d] = run(initialState(1), 1, () => ({ liveReplicas: 1, perReplicaPerS: undefined, backlog: 3 }), c);
    expect(d?.reason).toBe('no-measurement-yet');
  });

  it('a job or two in transit costs no replica: the headroom drains them', () => {
    // 32 × 1.2 = 38.4 ≥ 32 + 1 / 0.5 s: 4 replicas, as without the job (the sum would say 5)
    expect(desiredReplicas({ ...base, at: 0, arrivalPerS: 32, backlog: 1 }, config)).toBe(4);
    // a real backlog still counts: 32 + 40 / 0.5 s = 112 jobs/s → 12
    expect(desiredReplicas({ ...base, at: 0, arrivalPerS: 32, backlog: 40 }, config)).toBe(12);
  });

  it('replicas asked for to drain a backlog go once it is drained and a start-up has passed, down to what the arrivals need', () => {
    // the step: 30 jobs/s arrive (4 replicas' worth) while 40 wait past the target; then the backlog is gone
    const ds = run(initialState(1), 30, (i) => ({ arrivalPerS: 30, backlog: i === 0 ? 40 : 0, oldestWaitMs: i === 0 ? 2000 : 0, liveReplicas: 1 }));
    expect(ds[0]?.direction).toBe('up');
    expect(ds[0]?.replicas).toBe(11); // 30 + 40 / 0.5 s = 110 jobs/s
    const downs = ds.filter((d) => d.direction === 'down');
    expect(downs.every((d) => d.reason === 'backlog-drained')).toBe(true);
    // not before the new replicas' start-up (8 s), then one per tick, never below the arrivals' 4
    expect(ds.findIndex((d) => d.direction === 'down') * TICK).toBeGreaterThanOrEqual(base.startupMs!);
    expect(Math.min(...counts(ds))).toBe(4);
    expect(counts(ds).at(-1)).toBe(4);
    // all back well within the 60 s window
    expect(counts(ds).indexOf(4) * TICK).toBeLessThan(config.stabilizationMs);
  });

  it('an arrival-driven scale-up keeps its replicas for the whole window, backlog or not', () => {
    const ds = run(initialState(2), 30, (i) => ({ arrivalPerS: i < 3 ? 60 : 15, backlog: 0, liveReplicas: 2 }));
    expect(ds[0]?.replicas).toBe(8); // 60 × 1.2 / 10
    const firstDown = ds.findIndex((d) => d.direction === 'down');
    expect(firstDown * TICK).toBeGreaterThanOrEqual(config.stabilizationMs);
    expect(ds.some((d) => d.reason === 'backlog-drained')).toBe(false);
  });

  it('--max and the cluster capacity bound it, and say so', () => {
    const [d] = run(initialState(2), 1, () => ({ arrivalPerS: 500 }), { ...config, clusterCap: 6 });
    expect(d?.replicas).toBe(6);
    expect(d?.capped).toBe(true);
    const [e] = run(initialState(6), 1, () => ({ arrivalPerS: 500 }), { ...config, clusterCap: 6 });
    expect(e).toMatchObject({ replicas: 6, reason: 'at-max', capped: true });
  });

  it('below --min: up to it', () => {
    const [d] = run(initialState(0), 1, () => ({ liveReplicas: 0 }), { ...config, minReplicas: 2 });
    expect(d).toMatchObject({ replicas: 2, reason: 'at-min', direction: 'up' });
  });
});
