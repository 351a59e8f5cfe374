// The distributed-mode compositions in one test process: a GatewayNode and WorkerNodes
// on a real redis-server, with tiny models. Readiness follows the workers' heartbeats,
// requests flow gateway → Redis → worker, and a worker's drain takes it out of the registry.
import { createServer } from 'node:net';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { createLogger } from '../../src/common/logger.js';
import { resolveGatewayConfig } from '../../src/config/gateway-config.js';
import { resolveWorkerConfig } from '../../src/config/worker-config.js';
import { GatewayNode } from '../../src/gateway/gateway-node.js';
import type { WorkerInfo } from '../../src/queue/contract.js';
import { RedisWorkerRegistry } from '../../src/queue/redis/registry.js';
import { WorkerNode } from '../../src/worker/worker-node.js';
import { photo } from '../helpers/images.js';
import { freePort } from '../helpers/process.js';
import { RedisServer } from '../helpers/redis-server.js';
import { makeRepository } from '../helpers/tiny-model.js';

const logger = createLogger('silent');
let redis: RedisServer;
let repo: Awaited<ReturnType<typeof makeRepository>>;
let gateway: GatewayNode;
let url: string;

function common(): Record<string, string> {
  return {
    models: repo.root,
    redis: redis.url,
    redisPrefix: `nodes-${Date.now().toString(36)}`,
    heartbeatIntervalMs: '200',
    heartbeatExpiryMs: '1000',
    logLevel: 'silent',
  };
}
let shared: Record<string, string>;

async function startWorker(flags: Record<string, string> = {}): Promise<WorkerNode> {
  const config = await resolveWorkerConfig({ ...shared, metricsPort: '0', metricsHost: '127.0.0.1', threads: '1', ...flags }, {});
  return WorkerNode.create(config, logger);
}

/** The gateway reads the worker registry once a second: what it sees changes within ~1 s. */
async function until(what: string, check: () => Promise<boolean>, timeoutMs = 15_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const readiness = async (base: string): Promise<{ status: number; body: unknown }> => {
  const response = await fetch(`${base}/health/ready`);
  return { status: response.status, body: await response.json() };
};

beforeAll(async () => {
  redis = await RedisServer.start();
  repo = await makeRepository([
    { name: 'tiny', classes: 5 },
    { name: 'other', classes: 3 },
  ]);
  shared = common();
  gateway = await GatewayNode.create(await resolveGatewayConfig({ ...shared, port: '0', host: '127.0.0.1', defaultModel: 'tiny' }, {}), logger);
  url = await gateway.listen();
});
afterAll(async () => {
  await gateway.close();
  await repo.cleanup();
  await redis.stop();
});

describe('gateway and worker nodes', () => {
  it('the gateway is not ready while a model version has no live worker', async () => {
    const { status, body } = await readiness(url);
    expect(status).toBe(503);
    expect(body).toMatchObject({ success: false, error: { code: 'NOT_READY' } });
    expect(JSON.stringify(body)).toContain('no live worker for');
  });

  it('serves once workers for every version heartbeat; drains a worker out of the registry', async () => {
    const tiny = await startWorker({ only: 'tiny:1', workerId: 'w-tiny' });
    onTestFinished(() => tiny.close());
    expect(gateway.notReadyReason()).toBeDefined();
    const other = await startWorker({ only: 'other' });
    onTestFinished(() => other.close());
    expect((await readiness(tiny.metricsUrl)).status).toBe(200);
    expect(await (await fetch(`${tiny.metricsUrl}/health/live`)).json()).toEqual({ status: 'live' });
    await until('the gateway to be ready', async () => (await readiness(url)).status === 200);

    const response = await fetch(`${url}/predict`, { method: 'POST', body: photo('dog'), headers: { 'content-type': 'image/jpeg' } });
    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({ success: true, model: 'tiny', version: '1' });

    const workerMetrics = await (await fetch(`${tiny.metricsUrl}/metrics`)).text();
    expect(workerMetrics).toMatch(/swarmserve_batch_size_count\{model="tiny",version="1"\} 1/);
    expect(workerMetrics).toContain('process_cpu_user_seconds_total');
    const gatewayMetrics = await (await fetch(`${url}/metrics`)).text();
    expect(gatewayMetrics).toMatch(/swarmserve_live_workers\{model="tiny",version="1"\} 1/);

    await tiny.close();
    await until('the gateway to see the worker gone', () => Promise.resolve(gateway.notReadyReason() === 'no live worker for tiny:1'));
  });

  it("a worker's heartbeat carries its counters: batches, items and the time it spent running them", async () => {
    const worker = await startWorker({ only: 'tiny:1', workerId: 'w-stats' });
    onTestFinished(() => worker.close());
    const other = await startWorker({ only: 'other' });
    onTestFinished(() => other.close());
    await until('the gateway to be ready', async () => (await readiness(url)).status === 200);
    const started = performance.now();
    for (let i = 0; i < 5; i++) {
      const response = await fetch(`${url}/predict`, { method: 'POST', body: photo('dog'), headers: { 'content-type': 'image/jpeg' } });
      expect(response.status).toBe(200);
    }
    const elapsedMs = performance.now() - started;
    const registry = await RedisWorkerRegistry.create({ url: redis.url, prefix: shared.redisPrefix ?? '', logger, expiryMs: 1000 });
    onTestFinished(() => registry.close());
    let info: WorkerInfo | undefined;
    await until('a heartbeat with the 5 items', async () => {
      info = (await registry.liveWorkers()).find((w) => w.id === 'w-stats');
      return info?.items === 5;
    });
    expect(info?.batches).toBeGreaterThanOrEqual(1);
    expect(info?.batches).toBeLessThanOrEqual(5);
    // inference took some time, and no more than the requests' own time
    expect(info?.busyMs).toBeGreaterThan(0);
    expect(info?.busyMs).toBeLessThan(elapsedMs);
  });

  it('a taken metrics port is a coded start-up error, not a stack trace', async () => {
    const taken = createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    try {
      const port = (taken.address() as { port: number }).port;
      await expect(startWorker({ metricsPort: String(port) })).rejects.toMatchObject({
        code: 'CONFIG_INVALID',
        message: expect.stringContaining('already in use') as unknown,
      });
    } finally {
      await new Promise((resolve) => taken.close(resolve));
    }
  });

  it('a worker that fails to start closes its listener again', async () => {
    const port = await freePort();
    await expect(startWorker({ only: 'tiny:9', metricsPort: String(port) })).rejects.toThrow(/no version 9/);
    const probe = createServer();
    await new Promise<void>((resolve, reject) => probe.once('error', reject).listen(port, '127.0.0.1', resolve));
    await new Promise((resolve) => probe.close(resolve));
  });
});
