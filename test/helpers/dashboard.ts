// For the dashboard's end-to-end tests: several small deployments on one Redis (each its own
// key prefix) serving the delay test double, a steady open-loop load, a reader of
// GET /dashboard/stream (newline-delimited JSON) and the sum of a counter in /metrics.
import type { StreamMessage } from '../../src/dashboard/contract.js';
import { makeDelayRepository } from './delay-model.js';
import { spawnCli, spawnServe, stopProcess, type CliProcess, type ServeProcess } from './process.js';
import { RedisServer } from './redis-server.js';

export const HEARTBEAT_INTERVAL_MS = 500;
export const HEARTBEAT_EXPIRY_MS = 3000;

/**
 * One redis-server and one delay-model repository shared by every deployment of a test file;
 * every process started through it is stopped by stop(), whatever else failed.
 */
export class DashboardCluster {
  readonly processes: ServeProcess[] = [];

  private constructor(
    readonly redis: RedisServer,
    private readonly repo: { root: string; cleanup: () => Promise<void> },
  ) {}

  /** `delayMs` per batch of at most `maxBatch` jobs. */
  static async start(options: { delayMs: number; maxBatch: number }): Promise<DashboardCluster> {
    const redis = await RedisServer.start();
    try {
      return new DashboardCluster(redis, await makeDelayRepository({ delayMs: options.delayMs, maxBatch: options.maxBatch }));
    } catch (err) {
      await redis.stop();
      throw err;
    }
  }

  get models(): string {
    return this.repo.root;
  }

  /** `swarmserve gateway|worker` of the deployment `prefix` (gateways: once they listen; workers: once ready). */
  async spawn(command: 'gateway' | 'worker', prefix: string, args: string[] = []): Promise<CliProcess> {
    const common = [
      ...['--models', this.repo.root, '--redis', this.redis.url, '--redis-prefix', prefix],
      ...['--heartbeat-interval-ms', String(HEARTBEAT_INTERVAL_MS), '--heartbeat-expiry-ms', String(HEARTBEAT_EXPIRY_MS), '--log-level', 'warn'],
    ];
    const own = command === 'gateway' ? ['--default-model', 'delay'] : ['--threads', '1'];
    const proc = await spawnCli(command, [...common, ...own, ...args], command === 'gateway' ? { waitFor: 'live' } : {});
    this.processes.push(proc);
    return proc;
  }

  /** `swarmserve serve` (embedded mode) on the same repository, ready. */
  async serve(args: string[] = []): Promise<ServeProcess> {
    const proc = await spawnServe(['--models', this.repo.root, '--default-model', 'delay', '--log-level', 'warn', ...args], 30_000);
    this.processes.push(proc);
    return proc;
  }

  async stop(): Promise<void> {
    await Promise.all(this.processes.map((p) => stopProcess(p, 'SIGKILL')));
    await this.redis.stop();
    await this.repo.cleanup();
  }
}

/** Starts every task at once and waits for all of them to settle (nothing left starting behind a failure), then throws the first failure. */
export async function allSettled<T extends readonly unknown[]>(tasks: { [K in keyof T]: Promise<T[K]> }): Promise<T> {
  const results = await Promise.allSettled(tasks);
  const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed !== undefined) throw failed.reason;
  return results.map((r) => (r as PromiseFulfilledResult<unknown>).value) as unknown as T;
}

export interface LoadResult {
  sent: number;
  /** Answers by HTTP status (0: network failure). */
  statuses: Record<number, number>;
}

export interface SteadyLoad {
  /** Requests sent so far. */
  readonly sent: number;
  /** Stops sending; resolves once every request sent is answered. */
  stop(): Promise<LoadResult>;
}

/** Open-loop load: `rps` POST /predict a second, evenly spread, whatever the answers take. */
export function steadyLoad(baseUrl: string, body: Buffer, rps: number): SteadyLoad {
  const started = performance.now();
  const pending = new Set<Promise<void>>();
  const statuses: Record<number, number> = {};
  let sent = 0;
  const send = (): void => {
    sent++;
    const request = fetch(`${baseUrl}/predict`, { method: 'POST', body, headers: { 'content-type': 'image/png' } })
      .then(async (r) => {
        await r.arrayBuffer();
        return r.status;
      })
      .catch(() => 0)
      .then((status) => {
        statuses[status] = (statuses[status] ?? 0) + 1;
        pending.delete(request);
      });
    pending.add(request);
  };
  const timer = setInterval(() => {
    const due = Math.floor(((performance.now() - started) / 1000) * rps) + 1;
    while (sent < due) send();
  }, 20);
  send();
  return {
    get sent() {
      return sent;
    },
    async stop() {
      clearInterval(timer);
      while (pending.size > 0) await Promise.all([...pending]);
      return { sent, statuses };
    },
  };
}

/** The messages of GET /dashboard/stream until `done(messages)` holds or `timeoutMs` passes (then it resolves with what came). */
export async function readStream(
  baseUrl: string,
  options: { range?: number; headers?: Record<string, string>; timeoutMs: number; done: (messages: readonly StreamMessage[]) => boolean },
): Promise<StreamMessage[]> {
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(), options.timeoutMs);
  const messages: StreamMessage[] = [];
  try {
    const response = await fetch(`${baseUrl}/dashboard/stream${options.range === undefined ? '' : `?range=${options.range}`}`, {
      headers: options.headers ?? {},
      signal: abort.signal,
    });
    if (response.status !== 200) throw new Error(`GET /dashboard/stream: ${response.status} ${await response.text()}`);
    const decoder = new TextDecoder();
    let buffered = '';
    for await (const chunk of response.body as AsyncIterable<Uint8Array>) {
      buffered += decoder.decode(chunk, { stream: true });
      let end: number;
      while ((end = buffered.indexOf('\n')) >= 0) {
        messages.push(JSON.parse(buffered.slice(0, end)) as StreamMessage);
        buffered = buffered.slice(end + 1);
      }
      if (options.done(messages)) break;
    }
  } catch (err) {
    if (!abort.signal.aborted) throw err;
  } finally {
    clearTimeout(timer);
    abort.abort();
  }
  return messages;
}

/** The sum of every sample of counter `name` in a process's /metrics (all label sets). */
export async function metricSum(baseUrl: string, name: string, headers: Record<string, string> = {}): Promise<number> {
  const text = await (await fetch(`${baseUrl}/metrics`, { headers })).text();
  let sum = 0;
  for (const line of text.split('\n')) {
    if (line.startsWith(`${name}{`) || line.startsWith(`${name} `)) sum += Number(line.split(' ').at(-1));
  }
  return sum;
}

/** Polls `check` every 100 ms until it holds; throws after `timeoutMs`. */
export async function until(what: string, check: () => Promise<boolean> | boolean, timeoutMs: number): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
