// Gateway side of the Redis Streams transport. Each job goes to its model version's
// stream through one Lua script that checks the bound first; the answer comes back on
// this gateway's own reply stream. The gateway keeps every waiting job's request (bytes
// included) until it is answered, so a Redis that restarts empty costs a re-enqueue,
// never a request left hanging until its deadline.
import { setTimeout as sleep } from 'node:timers/promises';
import { hostname } from 'node:os';
import { randomUUID } from 'node:crypto';
import { ServeError } from '../../common/errors.js';
import type { ProducerStats } from '../../gateway/metrics.js';
import { queueKey, type JobOutcome, type JobProducer, type JobRequest, type SubmitOptions } from '../contract.js';
import { GROUP, RedisKeys } from './keys.js';
import { RedisLink, fieldMap, redisError, str, streamEntries, unavailable } from './link.js';
import { decodeReply, encodeJob } from './messages.js';
import type { RedisProducerOptions } from './options.js';
import { CANCEL, DEPTH, ENQUEUE } from './scripts.js';

/** How long one blocking read of the reply stream lasts before the loop looks around (finite: no read may block forever). */
const REPLY_BLOCK_MS = 1_000;
const REPLY_BATCH = 512;

interface Waiter {
  jobId: string;
  request: JobRequest;
  stream: string;
  bound: number;
  /** performance.now() by which the job must be answered. */
  expiresAt: number;
  entryId: string | undefined;
  resolve: (outcome: JobOutcome) => void;
  reject: (err: ServeError) => void;
  detach: () => void;
}

export class RedisProducer implements JobProducer {
  readonly gatewayId: string;
  private readonly keys: RedisKeys;
  private readonly replyKey: string;
  private readonly waiters = new Map<string, Waiter>();
  private readonly counters: ProducerStats = { lateReplies: 0, reenqueued: 0, lostOnRestart: 0 };
  private closed = false;
  private lastReplyId = '0-0';
  private runId: string | undefined;
  private readerDone: Promise<void> = Promise.resolve();

  private constructor(
    private readonly options: RedisProducerOptions,
    private readonly main: RedisLink,
    private readonly reader: RedisLink,
  ) {
    this.gatewayId = options.gatewayId ?? `${hostname()}-${process.pid}-${randomUUID().slice(0, 8)}`;
    this.keys = new RedisKeys(options.prefix);
    this.replyKey = this.keys.replies(this.gatewayId);
  }

  static async create(options: RedisProducerOptions): Promise<RedisProducer> {
    const main = await RedisLink.connect(options, 'swarmserve-gateway');
    const reader = await main.duplicate('swarmserve-gateway-replies');
    const producer = new RedisProducer(options, main, reader);
    producer.runId = await producer.readRunId();
    main.onReady(() => void producer.afterReconnect());
    producer.readerDone = producer.readReplies();
    return producer;
  }

  stats(): ProducerStats {
    return { ...this.counters };
  }

  isAvailable(): boolean {
    return !this.closed && this.main.isReady;
  }

  submit(request: JobRequest, options: SubmitOptions): Promise<JobOutcome> {
    if (this.closed) return Promise.reject(new ServeError('SHUTTING_DOWN'));
    if (!this.main.isReady) return Promise.reject(unavailable());
    const { signal } = options;
    if (signal?.aborted === true) return Promise.reject(abortError(signal));
    const jobId = randomUUID();
    const stream = this.keys.jobs(queueKey(request.model, request.version));
    return new Promise<JobOutcome>((resolve, reject) => {
      const onAbort = (): void => {
        if (!this.waiters.delete(jobId)) return;
        waiter.detach();
        reject(abortError(signal));
        this.cancel(waiter);
      };
      const waiter: Waiter = {
        jobId,
        request,
        stream,
        bound: options.bound,
        expiresAt: performance.now() + request.timeoutMs,
        entryId: undefined,
        resolve,
        reject,
        detach: () => signal?.removeEventListener('abort', onAbort),
      };
      this.waiters.set(jobId, waiter);
      signal?.addEventListener('abort', onAbort, { once: true });
      this.enqueue(waiter).catch((err: unknown) => this.fail(waiter, err instanceof ServeError ? err : new ServeError('INTERNAL', undefined, { cause: err })));
    });
  }

  async depth(key: string): Promise<number> {
    return Number(await this.main.eval(DEPTH, [this.keys.jobs(key)], [GROUP]));
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const waiter of [...this.waiters.values()]) {
      this.fail(waiter, new ServeError('SHUTTING_DOWN'));
      // Nobody will read the answer: let no worker start it.
      this.cancel(waiter);
    }
    // The reader blocks for at most REPLY_BLOCK_MS; destroying its connection ends it at once.
    this.reader.destroy();
    await this.readerDone;
    await this.main.close();
  }

  /** Adds the job to its stream, or rejects with QUEUE_FULL / QUEUE_UNAVAILABLE. */
  private async enqueue(waiter: Waiter): Promise<void> {
    const remaining = waiter.expiresAt - performance.now();
    let result: unknown;
    try {
      result = await this.main.eval(ENQUEUE, [waiter.stream], [String(waiter.bound), GROUP, ...encodeJob(waiter.jobId, this.replyKey, waiter.request, remaining)]);
    } catch (err) {
      throw redisError(err);
    }
    const [accepted, value] = result as [number, unknown];
    if (accepted !== 1) {
      const key = queueKey(waiter.request.model, waiter.request.version);
      throw new ServeError('QUEUE_FULL', `The queue of ${key} holds ${str(value)} waiting jobs (bound ${waiter.bound}); retry later.`, { headers: { 'retry-after': '1' } });
    }
    waiter.entryId = str(value);
    // Cancelled while the script ran: take it back out.
    if (!this.waiters.has(waiter.jobId)) this.cancel(waiter);
  }

  private fail(waiter: Waiter, err: ServeError): void {
    if (!this.waiters.delete(waiter.jobId)) return;
    waiter.detach();
    waiter.reject(err);
  }

  /** Drops a job no worker has taken yet and tells the workers not to start it. Best effort. */
  private cancel(waiter: Waiter): void {
    this.main.eval(CANCEL, [waiter.stream], [waiter.entryId ?? '', this.keys.cancelChannel, waiter.jobId, GROUP]).catch(() => undefined);
  }

  private async readReplies(): Promise<void> {
    while (!this.closed) {
      let reply: unknown;
      try {
        reply = await this.reader.send(['XREAD', 'COUNT', String(REPLY_BATCH), 'BLOCK', String(REPLY_BLOCK_MS), 'STREAMS', this.replyKey, this.lastReplyId]);
      } catch {
        if (this.closed) return;
        await sleep(100);
        continue;
      }
      const entries = streamEntries(reply);
      if (entries.length === 0) continue;
      for (const [id, fields] of entries) {
        this.lastReplyId = id;
        const { jobId, outcome } = decodeReply(fieldMap(fields));
        const waiter = this.waiters.get(jobId);
        if (waiter === undefined) {
          this.counters.lateReplies++;
          continue;
        }
        this.waiters.delete(jobId);
        waiter.detach();
        waiter.resolve(outcome);
      }
      this.main.send(['XDEL', this.replyKey, ...entries.map(([id]) => id)]).catch(() => undefined);
    }
  }

  private async readRunId(): Promise<string | undefined> {
    try {
      const info = str(await this.main.send(['INFO', 'server']));
      return /run_id:(\w+)/.exec(info)?.[1];
    } catch {
      return undefined;
    }
  }

  /**
   * After a reconnection: if Redis restarted (new run id), the jobs this gateway waits for
   * may be gone with it. Each job whose entry no longer exists is enqueued again (or, if
   * that fails, answered QUEUE_UNAVAILABLE at once).
   */
  private async afterReconnect(): Promise<void> {
    const runId = await this.readRunId();
    if (runId === undefined || runId === this.runId) return;
    const previous = this.runId;
    this.runId = runId;
    if (previous === undefined) return;
    this.lastReplyId = '0-0';
    const waiting = [...this.waiters.values()];
    const present = await Promise.all(
      waiting.map((w) =>
        w.entryId === undefined
          ? Promise.resolve(true)
          : this.main.send(['XRANGE', w.stream, w.entryId, w.entryId]).then(
              (r) => Array.isArray(r) && r.length > 0,
              () => false,
            ),
      ),
    );
    const lost = waiting.filter((w, i) => present[i] !== true && this.waiters.has(w.jobId));
    if (lost.length > 0) this.options.logger.warn({ lost: lost.length, waiting: waiting.length }, 'Redis restarted and lost queued jobs; enqueueing them again');
    else this.options.logger.info({ waiting: waiting.length }, 'Redis restarted; no job this gateway waits for was lost');
    await Promise.all(
      lost.map(async (waiter) => {
        try {
          waiter.entryId = undefined;
          await this.enqueue(waiter);
          this.counters.reenqueued++;
        } catch (err) {
          this.counters.lostOnRestart++;
          this.fail(waiter, err instanceof ServeError && err.code === 'QUEUE_FULL' ? err : unavailable());
        }
      }),
    );
  }
}

function abortError(signal: AbortSignal | undefined): ServeError {
  const reason: unknown = signal?.reason;
  return reason instanceof ServeError ? reason : new ServeError('CLIENT_CLOSED');
}
