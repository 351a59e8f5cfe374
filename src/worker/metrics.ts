// Prometheus metrics of a worker: time jobs waited in the queue, image decoding, batches,
// inference time, jobs answered without being computed, duplicate completions. Embedded
// mode merges them with the gateway's.
import { Counter, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { registerBuildInfo } from '../common/build-info.js';
import type { BatchObserver } from './contract.js';

export class WorkerMetrics implements BatchObserver {
  readonly registry = new Registry();
  readonly batchSize: Histogram<'model' | 'version'>;
  readonly inference: Histogram<'model' | 'version'>;
  readonly skipped: Counter<'model' | 'version' | 'reason'>;
  readonly duplicates: Counter<'model' | 'version'>;
  readonly queueWait: Histogram<'model' | 'version'>;
  readonly decode: Histogram<'model' | 'version'>;

  /** `defaultMetrics`: also the default process metrics and swarmserve_build_info (a worker process of its own). */
  constructor(options: { defaultMetrics?: boolean } = {}) {
    if (options.defaultMetrics === true) {
      collectDefaultMetrics({ register: this.registry });
      registerBuildInfo(this.registry);
    }
    const registers = [this.registry];
    this.queueWait = new Histogram({
      name: 'swarmserve_queue_wait_seconds',
      help: "Time from a job's enqueue to a worker taking it (a job taken over from a dead worker counts from its original enqueue). The enqueue time is Redis's, corrected by the measured clock offset, so hosts' clocks need not agree.",
      labelNames: ['model', 'version'],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers,
    });
    this.decode = new Histogram({
      name: 'swarmserve_decode_duration_seconds',
      help: 'Time to decode and preprocess one image into the model input (images that decoded; tensor inputs are not decoded).',
      labelNames: ['model', 'version'],
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers,
    });
    this.batchSize = new Histogram({
      name: 'swarmserve_batch_size',
      help: 'Images per session.run.',
      labelNames: ['model', 'version'],
      buckets: [1, 2, 4, 8, 16, 32, 64, 128],
      registers,
    });
    this.inference = new Histogram({
      name: 'swarmserve_inference_duration_seconds',
      help: 'Time of one session.run (a whole batch).',
      labelNames: ['model', 'version'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers,
    });
    this.skipped = new Counter({
      name: 'swarmserve_jobs_skipped_total',
      help: 'Jobs answered without being computed: reason "expired" (deadline passed in the queue) or "cancelled" (caller gone).',
      labelNames: ['model', 'version', 'reason'],
      registers,
    });
    this.duplicates = new Counter({
      name: 'swarmserve_duplicate_completions_total',
      help: 'Answers the queue refused because the job was already settled: taken over and answered by a peer, cancelled meanwhile, or lost in a Redis restart (and enqueued again). The answer was dropped.',
      labelNames: ['model', 'version'],
      registers,
    });
  }

  observeBatch(model: string, version: string, size: number, inferenceSeconds: number): void {
    this.batchSize.observe({ model, version }, size);
    this.inference.observe({ model, version }, inferenceSeconds);
  }

  observeQueueWait(model: string, version: string, seconds: number): void {
    this.queueWait.observe({ model, version }, seconds);
  }

  observeDecode(model: string, version: string, seconds: number): void {
    this.decode.observe({ model, version }, seconds);
  }

  observeSkipped(model: string, version: string, reason: 'expired' | 'cancelled'): void {
    this.skipped.inc({ model, version, reason });
  }

  observeDuplicate(model: string, version: string): void {
    this.duplicates.inc({ model, version });
  }
}
