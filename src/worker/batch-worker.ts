// The batching worker loop, shared by embedded and distributed modes: it takes jobs from
// a JobConsumer, decodes them as they arrive, gathers a batch until it is full or
// maxQueueDelayMs has passed since its first job (and the session is free), runs one
// session.run, and answers each job. Decoding of the next batch overlaps inference.
import { ServeError, toWireError, type WireError } from '../common/errors.js';
import type { ModelEntry, ModelVersion } from '../model/repository/contract.js';
import { queueKey, type Delivery, type JobConsumer } from '../queue/contract.js';
import { ModelSession } from './model-session.js';
import { predictionsForRow } from './postprocess.js';
import { ImagePreprocessor } from './preprocess.js';
import { releaseFreeMemory } from './allocator.js';

export interface WorkerMetrics {
  observeBatch(model: string, version: string, size: number, inferenceSeconds: number): void;
}

export interface BatchWorkerOptions {
  consumer: JobConsumer;
  entry: ModelEntry;
  version: ModelVersion;
  maxPixels?: number;
  metrics?: WorkerMetrics;
  /** Overrides of the model config, e.g. for benchmarks. */
  maxBatchSize?: number;
  maxQueueDelayMs?: number;
  intraOpThreads?: number;
  /** Return the memory onnxruntime freed while loading before warming up (src/worker/allocator.ts). */
  releaseMemoryAfterLoad?: boolean;
  onError?: (err: unknown) => void;
}

/** How long an idle worker blocks in one receive before re-checking for shutdown. */
const IDLE_WAIT_MS = 1000;

interface Item {
  delivery: Delivery;
  slot: number;
  /** Resolves once the image is decoded into its slot, or with the error to answer. */
  ready: Promise<WireError | undefined>;
}

export class BatchWorker {
  readonly key: string;
  private readonly maxBatch: number;
  private readonly maxDelayMs: number;
  /** Input buffers: one in the session thread, one being filled by the next batch. */
  private readonly freeBuffers: Float32Array[];
  private stopping = false;
  private readonly stopSignal = new AbortController();
  private loopDone: Promise<void> = Promise.resolve();

  private constructor(
    private readonly options: BatchWorkerOptions,
    readonly session: ModelSession,
    readonly preprocessor: ImagePreprocessor,
  ) {
    const { entry, version } = options;
    this.key = queueKey(entry.name, version.version);
    this.maxBatch = Math.min(options.maxBatchSize ?? entry.config.batching.maxBatchSize, session.maxBatch);
    this.maxDelayMs = options.maxQueueDelayMs ?? entry.config.batching.maxQueueDelayMs;
    this.freeBuffers = [this.newBuffer(), this.newBuffer()];
  }

  static async create(options: BatchWorkerOptions): Promise<BatchWorker> {
    const session = await ModelSession.create(options.entry, options.version, options.intraOpThreads === undefined ? undefined : { intraOpThreads: options.intraOpThreads });
    if (options.releaseMemoryAfterLoad === true) releaseFreeMemory();
    const preprocessor = new ImagePreprocessor(options.entry.config.preprocess, options.maxPixels);
    const worker = new BatchWorker(options, session, preprocessor);
    await session.warmUp([1, worker.maxBatch]);
    return worker;
  }

  get maxBatchSize(): number {
    return this.maxBatch;
  }

  start(): void {
    this.loopDone = this.loop().catch((err: unknown) => this.options.onError?.(err));
  }

  /** Stops taking jobs, finishes the batch in flight, releases the session. */
  async close(): Promise<void> {
    this.stopping = true;
    this.stopSignal.abort();
    await this.loopDone;
    await this.session.close();
  }

  private async loop(): Promise<void> {
    let running: Promise<void> = Promise.resolve();
    let busy = false;
    while (!this.stopping) {
      const first = await this.options.consumer.receive(this.key, this.maxBatch, IDLE_WAIT_MS, this.stopSignal.signal);
      if (first.length === 0) continue;
      const buffer = this.freeBuffers.pop() ?? this.newBuffer();
      const items: Item[] = [];
      const add = (deliveries: Delivery[]): void => {
        for (const delivery of deliveries) items.push(this.startDecode(delivery, items.length, buffer));
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
        const more = await this.options.consumer.receive(this.key, this.maxBatch - items.length, remaining > 0 ? remaining : IDLE_WAIT_MS, wake.signal);
        this.stopSignal.signal.removeEventListener('abort', onStop);
        add(more);
      }
      await running;
      busy = true;
      running = this.execute(items, buffer)
        .catch((err: unknown) => {
          // Never leave a caller waiting: whatever was not answered gets INTERNAL.
          this.options.onError?.(err);
          const error = toWireError(err);
          return Promise.all(items.map((item) => this.options.consumer.complete(item.delivery, { ok: false, error }))).then(() => undefined);
        })
        .catch((err: unknown) => this.options.onError?.(err))
        .finally(() => {
          busy = false;
        });
    }
    await running;
  }

  private startDecode(delivery: Delivery, slot: number, buffer: Float32Array): Item {
    const ready = this.preprocessor
      .decode(delivery.job.body)
      .then((pixels) => {
        this.preprocessor.fill(pixels, buffer, slot);
        return undefined;
      })
      .catch((err: unknown) => toWireError(err));
    return { delivery, slot, ready };
  }

  private async execute(items: Item[], buffer: Float32Array): Promise<void> {
    const { consumer, entry, version } = this.options;
    const errors = await Promise.all(items.map((item) => item.ready));
    const now = Date.now();
    const runnable: Item[] = [];
    const answers: Promise<void>[] = [];
    items.forEach((item, i) => {
      const error = errors[i] ?? skipReason(item.delivery, now);
      if (error === undefined) runnable.push(item);
      else answers.push(consumer.complete(item.delivery, { ok: false, error }));
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
        this.options.metrics?.observeBatch(entry.name, version.version, runnable.length, inferenceMs / 1000);
        const { softmax } = entry.config.postprocess;
        runnable.forEach((item, row) => {
          const { job } = item.delivery;
          const predictions = predictionsForRow(output, row, this.session.outputSize, entry.labels, softmax, job.topK);
          const timings = { queueMs: Math.max(0, now - job.enqueuedAt), inferenceMs, batchSize: runnable.length };
          answers.push(consumer.complete(item.delivery, { ok: true, predictions, timings }));
        });
      } catch (err) {
        const error = toWireError(err instanceof ServeError ? err : new ServeError('INFERENCE_FAILED', undefined, { cause: err }));
        for (const item of runnable) answers.push(consumer.complete(item.delivery, { ok: false, error }));
      }
    }
    await Promise.all(answers);
    // A buffer that never went to the session thread is still ours to reuse.
    if (runnable.length === 0) this.freeBuffers.push(buffer);
  }

  private newBuffer(): Float32Array {
    return new Float32Array(this.maxBatch * this.session.itemSize);
  }
}

/** Why a decoded job must not be computed: its client left, or its deadline passed. */
function skipReason(delivery: Delivery, now: number): WireError | undefined {
  if (delivery.isCancelled()) return { code: 'CLIENT_CLOSED', message: 'The client closed the request before its batch started.' };
  if (now > delivery.job.deadline) return { code: 'DEADLINE_EXCEEDED', message: 'The request expired in the queue and was not computed.' };
  return undefined;
}
