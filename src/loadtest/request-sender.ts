// Sends the requests of a load run over one undici Pool with the low-level `dispatch` (no
// promise, no stream per request), keeps what it needs of each answer, enforces the request
// timeout with one sweep timer, and at the end lets in-flight requests finish within a grace.

import { Pool } from 'undici';
import type { Dispatcher } from 'undici';
import { classifyAnswer, classifyError } from './classify.js';
import { RequestTimeoutError } from './closed-loop.js';
import type { LoadRequestBody } from './contract.js';

/** Bodies of answers are kept up to this size for the success check; the rest is only counted. */
const MAX_KEPT_BODY_BYTES = 1 << 20;

export interface SenderOptions {
  url: string;
  bodies: readonly LoadRequestBody[];
  headers: Record<string, string>;
  connections: number;
  timeoutMs: number;
  checkSuccess: boolean;
}

/** What the sender reports of each request, when it completes. */
export interface Completion {
  /** The time (performance.now()) the request's latency counts from, as given to `send`. */
  fromMs: number;
  /** performance.now() at completion. */
  atMs: number;
  failure: string | undefined;
  contentBytes: number;
}

/** One request in flight; also its undici handler. */
class InFlight implements Dispatcher.DispatchHandler {
  controller: Dispatcher.DispatchController | undefined;
  status = 0;
  chunks: Buffer[] = [];
  kept = 0;
  bytes = 0;
  done = false;

  constructor(
    private readonly sender: RequestSender,
    readonly sentAtMs: number,
    readonly fromMs: number,
    readonly tag: unknown,
  ) {}

  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.controller = controller; // for the timeout sweep
  }

  onResponseStart(_controller: Dispatcher.DispatchController, statusCode: number): void {
    this.status = statusCode; // a 1xx is followed by the final status, which wins
  }

  onResponseData(_controller: Dispatcher.DispatchController, chunk: Buffer): void {
    this.bytes += chunk.length;
    if (this.kept + chunk.length <= MAX_KEPT_BODY_BYTES) {
      this.chunks.push(chunk);
      this.kept += chunk.length;
    }
  }

  onResponseEnd(): void {
    const body = this.chunks.length === 0 ? undefined : this.chunks.length === 1 ? this.chunks[0] : Buffer.concat(this.chunks);
    const { checkSuccess } = this.sender;
    const truncated = this.bytes > this.kept;
    const failure =
      truncated && checkSuccess && this.status === 200 ? 'response too large' : classifyAnswer(this.status, truncated ? undefined : body, checkSuccess);
    this.sender.complete(this, failure);
  }

  onResponseError(_controller: Dispatcher.DispatchController, err: Error): void {
    this.sender.complete(this, classifyError(err));
  }
}

export class RequestSender {
  readonly checkSuccess: boolean;
  private readonly pool: Pool;
  private readonly requests: Dispatcher.DispatchOptions[];
  private readonly inFlight = new Set<InFlight>();
  private readonly sweepTimer: NodeJS.Timeout;
  private nextBody = 0;
  private closed = false;
  peakInFlight = 0;

  /** `onComplete(completion, tag)`: every request that completes before `close` cuts it, once. */
  constructor(
    private readonly options: SenderOptions,
    private readonly onComplete: (completion: Completion, tag: unknown) => void,
  ) {
    this.checkSuccess = options.checkSuccess;
    const url = new URL(options.url);
    this.pool = new Pool(url.origin, {
      connections: options.connections,
      pipelining: 1,
      keepAliveTimeout: 60_000,
      // The timeout is the sweep's (undici's own timers tick at ~0.5-1 s); these are a backstop.
      headersTimeout: options.timeoutMs + 1_000,
      bodyTimeout: options.timeoutMs + 1_000,
      connectTimeout: Math.min(options.timeoutMs, 10_000),
    });
    const path = `${url.pathname}${url.search}`;
    const extra = Object.entries(options.headers).filter(([name]) => name.toLowerCase() !== 'content-type');
    this.requests = options.bodies.map(({ body, contentType }) => ({
      path,
      method: 'POST',
      body,
      headers: Object.fromEntries([...extra, ['content-type', contentType]]),
    }));
    this.sweepTimer = setInterval(() => this.sweep(), Math.min(250, Math.max(1, Math.floor(options.timeoutMs / 10))));
  }

  get size(): number {
    return this.inFlight.size;
  }

  /**
   * Sends the next body. `fromMs` (performance.now() clock) is where its latency counts from:
   * now for a closed loop, the intended send time for an open one. `tag` is handed back.
   */
  send(fromMs: number, tag: unknown = undefined): void {
    if (this.closed) return;
    const i = this.nextBody;
    this.nextBody = i + 1 === this.requests.length ? 0 : i + 1;
    const request = this.requests[i];
    if (request === undefined) return; // unreachable: bodies is non-empty
    const handler = new InFlight(this, performance.now(), fromMs, tag);
    this.inFlight.add(handler);
    if (this.inFlight.size > this.peakInFlight) this.peakInFlight = this.inFlight.size;
    this.pool.dispatch(request, handler);
  }

  complete(handler: InFlight, failure: string | undefined): void {
    if (handler.done || !this.inFlight.has(handler)) return; // cut already, or reported twice
    handler.done = true;
    this.inFlight.delete(handler);
    handler.chunks = [];
    this.onComplete({ fromMs: handler.fromMs, atMs: performance.now(), failure, contentBytes: handler.bytes }, handler.tag);
  }

  /** Aborts every request that has run for longer than the timeout (it then fails as `timeout`). */
  private sweep(): void {
    const now = performance.now();
    for (const handler of this.inFlight) {
      if (handler.controller !== undefined && now - handler.sentAtMs > this.options.timeoutMs) {
        const { controller } = handler;
        handler.controller = undefined;
        controller.abort(new RequestTimeoutError(`no complete answer within ${this.options.timeoutMs} ms`));
      }
    }
  }

  /**
   * Sends nothing more; waits up to `graceMs` for the requests in flight (they still complete
   * normally), then cuts the rest and closes every socket. Resolves with the number cut.
   */
  async close(graceMs: number): Promise<number> {
    this.closed = true;
    if (this.inFlight.size > 0 && graceMs > 0) {
      let timer: NodeJS.Timeout | undefined;
      const graceOver = new Promise<void>((resolve) => {
        timer = setTimeout(resolve, graceMs);
      });
      await Promise.race([this.pool.close().catch(() => undefined), graceOver]);
      clearTimeout(timer);
    }
    clearInterval(this.sweepTimer);
    const cut = this.inFlight.size;
    for (const handler of this.inFlight) handler.done = true;
    this.inFlight.clear();
    await this.pool.destroy().catch(() => undefined);
    return cut;
  }
}
