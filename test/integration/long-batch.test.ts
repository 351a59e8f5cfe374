// A batch that runs longer than the reclaim idle time is not taken from a live worker:
// 8 s of inference against a 5 s reclaim time, with a peer trying to take jobs over all
// the while. The session is a test double that sleeps; the queue is a real Redis.
import { afterAll, beforeAll, expect, it, onTestFinished } from 'vitest';
import { createLogger } from '../../src/common/logger.js';
import { loadRepository } from '../../src/model/repository/repository.js';
import { RedisConsumer } from '../../src/queue/redis/consumer.js';
import { RedisProducer } from '../../src/queue/redis/producer.js';
import { BatchWorker } from '../../src/worker/batch-worker.js';
import type { BatchSession } from '../../src/worker/contract.js';
import { WorkerMetrics } from '../../src/worker/metrics.js';
import { solidPng } from '../helpers/images.js';
import { RedisServer } from '../helpers/redis-server.js';
import { makeRepository } from '../helpers/tiny-model.js';

const logger = createLogger('silent');
let redis: RedisServer;
let repo: Awaited<ReturnType<typeof makeRepository>>;

beforeAll(async () => {
  redis = await RedisServer.start();
  repo = await makeRepository([{ name: 'tiny', classes: 3 }]);
});
afterAll(async () => {
  await redis.stop();
  await repo.cleanup();
});

function slowSession(runMs: number, runs: number[]): BatchSession {
  const itemDims = [3, 32, 32];
  return {
    itemDims,
    itemSize: 3 * 32 * 32,
    outputSize: 3,
    maxBatch: 8,
    async run(input, batchSize) {
      runs.push(batchSize);
      await new Promise((r) => setTimeout(r, runMs));
      return { output: new Float32Array(batchSize * 3), inferenceMs: runMs, input: new Float32Array(input.buffer as ArrayBuffer) };
    },
    warmUp: () => Promise.resolve(),
    close: () => Promise.resolve(),
  };
}

it('a batch of 8 s with a 5 s reclaim idle time is not reclaimed while its worker lives', async () => {
  const entry = (await loadRepository(repo.root)).models.get('tiny')!;
  const connection = { url: redis.url, prefix: 'long', logger };
  const producer = await RedisProducer.create(connection);
  const consumer = await RedisConsumer.create({ ...connection, reclaimIdleMs: 5_000, maxDeliveries: 3, workerId: 'slow' });
  const peer = await RedisConsumer.create({ ...connection, reclaimIdleMs: 5_000, maxDeliveries: 3, workerId: 'peer' });
  onTestFinished(() => Promise.all([consumer.close(), peer.close(), producer.close()]).then(() => undefined));
  const runs: number[] = [];
  const metrics = new WorkerMetrics();
  // The two jobs, sent together, share one batch: its gathering (500 ms) is long enough for the second to arrive.
  const worker = await BatchWorker.create({
    consumer,
    entry,
    version: entry.versions[0]!,
    metrics,
    maxQueueDelayMs: 500,
    openSession: () => Promise.resolve(slowSession(8_000, runs)),
  });
  worker.start();
  const png = await solidPng(8, 8, [10, 20, 30]);
  const request = {
    requestId: 'long',
    model: 'tiny',
    version: '1',
    payload: { kind: 'image' as const, contentType: 'image/png', bytes: png },
    topK: 3,
    timeoutMs: 30_000,
  };
  const started = Date.now();
  const outcomes = Promise.all([producer.submit(request, { bound: 10 }), producer.submit(request, { bound: 10 })]);
  const stolen = [];
  while (Date.now() - started < 9_000) stolen.push(...(await peer.receive('tiny:1', 8, 500)));
  const answered = await outcomes;
  expect(stolen).toEqual([]);
  expect(answered.every((o) => o.ok)).toBe(true);
  expect(runs).toEqual([2]);
  expect(Date.now() - started).toBeGreaterThan(8_000);
  expect(await metrics.registry.getSingleMetricAsString('swarmserve_duplicate_completions_total')).not.toMatch(/ [1-9]/);
  await worker.close();
  await Promise.all([consumer.close(), peer.close(), producer.close()]);
}, 60_000);
