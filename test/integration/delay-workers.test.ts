// The autoscaler's test double end to end (issue 21): real `swarmserve worker` processes
// serve a model whose every batch takes 100 ms on a timer (batching.executeDelayMs), so
// with one job per batch each worker serves 10 jobs/s whatever the machine, and two of
// them 20 jobs/s; their heartbeats say so too (items / busyMs).
import { pino } from 'pino';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { WorkerInfo } from '../../src/queue/contract.js';
import { RedisWorkerRegistry } from '../../src/queue/redis/registry.js';
import { delayModelImage } from '../helpers/delay-model.js';
import { DelayStack } from '../helpers/delay-stack.js';
import { predict, runConcurrently, type Answer } from '../helpers/distributed.js';

const DELAY_MS = 100;
const WORKERS = 2;
const REQUESTS = 40;
const HEARTBEAT_EXPIRY_MS = 3000;

let stack: DelayStack | undefined;

beforeAll(async () => {
  stack = await DelayStack.start({ delayMs: DELAY_MS, prefix: `delay-${Date.now().toString(36)}`, heartbeatExpiryMs: HEARTBEAT_EXPIRY_MS });
});

// Everything started is stopped here, whether the test passed, failed or timed out.
afterAll(async () => {
  await stack?.stop('SIGKILL');
});

async function until(what: string, check: () => Promise<boolean>, timeoutMs = 15_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

it('two real workers on a 100 ms-per-batch model serve ≈ 20 jobs/s, ≈ 10 each by their heartbeats', async () => {
  const s = stack!;
  const gateway = await s.spawn('gateway', ['--default-model', 'delay', '--log-level', 'warn'], { waitFor: 'live' });
  for (let i = 0; i < WORKERS; i++) await s.spawn('worker', ['--worker-id', `delay-w${i}`, '--threads', '1', '--log-level', 'warn']);
  await until('the gateway to see a live worker', () =>
    fetch(`${gateway.url}/health/ready`).then(
      (r) => r.status === 200,
      () => false,
    ),
  );
  const registry = await RedisWorkerRegistry.create({
    url: s.redis.url,
    prefix: s.options.prefix,
    logger: pino({ level: 'silent' }),
    expiryMs: HEARTBEAT_EXPIRY_MS,
  });
  try {
    await until('both workers in the registry', async () => (await registry.liveWorkers()).length === WORKERS);
    // Every worker warns that it serves a test double.
    for (const worker of s.processes.slice(1)) expect(worker.output()).toContain('adds 100 ms to every batch (executeDelayMs)');

    const image = await delayModelImage();
    const started = performance.now();
    const answers: Answer[] = await runConcurrently(REQUESTS, REQUESTS, () => predict(gateway.url, image));
    const seconds = (performance.now() - started) / 1000;
    expect(answers.map((a) => a.status)).toEqual(Array<number>(REQUESTS).fill(200));
    const throughput = REQUESTS / seconds;
    // 2 workers × 10 jobs/s, less start-up and the last round trips.
    expect(throughput).toBeGreaterThan(12);
    expect(throughput).toBeLessThan(22);

    let workers: WorkerInfo[] = [];
    await until('heartbeats with all the items', async () => {
      workers = await registry.liveWorkers();
      return workers.reduce((sum, w) => sum + w.items, 0) === REQUESTS;
    });
    for (const worker of workers) {
      expect(worker.items, `${worker.id} took no job`).toBeGreaterThan(0);
      const rate = (worker.items / worker.busyMs) * 1000;
      expect(rate, `${worker.id}: ${worker.items} items in ${worker.busyMs} ms busy`).toBeGreaterThanOrEqual(8);
      expect(rate, `${worker.id}: ${worker.items} items in ${worker.busyMs} ms busy`).toBeLessThanOrEqual(11);
    }
  } finally {
    await registry.close();
  }
}, 90_000);
