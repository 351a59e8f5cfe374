// The batching worker loop, shared by embedded and distributed modes: it takes jobs from
// a JobConsumer, decodes them as they arrive, gathers a batch until it is full or
// maxQueueDelayMs has passed since its first job (and the session is free), runs one
// session.run, and answers each job. Decoding of the next batch overlaps inference: the
// whole next batch is taken while one runs ('batch' prefetch), or, when peers share the
// queue, only once the running batch is about to end ('just-in-time').
import { ServeError, toWireError, type WireError } from '../common/errors.js';
import { queueKey, type Delivery, type InferenceJob, type JobOutcome } from '../queue/contract.js';
import { releaseFreeMemory } from '../runtime/allocator.js';
import type { BatchSession, BatchWorkerOptions, ImageDecoder } from './contract.js';
import { withExecuteDelay } from './delayed-session.js';
import { ModelSession } from './model-session.js';
import { predictionsForRow } from '../runtime/postprocess.js';
import { ImagePreprocessor } from '../runtime/preprocess.js';

export type { BatchWorkerOptions } from './contract.js';

/** How long an idle worker blocks in one receive before re-checking for shutdown. */
const IDLE_WAIT_MS = 1000;
/**
 * Just-in-time prefetch starts this much earlier than decoding alone needs: a receive is a
 * queue round trip, and answering a batch is several; holding jobs this long costs a peer
 * little, while waiting on short batches (small models) would cost throughput.
 */
const PREFETCH_MARGIN_MS = 20;
/** Weight of the newest sample in the moving averages of batch and decode times. */
const EWMA_WEIGHT = 0.2;

interface Item {
  delivery: Delivery;
  slot: number;
  /** Resolves once the input is in its slot, or with the error to answer. */
  ready: Promise<WireError | undefined>;
}

export class BatchWorker {
  readonly key: string;
  private readonly maxBatch: number;
  private readonly maxDelayMs: number;
  private readonly now: () => number;
  /** Input buffers: one in the session thread, one being filled by the next batch. */
  private readonly freeBuffers: Float32Array[];
  private stopping = false;
  private readonly stopSignal = new AbortController();
  private loopDone: Promise<void> = Promise.resolve();
  /** Batches and items run, and the time spent running them (the heartbeat publishes their sums). */
  readonly counters = { batches: 0, items: 0, busyMs: 0 };
  /** Moving averages for just-in-time prefetch: a batch's wall time per item, one image's decode time. */
  private batchMsPerItem: number | undefined;
  private decodeMs: number | undefined;
  /** When the running batch started (performance.now()) and its size. */
  private runningSince = 0;
  private runningItems = 0;

  private constructor(
    private readonly options: BatchWorkerOptions,
    readonly session: BatchSession,
    readonly decoder: ImageDecoder,
  ) {
    const { entry, version } = options;
    this.key = queueKey(entry.name, version.version);
    this.maxBatch = Math.min(options.maxBatchSize ?? entry.config.batching.maxBatchSize, session.maxBatch);
    this.maxDelayMs = options.maxQueueDelayMs ?? entry.config.batching.maxQueueDelayMs;
    this.now = options.now ?? Date.now;
    this.freeBuffers = [this.newBuffer(), this.newBuffer()];
  }

  static async create(options: BatchWorkerOptions): Promise<BatchWorker> {
    const threads = options.intraOpThreads === undefined ? {} : { intraOpThreads: options.intraOpThreads };
    const opened =
      options.openSession === undefined
        ? await ModelSession.create(options.entry, options.version, threads)
        : await options.openSession(options.entry, options.version, threads);
    const executeDelayMs = options.entry.config.batching.executeDelayMs ?? 0;
    const session = withExecuteDelay(opened, executeDelayMs);
    if (executeDelayMs > 0) {
      // Said at every load so that a test double deployed by mistake shows in the logs.
      const { name } = options.entry;
      const { version } = options.version;
      options.logger?.warn(
        { model: name, version, executeDelayMs },
        `model ${name}:${version} adds ${executeDelayMs} ms to every batch (executeDelayMs): a test double for load and autoscaling tests`,
      );
    }
    if (options.releaseMemoryAfterLoad === true) releaseFreeMemory();
    const decoder = options.openDecoder?.(options.entry, options.maxPixels) ?? new ImagePreprocessor(options.entry.config.preprocess, options.maxPixels);
    const worker = new BatchWorker(options, session, decoder);
    await session.warmUp([1, worker.maxBatch]);
    return worker;
  }

  get maxBatchSize(): number {
    return this.maxBatch;
  }

  start(): void {
    this.loopDone = this.loop().catch((err: unknown) => this.options.onError?.(err));
  }

  /** Stops taking jobs, finishes (and answers) the batch running and the one being filled, releases the session. */
  async close(): Promise<void> {
    this.stopping = true;
    this.stopSignal.abort();
    await this.loopDone;
    await this.session.close();
  }

  private async loop(): Promise<void> {
    const { consumer } = this.options;
    let running: Promise<void> = Promise.resolve();
    let busy = false;
    while (!this.stopping) {
      if (busy && this.options.prefetch === 'just-in-time') await this.untilPrefetchTime(running);
      if (this.stopping) break;
      const first = await this.receive(this.maxBatch, IDLE_WAIT_MS, this.stopSignal.signal);
      if (first.length === 0) continue;
      const buffer = this.freeBuffers.pop() ?? this.newBuffer();
      const items: Item[] = [];
      const add = (deliveries: Delivery[]): void => {
        for (const delivery of deliveries) items.push(this.startLoad(delivery, items.length, buffer));
      };
      add(first);
      const closeAt = performance.now() + this.maxDelayMs;
      // Gather until full, or until the delay has passed and the session is free.
      while (items.length < this.maxBatch && !this.stopping) {
        const remaining = closeAt - performance.now();
        if (remaining <= 0 && !busy) break;
        const wake = new AbortController();
        const onStop = (): void => wake.abort();
        this.stopSignal.signal.addEventListener('abort', onStop, { once: true });
        if (busy) void running.then(() => wake.abort());
        const more = await this.receive(this.maxBatch - items.length, remaining > 0 ? remaining : IDLE_WAIT_MS, wake.signal);
        this.stopSignal.signal.removeEventListener('abort', onStop);
        add(more);
      }
      await running;
      busy = true;
      this.runningSince = performance.now();
      this.runningItems = items.length;
      running = this.execute(items, buffer)
        .then(() => {
          const perItem = (performance.now() - this.runningSince) / items.length;
          this.batchMsPerItem = ewma(this.batchMsPerItem, perItem);
        })
        .catch((err: unknown) => {
          // Never leave a caller waiting: whatever was not answered gets INTERNAL.
          this.options.onError?.(err);
          const error = toWireError(err);
          return Promise.all(items.map((item) => consumer.complete(item.delivery, { ok: false, error }))).then(() => undefined);
        })
        .catch((err: unknown) => this.options.onError?.(err))
        .finally(() => {
          busy = false;
        });
    }
    await running;
  }

  /**
   * Waits while the running batch is expected to go on for longer than decoding a full batch
   * takes (or, before any estimate exists, until it ends), so the jobs stay in the queue for
   * an idle peer. Returns early on shutdown.
   */
  private async untilPrefetchTime(running: Promise<void>): Promise<void> {
    let waitMs = Number.POSITIVE_INFINITY;
    if (this.batchMsPerItem !== undefined) {
      const expectedEnd = this.runningSince + this.batchMsPerItem * this.runningItems;
      const lead = (this.decodeMs ?? 0) * this.maxBatch + PREFETCH_MARGIN_MS;
      waitMs = expectedEnd - lead - performance.now();
    }
    if (waitMs <= 0) return;
    const wake = new AbortController();
    const onStop = (): void => wake.abort();
    this.stopSignal.signal.addEventListener('abort', onStop, { once: true });
    const timer = Number.isFinite(waitMs) ? setTimeout(() => wake.abort(), waitMs) : undefined;
    try {
      await Promise.race([running, new Promise<void>((resolve) => wake.signal.addEventListener('abort', () => resolve(), { once: true }))]);
    } finally {
      clearTimeout(timer);
      this.stopSignal.signal.removeEventListener('abort', onStop);
      wake.abort();
    }
  }

  /** A receive that never throws: a transport failure is reported and waited out, and the loop goes on. */
  private async receive(maxItems: number, waitMs: number, signal: AbortSignal): Promise<Delivery[]> {
    try {
      return await this.options.consumer.receive(this.key, maxItems, Math.max(1, waitMs), signal);
    } catch (err) {
      this.options.onError?.(err);
      await new Promise((r) => setTimeout(r, Math.min(waitMs, 250)));
      return [];
    }
  }

  private startLoad(delivery: Delivery, slot: number, buffer: Float32Array): Item {
    const { entry, version, metrics } = this.options;
    const { payload, enqueuedAt } = delivery.job;
    // enqueuedAt is in this worker's clock (the transport corrects for Redis's), so hosts' clocks may differ.
    metrics?.observeQueueWait(entry.name, version.version, Math.max(0, this.now() - enqueuedAt) / 1000);
    if (payload.kind === 'tensor') return { delivery, slot, ready: Promise.resolve(this.copyTensor(delivery.job, slot, buffer)) };
    const started = performance.now();
    const ready = this.decoder
      .decode(payload.bytes)
      .then((pixels) => {
        this.decoder.fill(pixels, buffer, slot);
        const ms = performance.now() - started;
        this.decodeMs = ewma(this.decodeMs, ms);
        metrics?.observeDecode(entry.name, version.version, ms / 1000);
        return undefined;
      })
      .catch((err: unknown) => toWireError(err));
    return { delivery, slot, ready };
  }

  /** A tensor payload goes into its slot as it is: float32 little-endian, the model's item shape. */
  private copyTensor(job: InferenceJob, slot: number, buffer: Float32Array): WireError | undefined {
    const { payload } = job;
    if (payload.kind !== 'tensor') return undefined;
    const dims = this.session.itemDims;
    const shapeOk = payload.dtype === 'float32' && payload.shape.length === dims.length && payload.shape.every((d, i) => d === dims[i]);
    if (!shapeOk || payload.bytes.length !== this.session.itemSize * 4) {
      return toWireError(
        new ServeError(
          'INVALID_TENSOR',
          `The input must be float32 of shape [${dims.join(', ')}] (${this.session.itemSize * 4} bytes); got ${payload.dtype} [${payload.shape.join(', ')}] (${payload.bytes.length} bytes).`,
        ),
      );
    }
    new Uint8Array(buffer.buffer, buffer.byteOffset + slot * this.session.itemSize * 4, payload.bytes.length).set(payload.bytes);
    return undefined;
  }

  private async execute(items: Item[], buffer: Float32Array): Promise<void> {
    const { entry, version, metrics, logger } = this.options;
    const errors = await Promise.all(items.map((item) => item.ready));
    const now = this.now();
    const runnable: Item[] = [];
    const answers: Promise<void>[] = [];
    items.forEach((item, i) => {
      const skip = this.skipReason(item.delivery, now);
      if (skip !== undefined) metrics?.observeSkipped(entry.name, version.version, skip.code === 'DEADLINE_EXCEEDED' ? 'expired' : 'cancelled');
      const error = errors[i] ?? skip;
      if (error === undefined) runnable.push(item);
      else answers.push(this.answer(item.delivery, { ok: false, error }));
    });
    if (runnable.length > 0) {
      // Close the holes left by dropped items so the batch is contiguous.
      runnable.forEach((item, index) => {
        if (item.slot !== index) {
          const size = this.session.itemSize;
          buffer.copyWithin(index * size, item.slot * size, (item.slot + 1) * size);
        }
      });
      try {
        const { output, inferenceMs, input } = await this.session.run(buffer, runnable.length);
        this.freeBuffers.push(input);
        this.counters.batches++;
        this.counters.items += runnable.length;
        this.counters.busyMs += inferenceMs;
        metrics?.observeBatch(entry.name, version.version, runnable.length, inferenceMs / 1000);
        const { softmax } = entry.config.postprocess;
        const width = this.session.outputSize;
        runnable.forEach((item, row) => {
          const { job } = item.delivery;
          logger?.debug(
            {
              requestId: job.requestId,
              job: job.id,
              model: entry.name,
              version: version.version,
              batchSize: runnable.length,
              delivery: item.delivery.deliveryCount,
            },
            'job computed',
          );
          const predictions = predictionsForRow(output, row, width, entry.labels, softmax, job.topK);
          const timings = { queueMs: Math.max(0, now - job.enqueuedAt), inferenceMs, batchSize: runnable.length };
          const outcome: JobOutcome = { ok: true, predictions, timings };
          if (job.wantOutput === true) outcome.output = output.slice(row * width, (row + 1) * width);
          answers.push(this.answer(item.delivery, outcome));
        });
      } catch (err) {
        const error = toWireError(err instanceof ServeError ? err : new ServeError('INFERENCE_FAILED', undefined, { cause: err }));
        for (const item of runnable) answers.push(this.answer(item.delivery, { ok: false, error }));
      }
    }
    await Promise.all(answers);
    // A buffer that never went to the session thread is still ours to reuse.
    if (runnable.length === 0) this.freeBuffers.push(buffer);
  }

  private async answer(delivery: Delivery, outcome: JobOutcome): Promise<void> {
    const { entry, version, metrics, logger } = this.options;
    if (!outcome.ok) logger?.debug({ requestId: delivery.job.requestId, job: delivery.job.id, code: outcome.error.code }, 'job answered with an error');
    const result = await this.options.consumer.complete(delivery, outcome);
    if (result === 'duplicate') {
      metrics?.observeDuplicate(entry.name, version.version);
      logger?.debug({ requestId: delivery.job.requestId, job: delivery.job.id }, 'job was already answered (taken over by a peer); this answer is dropped');
    }
  }

  /** Why a decoded job must not be computed: its deadline passed, or its caller left (a gateway also cancels at the deadline, so the deadline is checked first). */
  private skipReason(delivery: Delivery, now: number): WireError | undefined {
    if (now > delivery.job.deadline) return { code: 'DEADLINE_EXCEEDED', message: 'The request expired in the queue and was not computed.' };
    if (delivery.isCancelled()) return { code: 'CLIENT_CLOSED', message: 'The client closed the request before its batch started.' };
    return undefined;
  }

  private newBuffer(): Float32Array {
    return new Float32Array(this.maxBatch * this.session.itemSize);
  }
}

function ewma(previous: number | undefined, sample: number): number {
  return previous === undefined ? sample : previous + EWMA_WEIGHT * (sample - previous);
}
