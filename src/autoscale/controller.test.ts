// The controller's loop with test doubles for Redis and the scaling target: who acts (the
// lease), what is asked for, what --dry-run leaves alone, a count changed from outside.
import { describe, expect, it } from 'vitest';
import { createLogger } from '../common/logger.js';
import type { WorkerInfo } from '../queue/contract.js';
import type { GroupReading, Lease, ScalingTarget, SignalSource } from './contract.js';
import { AutoscaleController, type ControllerOptions } from './controller.js';
import { AutoscaleMetrics } from './metrics.js';

const logger = createLogger('silent');

class SharedLease {
  holder: string | undefined;
  for(name: string): Lease {
    return {
      hold: () => {
        this.holder ??= name;
        return Promise.resolve(this.holder === name);
      },
      release: () => {
        const had = this.holder === name;
        if (had) this.holder = undefined;
        return Promise.resolve(had);
      },
    };
  }
}

class Target implements ScalingTarget {
  readonly description = 'test target';
  asked: number[] = [];
  constructor(public count: number) {}
  request(n: number): Promise<void> {
    this.asked.push(n);
    this.count = n;
    return Promise.resolve();
  }
  requested(): Promise<number> {
    return Promise.resolve(this.count);
  }
  capacity(): Promise<number | undefined> {
    return Promise.resolve(undefined);
  }
}

/** A queue receiving `rate` jobs/s, and `live` workers each doing 10 jobs per busy second. */
class Load implements SignalSource {
  at = 0;
  added = 0;
  rate = 10;
  live = 1;
  private items = 0;
  private busyMs = 0;
  read(): Promise<GroupReading> {
    this.at += 2000;
    this.added += this.rate * 2;
    this.items += this.rate * 2;
    this.busyMs += this.rate * 200;
    const workers: WorkerInfo[] = Array.from({ length: this.live }, (_, i) => ({
      id: `w${i}`,
      host: 'h',
      pid: i,
      keys: ['m:1'],
      batches: 0,
      items: this.items / this.live,
      busyMs: this.busyMs / this.live,
      startedAt: 0,
      lastSeen: this.at,
    }));
    return Promise.resolve({
      at: this.at,
      queues: new Map([['m:1', { at: this.at, added: this.added, length: 0, pending: 0, oldestWaitingAt: undefined }]]),
      workers,
    });
  }
}

function controller(o: Partial<ControllerOptions> & Pick<ControllerOptions, 'target' | 'source' | 'lease'>): AutoscaleController {
  return new AutoscaleController({
    group: 'g',
    queueKeys: ['m:1'],
    policy: { minReplicas: 1, maxReplicas: 20, targetWaitMs: 500, headroom: 0.2, stabilizationMs: 60_000 },
    intervalMs: 2000,
    startupTimeoutMs: 60_000,
    dryRun: false,
    metrics: new AutoscaleMetrics(),
    logger,
    ...o,
  });
}

describe('AutoscaleController', () => {
  it('scales up to what the load needs, and only the lease holder acts', async () => {
    const lease = new SharedLease();
    const target = new Target(1);
    const load = new Load();
    const a = controller({ target, source: load, lease: lease.for('a') });
    const b = controller({ target, source: load, lease: lease.for('b') });
    await a.tick();
    expect(await b.tick()).toBeUndefined();
    expect(b.isLeader).toBe(false);
    load.rate = 50; // 5×: 50 × 1.2 / 10 per replica = 6
    const up = await a.tick();
    expect(up?.decision.direction).toBe('up');
    expect(target.asked).toEqual([6]);
    await b.tick();
    expect(target.asked).toEqual([6]);
    // a stops cleanly: the lease is free at once, and b takes over
    await a.close();
    await b.tick();
    expect(b.isLeader).toBe(true);
  });

  it('--dry-run decides and exports, and never asks the target', async () => {
    const target = new Target(1);
    const load = new Load();
    const metrics = new AutoscaleMetrics();
    const c = controller({ target, source: load, lease: new SharedLease().for('a'), dryRun: true, metrics });
    await c.tick();
    load.rate = 50;
    const t = await c.tick();
    expect(t?.decision.replicas).toBe(6);
    expect(t?.applied).toBe(false);
    expect(target.asked).toEqual([]);
    const text = await metrics.registry.metrics();
    expect(text).toMatch(/swarmserve_autoscale_desired_replicas\{group="g"\} 6/);
    expect(text).toMatch(/swarmserve_autoscale_decisions_total\{group="g",direction="up",reason="arrival-above-capacity"\} 1/);
  });

  it('continues from a count changed outside it (docker service scale)', async () => {
    const target = new Target(2);
    const load = new Load();
    load.live = 2;
    load.rate = 15; // 15 × 1.2 / 10 = 2: steady at 2
    const c = controller({ target, source: load, lease: new SharedLease().for('a') });
    await c.tick();
    await c.tick();
    // a whole window (60 s, 30 ticks) at 2, then someone scales it to 5 by hand
    for (let i = 0; i < 32; i++) await c.tick();
    target.count = 5;
    const ticks = [];
    for (let i = 0; i < 30; i++) ticks.push(await c.tick());
    expect(ticks[0]?.decision.state.current).toBe(5);
    // continued from 5, and not scaled down before a whole window of readings at 5
    expect(ticks.every((t) => t?.decision.direction === 'hold')).toBe(true);
    expect(target.asked).toEqual([]);
    expect((await c.tick())?.decision.direction).toBe('down');
  });

  it('a failing tick is reported, not thrown, and the next one works again', async () => {
    const target = new Target(1);
    const load = new Load();
    let fail = true;
    const source: SignalSource = { read: () => (fail ? Promise.reject(new Error('Redis is unreachable')) : load.read()) };
    const metrics = new AutoscaleMetrics();
    const c = controller({ target, source, lease: new SharedLease().for('a'), metrics, intervalMs: 50 });
    await c.start();
    expect(c.lastError).toBe('Redis is unreachable');
    expect(await metrics.registry.metrics()).toMatch(/swarmserve_autoscale_tick_errors_total\{group="g"\} 1/);
    fail = false;
    await new Promise((resolve) => setTimeout(resolve, 150));
    await c.close();
    expect(c.lastError).toBeUndefined();
  });
});
