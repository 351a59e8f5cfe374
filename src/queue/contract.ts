// The Queue contract between gateways and workers. Embedded mode uses the in-memory
// transport (src/queue/memory-queue.ts); distributed mode uses Redis Streams
// (src/queue/redis/). The gateway and the batching worker loop are written against these
// interfaces only, so they do not change between modes. One conformance suite
// (test/helpers/queue-conformance.ts) runs against every transport.
//
// Delivery guarantee: at least once. A job is handed to one worker at a time; if that
// worker dies (or its transport says it is gone) the job is handed to another, so a job
// may be computed more than once, but its caller gets exactly one outcome.
//
// Admission: all or nothing per call. submitAll checks the bound and enqueues all of its
// jobs in one atomic step (one Lua script in Redis), so concurrent callers never overfill
// a queue and a refused call leaves nothing queued. Once queued, each job is on its own.
import type { WireError } from '../common/errors.js';

/** Version of the messages a transport writes; a process meeting another version answers with a clear error. */
export const PROTOCOL_VERSION = 1;

export interface Prediction {
  label: string;
  probability: number;
}

/** What a job carries as its input. */
export type JobPayload =
  /** Encoded image bytes as uploaded (JPEG, PNG, …): decoded and preprocessed by the worker. */
  | { kind: 'image'; contentType: string; bytes: Uint8Array }
  /** One item already in the model's input layout (no batch dim): float32, little-endian. */
  | { kind: 'tensor'; dtype: 'float32'; shape: readonly number[]; bytes: Uint8Array };

/** What a gateway submits. The transport adds the job id and the reply address. */
export interface JobRequest {
  /** Correlation id (the client's X-Request-Id or one made by the gateway); not unique. */
  requestId: string;
  model: string;
  version: string;
  payload: JobPayload;
  /** Predictions wanted in the answer. */
  topK: number;
  /** Also return the model's whole output row (for tensor protocols). */
  wantOutput?: boolean;
  /** How long the job may take from submission, in ms. Relative, so hosts' clocks need not agree. */
  timeoutMs: number;
}

/** A job as a worker sees it. */
export interface InferenceJob extends JobRequest {
  /** Unique id made by the transport. */
  id: string;
  /** When the job must be answered DEADLINE_EXCEEDED instead of computed, in the consumer's clock (epoch ms). */
  deadline: number;
  /** When the job was enqueued, in the consumer's clock (epoch ms). */
  enqueuedAt: number;
}

export interface JobTimings {
  queueMs: number;
  inferenceMs: number;
  batchSize: number;
}

export type JobOutcome = { ok: true; predictions: Prediction[]; timings: JobTimings; output?: Float32Array } | { ok: false; error: WireError };

/** The queue a job goes to: one per model version. */
export function queueKey(model: string, version: string): string {
  return `${model}:${version}`;
}

export interface SubmitOptions {
  /** Jobs allowed to wait (not yet taken by a worker) in this queue; jobs that would exceed it are refused with QUEUE_FULL. */
  bound: number;
  /**
   * Aborted when the caller stops waiting (client gone, deadline passed): every job of the
   * call not yet answered rejects at once (with the abort reason when it is a ServeError),
   * and the transport carries the cancellation to the workers, which do not start
   * computing a cancelled job.
   */
  signal?: AbortSignal;
}

/** Gateway side. */
export interface JobProducer {
  /**
   * Enqueues and resolves with the job's outcome, exactly once. Rejects with a ServeError:
   * QUEUE_FULL (bound reached, or the queue's memory is full), QUEUE_UNAVAILABLE (the
   * transport is unreachable), SHUTTING_DOWN (closed), or the abort reason.
   * The same as submitAll of one job.
   */
  submit(request: JobRequest, options: SubmitOptions): Promise<JobOutcome>;
  /**
   * Enqueues jobs of one queue (same model and version) all or nothing, and returns one
   * promise per request, in order: promise i settles exactly once, with the outcome of
   * requests[i].
   * - Admission is atomic: when waiting + requests.length <= bound, every job is queued,
   *   in order, with no other job between them; otherwise none is, and every promise
   *   rejects with the same QUEUE_FULL. Concurrent calls (from any gateway) racing for
   *   the same room cannot both get it. Any other refusal (QUEUE_UNAVAILABLE,
   *   SHUTTING_DOWN, an already aborted signal; INTERNAL for jobs of several queues) is
   *   also one error for all, with nothing queued.
   * - Once queued, each job is delivered at least once, may share a batch with any other
   *   jobs, and is answered on its own: one failed job does not fail the others.
   * - Aborting `signal` rejects every promise not yet settled and cancels its job.
   * - [] for no requests. Handle every promise (e.g. Promise.all): a refusal rejects them all.
   */
  submitAll(requests: readonly JobRequest[], options: SubmitOptions): Promise<JobOutcome>[];
  /** Jobs waiting (not yet taken by a worker) in a queue (key from queueKey). */
  depth(key: string): Promise<number>;
  /** Jobs waiting in a queue and the age of the oldest, ms (-1 when none waits), in the transport's clock. */
  backlog(key: string): Promise<Backlog>;
  /** Whether jobs can be submitted now (e.g. the transport is connected). */
  isAvailable(): boolean;
  /** Refuses new jobs and rejects the jobs this producer still waits for with SHUTTING_DOWN. */
  close(): Promise<void>;
}

/** A job handed to a worker. */
export interface Delivery {
  readonly job: InferenceJob;
  /** 1 on the first delivery; more when the job was reclaimed from a worker that died. */
  readonly deliveryCount: number;
  /** True once the caller no longer waits: a job not yet started must not be computed. */
  isCancelled(): boolean;
}

/** What complete() did: answered the caller, or found the job already answered (by a peer that took it over, or earlier). */
export type CompleteResult = 'completed' | 'duplicate';

/** Worker side. */
export interface JobConsumer {
  /**
   * Takes up to `maxItems` jobs from `key`, waiting at most `waitMs` (> 0) for the first
   * (blocking, no polling). Resolves [] on timeout. When `signal` aborts it resolves early,
   * possibly with jobs it had already taken (they are this worker's and must be completed).
   * A job is held for this consumer from delivery until complete(): while the consumer
   * lives, no peer reclaims it, however long its batch runs.
   */
  receive(key: string, maxItems: number, waitMs: number, signal?: AbortSignal): Promise<Delivery[]>;
  /**
   * Sends the outcome to the job's caller and acknowledges the job. Idempotent: a second
   * completion of the same job (here or by a peer) sends nothing and returns 'duplicate'.
   */
  complete(delivery: Delivery, outcome: JobOutcome): Promise<CompleteResult>;
  /**
   * Stops reading. Jobs delivered and not completed are left for peers to reclaim; call it
   * after the worker loop has completed what it took (SIGTERM drain).
   */
  close(): Promise<void>;
}

/** What a worker says of itself in the registry. */
export interface WorkerInfo {
  id: string;
  host: string;
  pid: number;
  /** Queue keys it serves (model:version). */
  keys: string[];
  batches: number;
  items: number;
  /** Milliseconds it spent running batches (inference), since it started: items / busyMs is its service rate while busy. */
  busyMs: number;
  startedAt: number;
  /** Epoch ms of its last heartbeat, in the registry's clock. */
  lastSeen: number;
  /** Its resident memory, and the memory limit of its container or cgroup (0: none known), bytes. */
  rssBytes?: number;
  memoryLimitBytes?: number;
}

/** Live workers, as gateways, dashboards and autoscalers see them. */
export interface WorkerRegistry {
  /** Workers whose last heartbeat is within the expiry. */
  liveWorkers(): Promise<WorkerInfo[]>;
}

export interface Backlog {
  waiting: number;
  oldestWaitMs: number;
}

/** Counters a transport keeps on the gateway side (the Redis producer). */
export interface ProducerStats {
  /** Replies for jobs nobody waited for any more (caller gone, or answered before). */
  lateReplies: number;
  /** Jobs submitted again after the queue lost them (Redis restarted empty). */
  reenqueued: number;
  /** Waiting jobs answered QUEUE_UNAVAILABLE because they could not be submitted again. */
  lostOnRestart: number;
}
