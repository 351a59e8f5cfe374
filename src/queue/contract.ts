// The Queue contract between gateways and workers. Embedded mode uses the in-memory
// implementation; the Redis Streams transport implements the same interfaces, so the
// gateway and the batching worker loop do not change between modes.
import type { WireError } from '../common/errors.js';

export interface Prediction {
  label: string;
  probability: number;
}

/** One inference request as it travels from gateway to worker: raw image bytes, never a tensor. */
export interface InferenceJob {
  /** The request id (X-Request-Id). */
  id: string;
  model: string;
  version: string;
  contentType: string;
  body: Uint8Array;
  topK: number;
  /** Epoch ms after which the job is answered DEADLINE_EXCEEDED instead of computed. */
  deadline: number;
  /** Epoch ms when the gateway enqueued it. */
  enqueuedAt: number;
}

export interface JobTimings {
  queueMs: number;
  inferenceMs: number;
  batchSize: number;
}

export type JobOutcome =
  | { ok: true; predictions: Prediction[]; timings: JobTimings }
  | { ok: false; error: WireError };

/** The queue a job goes to: one per model version. */
export function queueKey(model: string, version: string): string {
  return `${model}:${version}`;
}

export interface SubmitOptions {
  /** Jobs allowed to wait in this queue; beyond it submit rejects with QUEUE_FULL. */
  bound: number;
  /** Aborted when the client goes away or the deadline passes: a job not yet started is dropped, and submit rejects at once (with the abort reason when it is a ServeError). */
  signal?: AbortSignal;
}

/** Gateway side. */
export interface JobProducer {
  /** Enqueues and resolves with the worker's outcome. Rejects with a ServeError (QUEUE_FULL, SHUTTING_DOWN, CLIENT_CLOSED). */
  submit(job: InferenceJob, options: SubmitOptions): Promise<JobOutcome>;
  /** Jobs waiting (not yet taken by a worker) in a queue. */
  depth(key: string): number;
}

/** A job handed to a worker; the worker must complete it (a second outcome for it is ignored). */
export interface Delivery {
  readonly job: InferenceJob;
  /** True once the caller no longer waits (client gone): do not start computing it. */
  isCancelled(): boolean;
}

/** Worker side. */
export interface JobConsumer {
  /**
   * Takes up to `maxItems` jobs from `key`, waiting at most `waitMs` for the first
   * (no polling). Resolves [] on timeout or when `signal` aborts first.
   */
  receive(key: string, maxItems: number, waitMs: number, signal?: AbortSignal): Promise<Delivery[]>;
  /** Sends the outcome back to the job's gateway and acknowledges the job. */
  complete(delivery: Delivery, outcome: JobOutcome): Promise<void>;
}

export interface Queue extends JobProducer, JobConsumer {
  /** Refuses new jobs, rejects waiting ones with SHUTTING_DOWN, wakes waiting receivers. */
  close(): Promise<void>;
}
