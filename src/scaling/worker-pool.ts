// `swarmserve worker` processes on this host as a replica set. request(n) starts the missing
// workers at once and checks their readiness (/health/ready on a metrics port of 127.0.0.1) in
// the background, or SIGTERMs the newest extra ones, which finish and answer the batches they
// took before they exit; setReplicas(n) also waits for both. A worker that exits, or is not
// ready in time, no longer counts as running and is reported through onProgress. close() stops
// them all; the process registry (processes.ts) kills whatever is left if this process exits
// some other way.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { ServeError } from '../common/errors.js';
import { packageRoot } from '../config/paths.js';
import type { ReplicaSet } from './contract.js';
import { ManagedProcess, freePort, type ExitStatus } from './processes.js';

export interface LocalWorkerPoolOptions {
  /** The Redis the workers read their jobs from, e.g. redis://127.0.0.1:6379. */
  redisUrl: string;
  /** What each worker serves (its --only): `model` or `model:version`, comma-separated. */
  only: string;
  /** Model repository (default: the bundled one). */
  models?: string;
  /** onnxruntime intra-op threads per worker (default 1: one worker saturates one core). */
  threads?: number;
  /** Appended to each worker's command line, e.g. ['--heartbeat-interval-ms', '500']. */
  extraArgs?: readonly string[];
  /** The workers' environment (default this process's). */
  env?: NodeJS.ProcessEnv;
  /** Wait this long for a worker to be ready (default 120 s: a cold model load on a busy machine). */
  readyTimeoutMs?: number;
  /** SIGTERM → exit: a worker drains within --drain-timeout-ms (30 s by default), then it is killed (default 45 s). */
  stopTimeoutMs?: number;
  /** The workers' --log-level (default warn). */
  logLevel?: string;
  onProgress?: (line: string) => void;
}

const DEFAULT_READY_TIMEOUT_MS = 120_000;
const DEFAULT_STOP_TIMEOUT_MS = 45_000;
/** A worker answers /metrics from its event loop between batches: seconds at worst on a busy host. */
const METRICS_TIMEOUT_MS = 15_000;

/** The built CLI the workers run (`node dist/src/cli/main.js worker …`). */
export function cliEntry(): string {
  const entry = join(packageRoot(), 'dist', 'src', 'cli', 'main.js');
  if (!existsSync(entry)) throw new ServeError('PROCESS_FAILED', `${entry} is missing: build the project first (npm run build)`);
  return entry;
}

/** The sum of every `swarmserve_batch_size_sum` series (one per model version): images computed. */
export function imagesComputed(metrics: string): number {
  let images = 0;
  for (const m of metrics.matchAll(/^swarmserve_batch_size_sum(?:\{[^}]*\})? (\S+)$/gm)) images += Number(m[1]);
  return images;
}

interface Worker {
  index: number;
  proc: ManagedProcess;
  metricsUrl: string;
  /** Settles when /health/ready answered 200, or the worker failed to get there. */
  ready: Promise<void>;
  isReady: boolean;
  /** Not ready in time (then killed), or exited without being told to. */
  failed: boolean;
  /** Set once told to stop: resolves with its exit. */
  stopped?: Promise<ExitStatus>;
}

export class LocalWorkerPool implements ReplicaSet {
  readonly description = 'local worker processes (swarmserve worker)';
  private readonly workers: Worker[] = [];
  private count = 0;
  private asked = 0;
  private closing: Promise<void> | undefined;
  /** Ends readiness checks still polling when the pool closes. */
  private readonly closed = new AbortController();
  /** request() calls run one after the other, so two never start the same missing worker. */
  private queue: Promise<unknown> = Promise.resolve();

  private constructor(
    private readonly options: LocalWorkerPoolOptions,
    private readonly entry: string,
  ) {}

  /** Checks that the CLI is built; starts no worker (request adds them). */
  static async create(options: LocalWorkerPoolOptions): Promise<LocalWorkerPool> {
    await Promise.resolve();
    return new LocalWorkerPool(options, cliEntry());
  }

  request(n: number, signal?: AbortSignal): Promise<void> {
    const run = this.queue.then(() => this.resize(n, signal));
    this.queue = run.catch(() => undefined);
    return run;
  }

  async setReplicas(n: number, signal?: AbortSignal): Promise<void> {
    await this.request(n, signal);
    const leaving = this.workers.filter((w) => w.stopped !== undefined && w.proc.exited === undefined);
    const coming = this.live().map(async (w) => {
      try {
        await abortable(w.ready, signal);
      } catch (err) {
        // One stopped meanwhile (by a later request) is not a failure of this one.
        if (signal?.aborted === true || w.stopped === undefined) throw err;
      }
    });
    const settled = await Promise.allSettled([...coming, ...leaving.map((w) => abortable(this.stop(w), signal))]);
    signal?.throwIfAborted();
    const failed = settled.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed !== undefined) throw failed.reason;
    const running = this.live().length;
    if (this.asked === n && running < n)
      throw new ServeError('PROCESS_FAILED', `${running} of ${n} local workers running: the others exited after they were ready (see the messages above)`);
  }

  async requested(): Promise<number> {
    await Promise.resolve();
    return this.asked;
  }

  async running(): Promise<number> {
    await Promise.resolve();
    return this.live().length;
  }

  /** Unknown: this host's cores and memory are shared with whatever else runs on it. */
  async capacity(): Promise<number | undefined> {
    await Promise.resolve();
    return undefined;
  }

  /** Images each ready worker computed since it started: `swarmserve_batch_size_sum` from its own /metrics. */
  async replicaWork(signal?: AbortSignal): Promise<Record<string, number>> {
    const entries = await Promise.all(
      this.live()
        .filter((w) => w.isReady)
        .map(async (w): Promise<[string, number]> => {
          const res = await fetch(`${w.metricsUrl}/metrics`, {
            signal: signal === undefined ? AbortSignal.timeout(METRICS_TIMEOUT_MS) : AbortSignal.any([signal, AbortSignal.timeout(METRICS_TIMEOUT_MS)]),
          });
          if (!res.ok) throw new ServeError('PROCESS_FAILED', `worker ${w.index}: GET /metrics answered ${res.status}`);
          return [`worker ${w.index}`, imagesComputed(await res.text())];
        }),
    );
    return Object.fromEntries(entries);
  }

  /** Pids of every worker this pool started (running or not): for checks that none is left. */
  pids(): number[] {
    return this.workers.map((w) => w.proc.pid);
  }

  /** Stops every worker (SIGTERM, then SIGKILL after the stop timeout). */
  close(): Promise<void> {
    this.closing ??= (async () => {
      this.closed.abort(new ServeError('SHUTTING_DOWN', `${this.description}: closed`));
      await this.queue;
      await Promise.all(this.workers.map((w) => this.stop(w)));
    })();
    return this.closing;
  }

  /** Started, not told to stop, not failed, not exited: newest last. */
  private live(): Worker[] {
    return this.workers.filter((w) => w.stopped === undefined && !w.failed && w.proc.exited === undefined);
  }

  private async resize(n: number, signal?: AbortSignal): Promise<void> {
    if (this.closing !== undefined) throw new ServeError('SHUTTING_DOWN', `${this.description}: closed`);
    if (!Number.isInteger(n) || n < 0) throw new RangeError(`replicas must be an integer >= 0, got ${n}`);
    signal?.throwIfAborted();
    this.asked = n;
    const live = this.live();
    for (let i = live.length; i < n; i++) this.workers.push(this.start(await freePort()));
    // The newest go first; each finishes the batches it took before it exits.
    for (const w of live.slice(n).reverse()) void this.stop(w);
  }

  private start(port: number): Worker {
    const index = ++this.count;
    const o = this.options;
    const metricsUrl = `http://127.0.0.1:${port}`;
    const args = [
      this.entry,
      'worker',
      '--redis',
      o.redisUrl,
      '--only',
      o.only,
      '--threads',
      String(o.threads ?? 1),
      '--metrics-port',
      String(port),
      '--metrics-host',
      '127.0.0.1',
      '--log-level',
      o.logLevel ?? 'warn',
      ...(o.models === undefined ? [] : ['--models', o.models]),
      ...(o.extraArgs ?? []),
    ];
    const proc = ManagedProcess.spawn(`worker ${index}`, process.execPath, args, o.env ?? process.env);
    const started = performance.now();
    const ready = proc.waitForHttp(`${metricsUrl}/health/ready`, o.readyTimeoutMs ?? DEFAULT_READY_TIMEOUT_MS, this.closed.signal);
    const worker: Worker = { index, proc, metricsUrl, ready, isReady: false, failed: false };
    ready.then(
      () => {
        worker.isReady = true;
        o.onProgress?.(
          `local: worker ${index} pid ${proc.pid} ready in ${((performance.now() - started) / 1000).toFixed(1)} s (metrics ${metricsUrl}/metrics)`,
        );
      },
      (err: unknown) => {
        if (worker.stopped !== undefined || this.closed.signal.aborted) return;
        worker.failed = true;
        proc.kill();
        o.onProgress?.(`local: worker ${index} failed: ${err instanceof Error ? err.message : String(err)}`);
      },
    );
    void proc.exit.then((s) => {
      if (worker.stopped !== undefined || worker.failed || !worker.isReady) return;
      worker.failed = true;
      o.onProgress?.(`local: worker ${index} pid ${proc.pid} exited (${s.signal ?? `code ${s.code}`}) without being told to stop:\n${proc.tail()}`);
    });
    return worker;
  }

  /** SIGTERM (it drains), SIGKILL after the stop timeout; an unclean end is reported once. */
  private stop(w: Worker): Promise<ExitStatus> {
    w.stopped ??= w.proc.stop(this.options.stopTimeoutMs ?? DEFAULT_STOP_TIMEOUT_MS).then((s) => {
      if (s.code !== 0 && !w.failed) this.options.onProgress?.(`local: worker ${w.index} exited with ${s.signal ?? `code ${s.code}`} when stopped`);
      return s;
    });
    return w.stopped;
  }
}

/** `promise`, or the signal's reason as soon as it aborts (the promise goes on, handled). */
function abortable<T>(promise: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (signal === undefined) return promise;
  signal.throwIfAborted();
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(signal.reason as Error);
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}
