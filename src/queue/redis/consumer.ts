// Worker side of the Redis Streams transport. A worker reads its model versions' streams
// in the consumer group "workers" (XREADGROUP … BLOCK, finite, no polling); a job stays
// in the group's pending list until complete() acknowledges and deletes it, so a worker
// that dies loses nothing: after reclaimIdleMs a live worker takes its jobs over
// (XAUTOCLAIM), and a job delivered maxDeliveries times goes to the dead-letter stream.
// While a worker lives it keeps resetting the idle time of the jobs it holds, so a long
// batch is never taken from it.
import { setTimeout as sleep } from 'node:timers/promises';
import { hostname } from 'node:os';
import { randomUUID } from 'node:crypto';
import { ServeError } from '../../common/errors.js';
import type { CompleteResult, Delivery, InferenceJob, JobConsumer, JobOutcome } from '../contract.js';
import { GROUP, RedisKeys } from './keys.js';
import { RedisLink, entryTimeMs, fieldMap, redisError, str, streamEntries } from './link.js';
import { decodeJob, encodeReply } from './messages.js';
import type { RedisConsumerOptions } from './options.js';
import { COMPLETE, DEAD_LETTER, HOLD, RECLAIM } from './scripts.js';

/** Reply streams expire this long after their last reply (a gateway reads its replies within milliseconds). */
const REPLY_TTL_MS = 60_000;
/** Cancelled job ids are remembered this long. */
const CANCEL_MEMORY_MS = 10 * 60_000;
const RECLAIM_BATCH = 64;
const CLOCK_SYNC_MS = 5_000;
/** A consumer that holds no job and has been idle this long is removed from its group (its worker is gone). */
const CONSUMER_FORGET_MS = 60_000;

class RedisDelivery implements Delivery {
  constructor(
    readonly job: InferenceJob,
    readonly deliveryCount: number,
    readonly stream: string,
    readonly entryId: string,
    readonly replyTo: string,
    private readonly cancelled: ReadonlyMap<string, number>,
  ) {}
  isCancelled(): boolean {
    return this.cancelled.has(this.job.id);
  }
}

interface Reader {
  link: RedisLink;
  /** CLIENT ID of the link's connection (changes on reconnection), for CLIENT UNBLOCK. */
  clientId: string | undefined;
}

export class RedisConsumer implements JobConsumer {
  readonly workerId: string;
  private readonly keys: RedisKeys;
  private readonly now: () => number;
  private readonly readers = new Map<string, Reader>();
  /** Jobs taken over from dead workers, waiting for the next receive of their key. */
  private readonly reclaimed = new Map<string, RedisDelivery[]>();
  /** Delivered and not completed, per stream: kept from being reclaimed. */
  private readonly held = new Map<string, Map<string, RedisDelivery>>();
  private readonly cancelled = new Map<string, number>();
  private readonly lastReclaim = new Map<string, number>();
  private readonly reclaimCursor = new Map<string, string>();
  /** Redis clock minus ours, in ms. */
  private clockOffset = 0;
  private closed = false;
  private readonly timers: NodeJS.Timeout[] = [];

  private constructor(
    private readonly options: RedisConsumerOptions,
    private readonly main: RedisLink,
    private readonly subscriber: RedisLink,
  ) {
    this.workerId = options.workerId ?? `${hostname()}-${process.pid}-${randomUUID().slice(0, 8)}`;
    this.keys = new RedisKeys(options.prefix);
    this.now = options.now ?? Date.now;
  }

  static async create(options: RedisConsumerOptions): Promise<RedisConsumer> {
    const main = await RedisLink.connect(options, 'swarmserve-worker');
    const subscriber = await main.duplicate('swarmserve-worker-cancel');
    const consumer = new RedisConsumer(options, main, subscriber);
    await subscriber.subscribe(consumer.keys.cancelChannel, (jobId) => consumer.cancelled.set(jobId, Date.now()));
    await consumer.syncClock();
    const holdEvery = Math.max(100, Math.floor(options.reclaimIdleMs / 3));
    consumer.timers.push(
      setInterval(() => void consumer.holdAll(), holdEvery),
      setInterval(() => void consumer.syncClock(), CLOCK_SYNC_MS),
      setInterval(() => consumer.forgetCancelled(), CANCEL_MEMORY_MS / 4),
    );
    for (const timer of consumer.timers) timer.unref();
    return consumer;
  }

  isConnected(): boolean {
    return !this.closed && this.main.isReady;
  }

  async receive(key: string, maxItems: number, waitMs: number, signal?: AbortSignal): Promise<Delivery[]> {
    if (this.closed) return [];
    const stream = this.keys.jobs(key);
    const taken = await this.takeReclaimed(key, stream, maxItems);
    if (taken.length > 0 || signal?.aborted === true) return taken;
    const reader = await this.reader(key);
    let reading = true;
    const onAbort = (): void => void this.unblock(reader, () => reading);
    signal?.addEventListener('abort', onAbort, { once: true });
    let reply: unknown;
    try {
      reply = await this.readGroup(reader, stream, maxItems, waitMs);
    } catch (err) {
      throw redisError(err);
    } finally {
      reading = false;
      signal?.removeEventListener('abort', onAbort);
    }
    return this.deliveries(key, stream, streamEntries(reply), 1);
  }

  async complete(delivery: Delivery, outcome: JobOutcome): Promise<CompleteResult> {
    if (!(delivery instanceof RedisDelivery)) throw new ServeError('INTERNAL', 'a delivery from another transport was completed here');
    try {
      const done = await this.withRetry(delivery.job, () =>
        this.main.eval(
          COMPLETE,
          [delivery.stream, delivery.replyTo],
          [GROUP, delivery.entryId, String(REPLY_TTL_MS), ...encodeReply(delivery.job.id, outcome)],
        ),
      );
      return Number(done) === 1 ? 'completed' : 'duplicate';
    } finally {
      this.held.get(delivery.stream)?.delete(delivery.entryId);
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const timer of this.timers) clearInterval(timer);
    for (const reader of this.readers.values()) reader.link.destroy();
    await this.subscriber.close().catch(() => undefined);
    await this.main.close();
  }

  /** A blocking connection per key, so the batch loops of several model versions do not wait on each other. */
  private async reader(key: string): Promise<Reader> {
    let reader = this.readers.get(key);
    if (reader === undefined) {
      const link = await this.main.duplicate(`swarmserve-worker-read-${key}`);
      const created: Reader = { link, clientId: undefined };
      link.onReady(() => (created.clientId = undefined));
      this.readers.set(key, created);
      reader = created;
    }
    return reader;
  }

  private async readGroup(reader: Reader, stream: string, maxItems: number, waitMs: number): Promise<unknown> {
    reader.clientId ??= str(await reader.link.send(['CLIENT', 'ID']));
    const args = [
      'XREADGROUP',
      'GROUP',
      GROUP,
      this.workerId,
      'COUNT',
      String(maxItems),
      'BLOCK',
      String(Math.max(1, Math.ceil(waitMs))),
      'STREAMS',
      stream,
      '>',
    ];
    try {
      return await reader.link.send(args);
    } catch (err) {
      if (!String((err as Error).message).startsWith('NOGROUP')) throw err;
      // First use of this stream, or Redis restarted empty: create the group and read again.
      await this.main.send(['XGROUP', 'CREATE', stream, GROUP, '0', 'MKSTREAM']).catch((e: unknown) => {
        if (!String((e as Error).message).startsWith('BUSYGROUP')) throw e;
      });
      return reader.link.send(args);
    }
  }

  /** Wakes a blocked XREADGROUP as if it had timed out; entries it already took are still returned. */
  private async unblock(reader: Reader, stillReading: () => boolean): Promise<void> {
    // The read may not have reached Redis yet when the abort comes: try again until it has
    // been unblocked or has returned by itself.
    for (let delay = 1; stillReading(); delay = Math.min(delay * 2, 20)) {
      if (reader.clientId !== undefined) {
        const done = await this.main.send(['CLIENT', 'UNBLOCK', reader.clientId, 'TIMEOUT']).catch(() => 0);
        if (Number(done) === 1) return;
      }
      await sleep(delay);
    }
  }

  private async takeReclaimed(key: string, stream: string, maxItems: number): Promise<RedisDelivery[]> {
    const last = this.lastReclaim.get(key) ?? 0;
    if (Date.now() - last >= this.options.reclaimIdleMs / 2) {
      this.lastReclaim.set(key, Date.now());
      const cursor = this.reclaimCursor.get(stream) ?? '0-0';
      const forgetAfter = this.options.forgetConsumersAfterMs ?? Math.max(CONSUMER_FORGET_MS, this.options.reclaimIdleMs * 4);
      const [next, claimed] = (await this.main.eval(
        RECLAIM,
        [stream],
        [GROUP, this.workerId, String(this.options.reclaimIdleMs), String(RECLAIM_BATCH), String(forgetAfter), cursor],
      )) as [unknown, Array<[unknown, unknown, unknown]>];
      // XAUTOCLAIM scans the pending list in pages: go on from where this page ended.
      this.reclaimCursor.set(stream, str(next) || '0-0');
      const deliveries: RedisDelivery[] = [];
      for (const [id, count, fields] of claimed) {
        const entry: [string, unknown] = [str(id), fields];
        const n = Number(count);
        if (n > this.options.maxDeliveries) {
          await this.deadLetter(stream, entry, n);
          continue;
        }
        deliveries.push(...(await this.deliveries(key, stream, [entry], n)));
      }
      if (deliveries.length > 0)
        this.options.logger.warn({ key, jobs: deliveries.length, ids: deliveries.map((d) => d.job.requestId) }, 'took over jobs of a worker presumed dead');
      this.reclaimed.set(key, [...(this.reclaimed.get(key) ?? []), ...deliveries]);
    }
    const list = this.reclaimed.get(key) ?? [];
    return list.splice(0, maxItems);
  }

  /** Entries → deliveries; entries this worker cannot read are answered with an error here and never reach the loop. */
  private async deliveries(key: string, stream: string, entries: Array<[string, unknown]>, deliveryCount: number): Promise<RedisDelivery[]> {
    const at = key.lastIndexOf(':');
    const model = key.slice(0, at);
    const version = key.slice(at + 1);
    const out: RedisDelivery[] = [];
    const offset = this.clockOffset;
    for (const [entryId, flat] of entries) {
      if (flat === null || flat === undefined) continue; // deleted (cancelled) after it was read
      const decoded = decodeJob(fieldMap(flat), model, version);
      if ('unreadable' in decoded) {
        this.options.logger.warn({ stream, entryId, reason: decoded.unreadable }, 'unreadable job message; answering PROTOCOL_MISMATCH');
        const error = {
          code: 'PROTOCOL_MISMATCH' as const,
          message: `This worker cannot read the job: ${decoded.unreadable}. Retry; a rolling update may be in progress.`,
        };
        await this.main
          .eval(COMPLETE, [stream, decoded.replyTo], [GROUP, entryId, String(REPLY_TTL_MS), ...encodeReply(decoded.jobId, { ok: false, error })])
          .catch(() => undefined);
        continue;
      }
      // Redis stamped the entry id with its own clock at enqueue; mapped into ours through
      // the measured offset, the deadline holds whatever the hosts' clocks say.
      const enqueuedAt = entryTimeMs(entryId) - offset;
      const job: InferenceJob = { ...decoded.request, id: decoded.jobId, enqueuedAt, deadline: enqueuedAt + decoded.request.timeoutMs };
      const delivery = new RedisDelivery(job, deliveryCount, stream, entryId, decoded.replyTo, this.cancelled);
      let held = this.held.get(stream);
      if (held === undefined) this.held.set(stream, (held = new Map<string, RedisDelivery>()));
      held.set(entryId, delivery);
      out.push(delivery);
    }
    return out;
  }

  private async deadLetter(stream: string, [entryId, flat]: [string, unknown], deliveries: number): Promise<void> {
    const fields = fieldMap(flat);
    const jobId = str(fields.get('jid'));
    const replyTo = str(fields.get('reply'));
    const error = {
      code: 'JOB_FAILED' as const,
      message: `The job was delivered ${deliveries} times and never completed (its workers died while running it); it was moved to the dead-letter stream ${this.keys.deadLetter}.`,
    };
    this.options.logger.error({ stream, entryId, requestId: str(fields.get('rid')), deliveries }, 'job moved to the dead-letter stream');
    await this.main.eval(
      DEAD_LETTER,
      [stream, replyTo, this.keys.deadLetter],
      [GROUP, entryId, String(REPLY_TTL_MS), String(deliveries), this.workerId, ...encodeReply(jobId, { ok: false, error })],
    );
  }

  /** Resets the idle time of every job this worker holds, so no peer reclaims a long batch. */
  private async holdAll(): Promise<void> {
    for (const [stream, held] of this.held) {
      if (held.size === 0) continue;
      await this.main.eval(HOLD, [stream], [GROUP, this.workerId, ...held.keys()]).catch(() => undefined);
    }
  }

  /** Measures Redis's clock against ours (midpoint of a TIME round trip). */
  private async syncClock(): Promise<void> {
    try {
      const before = this.now();
      const [seconds, micros] = (await this.main.send(['TIME'])) as [unknown, unknown];
      const after = this.now();
      const redisMs = Number(str(seconds)) * 1000 + Math.floor(Number(str(micros)) / 1000);
      this.clockOffset = redisMs - (before + after) / 2;
    } catch {
      // Keep the last offset; clocks drift slowly.
    }
  }

  private forgetCancelled(): void {
    const oldest = Date.now() - CANCEL_MEMORY_MS;
    for (const [jobId, at] of this.cancelled) if (at < oldest) this.cancelled.delete(jobId);
  }

  /** Retries a call through a Redis outage until the job's deadline (plus a margin) has passed. */
  private async withRetry<T>(job: InferenceJob, call: () => Promise<T>): Promise<T> {
    let delay = 50;
    for (;;) {
      try {
        return await call();
      } catch (err) {
        if (this.closed || this.now() > job.deadline + 5_000) throw err;
        await sleep(delay);
        delay = Math.min(delay * 2, 1_000);
      }
    }
  }
}
