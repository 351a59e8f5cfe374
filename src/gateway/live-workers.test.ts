import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { createLogger } from '../common/logger.js';
import type { WorkerInfo, WorkerRegistry } from '../queue/contract.js';
import { LiveWorkers } from './live-workers.js';

const worker = (id: string, keys: string[]): WorkerInfo => ({ id, host: 'h', pid: 1, keys, batches: 0, items: 0, busyMs: 0, startedAt: 0, lastSeen: 0 });

function setup(reads: Array<WorkerInfo[] | Error>) {
  const registry: WorkerRegistry = {
    liveWorkers: vi.fn(() => {
      const next = reads.length > 1 ? reads.shift()! : reads[0]!;
      return next instanceof Error ? Promise.reject(next) : Promise.resolve(next);
    }),
  };
  const logger = createLogger('silent');
  const warn = vi.spyOn(logger, 'warn');
  const info = vi.spyOn(logger, 'info');
  let clock = 1_000;
  const live = new LiveWorkers(registry, { intervalMs: 60_000, staleMs: 5_000, logger, now: () => clock });
  // The next scheduled read, through the timer the class really sets.
  const refresh = () => vi.advanceTimersByTimeAsync(60_000);
  return { live, warn, info, advance: (ms: number) => (clock += ms), refresh };
}

describe('LiveWorkers', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('knows which keys no live worker serves', async () => {
    const { live } = setup([[worker('a', ['tiny:1']), worker('b', ['tiny:1', 'big:2'])]]);
    await live.start();
    expect(live.unknownReason()).toBeUndefined();
    expect(live.missing(['tiny:1', 'big:2', 'big:3'])).toEqual(['big:3']);
    await live.stop();
  });

  it('keeps the last list when a read fails, reports it unknown, and logs once per failure streak', async () => {
    const { live, warn, info, refresh } = setup([[worker('a', ['tiny:1'])], new Error('ECONNREFUSED'), new Error('ECONNREFUSED'), [worker('a', ['tiny:1'])]]);
    await live.start();
    await refresh();
    await refresh();
    expect(live.workers).toHaveLength(1);
    expect(live.unknownReason()).toContain('ECONNREFUSED');
    expect(warn).toHaveBeenCalledTimes(1);
    await refresh();
    expect(live.unknownReason()).toBeUndefined();
    expect(info).toHaveBeenCalledWith(expect.anything(), 'worker registry readable again');
    await live.stop();
  });

  it('a list not refreshed for staleMs is unknown', async () => {
    const { live, advance } = setup([[]]);
    await live.start();
    advance(6_000);
    expect(live.unknownReason()).toMatch(/last read 6 s ago/);
    await live.stop();
  });
});
