// Closed-loop HTTP load generator: `concurrency` virtual clients, each POSTs a request, reads
// the whole response, and immediately sends the next one (no think time). Built to cost as
// little CPU per request as possible, because it shares a 2-core machine with what it measures:
//   - one undici Pool, one keep-alive connection per client, no pipelining;
//   - undici's low-level `dispatch` with a reused handler object per client: no promise and no
//     stream per request (the response body is read and dropped);
//   - request options (path, headers, body) built once per body, never per request;
//   - bodies pre-encoded once (`encodeMultipart`);
//   - outcome tallies in Maps keyed by number, latency in an HDR histogram (pure JS).
// A request counts when it *completes* inside the measured window [warmup end, warmup end +
// durationMs); whatever completes during the warmup or after the window is dropped.

import { Pool } from 'undici';
import type { Dispatcher } from 'undici';
import type { Histogram } from 'hdr-histogram-js';
import { newLatencyHistogram } from './stats.js';
import type { LatencySummaryMs, LoadOptions, LoadReport } from './contract.js';
import { DEFAULT_REQUEST_TIMEOUT_MS, validateLoadOptions } from './validate.js';

export type { LoadOptions, LoadReport, LoadRequestBody } from './contract.js';

/** After the window closes, in-flight requests get this long to finish before sockets are cut. */
const DRAIN_GRACE_MS = 2_000;

/** A request that took longer than `requestTimeoutMs` in all (key `REQUEST_TIMEOUT`). */
export class RequestTimeoutError extends Error {
  override readonly name = 'RequestTimeoutError';
  readonly code = 'REQUEST_TIMEOUT';
}

function errorKey(err: Error): string {
  const { code } = err as Error & { code?: unknown };
  return typeof code === 'string' && code !== '' ? code : err.name || 'Error';
}

function round3(value: number): number {
  return Math.round(value * 1000) / 1000;
}

/**
 * One virtual client, and also the undici handler of its single in-flight request: reusing it
 * avoids an allocation per request. The body is read and dropped; the request completes when
 * its last byte has arrived (`onResponseEnd`).
 */
class VirtualClient implements Dispatcher.DispatchHandler {
  startedAt = 0;
  status = 0;
  inFlight = false;
  /** Of the current request, once undici has started it; cleared when it completes. */
  controller: Dispatcher.DispatchController | undefined;
  /** Bound once, so scheduling the next request allocates nothing. */
  readonly sendNext: () => void;

  constructor(private readonly run: LoadRun) {
    this.sendNext = () => this.run.send(this);
  }

  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.controller = controller; // for the request timeout sweep
  }

  onResponseStart(_controller: Dispatcher.DispatchController, statusCode: number): void {
    this.status = statusCode; // a 1xx is followed by the final status, which wins
  }

  onResponseData(): void {
    // Dropped.
  }

  onResponseEnd(): void {
    this.run.complete(this, this.status, undefined);
  }

  onResponseError(_controller: Dispatcher.DispatchController, err: Error): void {
    this.run.complete(this, 0, err);
  }
}

class LoadRun {
  private readonly pool: Pool;
  private readonly requests: Dispatcher.DispatchOptions[];
  private readonly clients: VirtualClient[] = [];
  private readonly histogram: Histogram;
  private readonly statuses = new Map<number, number>();
  private readonly failures = new Map<string, number>();
  private readonly maxRequests: number;
  private nextBody = 0;
  private inFlight = 0;
  private counted = 0;
  private ok = 0;
  private okLatencySumUs = 0;
  private okLatencyMaxUs = 0;
  private windowStart = 0;
  private windowEnd = 0;
  private stopped = false;
  private readonly timeoutMs: number;
  private endTimer: NodeJS.Timeout | undefined;
  private sweepTimer: NodeJS.Timeout | undefined;
  private settle: ((result: { report: LoadReport } | { error: unknown }) => void) | undefined;

  constructor(private readonly options: LoadOptions) {
    const url = new URL(options.url);
    const timeout = options.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
    this.timeoutMs = timeout;
    this.pool = new Pool(url.origin, {
      connections: options.concurrency,
      pipelining: 1,
      keepAliveTimeout: 60_000,
      // The request timeout is enforced by `sweep` (undici's own header/body timers tick at
      // ~0.5-1 s resolution); these are only a backstop.
      headersTimeout: timeout + 1_000,
      bodyTimeout: timeout + 1_000,
      connectTimeout: Math.min(timeout, 10_000),
    });
    const path = `${url.pathname}${url.search}`;
    const extra = Object.entries(options.headers ?? {}).filter(([name]) => name.toLowerCase() !== 'content-type');
    this.requests = options.bodies.map(({ body, contentType }) => ({
      path,
      method: 'POST',
      body,
      headers: Object.fromEntries([...extra, ['content-type', contentType]]),
    }));
    this.maxRequests = options.maxRequests ?? Number.POSITIVE_INFINITY;
    this.histogram = newLatencyHistogram();
  }

  start(): Promise<LoadReport> {
    return new Promise<{ report: LoadReport } | { error: unknown }>((resolve) => {
      this.settle = resolve;
      const t0 = performance.now();
      this.windowStart = t0 + this.options.warmupMs;
      this.windowEnd = this.windowStart + this.options.durationMs;
      this.endTimer = setTimeout(() => this.finish(performance.now()), this.windowEnd - t0);
      // One timer for all requests (none per request): timeouts are detected within ~10%.
      this.sweepTimer = setInterval(() => this.sweep(), Math.min(250, Math.max(1, Math.floor(this.timeoutMs / 10))));
      for (let i = 0; i < this.options.concurrency; i++) {
        const client = new VirtualClient(this);
        this.clients.push(client);
        this.send(client);
      }
    }).then(async (result) => {
      await this.shutdown('error' in result);
      if ('error' in result) throw result.error;
      return result.report;
    });
  }

  abort(reason: unknown): void {
    if (this.stopped) {
      // Already reported and draining: stop waiting for the stragglers.
      this.pool.destroy().catch(() => undefined);
      return;
    }
    this.stopped = true;
    clearTimeout(this.endTimer);
    clearInterval(this.sweepTimer);
    this.settle?.({ error: reason });
  }

  send(client: VirtualClient): void {
    if (this.stopped) return;
    const now = performance.now();
    if (now >= this.windowEnd) return; // the end timer is due
    // In the window, never start a request that could push the count past maxRequests.
    if (now >= this.windowStart && this.counted + this.inFlight >= this.maxRequests) return;
    const i = this.nextBody;
    this.nextBody = i + 1 === this.requests.length ? 0 : i + 1;
    const request = this.requests[i];
    if (request === undefined) return; // unreachable: bodies is non-empty
    client.inFlight = true;
    client.status = 0;
    client.controller = undefined;
    this.inFlight++;
    client.startedAt = now;
    this.pool.dispatch(request, client);
  }

  complete(client: VirtualClient, status: number, err: Error | undefined): void {
    if (!client.inFlight) return; // defensive: undici reports each request once
    const now = performance.now();
    client.inFlight = false;
    client.controller = undefined;
    this.inFlight--;
    if (this.stopped) return;

    if (now >= this.windowStart && now < this.windowEnd) {
      this.counted++;
      if (err !== undefined) {
        const key = errorKey(err);
        this.failures.set(key, (this.failures.get(key) ?? 0) + 1);
      } else {
        this.statuses.set(status, (this.statuses.get(status) ?? 0) + 1);
        if (status >= 200 && status < 300) {
          const us = Math.max(1, Math.round((now - client.startedAt) * 1000));
          this.ok++;
          this.okLatencySumUs += us;
          if (us > this.okLatencyMaxUs) this.okLatencyMaxUs = us;
          this.histogram.recordValue(us);
        }
      }
      if (this.counted >= this.maxRequests) {
        this.finish(now);
        return;
      }
    }

    // Never dispatch from inside undici's callback: after a response, send as soon as the
    // current stack unwinds (the connection is free again by then); after a transport error,
    // yield to the event loop first so a burst of instant failures cannot starve timers.
    if (err === undefined) queueMicrotask(client.sendNext);
    else setImmediate(client.sendNext);
  }

  /** Aborts every request that has been running for longer than the request timeout. */
  private sweep(): void {
    const now = performance.now();
    for (const client of this.clients) {
      if (client.inFlight && client.controller !== undefined && now - client.startedAt > this.timeoutMs) {
        const { controller } = client;
        client.controller = undefined;
        controller.abort(new RequestTimeoutError(`no complete response within ${this.timeoutMs} ms`));
      }
    }
  }

  private finish(now: number): void {
    if (this.stopped) return;
    this.stopped = true;
    clearTimeout(this.endTimer);
    clearInterval(this.sweepTimer);
    const end = Math.min(now, this.windowEnd);
    const durationMs = Math.max(0, end - this.windowStart);
    this.settle?.({ report: this.report(durationMs) });
  }

  private report(durationMs: number): LoadReport {
    const statusCounts: Record<string, number> = {};
    for (const [status, n] of [...this.statuses].sort((a, b) => a[0] - b[0])) statusCounts[String(status)] = n;
    for (const [key, n] of [...this.failures].sort((a, b) => a[0].localeCompare(b[0]))) statusCounts[key] = n;
    const h = this.histogram;
    // An HDR percentile is the top of its bucket (±0.1%): never report one above the true max.
    const pct = (p: number): number => (this.ok === 0 ? 0 : round3(Math.min(h.getValueAtPercentile(p), this.okLatencyMaxUs) / 1000));
    const latencyMs: LatencySummaryMs = {
      mean: this.ok === 0 ? 0 : round3(this.okLatencySumUs / this.ok / 1000),
      p50: pct(50),
      p90: pct(90),
      p95: pct(95),
      p99: pct(99),
      max: round3(this.okLatencyMaxUs / 1000),
    };
    return {
      concurrency: this.options.concurrency,
      durationMs: round3(durationMs),
      requests: this.counted,
      ok: this.ok,
      errors: this.counted - this.ok,
      statusCounts,
      throughputRps: durationMs > 0 ? Math.round((this.ok / (durationMs / 1000)) * 100) / 100 : 0,
      latencyMs,
    };
  }

  /** Lets in-flight requests finish (within the grace and the request timeout), then frees every socket. */
  private async shutdown(immediately: boolean): Promise<void> {
    if (!immediately && this.inFlight > 0) {
      let timer: NodeJS.Timeout | undefined;
      const graceOver = new Promise<void>((resolve) => {
        timer = setTimeout(resolve, Math.min(DRAIN_GRACE_MS, this.timeoutMs));
      });
      await Promise.race([this.pool.close().catch(() => undefined), graceOver]);
      clearTimeout(timer);
    }
    await this.pool.destroy().catch(() => undefined);
  }
}

/**
 * Runs a closed-loop load test and resolves with what was measured in the window after the
 * warmup. Rejects with `LoadOptionsError` on bad options, or with `signal.reason` if aborted
 * (sockets are destroyed at once). Resolves only after its sockets are closed.
 */
export async function runClosedLoop(options: LoadOptions, signal?: AbortSignal): Promise<LoadReport> {
  validateLoadOptions(options);
  signal?.throwIfAborted();
  const run = new LoadRun(options);
  const onAbort = (): void => run.abort(signal?.reason);
  signal?.addEventListener('abort', onAbort, { once: true });
  try {
    return await run.start();
  } finally {
    signal?.removeEventListener('abort', onAbort);
  }
}
