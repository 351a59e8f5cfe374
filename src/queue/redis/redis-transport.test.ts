// The Redis Streams transport against a real redis-server: the contract's conformance
// suite, then what only Redis does (reclaim, dead letters, long batches, clocks, protocol
// versions, memory limits, outages).
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../common/logger.js';
import { queueConformance, request } from '../../../test/helpers/queue-conformance.js';
import { RedisServer } from '../../../test/helpers/redis-server.js';
import type { ServeError } from '../../common/errors.js';
import type { JobConsumer, JobOutcome, JobProducer } from '../contract.js';
import { RedisConsumer } from './consumer.js';
import type { RedisConsumerOptions } from './options.js';
import { RedisProducer } from './producer.js';

let redis: RedisServer;
const logger = createLogger('silent');
let prefixCounter = 0;

beforeAll(async () => {
  redis = await RedisServer.start();
});
afterAll(async () => redis.stop());

/** What a test started, stopped after it even when it fails half-way (every close/stop is idempotent). */
const started: Array<{ close?: () => Promise<void>; stop?: () => Promise<void>; cleanup?: () => Promise<void> }> = [];
function track<T extends (typeof started)[number]>(thing: T): T {
  started.push(thing);
  return thing;
}
afterEach(async () => {
  for (const thing of started.splice(0).reverse()) await (thing.close ?? thing.stop ?? thing.cleanup)?.call(thing).catch(() => undefined);
});

function transportFactory(consumerOptions: Partial<RedisConsumerOptions> = {}) {
  return () => {
    // Each test its own key prefix, so tests never see each other's streams.
    const prefix = `t${prefixCounter++}-${Date.now().toString(36)}`;
    const made: Array<JobProducer | JobConsumer> = [];
    const connection = { url: redis.url, prefix, logger };
    return Promise.resolve({
      prefix,
      producer: async () => {
        const p = await RedisProducer.create(connection);
        made.push(p);
        return p;
      },
      consumer: async () => {
        const c = await RedisConsumer.create({ ...connection, reclaimIdleMs: 1_000, maxDeliveries: 3, ...consumerOptions });
        made.push(c);
        return c;
      },
      takeoverMs: 1_000,
      cleanup: async () => {
        await Promise.all(made.map((m) => m.close()));
      },
    });
  };
}

queueConformance('redis', transportFactory());

async function pair(consumerOptions: Partial<RedisConsumerOptions> = {}) {
  const transport = track(await transportFactory(consumerOptions)());
  return { transport, producer: await transport.producer(), consumer: await transport.consumer() };
}

const ok: JobOutcome = { ok: true, predictions: [{ label: 'x', probability: 1 }], timings: { queueMs: 0, inferenceMs: 0, batchSize: 1 } };

describe('Redis transport', () => {
  it('keeps a long batch from being reclaimed while its worker lives', async () => {
    const { transport, producer } = await pair();
    const holder = track(await RedisConsumer.create({ url: redis.url, prefix: transport.prefix, logger, reclaimIdleMs: 1_000, maxDeliveries: 3 }));
    const peer = await transport.consumer();
    const result = producer.submit(request('m', 'long'), { bound: 10 });
    const [delivery] = await holder.receive('m:1', 1, 2_000);
    expect(delivery).toBeDefined();
    // The batch "runs" 3.5 reclaim periods; the peer keeps trying to take it over.
    const until = Date.now() + 3_500;
    const stolen = [];
    while (Date.now() < until) stolen.push(...(await peer.receive('m:1', 4, 200)));
    expect(stolen).toEqual([]);
    expect(await holder.complete(delivery!, ok)).toBe('completed');
    await expect(result).resolves.toMatchObject({ ok: true });
    await holder.close();
    await transport.cleanup();
  });

  it('forgets the group consumers of workers that are gone, never one that holds a job', async () => {
    const { transport, producer } = await pair({ forgetConsumersAfterMs: 300, reclaimIdleMs: 60_000 });
    const stream = `${transport.prefix}:jobs:m:1`;
    const holding = await transport.consumer();
    const idle = await transport.consumer();
    void producer.submit(request('m', 'held'), { bound: 10 }).catch(() => undefined);
    expect(await holding.receive('m:1', 1, 2_000)).toHaveLength(1);
    const done = producer.submit(request('m', 'done'), { bound: 10 });
    const [finished] = await idle.receive('m:1', 1, 2_000);
    await idle.complete(finished!, ok);
    await done;
    await holding.close();
    await idle.close();
    const consumersNow = async (): Promise<string[]> => ((await redis.command(['XINFO', 'CONSUMERS', stream, 'workers'])) as string[][]).map((c) => c[1]!);
    expect((await consumersNow()).sort()).toEqual([holding.workerId, idle.workerId].sort());
    await new Promise((r) => setTimeout(r, 400));
    const janitor = await transport.consumer();
    await janitor.receive('m:1', 1, 50);
    // The idle one is gone; the one that died holding a job stays until its job is taken over.
    expect(await consumersNow()).toContain(holding.workerId);
    expect(await consumersNow()).not.toContain(idle.workerId);
    await transport.cleanup();
  });

  it('a job whose workers keep dying goes to the dead-letter stream and its caller gets JOB_FAILED', async () => {
    const { transport, producer } = await pair({ maxDeliveries: 2, reclaimIdleMs: 300 });
    const prefix = transport.prefix;
    const result = producer.submit(request('m', 'poison'), { bound: 10 });
    // Two workers take it and "die" (close without completing).
    for (let i = 0; i < 2; i++) {
      const doomed = await transport.consumer();
      let got: unknown[] = [];
      const until = Date.now() + 10_000;
      while (got.length === 0 && Date.now() < until) got = await doomed.receive('m:1', 1, 100);
      expect(got).toHaveLength(1);
      await doomed.close();
    }
    const survivor = await transport.consumer();
    const until = Date.now() + 10_000;
    const delivered = [];
    while (Date.now() < until && delivered.length === 0) {
      delivered.push(...(await survivor.receive('m:1', 1, 100)));
      const settled = await Promise.race([
        result.then(
          () => true,
          () => true,
        ),
        new Promise((r) => setTimeout(() => r(false), 1)),
      ]);
      if (settled === true) break;
    }
    expect(delivered).toEqual([]);
    await expect(result).resolves.toMatchObject({ ok: false, error: { code: 'JOB_FAILED' } });
    const dead = (await redis.command(['XRANGE', `${prefix}:dead-letter`, '-', '+'])) as Array<[string, string[]]>;
    expect(dead).toHaveLength(1);
    const fields = dead[0]![1];
    expect(fields[fields.indexOf('job.rid') + 1]).toBe('poison');
    expect(fields[fields.indexOf('deliveries') + 1]).toBe('3');
    expect(fields).not.toContain('body');
    await transport.cleanup();
  });

  it('judges deadlines by Redis time, whatever the worker clock says', async () => {
    for (const offset of [10_000, -10_000]) {
      const { transport, producer } = await pair({ now: () => Date.now() + offset });
      const skewed = await transport.consumer();
      const submitted = Date.now();
      void producer.submit(request('m', 'clock', { timeoutMs: 3_000 }), { bound: 10 }).catch(() => undefined);
      let deliveries: Awaited<ReturnType<RedisConsumer['receive']>> = [];
      while (deliveries.length === 0) deliveries = await skewed.receive('m:1', 1, 500);
      const job = deliveries[0]!.job;
      // In the worker's clock the job has ~3 s left, not 3 s ± 10 s.
      const left = job.deadline - (Date.now() + offset);
      expect(left).toBeGreaterThan(2_000);
      expect(left).toBeLessThanOrEqual(3_000);
      expect(Math.abs(job.enqueuedAt - (submitted + offset))).toBeLessThan(500);
      await transport.cleanup();
    }
  });

  it('answers a job message of another protocol version with PROTOCOL_MISMATCH and keeps reading', async () => {
    const { transport, producer, consumer } = await pair();
    const prefix = transport.prefix;
    const replyKey = `${prefix}:replies:${producer.gatewayId}`;
    const stream = `${prefix}:jobs:m:1`;
    await redis.command(['XGROUP', 'CREATE', stream, 'workers', '0', 'MKSTREAM']);
    await redis.command(['XADD', stream, '*', 'v', '99', 'jid', 'future-job', 'reply', replyKey, 'body', 'x']);
    const good = producer.submit(request('m', 'good'), { bound: 10 });
    const got = [];
    const until = Date.now() + 2_000;
    while (got.length === 0 && Date.now() < until) got.push(...(await consumer.receive('m:1', 4, 200)));
    expect(got.map((d) => d.job.requestId)).toEqual(['good']);
    await consumer.complete(got[0]!, ok);
    await expect(good).resolves.toMatchObject({ ok: true });
    // The old message was acknowledged and answered, not left pending.
    expect(await redis.command(['XLEN', stream])).toBe(0);
    expect(producer.stats().lateReplies).toBe(1);
    await transport.cleanup();
  });

  it('a reply of another protocol version reaches its caller as PROTOCOL_MISMATCH', async () => {
    const { transport, producer, consumer } = await pair();
    const prefix = transport.prefix;
    const result = producer.submit(request('m', 'r'), { bound: 10 });
    const [delivery] = await consumer.receive('m:1', 1, 2_000);
    await redis.command(['XADD', `${prefix}:replies:${producer.gatewayId}`, '*', 'v', '2', 'jid', delivery!.job.id, 'res', '{}']);
    await expect(result).resolves.toMatchObject({ ok: false, error: { code: 'PROTOCOL_MISMATCH' } });
    await transport.cleanup();
  });

  it('a Redis at its maxmemory gives QUEUE_FULL, never an internal error', async () => {
    const small = track(await RedisServer.start({ maxmemory: '3mb' }));
    const producer = track(await RedisProducer.create({ url: small.url, prefix: 'oom', logger }));
    const big = Buffer.alloc(256 * 1024, 7);
    const codes = new Set<string>();
    const pending: Array<Promise<unknown>> = [];
    for (let i = 0; i < 40; i++) {
      const p = producer.submit(request('m', `big${i}`, { payload: { kind: 'image', contentType: 'image/jpeg', bytes: big } }), { bound: 1000 });
      pending.push(p.catch((err: ServeError) => codes.add(err.code)));
      await new Promise((r) => setTimeout(r, 5));
    }
    await new Promise((r) => setTimeout(r, 200));
    expect([...codes]).toEqual(['QUEUE_FULL']);
    await producer.close();
    await Promise.all(pending);
    await small.stop();
  });

  it('while Redis is down, submit fails fast with QUEUE_UNAVAILABLE; everything reconnects by itself', async () => {
    const own = track(await RedisServer.start());
    const connection = { url: own.url, prefix: 'outage', logger };
    const producer = track(await RedisProducer.create(connection));
    const consumer = track(await RedisConsumer.create({ ...connection, reclaimIdleMs: 1_000, maxDeliveries: 3 }));
    await own.kill();
    await new Promise((r) => setTimeout(r, 100));
    const started = Date.now();
    await expect(producer.submit(request('m', 'down'), { bound: 10 })).rejects.toMatchObject({ code: 'QUEUE_UNAVAILABLE' });
    // At once (~1 ms), not after a wait for Redis (the connect timeout is 3 s).
    expect(Date.now() - started).toBeLessThan(2_000);
    expect(producer.isAvailable()).toBe(false);
    await expect(consumer.receive('m:1', 1, 100)).rejects.toBeDefined();
    await own.launch();
    const back = Date.now();
    // Reconnection retries back off to one a second: normally back within ~1 s.
    while (!producer.isAvailable() && Date.now() - back < 15_000) await new Promise((r) => setTimeout(r, 20));
    expect(producer.isAvailable()).toBe(true);
    const result = producer.submit(request('m', 'up'), { bound: 10 });
    let got: Awaited<ReturnType<RedisConsumer['receive']>> = [];
    while (got.length === 0 && Date.now() - back < 30_000) got = await consumer.receive('m:1', 1, 200).catch(() => []);
    await consumer.complete(got[0]!, ok);
    await expect(result).resolves.toMatchObject({ ok: true });
    await consumer.close();
    await producer.close();
    await own.stop();
  });

  it('re-enqueues the jobs it waits for when Redis comes back empty (those of one submitAll together)', async () => {
    const own = track(await RedisServer.start());
    const connection = { url: own.url, prefix: 'restart', logger };
    const producer = track(await RedisProducer.create(connection));
    const waiting = [
      producer.submit(request('m', 'a'), { bound: 10 }),
      ...producer.submitAll(
        ['b', 'c', 'd'].map((id) => request('m', id)),
        { bound: 10 },
      ),
    ];
    await new Promise((r) => setTimeout(r, 100));
    await own.restartEmpty();
    const back = Date.now();
    // Once reconnected (retries back off to one a second: normally within ~1 s).
    while (producer.stats().reenqueued < 4 && Date.now() - back < 15_000) await new Promise((r) => setTimeout(r, 20));
    expect(producer.stats().reenqueued).toBe(4);
    console.info(`re-enqueued 4 jobs ${Date.now() - back} ms after Redis came back empty`);
    const consumer = track(await RedisConsumer.create({ ...connection, reclaimIdleMs: 1_000, maxDeliveries: 3 }));
    const got = [];
    while (got.length < 4 && Date.now() - back < 30_000) got.push(...(await consumer.receive('m:1', 4, 200)));
    const order = got.map((d) => d.job.requestId);
    expect([...order].sort()).toEqual(['a', 'b', 'c', 'd']);
    // One script added the group again: adjacent, in order.
    expect(order.join('')).toMatch(/bcd/);
    for (const d of got) await consumer.complete(d, ok);
    await expect(Promise.all(waiting)).resolves.toHaveLength(4);
    await consumer.close();
    await producer.close();
    await own.stop();
  });
});
