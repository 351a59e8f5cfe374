// What a gateway publishes about itself each second for the dashboard: its requests by
// model version and outcome, their latency split into queue wait, inference and total, the
// batch sizes its answers came from, and each queue's backlog. Recorded as requests end,
// gathered into one sample per interval (src/stats/contract.ts).
import { hostname } from 'node:os';
import type { Backlog, JobOutcome, JobProducer, JobRequest, SubmitOptions } from '../queue/contract.js';
import { queueKey } from '../queue/contract.js';
import type { GatewayModelSample, GatewaySample, Outcome } from '../stats/contract.js';
import { OUTCOMES } from '../stats/contract.js';
import { LatencyHistogram } from '../stats/histogram.js';
import { rssBytes } from '../stats/process-memory.js';

export function outcomeOf(status: number): Outcome {
  if (status < 400) return 'ok';
  if (status === 503) return 'shed';
  if (status === 504) return 'deadline';
  return status < 500 ? 'client' : 'error';
}

class ModelAccumulator {
  readonly outcomes = OUTCOMES.map(() => 0);
  readonly total = new LatencyHistogram();
  readonly queue = new LatencyHistogram();
  readonly inference = new LatencyHistogram();
  items = 0;
  batchSum = 0;

  drain(backlog: Backlog): GatewayModelSample {
    const sample: GatewayModelSample = {
      outcomes: [...this.outcomes],
      total: this.total.sparse(),
      queue: this.queue.sparse(),
      inference: this.inference.sparse(),
      items: this.items,
      batchSum: this.batchSum,
      backlog: backlog.waiting,
      oldestWaitMs: backlog.oldestWaitMs,
    };
    this.outcomes.fill(0);
    this.total.reset();
    this.queue.reset();
    this.inference.reset();
    this.items = 0;
    this.batchSum = 0;
    return sample;
  }
}

export interface GatewayStatsSources {
  id: string;
  /** The queue keys (model:version) this gateway routes to: each gets a backlog reading per sample. */
  queueKeys: readonly string[];
  backlog: (key: string) => Promise<Backlog>;
  inFlight: () => number | Promise<number>;
}

export class GatewayStatsRecorder {
  private readonly models = new Map<string, ModelAccumulator>();
  private requestsTotal = 0;
  private lastSampleAt = performance.now();
  private readonly startedAt = Date.now();

  constructor(private readonly sources: GatewayStatsSources) {}

  private model(key: string): ModelAccumulator {
    let acc = this.models.get(key);
    if (acc === undefined) {
      acc = new ModelAccumulator();
      this.models.set(key, acc);
    }
    return acc;
  }

  /** A prediction request ended (any outcome); `ms` from received to answered. */
  request(model: string, version: string, status: number, ms: number): void {
    this.requestsTotal += 1;
    const acc = this.model(`${model}:${version}`);
    const outcome = outcomeOf(status);
    acc.outcomes[OUTCOMES.indexOf(outcome)]! += 1;
    if (outcome === 'ok') acc.total.record(ms);
  }

  /** A job was answered with its worker's timings. */
  answered(key: string, outcome: JobOutcome): void {
    if (!outcome.ok) return;
    const acc = this.model(key);
    acc.queue.record(outcome.timings.queueMs);
    acc.inference.record(outcome.timings.inferenceMs);
    acc.items += 1;
    acc.batchSum += outcome.timings.batchSize;
  }

  /** This interval's sample; the next interval starts now. */
  async sample(): Promise<GatewaySample> {
    const backlogs = await Promise.all(this.sources.queueKeys.map((key) => this.sources.backlog(key).catch((): Backlog => ({ waiting: 0, oldestWaitMs: -1 }))));
    const now = performance.now();
    const models: Record<string, GatewayModelSample> = {};
    this.sources.queueKeys.forEach((key, i) => {
      models[key] = this.model(key).drain(backlogs[i]!);
    });
    // Requests refused before a version was chosen (unknown model, bad input): kept under their own key.
    for (const [key, acc] of this.models) {
      if (!(key in models) && acc.outcomes.some((n) => n > 0)) models[key] = acc.drain({ waiting: 0, oldestWaitMs: -1 });
    }
    const sample: GatewaySample = {
      kind: 'gateway',
      id: this.sources.id,
      host: hostname(),
      pid: process.pid,
      startedAt: this.startedAt,
      intervalMs: Math.round(now - this.lastSampleAt),
      requestsTotal: this.requestsTotal,
      inFlight: await this.sources.inFlight(),
      rssBytes: rssBytes(),
      models,
    };
    this.lastSampleAt = now;
    return sample;
  }
}

/** The producer the routes use, recording each answered job's timings on the way back. */
export function recordingTimings(producer: JobProducer, recorder: GatewayStatsRecorder): JobProducer {
  const watch = (request: JobRequest, outcome: Promise<JobOutcome>): Promise<JobOutcome> =>
    outcome.then((result) => {
      recorder.answered(queueKey(request.model, request.version), result);
      return result;
    });
  return {
    submit: (request: JobRequest, options: SubmitOptions) => watch(request, producer.submit(request, options)),
    submitAll: (requests: readonly JobRequest[], options: SubmitOptions) => producer.submitAll(requests, options).map((p, i) => watch(requests[i]!, p)),
    depth: (key) => producer.depth(key),
    backlog: (key) => producer.backlog(key),
    isAvailable: () => producer.isAvailable(),
    close: () => producer.close(),
  };
}
