// The Locust-like load engine behind `swarmserve load` and `swarmserve experiment`. The
// contract (options, observer, summary, what ends a run) is documented in contract.ts.

import type { LoadObserver, LoadRunOptions, LoadSummary } from './contract.js';
import { OpenLoop } from './open-loop.js';
import { RequestSender, type Completion } from './request-sender.js';
import { resolveRunOptions, type ResolvedRunOptions } from './run-options.js';
import type { RunContext, Scheduler } from './scheduler.js';
import { LoadStats } from './stats.js';
import { UsersLoop } from './users-loop.js';

export type { LoadObserver, LoadResult, LoadRunOptions, LoadSummary } from './contract.js';

type StopReason = LoadSummary['stoppedBy'];

function round2(value: number): number {
  return Math.round(value * 100) / 100;
}

class LoadRun implements RunContext {
  readonly t0 = performance.now();
  private readonly startEpochMs = Date.now();
  private readonly cpuAtStart = process.cpuUsage();
  readonly stats = new LoadStats(this.t0);
  private readonly sender: RequestSender;
  private readonly scheduler: Scheduler;
  private readonly openLoop: OpenLoop | undefined;
  private sent = 0;
  private peakUsers = 0;
  private stopReason: StopReason | undefined;
  private stopMs = 0;
  private lastCompletionMs = 0;
  private observerError: { error: unknown } | undefined;
  private durationTimer: NodeJS.Timeout | undefined;
  private readonly warned = new Set<string>();
  private onStopped: () => void = () => undefined;
  private readonly stopped = new Promise<void>((resolve) => {
    this.onStopped = resolve;
  });

  constructor(
    readonly options: ResolvedRunOptions,
    private readonly observer: LoadObserver,
  ) {
    const open = options.rate !== undefined;
    this.sender = new RequestSender(
      {
        url: options.url,
        bodies: options.bodies,
        headers: options.headers,
        connections: open ? options.maxInFlight : options.users,
        timeoutMs: options.requestTimeoutMs,
        checkSuccess: options.checkSuccess,
      },
      (completion, tag) => this.completed(completion, tag),
    );
    this.openLoop = open ? new OpenLoop(this) : undefined;
    this.scheduler = this.openLoop ?? new UsersLoop(this);
  }

  canSend(): boolean {
    return this.stopReason === undefined && this.sent < this.options.maxRequests;
  }

  send(fromMs: number, tag?: unknown): void {
    this.sent++;
    this.sender.send(fromMs, tag);
  }

  inFlight(): number {
    return this.sender.size;
  }

  usersChanged(users: number): void {
    if (users > this.peakUsers) this.peakUsers = users;
    this.notify(() => this.observer.onUsers?.(users));
  }

  warn(message: string): void {
    if (this.warned.has(message)) return;
    this.warned.add(message);
    this.notify(() => this.observer.onWarning?.(message));
  }

  /** Calls an observer callback; one that throws stops the run, which then rejects with its error. */
  private notify(call: () => void): void {
    if (this.observerError !== undefined) return;
    try {
      call();
    } catch (error) {
      this.observerError = { error };
      this.stop('signal');
    }
  }

  private completed(c: Completion, tag: unknown): void {
    const latencyMs = c.atMs - c.fromMs;
    this.stats.record(latencyMs, c.failure, c.contentBytes, c.atMs);
    this.lastCompletionMs = c.atMs;
    const endEpochMs = Date.now();
    const { contentBytes } = c;
    this.notify(() =>
      this.observer.onResult?.(
        c.failure === undefined ? { endEpochMs, latencyMs, ok: true, contentBytes } : { endEpochMs, latencyMs, ok: false, failure: c.failure, contentBytes },
      ),
    );
    if (this.stats.requests >= this.options.maxRequests) this.stop('requests');
    else if (this.stopReason === undefined) this.scheduler.afterCompletion(tag, c.failure !== undefined);
  }

  stop(reason: StopReason): void {
    if (this.stopReason !== undefined) return;
    this.stopReason = reason;
    this.stopMs = performance.now();
    clearTimeout(this.durationTimer);
    this.scheduler.stop();
    this.onStopped();
  }

  async run(signal: AbortSignal | undefined): Promise<LoadSummary> {
    const onAbort = (): void => this.stop('signal');
    if (signal?.aborted === true) {
      this.stop('signal');
    } else {
      signal?.addEventListener('abort', onAbort, { once: true });
      if (Number.isFinite(this.options.durationMs)) {
        this.durationTimer = setTimeout(() => this.stop('duration'), Math.max(0, this.t0 + this.options.durationMs - performance.now()));
      }
      this.scheduler.start();
    }
    await this.stopped;
    signal?.removeEventListener('abort', onAbort);
    const cutInFlight = await this.sender.close(this.options.stopGraceMs);
    if (this.observerError !== undefined) throw this.observerError.error;
    return this.summary(cutInFlight);
  }

  private summary(cutInFlight: number): LoadSummary {
    const { stats } = this;
    const durationMs = Math.max(this.stopMs, this.lastCompletionMs) - this.t0;
    const seconds = durationMs / 1000;
    const cpu = process.cpuUsage(this.cpuAtStart);
    const summary: LoadSummary = {
      mode: this.openLoop === undefined ? 'users' : 'rate',
      url: this.options.url,
      startEpochMs: this.startEpochMs,
      durationMs: Math.round(durationMs * 1000) / 1000,
      stoppedBy: this.stopReason ?? 'signal',
      requests: stats.requests,
      failures: stats.failures,
      failureRatio: stats.requests === 0 ? 0 : stats.failures / stats.requests,
      failuresByKind: stats.failuresByKind(),
      requestsPerSecond: seconds > 0 ? round2(stats.requests / seconds) : 0,
      failuresPerSecond: seconds > 0 ? round2(stats.failures / seconds) : 0,
      latencyMs: stats.latencyMs(),
      avgContentBytes: round2(stats.avgContentBytes),
      users: this.peakUsers,
      peakInFlight: this.sender.peakInFlight,
      cutInFlight,
      cpu: {
        userMs: Math.round(cpu.user / 1000),
        systemMs: Math.round(cpu.system / 1000),
        cores: durationMs > 0 ? round2((cpu.user + cpu.system) / 1000 / durationMs) : 0,
      },
    };
    if (this.openLoop !== undefined) summary.openLoop = this.openLoop.summary();
    return summary;
  }
}

/**
 * Runs a load test (see contract.ts for the whole contract): users mode, or an open loop when
 * `options.rate` is set. Resolves with the summary when the duration is over, `maxRequests`
 * have completed, or `signal` aborts (an abort is not an error). Rejects with
 * `LoadOptionsError` on bad options, before sending anything.
 */
export async function runLoad(options: LoadRunOptions, observer: LoadObserver = {}, signal?: AbortSignal): Promise<LoadSummary> {
  return new LoadRun(resolveRunOptions(options), observer).run(signal);
}
