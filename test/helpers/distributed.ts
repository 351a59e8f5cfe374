// A distributed deployment for end-to-end tests: a real redis-server, gateway and worker
// processes of the real CLI, and a tiny model whose answers are known per input.
import { makeRepository } from './tiny-model.js';
import { solidPng } from './images.js';
import { spawnCli, stopProcess, type CliProcess } from './process.js';
import { RedisServer, type RedisServerOptions } from './redis-server.js';
import { startServer } from './server.js';

export interface KnownInput {
  index: number;
  png: Buffer;
  /** The embedded server's answer for it (top_k = every class). */
  expected: Array<{ label: string; probability: number }>;
}

/** `count` distinct solid-colour images and the answers embedded mode gives them. */
export async function knownInputs(repoRoot: string, count: number, classes: number): Promise<KnownInput[]> {
  const { server, url } = await startServer({ models: repoRoot, defaultModel: 'tiny' });
  try {
    const inputs: KnownInput[] = [];
    for (let i = 0; i < count; i++) {
      const png = await solidPng(8, 8, [(i * 53) % 256, (i * 97 + 40) % 256, (i * 151 + 90) % 256]);
      const response = await fetch(`${url}/predict?top_k=${classes}`, { method: 'POST', body: png, headers: { 'content-type': 'image/png' } });
      const body = (await response.json()) as { predictions: KnownInput['expected'] };
      inputs.push({ index: i, png, expected: body.predictions });
    }
    return inputs;
  } finally {
    await server.close();
  }
}

export class Deployment {
  readonly gateways: CliProcess[] = [];
  readonly workers: CliProcess[] = [];
  private constructor(
    readonly redis: RedisServer,
    readonly repoRoot: string,
    readonly prefix: string,
    private readonly cleanupRepo: () => Promise<void>,
  ) {}

  static async start(options: { classes?: number; batching?: Record<string, unknown>; redis?: RedisServerOptions } = {}): Promise<Deployment> {
    const redis = await RedisServer.start(options.redis);
    const repo = await makeRepository([
      {
        name: 'tiny',
        classes: options.classes ?? 10,
        config: { batching: { maxBatchSize: 8, maxQueueDelayMs: 5, queueBound: 4096, timeoutMs: 30_000, ...options.batching } },
      },
    ]);
    return new Deployment(redis, repo.root, `e2e-${Date.now().toString(36)}`, repo.cleanup);
  }

  /** Redis connection flags (tests of authentication override them). */
  redisArgs: string[] = [];

  private common(): string[] {
    const redisArgs = this.redisArgs.length > 0 ? this.redisArgs : ['--redis', this.redis.url];
    return ['--models', repo(this), ...redisArgs, '--redis-prefix', this.prefix, '--heartbeat-interval-ms', '500', '--heartbeat-expiry-ms', '3000'];
  }

  /** One gateway and `workers` workers, ready to serve. */
  async stack(workers: number, workerArgs: string[] = [], gatewayArgs: string[] = []): Promise<{ gateway: CliProcess; workers: CliProcess[] }> {
    const gateway = await this.gateway(gatewayArgs);
    const started: CliProcess[] = [];
    for (let i = 0; i < workers; i++) started.push(await this.worker(workerArgs));
    await this.waitReady(gateway);
    return { gateway, workers: started };
  }

  async gateway(args: string[] = [], env: NodeJS.ProcessEnv = {}): Promise<CliProcess> {
    const proc = await spawnCli('gateway', [...this.common(), '--default-model', 'tiny', '--log-level', 'warn', ...args], { waitFor: 'live', env });
    this.gateways.push(proc);
    return proc;
  }

  async worker(args: string[] = [], env: NodeJS.ProcessEnv = {}): Promise<CliProcess> {
    const proc = await spawnCli('worker', [...this.common(), '--threads', '1', '--log-level', 'warn', ...args], { env });
    this.workers.push(proc);
    return proc;
  }

  get jobStream(): string {
    return `${this.prefix}:jobs:tiny:1`;
  }

  /** Waits until a gateway sees a live worker for every model version. */
  async waitReady(gateway: CliProcess, timeoutMs = 15_000): Promise<void> {
    const end = Date.now() + timeoutMs;
    while (
      (await fetch(`${gateway.url}/health/ready`).then(
        (r) => r.status,
        () => 0,
      )) !== 200
    ) {
      if (Date.now() > end) throw new Error(`gateway not ready:\n${gateway.output()}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  async stop(): Promise<void> {
    await Promise.all([...this.workers, ...this.gateways].map((p) => stopProcess(p, 'SIGKILL')));
    await this.redis.stop();
    await this.cleanupRepo();
  }
}

function repo(d: Deployment): string {
  return d.repoRoot;
}

export interface Answer {
  status: number;
  ms: number;
  body: { success: boolean; predictions?: KnownInput['expected']; error?: { code: string } };
  requestId: string | null;
}

/** POSTs one image to a gateway; network failures come back as status 0. */
export async function predict(baseUrl: string, png: Buffer, headers: Record<string, string> = {}, query = ''): Promise<Answer> {
  const started = performance.now();
  try {
    const response = await fetch(`${baseUrl}/predict${query}`, { method: 'POST', body: png, headers: { 'content-type': 'image/png', ...headers } });
    const body = (await response.json()) as Answer['body'];
    return { status: response.status, ms: performance.now() - started, body, requestId: response.headers.get('x-request-id') };
  } catch {
    return { status: 0, ms: performance.now() - started, body: { success: false }, requestId: null };
  }
}

/** Runs `total` tasks with `concurrency` in flight; resolves with their results in order. */
export async function runConcurrently<T>(total: number, concurrency: number, task: (i: number) => Promise<T>): Promise<T[]> {
  const results: T[] = new Array<T>(total);
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < total) {
        const i = next++;
        results[i] = await task(i);
      }
    }),
  );
  return results;
}

export function sameAnswer(got: Answer['body']['predictions'], expected: KnownInput['expected']): boolean {
  if (got === undefined || got.length !== expected.length) return false;
  return got.every((p, i) => p.label === expected[i]?.label && Math.abs(p.probability - (expected[i]?.probability ?? -1)) < 1e-6);
}

/** "job computed" debug lines of a worker's log → job id → count. */
export function computedJobs(log: string, into = new Map<string, number>()): Map<string, number> {
  for (const line of log.split('\n')) {
    if (!line.includes('"job computed"')) continue;
    try {
      const record = JSON.parse(line) as { job?: string };
      if (record.job !== undefined) into.set(record.job, (into.get(record.job) ?? 0) + 1);
    } catch {
      // a partial line at the kill
    }
  }
  return into;
}
