// The local scaler: a distributed deployment on this machine, started and owned by this
// process — a redis-server of its own, one `swarmserve gateway` and as many `swarmserve
// worker` processes as asked. Workers are added (ready = their /health/ready answers 200) and
// removed with SIGTERM, so they finish and answer the jobs they took and no request fails.
// close() stops everything it started and removes the Redis directory; the process registry
// (processes.ts) kills whatever is left if this process exits some other way.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { ServeError } from '../common/errors.js';
import { bundledModelsDir, packageRoot } from '../config/paths.js';
import { loadRepository } from '../model/repository/repository.js';
import type { Scaler } from './contract.js';
import { LocalRedis } from './local-redis.js';
import { ManagedProcess, freePort } from './processes.js';

export interface LocalScalerOptions {
  model: string;
  version?: string;
  /** onnxruntime intra-op threads per worker (default 1: one worker saturates one core). */
  threads?: number;
  /** Gateway port on 127.0.0.1; 0 or absent picks a free one. */
  port?: number;
  /** Model repository (default: the bundled one). */
  models?: string;
  /** Wait this long for a process to be ready (default 120 s: a cold model load on a busy machine). */
  readyTimeoutMs?: number;
  onProgress?: (line: string) => void;
}

/** SIGTERM → exit: a worker drains within --drain-timeout-ms (30 s by default), then it is killed. */
const STOP_TIMEOUT_MS = 45_000;
const DEFAULT_READY_TIMEOUT_MS = 120_000;
/** A worker answers /metrics from its event loop between batches: seconds at worst on a busy host. */
const METRICS_TIMEOUT_MS = 15_000;

function cliEntry(): string {
  const entry = join(packageRoot(), 'dist', 'src', 'cli', 'main.js');
  if (!existsSync(entry)) throw new ServeError('PROCESS_FAILED', `${entry} is missing: build the project first (npm run build)`);
  return entry;
}

interface Worker {
  index: number;
  proc: ManagedProcess;
  metricsUrl: string;
}

export class LocalScaler implements Scaler {
  readonly description = 'local worker processes (swarmserve worker)';
  private readonly workers: Worker[] = [];
  private readonly started: ManagedProcess[] = [];
  private workerCount = 0;
  private closing: Promise<void> | undefined;
  /** setReplicas calls run one after the other. */
  private queue: Promise<unknown> = Promise.resolve();

  private constructor(
    /** The gateway's base URL, e.g. http://127.0.0.1:40123. */
    readonly url: string,
    private readonly redis: LocalRedis,
    private readonly gateway: ManagedProcess,
    private readonly options: LocalScalerOptions,
    private readonly entry: string,
  ) {
    this.started.push(redis.process, gateway);
  }

  /** Starts Redis and the gateway (no worker yet: setReplicas adds them). */
  static async create(requested: LocalScalerOptions, signal?: AbortSignal): Promise<LocalScaler> {
    const entry = cliEntry();
    // Workers load every version they are given: name the one under test (the model's
    // default), so a worker does not also load, say, the INT8 version nobody asks for.
    const options = requested.version === undefined ? { ...requested, ...(await defaultVersionOf(requested)) } : requested;
    const progress = options.onProgress ?? (() => undefined);
    const redis = await LocalRedis.create();
    progress(`local: redis-server pid ${redis.process.pid} at ${redis.url} (data in ${redis.dir})`);
    let gateway: ManagedProcess | undefined;
    try {
      signal?.throwIfAborted();
      const port = options.port !== undefined && options.port > 0 ? options.port : await freePort();
      const url = `http://127.0.0.1:${port}`;
      const args = [
        entry,
        'gateway',
        '--redis',
        redis.url,
        '--port',
        String(port),
        '--host',
        '127.0.0.1',
        '--only',
        only(options),
        '--default-model',
        options.model,
        '--log-level',
        'warn',
        ...repository(options),
      ];
      gateway = ManagedProcess.spawn('gateway', process.execPath, args);
      progress(`local: gateway pid ${gateway.pid} on ${url}`);
      await gateway.waitForHttp(`${url}/health/live`, options.readyTimeoutMs ?? DEFAULT_READY_TIMEOUT_MS, signal);
      return new LocalScaler(url, redis, gateway, options, entry);
    } catch (err) {
      await gateway?.stop(5_000);
      await redis.close();
      throw err;
    }
  }

  setReplicas(n: number, signal?: AbortSignal): Promise<void> {
    const run = this.queue.then(() => this.scale(n, signal));
    this.queue = run.catch(() => undefined);
    return run;
  }

  async replicas(): Promise<number> {
    await Promise.resolve();
    return this.running().length;
  }

  /** Images each running worker computed since it started: `swarmserve_batch_size_sum` from its own /metrics. */
  async replicaWork(signal?: AbortSignal): Promise<Record<string, number>> {
    const entries = await Promise.all(
      this.running().map(async (w): Promise<[string, number]> => {
        const res = await fetch(`${w.metricsUrl}/metrics`, {
          signal: signal === undefined ? AbortSignal.timeout(METRICS_TIMEOUT_MS) : AbortSignal.any([signal, AbortSignal.timeout(METRICS_TIMEOUT_MS)]),
        });
        if (!res.ok) throw new ServeError('PROCESS_FAILED', `worker ${w.index}: GET /metrics answered ${res.status}`);
        return [`worker ${w.index}`, imagesComputed(await res.text())];
      }),
    );
    return Object.fromEntries(entries);
  }

  /** Pids of every process this scaler started (running or not): for checks that none is left. */
  pids(): number[] {
    return this.started.map((p) => p.pid);
  }

  private running(): Worker[] {
    return this.workers.filter((w) => w.proc.exited === undefined && !w.proc.stopRequested);
  }

  private async scale(n: number, signal?: AbortSignal): Promise<void> {
    if (this.closing !== undefined) throw new ServeError('SHUTTING_DOWN', 'the local scaler is closed');
    if (!Number.isInteger(n) || n < 0) throw new RangeError(`replicas must be an integer >= 0, got ${n}`);
    const running = this.running();
    if (n > running.length) {
      const added = await Promise.allSettled(Array.from({ length: n - running.length }, () => this.addWorker(signal)));
      const failed = added.find((r): r is PromiseRejectedResult => r.status === 'rejected');
      if (failed !== undefined) throw failed.reason;
      await this.gateway.waitForHttp(`${this.url}/health/ready`, this.options.readyTimeoutMs ?? DEFAULT_READY_TIMEOUT_MS, signal);
    } else if (n < running.length) {
      // The newest go first; each finishes the batches it took before it exits.
      const leaving = running.slice(n);
      const exits = await Promise.all(leaving.map((w) => w.proc.stop(STOP_TIMEOUT_MS)));
      exits.forEach((s, i) => {
        if (s.code !== 0) this.options.onProgress?.(`local: worker ${leaving[i]?.index} exited with ${s.signal ?? `code ${s.code}`} when stopped`);
      });
    }
  }

  private async addWorker(signal?: AbortSignal): Promise<void> {
    const index = ++this.workerCount;
    const port = await freePort();
    const metricsUrl = `http://127.0.0.1:${port}`;
    const args = [
      this.entry,
      'worker',
      '--redis',
      this.redis.url,
      '--only',
      only(this.options),
      '--threads',
      String(this.options.threads ?? 1),
      '--metrics-port',
      String(port),
      '--metrics-host',
      '127.0.0.1',
      '--log-level',
      'warn',
      ...repository(this.options),
    ];
    const proc = ManagedProcess.spawn(`worker ${index}`, process.execPath, args);
    this.started.push(proc);
    const started = performance.now();
    try {
      await proc.waitForHttp(`${metricsUrl}/health/ready`, this.options.readyTimeoutMs ?? DEFAULT_READY_TIMEOUT_MS, signal);
    } catch (err) {
      proc.kill();
      throw err;
    }
    this.workers.push({ index, proc, metricsUrl });
    this.options.onProgress?.(
      `local: worker ${index} pid ${proc.pid} ready in ${((performance.now() - started) / 1000).toFixed(1)} s (metrics ${metricsUrl}/metrics)`,
    );
  }

  /** Stops every worker, the gateway and Redis (SIGTERM, then SIGKILL), and removes Redis's directory. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      await this.queue;
      await Promise.all([...this.workers.map((w) => w.proc.stop(STOP_TIMEOUT_MS)), this.gateway.stop(STOP_TIMEOUT_MS)]);
      await this.redis.close();
    })();
    return this.closing;
  }
}

async function defaultVersionOf(o: LocalScalerOptions): Promise<{ version?: string }> {
  try {
    const repo = await loadRepository(o.models ?? bundledModelsDir(), [o.model]);
    const version = repo.models.get(o.model)?.defaultVersion;
    return version === undefined ? {} : { version };
  } catch {
    return {}; // the gateway reports a missing model or repository with its own error
  }
}

/** The sum of every `swarmserve_batch_size_sum` series (one per model version): images computed. */
export function imagesComputed(metrics: string): number {
  let images = 0;
  for (const m of metrics.matchAll(/^swarmserve_batch_size_sum(?:\{[^}]*\})? (\S+)$/gm)) images += Number(m[1]);
  return images;
}

function only(o: LocalScalerOptions): string {
  return o.version === undefined ? o.model : `${o.model}:${o.version}`;
}

function repository(o: LocalScalerOptions): string[] {
  return o.models === undefined ? [] : ['--models', o.models];
}
