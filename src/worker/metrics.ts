// Prometheus metrics of a worker: batches, inference time, jobs answered without being
// computed, duplicate completions. Embedded mode merges them with the gateway's.
import { Counter, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { BatchObserver } from './contract.js';

export class WorkerMetrics implements BatchObserver {
  readonly registry = new Registry();
  readonly batchSize: Histogram<'model' | 'version'>;
  readonly inference: Histogram<'model' | 'version'>;
  readonly skipped: Counter<'model' | 'version' | 'reason'>;
  readonly duplicates: Counter<'model' | 'version'>;

  constructor(options: { defaultMetrics?: boolean } = {}) {
    if (options.defaultMetrics === true) collectDefaultMetrics({ register: this.registry });
    const registers = [this.registry];
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

  observeSkipped(model: string, version: string, reason: 'expired' | 'cancelled'): void {
    this.skipped.inc({ model, version, reason });
  }

  observeDuplicate(model: string, version: string): void {
    this.duplicates.inc({ model, version });
  }
}
