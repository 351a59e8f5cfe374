// The local worker pool with real `swarmserve worker` processes (the built CLI, dist/) on a real
// redis-server and a tiny model: request() does not wait, setReplicas() waits for readiness and
// for the stopped ones to exit, a worker that cannot start is reported and not counted.
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ServeError } from '../common/errors.js';
import { ensureBuilt } from '../../test/helpers/process.js';
import { RedisServer } from '../../test/helpers/redis-server.js';
import { makeRepository } from '../../test/helpers/tiny-model.js';
import { livePids } from './processes.js';
import { LocalWorkerPool } from './worker-pool.js';

let redis: RedisServer;
let repo: { root: string; cleanup: () => Promise<void> };

beforeAll(async () => {
  ensureBuilt();
  redis = await RedisServer.start();
  repo = await makeRepository([{ name: 'tiny', classes: 3 }]);
});

afterAll(async () => {
  await redis.stop();
  await repo.cleanup();
});

function cmdline(pid: number): string[] {
  return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').slice(0, -1);
}

describe('LocalWorkerPool (real worker processes)', () => {
  it('request() starts them without waiting; setReplicas() waits until ready, and for the removed ones to exit; close() stops all', async () => {
    const lines: string[] = [];
    const pool = await LocalWorkerPool.create({
      redisUrl: redis.url,
      only: 'tiny',
      models: repo.root,
      extraArgs: ['--heartbeat-interval-ms', '500'],
      onProgress: (line) => lines.push(line),
    });
    try {
      expect(pool.description).toBe('local worker processes (swarmserve worker)');
      expect(await pool.capacity()).toBeUndefined();
      await pool.request(2);
      // Spawned at once, not ready yet: a worker loads its model first.
      expect(await pool.requested()).toBe(2);
      expect(await pool.running()).toBe(2);
      expect(lines.filter((l) => l.includes('ready in'))).toEqual([]);
      const [first, second] = pool.pids();
      expect(cmdline(first ?? 0).slice(-2)).toEqual(['--heartbeat-interval-ms', '500']);

      await pool.setReplicas(3);
      expect(lines.filter((l) => l.includes('ready in'))).toHaveLength(3);
      expect(Object.keys(await pool.replicaWork())).toEqual(['worker 1', 'worker 2', 'worker 3']);

      await pool.setReplicas(1);
      expect(await pool.running()).toBe(1);
      // The newest went; the first stays.
      expect(livePids()).toContain(first);
      expect(livePids()).not.toContain(second);
      expect(Object.keys(await pool.replicaWork())).toEqual(['worker 1']);

      // Scaling down does not wait: the worker is no longer counted as soon as it is told to stop.
      await pool.setReplicas(2);
      await pool.request(1);
      expect(await pool.running()).toBe(1);
    } finally {
      await pool.close();
    }
    expect(livePids().filter((p) => pool.pids().includes(p))).toEqual([]);
    expect(lines.filter((l) => l.includes('when stopped'))).toEqual([]); // every one drained and exited 0
    await expect(pool.request(1)).rejects.toThrow(ServeError);
  }, 120_000);

  it('a worker that exits before it is ready is reported, no longer counts, and setReplicas rejects with PROCESS_FAILED', async () => {
    const lines: string[] = [];
    const pool = await LocalWorkerPool.create({ redisUrl: redis.url, only: 'no-such-model', models: repo.root, onProgress: (line) => lines.push(line) });
    try {
      const err: unknown = await pool.setReplicas(1).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ServeError);
      expect((err as ServeError).code).toBe('PROCESS_FAILED');
      expect(await pool.running()).toBe(0);
      expect(await pool.requested()).toBe(1);
      expect(lines.some((l) => l.startsWith('local: worker 1 failed:'))).toBe(true);
    } finally {
      await pool.close();
    }
  }, 120_000);

  it('refuses a count that is not an integer ≥ 0', async () => {
    const pool = await LocalWorkerPool.create({ redisUrl: redis.url, only: 'tiny', models: repo.root });
    await expect(pool.request(-1)).rejects.toThrow(RangeError);
    await expect(pool.request(1.5)).rejects.toThrow(RangeError);
    await pool.close();
    await pool.close();
  });
});
