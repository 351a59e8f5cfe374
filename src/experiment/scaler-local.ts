// The local scaler: a distributed deployment on this machine, started and owned by this
// process — a redis-server of its own, one `swarmserve gateway`, and the workers of a
// LocalWorkerPool (src/scaling/worker-pool.ts): added when ready (their /health/ready answers
// 200), removed with SIGTERM, so they finish and answer the jobs they took and no request
// fails. close() stops everything it started and removes the Redis directory; the process
// registry (src/scaling/processes.ts) kills whatever is left if this process exits some other way.
import { bundledModelsDir } from '../config/paths.js';
import { loadRepository } from '../model/repository/repository.js';
import { ManagedProcess, freePort } from '../scaling/processes.js';
import { LocalWorkerPool, cliEntry, type LocalWorkerPoolOptions } from '../scaling/worker-pool.js';
import type { Scaler } from './contract.js';
import { LocalRedis } from './local-redis.js';

/** The workers' options are the pool's (threads, model repository, ready timeout, progress lines). */
export interface LocalScalerOptions extends Pick<LocalWorkerPoolOptions, 'threads' | 'models' | 'readyTimeoutMs' | 'onProgress'> {
  model: string;
  version?: string;
  /** Gateway port on 127.0.0.1; 0 or absent picks a free one. */
  port?: number;
}

/** SIGTERM → exit: the gateway drains its waiting requests, then it is killed. */
export const STOP_TIMEOUT_MS = 45_000;
export const DEFAULT_READY_TIMEOUT_MS = 120_000;

export class LocalScaler implements Scaler {
  readonly description: string;
  private closing: Promise<void> | undefined;

  private constructor(
    /** The gateway's base URL, e.g. http://127.0.0.1:40123. */
    readonly url: string,
    private readonly redis: LocalRedis,
    private readonly gateway: ManagedProcess,
    private readonly workers: LocalWorkerPool,
    private readonly options: LocalScalerOptions,
  ) {
    this.description = workers.description;
  }

  /** Starts Redis and the gateway (no worker yet: setReplicas adds them). */
  static async create(requested: LocalScalerOptions, signal?: AbortSignal): Promise<LocalScaler> {
    const stack = await startLocalStack(requested, signal);
    const { options } = stack;
    try {
      const workers = await LocalWorkerPool.create({
        redisUrl: stack.redis.url,
        only: only(options),
        ...(options.models === undefined ? {} : { models: options.models }),
        ...(options.threads === undefined ? {} : { threads: options.threads }),
        ...(options.readyTimeoutMs === undefined ? {} : { readyTimeoutMs: options.readyTimeoutMs }),
        onProgress: options.onProgress ?? (() => undefined),
      });
      return new LocalScaler(stack.url, stack.redis, stack.gateway, workers, options);
    } catch (err) {
      await stack.close();
      throw err;
    }
  }

  /** The workers' count, then the gateway ready when workers were added (it sees a live worker for the model). */
  async setReplicas(n: number, signal?: AbortSignal): Promise<void> {
    const before = await this.workers.running();
    await this.workers.setReplicas(n, signal);
    if (n > before) await this.gateway.waitForHttp(`${this.url}/health/ready`, this.options.readyTimeoutMs ?? DEFAULT_READY_TIMEOUT_MS, signal);
  }

  running(): Promise<number> {
    return this.workers.running();
  }

  /** Images each running worker computed since it started, from its own /metrics. */
  replicaWork(signal?: AbortSignal): Promise<Record<string, number>> {
    return this.workers.replicaWork(signal);
  }

  /** Pids of every process this scaler started (running or not): for checks that none is left. */
  pids(): number[] {
    return [this.redis.process.pid, this.gateway.pid, ...this.workers.pids()];
  }

  /** Stops every worker, the gateway and Redis (SIGTERM, then SIGKILL), and removes Redis's directory. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      await Promise.all([this.workers.close(), this.gateway.stop(STOP_TIMEOUT_MS)]);
      await this.redis.close();
    })();
    return this.closing;
  }
}

/** Redis and a gateway of the local experiment, started; the workers are someone else's (a pool, or the autoscaler's). */
export interface LocalStack {
  /** The gateway's base URL. */
  url: string;
  redis: LocalRedis;
  gateway: ManagedProcess;
  /** The options with the model's version named (the one under test). */
  options: LocalScalerOptions;
  /** Stops the gateway and Redis (not the workers). */
  close(): Promise<void>;
}

/** Starts a redis-server and one gateway routing only the model, ready when /health/live answers. */
export async function startLocalStack(requested: LocalScalerOptions, signal?: AbortSignal): Promise<LocalStack> {
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
      ...(options.models === undefined ? [] : ['--models', options.models]),
    ];
    gateway = ManagedProcess.spawn('gateway', process.execPath, args);
    progress(`local: gateway pid ${gateway.pid} on ${url}`);
    await gateway.waitForHttp(`${url}/health/live`, options.readyTimeoutMs ?? DEFAULT_READY_TIMEOUT_MS, signal);
    const started = gateway;
    return {
      url,
      redis,
      gateway,
      options,
      close: async () => {
        await started.stop(STOP_TIMEOUT_MS);
        await redis.close();
      },
    };
  } catch (err) {
    await gateway?.stop(5_000);
    await redis.close();
    throw err;
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

export function only(o: LocalScalerOptions): string {
  return o.version === undefined ? o.model : `${o.model}:${o.version}`;
}
