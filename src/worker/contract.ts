// What the batching worker loop needs from a model, so the loop can be run (and measured)
// with test doubles: ModelSession and ImagePreprocessor are the real implementations.
import type { Logger } from '../common/logger.js';
import type { ModelEntry, ModelVersion } from '../model/repository/contract.js';
import type { JobConsumer } from '../queue/contract.js';
import type { RunResult } from './model-session.js';
import type { DecodedImage } from '../runtime/preprocess.js';

/** An inference session that runs whole batches (ModelSession). */
export interface BatchSession {
  /** Input dims of one item, without the batch dim. */
  readonly itemDims: readonly number[];
  readonly itemSize: number;
  readonly outputSize: number;
  readonly maxBatch: number;
  /** Runs the first `batchSize` items; `input` is transferred (use the result's `input` afterwards). */
  run(input: Float32Array, batchSize: number): Promise<RunResult>;
  warmUp(batchSizes: readonly number[]): Promise<void>;
  close(): Promise<void>;
}

/** Image bytes → the model's input (ImagePreprocessor). */
export interface ImageDecoder {
  decode(bytes: Uint8Array): Promise<DecodedImage>;
  fill(image: DecodedImage, target: Float32Array, index: number): void;
}

export type SessionFactory = (entry: ModelEntry, version: ModelVersion, options: { intraOpThreads?: number }) => Promise<BatchSession>;
export type DecoderFactory = (entry: ModelEntry, maxPixels: number | undefined) => ImageDecoder;

/** Where the worker loop reports; WorkerMetrics implements it. */
export interface BatchObserver {
  observeBatch(model: string, version: string, size: number, inferenceSeconds: number): void;
  /** A job taken from the queue, after waiting there this long (enqueue to take, in the consumer's clock). */
  observeQueueWait(model: string, version: string, seconds: number): void;
  /** One image decoded and preprocessed into its slot. */
  observeDecode(model: string, version: string, seconds: number): void;
  /** A job answered without being computed: its deadline had passed or its caller had left. */
  observeSkipped(model: string, version: string, reason: 'expired' | 'cancelled'): void;
  /** A completion the transport found already done by a peer (the job ran twice). */
  observeDuplicate(model: string, version: string): void;
}

export interface BatchWorkerOptions {
  consumer: JobConsumer;
  entry: ModelEntry;
  version: ModelVersion;
  maxPixels?: number;
  metrics?: BatchObserver;
  logger?: Logger;
  /** Overrides of the model config, e.g. for benchmarks. */
  maxBatchSize?: number;
  maxQueueDelayMs?: number;
  intraOpThreads?: number;
  /**
   * What the worker takes from the queue while a batch runs (default 'batch').
   * - 'batch': the whole next batch at once, so its decoding overlaps inference. Right when
   *   this worker is the model's only consumer (embedded mode).
   * - 'just-in-time': nothing until the running batch is expected to end within the time
   *   decoding a batch takes. Right when peers share the queue (distributed mode): jobs stay
   *   there for an idle peer instead of waiting behind this worker's running batch.
   */
  prefetch?: 'batch' | 'just-in-time';
  /** Return the memory onnxruntime freed while loading before warming up (src/runtime/allocator.ts). */
  releaseMemoryAfterLoad?: boolean;
  /** The worker's clock (epoch ms); deadlines of jobs are in it. */
  now?: () => number;
  /** Test doubles for the model (default: onnxruntime session, sharp decoding). */
  openSession?: SessionFactory;
  openDecoder?: DecoderFactory;
  onError?: (err: unknown) => void;
}
