// Prometheus metrics of one server: a registry per instance, so several servers (tests)
// can live in one process.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { WorkerMetrics } from '../worker/batch-worker.js';

export class ServeMetrics implements WorkerMetrics {
  readonly registry = new Registry();
  readonly requests: Counter<'model' | 'status' | 'code'>;
  readonly latency: Histogram<'model'>;
  readonly batchSize: Histogram<'model' | 'version'>;
  readonly inference: Histogram<'model' | 'version'>;

  constructor(queueDepth: () => Array<{ model: string; version: string; depth: number }>) {
    collectDefaultMetrics({ register: this.registry, prefix: 'swarmserve_' });
    this.requests = new Counter({
      name: 'swarmserve_requests_total',
      help: 'Prediction requests by model, HTTP status and error code ("" when successful).',
      labelNames: ['model', 'status', 'code'],
      registers: [this.registry],
    });
    this.latency = new Histogram({
      name: 'swarmserve_request_duration_seconds',
      help: 'Prediction request latency, from request received to response sent.',
      labelNames: ['model'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers: [this.registry],
    });
    this.batchSize = new Histogram({
      name: 'swarmserve_batch_size',
      help: 'Images per session.run.',
      labelNames: ['model', 'version'],
      buckets: [1, 2, 4, 8, 16, 32, 64, 128],
      registers: [this.registry],
    });
    this.inference = new Histogram({
      name: 'swarmserve_inference_duration_seconds',
      help: 'Time of one session.run (a whole batch).',
      labelNames: ['model', 'version'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers: [this.registry],
    });
    new Gauge({
      name: 'swarmserve_queue_depth',
      help: 'Jobs waiting for a worker, per model version.',
      labelNames: ['model', 'version'],
      registers: [this.registry],
      collect() {
        this.reset();
        for (const { model, version, depth } of queueDepth()) this.set({ model, version }, depth);
      },
    });
  }

  observeBatch(model: string, version: string, size: number, inferenceSeconds: number): void {
    this.batchSize.observe({ model, version }, size);
    this.inference.observe({ model, version }, inferenceSeconds);
  }

  observeRequest(model: string, status: number, code: string, seconds: number): void {
    this.requests.inc({ model, status: String(status), code });
    this.latency.observe({ model }, seconds);
  }
}
