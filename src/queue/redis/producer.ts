// Gateway side of the Redis Streams transport. The jobs of a submitAll go to their model
// version's stream through one Lua script that checks the bound for all of them first
// (submit is submitAll of one); each job's answer comes back on
// this gateway's own reply stream. The gateway keeps every waiting job's request (bytes
// included) until it is answered, so a Redis that restarts empty costs a re-enqueue,
// never a request left hanging until its deadline.
import { setTimeout as sleep } from 'node:timers/promises';
import { hostname } from 'node:os';
import { randomUUID } from 'node:crypto';
import { ServeError } from '../../common/errors.js';
import { abortError, queueFull, queueOf, refuseAll } from '../admission.js';
import type { Backlog, JobOutcome, JobProducer, JobRequest, ProducerStats, SubmitOptions } from '../contract.js';
import { readQueue } from './queue-signals.js';
import { GROUP, RedisKeys } from './keys.js';
import { RedisLink, fieldMap, redisError, str, streamEntries, unavailable, type RedisArg } from './link.js';
import { decodeReply, encodeJob } from './messages.js';
import type { RedisProducerOptions } from './options.js';
import { CANCEL, DEPTH, ENQUEUE } from './scripts.js';

/** How long one blocking read of the reply stream lasts before the loop looks around (finite: no read may block forever). */
const REPLY_BLOCK_MS = 1_000;
const REPLY_BATCH = 512;

/** The jobs of one submitAll: enqueued together (again together after a Redis restart), one abort listener. */
interface Group {
  key: string;
  stream: string;
  bound: number;
  /** Jobs not yet settled; the abort listener goes with the last. */
  open: number;
  detach: () => void;
}

interface Waiter {
  jobId: string;
  request: JobRequest;
  group: Group;
  /** performance.now() by which the job must be answered. */
  expiresAt: number;
  entryId: string | undefined;
  resolve: (outcome: JobOutcome) => void;
  reject: (err: ServeError) => void;
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
    return this.submitAll([request], options)[0] as Promise<JobOutcome>;
  }

  submitAll(requests: readonly JobRequest[], options: SubmitOptions): Promise<JobOutcome>[] {
    if (requests.length === 0) return [];
    if (this.closed) return refuseAll(requests, new ServeError('SHUTTING_DOWN'));
    if (!this.main.isReady) return refuseAll(requests, unavailable());
    const { signal } = options;
    if (signal?.aborted === true) return refuseAll(requests, abortError(signal));
    const key = queueOf(requests);
    if (key instanceof ServeError) return refuseAll(requests, key);
    const onAbort = (): void => {
      for (const waiter of waiters) {
        if (!this.settle(waiter)) continue;
        waiter.reject(abortError(signal));
        this.cancel(waiter);
      }
    };
    const group: Group = {
      key,
      stream: this.keys.jobs(key),
      bound: options.bound,
      open: requests.length,
      detach: () => signal?.removeEventListener('abort', onAbort),
    };
    const waiters: Waiter[] = [];
    // The executor runs at once: `waiters` is complete when map returns.
    const outcomes = requests.map(
      (request) =>
        new Promise<JobOutcome>((resolve, reject) => {
          waiters.push({ jobId: randomUUID(), request, group, expiresAt: performance.now() + request.timeoutMs, entryId: undefined, resolve, reject });
        }),
    );
    for (const waiter of waiters) this.waiters.set(waiter.jobId, waiter);
    signal?.addEventListener('abort', onAbort, { once: true });
    this.enqueue(waiters).catch((err: unknown) => {
      const error = err instanceof ServeError ? err : new ServeError('INTERNAL', undefined, { cause: err });
      for (const waiter of waiters) this.fail(waiter, error);
    });
    return outcomes;
  }

  async depth(key: string): Promise<number> {
    return Number(await this.main.eval(DEPTH, [this.keys.jobs(key)], [GROUP]));
  }

  async backlog(key: string): Promise<Backlog> {
    const reading = await readQueue(this.main, this.keys, key);
    const waiting = Math.max(0, reading.length - reading.pending);
    return { waiting, oldestWaitMs: reading.oldestWaitingAt === undefined || waiting === 0 ? -1 : Math.max(0, reading.at - reading.oldestWaitingAt) };
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

  /** Adds the jobs of one group to their stream, all or none; throws QUEUE_FULL / QUEUE_UNAVAILABLE. */
  private async enqueue(waiters: readonly Waiter[]): Promise<void> {
    const { key, stream, bound } = (waiters[0] as Waiter).group;
    const args: RedisArg[] = [String(bound), GROUP, String(waiters.length)];
    const now = performance.now();
    for (const waiter of waiters) {
      const fields = encodeJob(waiter.jobId, this.replyKey, waiter.request, waiter.expiresAt - now);
      args.push(String(fields.length), ...fields);
    }
    let result: unknown;
    try {
      result = await this.main.eval(ENQUEUE, [stream], args);
    } catch (err) {
      throw redisError(err);
    }
    const [accepted, ...values] = result as [number, ...unknown[]];
    if (accepted !== 1) throw queueFull(key, Number(str(values[0])), bound, waiters.length);
    waiters.forEach((waiter, i) => {
      waiter.entryId = str(values[i]);
      // Cancelled while the script ran: take it back out.
      if (!this.waiters.has(waiter.jobId)) this.cancel(waiter);
    });
  }

  /** Forgets a waiting job (false if it was already settled); the last of its group removes the abort listener. */
  private settle(waiter: Waiter): boolean {
    if (!this.waiters.delete(waiter.jobId)) return false;
    if (--waiter.group.open === 0) waiter.group.detach();
    return true;
  }

  private fail(waiter: Waiter, err: ServeError): void {
    if (this.settle(waiter)) waiter.reject(err);
  }

  /** Drops a job no worker has taken yet and tells the workers not to start it. Best effort. */
  private cancel(waiter: Waiter): void {
    this.main.eval(CANCEL, [waiter.group.stream], [waiter.entryId ?? '', this.keys.cancelChannel, waiter.jobId, GROUP]).catch(() => undefined);
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
        if (waiter === undefined || !this.settle(waiter)) {
          this.counters.lateReplies++;
          continue;
        }
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
          : this.main.send(['XRANGE', w.group.stream, w.entryId, w.entryId]).then(
              (r) => Array.isArray(r) && r.length > 0,
              () => false,
            ),
      ),
    );
    const lost = waiting.filter((w, i) => present[i] !== true && this.waiters.has(w.jobId));
    if (lost.length > 0)
      this.options.logger.warn({ lost: lost.length, waiting: waiting.length }, 'Redis restarted and lost queued jobs; enqueueing them again');
    else this.options.logger.info({ waiting: waiting.length }, 'Redis restarted; no job this gateway waits for was lost');
    // Each group's lost jobs go back together, all or nothing, as at submit.
    const groups = new Map<Group, Waiter[]>();
    for (const waiter of lost) {
      const members = groups.get(waiter.group);
      if (members === undefined) groups.set(waiter.group, [waiter]);
      else members.push(waiter);
    }
    await Promise.all(
      [...groups.values()].map(async (waiters) => {
        try {
          for (const waiter of waiters) waiter.entryId = undefined;
          await this.enqueue(waiters);
          this.counters.reenqueued += waiters.length;
        } catch (err) {
          this.counters.lostOnRestart += waiters.length;
          const error = err instanceof ServeError && err.code === 'QUEUE_FULL' ? err : unavailable();
          for (const waiter of waiters) this.fail(waiter, error);
        }
      }),
    );
  }
}
