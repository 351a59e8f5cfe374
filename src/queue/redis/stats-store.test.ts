import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { gatewaySample, statsStoreConformance } from '../../../test/helpers/stats-conformance.js';
import { request } from '../../../test/helpers/queue-conformance.js';
import { RedisServer } from '../../../test/helpers/redis-server.js';
import { createLogger } from '../../common/logger.js';
import { RedisProducer } from './producer.js';
import { RedisWorkerRegistry } from './registry.js';
import { RedisStatsStore } from './stats-store.js';

const logger = createLogger('silent');
let redis: RedisServer;
let prefixes = 0;

beforeAll(async () => {
  redis = await RedisServer.start();
});
afterAll(async () => redis?.stop());

statsStoreConformance('redis', () =>
  Promise.resolve({
    store: (historyS: number) => RedisStatsStore.create({ url: redis.url, prefix: `stats${++prefixes}`, logger, historyS }),
    cleanup: () => Promise.resolve(),
  }),
);

describe('RedisStatsStore', () => {
  it("a worker's heartbeat is its stats sample: the registry hash and the stream carry the same figures", async () => {
    const prefix = `hb${++prefixes}`;
    const registry = await RedisWorkerRegistry.create({ url: redis.url, prefix, logger, expiryMs: 5_000, statsHistoryS: 60 });
    const store = await RedisStatsStore.create({ url: redis.url, prefix, logger });
    try {
      const info = { id: 'w1', host: 'h', pid: 7, keys: ['m:1'], batches: 3, items: 9, busyMs: 120, startedAt: 5, rssBytes: 1000, memoryLimitBytes: 4000 };
      await registry.beat(info);
      const [live] = await registry.liveWorkers();
      expect(live).toMatchObject(info);
      const read = await store.read(0);
      expect(read.samples.map((s) => s.source)).toEqual(['worker:w1']);
      expect(read.samples[0]!.sample).toEqual({ kind: 'worker', ...info });
      // Both stamped by Redis in the same script: TIME for lastSeen, XADD's own clock for the entry id.
      expect(Math.abs(read.samples[0]!.at - live!.lastSeen)).toBeLessThanOrEqual(2);
    } finally {
      await registry.close();
      await store.close();
    }
  });

  it("a source's stream and the index expire one history after its last sample", async () => {
    const prefix = `ttl${++prefixes}`;
    const store = await RedisStatsStore.create({ url: redis.url, prefix, logger, historyS: 120 });
    try {
      await store.publish(gatewaySample('g', 1));
      const ttl = Number(await redis.command(['PTTL', `${prefix}:stats:gateway:g`]));
      expect(ttl).toBeGreaterThan(100_000);
      expect(ttl).toBeLessThanOrEqual(120_000);
      expect(Number(await redis.command(['PTTL', `${prefix}:stats`]))).toBeLessThanOrEqual(120_000);
    } finally {
      await store.close();
    }
  });

  it('near maxmemory stats give room back: nothing added, the stream trimmed to 60, while jobs and heartbeats still go in', async () => {
    const small = await RedisServer.start({ maxmemory: '8mb' });
    const connection = { url: small.url, prefix: 'full', logger };
    const store = await RedisStatsStore.create({ ...connection, historyS: 3600 });
    const registry = await RedisWorkerRegistry.create({ ...connection, expiryMs: 5_000 });
    const producer = await RedisProducer.create(connection);
    try {
      for (let i = 0; i < 200; i++) expect(await store.publish(gatewaySample('g', i))).toBe(true);
      // Fill Redis to between 90 % and 100 % of its maxmemory with something else.
      const maxmemory = 8 * 1024 * 1024;
      const used = async (): Promise<number> => Number(/used_memory:(\d+)/.exec(String(await small.command(['INFO', 'memory'])))?.[1]);
      for (let i = 0; (await used()) < maxmemory * 0.92; i++) await small.command(['SET', `filler:${i}`, 'x'.repeat(64 * 1024)]);
      expect(await used()).toBeLessThan(maxmemory);
      expect(await store.publish(gatewaySample('g', 999))).toBe(false);
      expect(Number(await small.command(['XLEN', 'full:stats:gateway:g']))).toBe(60);
      // The room is the jobs' and the heartbeats'.
      await registry.beat({ id: 'w', host: 'h', pid: 1, keys: ['m:1'], batches: 0, items: 0, busyMs: 0, startedAt: 0 });
      expect((await registry.liveWorkers()).map((w) => w.id)).toEqual(['w']);
      expect(Number(await small.command(['EXISTS', 'full:stats:worker:w']))).toBe(0);
      const job = producer.submit(request('m', 'fits'), { bound: 10 });
      job.catch(() => undefined);
      await new Promise((r) => setTimeout(r, 100));
      expect(await producer.depth('m:1')).toBe(1);
    } finally {
      await producer.close();
      await registry.close();
      await store.close();
      await small.stop();
    }
  });
});
