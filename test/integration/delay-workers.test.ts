// The autoscaler's test double end to end (issue 21): real `swarmserve worker` processes
// serve a model whose every batch takes 100 ms on a timer (batching.executeDelayMs), so
// with one job per batch each worker serves 10 jobs/s whatever the machine, and two of
// them 20 jobs/s; their heartbeats say so too (items / busyMs).
import { pino } from 'pino';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { WorkerInfo } from '../../src/queue/contract.js';
import { RedisWorkerRegistry } from '../../src/queue/redis/registry.js';
import { delayModelImage, makeDelayRepository } from '../helpers/delay-model.js';
import { predict, runConcurrently, type Answer } from '../helpers/distributed.js';
import { spawnCli, stopProcess, type CliProcess } from '../helpers/process.js';
import { RedisServer } from '../helpers/redis-server.js';

const DELAY_MS = 100;
const WORKERS = 2;
const REQUESTS = 40;
const HEARTBEAT_EXPIRY_MS = 3000;

const prefix = `delay-${Date.now().toString(36)}`;
let redis: RedisServer | undefined;
let repo: Awaited<ReturnType<typeof makeDelayRepository>> | undefined;
const processes: CliProcess[] = [];

beforeAll(async () => {
  redis = await RedisServer.start();
  repo = await makeDelayRepository({ delayMs: DELAY_MS, maxBatch: 1 });
});

// Everything started is stopped here, whether the test passed, failed or timed out.
afterAll(async () => {
  await Promise.all(processes.map((p) => stopProcess(p, 'SIGKILL')));
  await redis?.stop();
  await repo?.cleanup();
});

function common(): string[] {
  if (redis === undefined || repo === undefined) throw new Error('not started');
  return [
    '--models',
    repo.root,
    '--redis',
    redis.url,
    '--redis-prefix',
    prefix,
    '--heartbeat-interval-ms',
    '300',
    '--heartbeat-expiry-ms',
    String(HEARTBEAT_EXPIRY_MS),
  ];
}

async function until(what: string, check: () => Promise<boolean>, timeoutMs = 15_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

it('two real workers on a 100 ms-per-batch model serve ≈ 20 jobs/s, ≈ 10 each by their heartbeats', async () => {
  const gateway = await spawnCli('gateway', [...common(), '--default-model', 'delay', '--log-level', 'warn'], { waitFor: 'live' });
  processes.push(gateway);
  for (let i = 0; i < WORKERS; i++) {
    processes.push(await spawnCli('worker', [...common(), '--worker-id', `delay-w${i}`, '--threads', '1', '--log-level', 'warn']));
  }
  await until('the gateway to see a live worker', () =>
    fetch(`${gateway.url}/health/ready`).then(
      (r) => r.status === 200,
      () => false,
    ),
  );
  const registry = await RedisWorkerRegistry.create({ url: redis!.url, prefix, logger: pino({ level: 'silent' }), expiryMs: HEARTBEAT_EXPIRY_MS });
  try {
    await until('both workers in the registry', async () => (await registry.liveWorkers()).length === WORKERS);
    // Every worker warns that it serves a test double.
    for (const worker of processes.slice(1)) expect(worker.output()).toContain('adds 100 ms to every batch (executeDelayMs)');

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
