// Redis connections whose Redis goes silent without closing them (its host lost, the
// network cut: no FIN, no RST, TCP would retransmit for ~15 minutes). A TCP proxy between
// the clients and a real redis-server is "black-holed": it forwards nothing and reads
// nothing, on its open connections and on new ones. The links must notice within their
// liveness timeout, fail what waits and what comes next at once, and come back by
// themselves once Redis answers again; a healthy Redis must never be taken for dead.
import { setTimeout as sleep } from 'node:timers/promises';
import { pino, type Logger } from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { resolveGatewayConfig } from '../../src/config/gateway-config.js';
import { resolveWorkerConfig } from '../../src/config/worker-config.js';
import { GatewayNode } from '../../src/gateway/gateway-node.js';
import { RedisLink, redisError, str } from '../../src/queue/redis/link.js';
import { REDIS_DEFAULTS } from '../../src/queue/redis/options.js';
import { WorkerNode } from '../../src/worker/worker-node.js';
import { predict } from '../helpers/distributed.js';
import { solidPng } from '../helpers/images.js';
import { RedisServer } from '../helpers/redis-server.js';
import { TcpProxy } from '../helpers/tcp-proxy.js';
import { makeRepository } from '../helpers/tiny-model.js';

let redis: RedisServer;
beforeAll(async () => {
  redis = await RedisServer.start();
});
afterAll(async () => redis.stop());

const started: Array<{ close?: () => Promise<void>; destroy?: () => void; stop?: () => Promise<void>; cleanup?: () => Promise<void> }> = [];
function track<T extends (typeof started)[number]>(thing: T): T {
  started.push(thing);
  return thing;
}
afterEach(async () => {
  for (const thing of started.splice(0).reverse()) {
    if (thing.destroy !== undefined) thing.destroy();
    else await (thing.close ?? thing.stop ?? thing.cleanup)?.call(thing).catch(() => undefined);
  }
});

/** A logger whose lines the test reads. */
function recordingLogger(): { logger: Logger; lines: Array<{ msg: string; connection?: string }> } {
  const lines: Array<{ msg: string; connection?: string }> = [];
  const logger = pino({ level: 'info' }, { write: (line: string) => void lines.push(JSON.parse(line) as { msg: string }) });
  return { logger, lines };
}

async function until(what: string, check: () => boolean | Promise<boolean>, timeoutMs: number): Promise<number> {
  const start = performance.now();
  while (!(await check())) {
    if (performance.now() - start > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(20);
  }
  return performance.now() - start;
}

const failure = (promise: Promise<unknown>): Promise<unknown> =>
  promise.then(
    () => undefined,
    (err: unknown) => err,
  );

describe('Redis connection liveness', () => {
  it('a black-holed connection is given up after the default timeout; commands then fail at once; it comes back by itself, subscriptions too', async () => {
    const timeout = REDIS_DEFAULTS.livenessTimeoutMs;
    const proxy = track(await TcpProxy.start({ port: redis.port }));
    const { logger, lines } = recordingLogger();
    const link = track(await RedisLink.connect({ url: proxy.url, prefix: 'liveness', logger }, 'test-main'));
    const subscriber = track(await link.duplicate('test-cancel'));
    const messages: string[] = [];
    await subscriber.subscribe('liveness-channel', (message) => messages.push(message));
    let readies = 0;
    link.onReady(() => readies++);
    await link.send(['SET', 'liveness-key', 'before']);
    const gaveUp = (connection: string): number => lines.filter((l) => l.connection === connection && l.msg.startsWith('Redis did not answer for')).length;

    proxy.blackHole();
    const cut = performance.now();
    const err = await failure(link.send(['SET', 'liveness-key', 'during']));
    const waited = performance.now() - cut;
    console.info(`a command sent into the black hole failed after ${Math.round(waited)} ms (timeout ${timeout} ms)`);
    expect(err).toBeInstanceOf(Error);
    expect(redisError(err).code).toBe('QUEUE_UNAVAILABLE');
    // It waited for the timeout (a stall that short is not a death), and not much longer.
    expect(waited).toBeGreaterThan(timeout - 100);
    expect(waited).toBeLessThan(timeout + 1_000);
    expect(gaveUp('test-main')).toBe(1);

    // Redis stays unreachable (new connections are held as well) for longer than a held
    // handshake is waited for: every command fails at once meanwhile.
    const slowest: number[] = [];
    while (performance.now() - cut < 2 * timeout + 1_500) {
      const sent = performance.now();
      expect(await failure(link.send(['GET', 'liveness-key']))).toBeInstanceOf(Error);
      slowest.push(performance.now() - sent);
      expect(link.isReady).toBe(false);
      await sleep(100);
    }
    expect(Math.max(...slowest)).toBeLessThan(100);
    expect(proxy.accepted).toBeGreaterThan(3);
    // One line per connection and outage, however many attempts it takes.
    expect(gaveUp('test-main')).toBe(1);
    expect(gaveUp('test-cancel')).toBe(1);
    expect(readies).toBe(0);

    proxy.heal();
    const back = await until('both links to reconnect', () => link.isReady && subscriber.isReady, timeout + 3_000);
    console.info(`reconnected ${Math.round(back)} ms after Redis answered again`);
    expect(readies).toBe(1);
    expect(str(await link.send(['GET', 'liveness-key']))).toBe('before');
    await link.send(['SET', 'liveness-key', 'after']);
    expect(await redis.command(['GET', 'liveness-key'])).toBe('after');
    // The subscription came back with the new connection.
    await until(
      'a message on the new subscription',
      async () => {
        await redis.command(['PUBLISH', 'liveness-channel', 'after']);
        return messages.includes('after');
      },
      3_000,
    );
    expect(lines.filter((l) => l.connection === 'test-main' && l.msg === 'Redis connection back')).toHaveLength(1);
  }, 60_000);

  it('blocking reads longer than the timeout are not taken for silence; nor is an idle connection', async () => {
    const { logger, lines } = recordingLogger();
    // A timeout shorter than every block below: only the allowance for the block keeps these alive.
    const options = { url: redis.url, prefix: 'liveness', logger, livenessTimeoutMs: 500 };
    const idle = track(await RedisLink.connect(options, 'test-idle'));
    const reader = track(await idle.duplicate('test-reader'));
    let readies = 0;
    idle.onReady(() => readies++);
    reader.onReady(() => readies++);
    const start = performance.now();
    // The gateway's reply reader (BLOCK 1000), and a worker's read while it fills a batch (longer).
    while (performance.now() - start < 3_000) expect(await reader.send(['XREAD', 'BLOCK', '1000', 'STREAMS', 'liveness-nothing', '$'])).toBeNull();
    for (const block of ['1500', '2500']) expect(await reader.send(['XREAD', 'COUNT', '1', 'BLOCK', block, 'STREAMS', 'liveness-nothing', '$'])).toBeNull();
    expect(await idle.send(['PING'])).toBeDefined();
    expect(readies).toBe(0);
    expect(lines.filter((l) => l.msg.startsWith('Redis did not answer'))).toEqual([]);
  }, 30_000);

  it('a Redis stall shorter than the timeout is waited for, not taken for a death', async () => {
    const { logger, lines } = recordingLogger();
    const link = track(await RedisLink.connect({ url: redis.url, prefix: 'liveness', logger, livenessTimeoutMs: 3_000 }, 'test-stall'));
    let readies = 0;
    link.onReady(() => readies++);
    redis.pause();
    try {
      const reply = link.send(['SET', 'liveness-stall', '1']);
      await sleep(2_000);
      redis.resume();
      expect(str(await reply)).toBe('OK');
    } finally {
      redis.resume();
    }
    expect(readies).toBe(0);
    expect(lines.filter((l) => l.msg.startsWith('Redis did not answer'))).toEqual([]);
  }, 30_000);

  it('a gateway and a worker behind a black-holed Redis: 503 QUEUE_UNAVAILABLE within the timeout, then at once; 200 again once Redis answers', async () => {
    const timeout = 2_000;
    const proxy = track(await TcpProxy.start({ port: redis.port }));
    const repo = track(await makeRepository([{ name: 'tiny', classes: 3 }]));
    const shared = {
      models: repo.root,
      redis: proxy.url,
      redisPrefix: `liveness-${Date.now().toString(36)}`,
      redisTimeoutMs: String(timeout),
      heartbeatIntervalMs: '200',
      heartbeatExpiryMs: '1000',
      logLevel: 'silent',
    };
    const logger = pino({ level: 'silent' });
    const gateway = track(await GatewayNode.create(await resolveGatewayConfig({ ...shared, port: '0', host: '127.0.0.1', defaultModel: 'tiny' }, {}), logger));
    const url = await gateway.listen();
    const worker = track(
      await WorkerNode.create(await resolveWorkerConfig({ ...shared, metricsPort: '0', metricsHost: '127.0.0.1', threads: '1' }, {}), logger),
    );
    expect(worker).toBeDefined();
    const png = await solidPng(8, 8, [200, 40, 90]);
    await until('the gateway to be ready', async () => (await fetch(`${url}/health/ready`)).status === 200, 15_000);
    expect((await predict(url, png)).status).toBe(200);

    proxy.blackHole();
    const first = await predict(url, png);
    console.info(`gateway: the first request into the black hole was answered ${first.status} after ${Math.round(first.ms)} ms (timeout ${timeout} ms)`);
    expect(first.status).toBe(503);
    expect(first.body.error?.code).toBe('QUEUE_UNAVAILABLE');
    expect(first.ms).toBeLessThan(timeout + 1_500);
    const next: Array<Awaited<ReturnType<typeof predict>>> = [];
    for (let i = 0; i < 10; i++) {
      next.push(await predict(url, png));
      await sleep(50);
    }
    expect(next.map((a) => a.body.error?.code)).toEqual(Array(10).fill('QUEUE_UNAVAILABLE'));
    expect(Math.max(...next.map((a) => a.ms))).toBeLessThan(250);
    expect((await fetch(`${url}/health/ready`)).status).toBe(503);

    proxy.heal();
    const back = await until('a request served again', async () => (await predict(url, png)).status === 200, timeout + 10_000);
    console.info(`gateway: served again ${Math.round(back)} ms after Redis answered again`);
  }, 90_000);
});
