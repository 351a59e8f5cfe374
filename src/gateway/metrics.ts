// Prometheus metrics of a gateway: requests, latency, requests in flight, queue depth and,
// in distributed mode, live workers and what the transport counted. A registry per instance, so several
// servers (tests) can live in one process. Names follow Prometheus conventions: our
// metrics are prefixed swarmserve_, `code` is the HTTP status, `error_code` ours.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { registerBuildInfo } from '../common/build-info.js';
import type { ProducerStats, WorkerInfo } from '../queue/contract.js';
import type { GatewayStatsRecorder } from './stats-recorder.js';

export interface QueueDepth {
  model: string;
  version: string;
  depth: number;
}

export interface GatewayMetricSources {
  queueDepths: () => Promise<QueueDepth[]>;
  /** Live workers from the registry (distributed mode). */
  liveWorkers?: () => readonly WorkerInfo[];
  producerStats?: () => ProducerStats;
  /** Bytes of request bodies the gateway holds now. */
  heldBytes?: () => number;
  /** Collect the default Node.js process metrics and swarmserve_build_info into this registry. */
  defaultMetrics?: boolean;
}

export class GatewayMetrics {
  readonly registry = new Registry();
  readonly requests: Counter<'model' | 'version' | 'code' | 'error_code'>;
  readonly latency: Histogram<'model' | 'version'>;
  /** /predict requests received and not yet answered (nor abandoned by their client). */
  readonly inFlight: Gauge;
  /** Also gets every request counted here, for the dashboard's stats samples. */
  recorder: GatewayStatsRecorder | undefined;

  constructor(sources: GatewayMetricSources) {
    if (sources.defaultMetrics !== false) {
      collectDefaultMetrics({ register: this.registry });
      registerBuildInfo(this.registry);
    }
    const registers = [this.registry];
    this.requests = new Counter({
      name: 'swarmserve_requests_total',
      help: 'Prediction requests by model, version ("" when refused before one was chosen), HTTP status (code) and swarmserve error code (error_code, "" when successful).',
      labelNames: ['model', 'version', 'code', 'error_code'],
      registers,
    });
    this.latency = new Histogram({
      name: 'swarmserve_request_duration_seconds',
      help: 'Prediction request latency, from request received to response sent, by model and version.',
      labelNames: ['model', 'version'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers,
    });
    this.inFlight = new Gauge({
      name: 'swarmserve_requests_in_flight',
      help: 'Prediction requests received and not yet answered (reading, queued or computing).',
      registers,
    });
    new Gauge({
      name: 'swarmserve_queue_depth',
      help: 'Jobs waiting for a worker, per model version.',
      labelNames: ['model', 'version'],
      registers,
      async collect() {
        const depths = await sources.queueDepths().catch(() => undefined);
        this.reset();
        for (const { model, version, depth } of depths ?? []) this.set({ model, version }, depth);
      },
    });
    const { liveWorkers, producerStats, heldBytes } = sources;
    if (liveWorkers !== undefined) {
      new Gauge({
        name: 'swarmserve_live_workers',
        help: 'Workers whose heartbeat is recent, per model version they serve.',
        labelNames: ['model', 'version'],
        registers,
        collect() {
          this.reset();
          const counts = new Map<string, number>();
          for (const worker of liveWorkers()) for (const key of worker.keys) counts.set(key, (counts.get(key) ?? 0) + 1);
          for (const [key, n] of counts) {
            const at = key.lastIndexOf(':');
            this.set({ model: key.slice(0, at), version: key.slice(at + 1) }, n);
          }
        },
      });
    }
    if (producerStats !== undefined) {
      const counter = (name: string, help: string, pick: (s: ProducerStats) => number): void => {
        new Counter({
          name,
          help,
          registers,
          collect() {
            this.reset();
            this.inc(pick(producerStats()));
          },
        });
      };
      counter('swarmserve_late_replies_total', 'Replies that arrived for jobs nobody waited for any more (dropped).', (s) => s.lateReplies);
      counter('swarmserve_reenqueued_jobs_total', 'Waiting jobs submitted again because the queue lost them (Redis restarted empty).', (s) => s.reenqueued);
      counter(
        'swarmserve_lost_jobs_total',
        'Waiting jobs answered 503 because the queue lost them and they could not be submitted again.',
        (s) => s.lostOnRestart,
      );
    }
    if (heldBytes !== undefined) {
      new Gauge({
        name: 'swarmserve_held_request_bytes',
        help: 'Bytes of request bodies this gateway holds (reading, queued or being answered); bounded by --max-queued-bytes.',
        registers,
        collect() {
          this.set(heldBytes());
        },
      });
    }
  }

  observeRequest(model: string, version: string, status: number, errorCode: string, seconds: number): void {
    this.requests.inc({ model, version, code: String(status), error_code: errorCode });
    this.latency.observe({ model, version }, seconds);
    this.recorder?.request(model, version, status, seconds * 1000);
  }
}
