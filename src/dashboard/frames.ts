// Samples → one frame per second of the whole cluster: outcome counts summed over every
// gateway, latency histograms merged before quantiles are taken (a p95 of p95s would be
// wrong), backlogs as read, live workers and gateways counted by who sent samples, and
// each worker's rates over its last few samples for the workers table.
import type { AutoscalerSample, GatewayModelSample, StampedSample, WorkerSample } from '../stats/contract.js';
import { LatencyHistogram } from '../stats/histogram.js';
import type { AutoscalerFrame, Frame, ModelFrame, Quantiles, WorkerRow } from './contract.js';

class ModelSecond {
  readonly outcomes: [number, number, number, number, number] = [0, 0, 0, 0, 0];
  readonly total = new LatencyHistogram();
  readonly queue = new LatencyHistogram();
  readonly inference = new LatencyHistogram();
  items = 0;
  batchSum = 0;
  backlog: number | null = null;
  oldestWaitMs: number | null = null;

  /** The share `weight` of a sample's counts (the part of its interval in this second). */
  addCounts(sample: GatewayModelSample, weight: number): void {
    sample.outcomes.forEach((n, i) => {
      if (i < 5) this.outcomes[i as 0] += n * weight;
    });
    this.total.add(sample.total, weight);
    this.queue.add(sample.queue, weight);
    this.inference.add(sample.inference, weight);
    this.items += sample.items * weight;
    this.batchSum += sample.batchSum * weight;
  }

  /** A sample's readings (backlog, oldest wait), which belong to the second it was taken in. */
  addReadings(sample: GatewayModelSample): void {
    // Every gateway reads the same queue: the largest reading of the second stands.
    this.backlog = Math.max(this.backlog ?? 0, sample.backlog);
    if (sample.oldestWaitMs >= 0 || this.oldestWaitMs === null) this.oldestWaitMs = Math.max(this.oldestWaitMs ?? 0, sample.oldestWaitMs, 0);
  }

  merge(other: ModelSecond): void {
    other.outcomes.forEach((n, i) => (this.outcomes[i as 0] += n));
    this.total.add(other.total.sparse());
    this.queue.add(other.queue.sparse());
    this.inference.add(other.inference.sparse());
    this.items += other.items;
    this.batchSum += other.batchSum;
    if (other.backlog !== null) this.backlog = (this.backlog ?? 0) + other.backlog;
    if (other.oldestWaitMs !== null) this.oldestWaitMs = Math.max(this.oldestWaitMs ?? 0, other.oldestWaitMs);
  }

  frame(): ModelFrame {
    const q = (h: LatencyHistogram): Quantiles => (h.count === 0 ? null : [round(h.quantile(0.5)!), round(h.quantile(0.95)!), round(h.quantile(0.99)!)]);
    const r = (n: number): number => Math.round(n * 10) / 10;
    return {
      outcomes: [r(this.outcomes[0]), r(this.outcomes[1]), r(this.outcomes[2]), r(this.outcomes[3]), r(this.outcomes[4])],
      total: q(this.total),
      queue: q(this.queue),
      inference: q(this.inference),
      batch: this.items === 0 ? null : round(this.batchSum / this.items),
      backlog: this.backlog,
      oldestWaitMs: this.oldestWaitMs,
    };
  }
}

const round = (x: number): number => Math.round(x * 100) / 100;

class Second {
  readonly models = new Map<string, ModelSecond>();
  readonly gateways = new Set<string>();
  readonly workers = new Set<string>();
  readonly autoscalers = new Map<string, AutoscalerFrame>();
}

/** A sample's counts are spread over at most this much time before its stamp (a gateway that stalled longer). */
const MAX_SPREAD_MS = 10_000;

/** How many recent samples of each worker are kept for its rates (≈ 5 s at one a second). */
const WORKER_WINDOW = 6;

export class FrameBuilder {
  private readonly open = new Map<number, Second>();
  /** Seconds up to this one are finished: a sample stamped in them arrives too late and is dropped. */
  private finishedUpTo = -Infinity;
  private previous: Second | undefined;
  private readonly recentWorkers = new Map<string, Array<{ at: number; sample: WorkerSample }>>();
  private readonly gatewayTotals = new Map<string, { at: number; total: number }>();
  lateSamples = 0;

  /**
   * Adds samples (any order, any sources). A gateway sample's counts are spread over the
   * seconds its interval covers, in proportion: a sample published late (a busy event loop)
   * then fills the second it missed instead of leaving it empty and doubling the next.
   * Readings (backlog, oldest wait) and presence belong to the second of the stamp.
   */
  add(samples: readonly StampedSample[]): void {
    for (const { at, source, sample } of samples) {
      if (sample.kind === 'worker') this.rememberWorker(source, at, sample);
      if (sample.kind === 'gateway') {
        const seen = this.gatewayTotals.get(source);
        if (seen === undefined || seen.at < at) this.gatewayTotals.set(source, { at, total: sample.requestsTotal });
      }
      const t = Math.floor(at / 1000);
      if (sample.kind === 'gateway') {
        const intervalMs = Math.min(MAX_SPREAD_MS, Math.max(1, sample.intervalMs));
        let lost = false;
        for (let s = Math.floor((at - intervalMs) / 1000); s <= t; s++) {
          const overlap = Math.min(at, (s + 1) * 1000) - Math.max(at - intervalMs, s * 1000);
          if (overlap <= 0) continue;
          const second = this.second(s);
          if (second === undefined) {
            lost = true;
            continue;
          }
          for (const [key, model] of Object.entries(sample.models)) this.model(second, key).addCounts(model, overlap / intervalMs);
        }
        const second = this.second(t);
        if (second !== undefined) {
          second.gateways.add(source);
          for (const [key, model] of Object.entries(sample.models)) this.model(second, key).addReadings(model);
        }
        if (lost) this.lateSamples++;
        continue;
      }
      const second = this.second(t);
      if (second === undefined) {
        this.lateSamples++;
        continue;
      }
      if (sample.kind === 'worker') second.workers.add(source);
      else {
        const before = second.autoscalers.get(sample.id);
        // Two ticks in one second: a decision that changed the count is the one to show.
        if (before === undefined || !before.changed || sample.changed) second.autoscalers.set(sample.id, autoscalerFrame(sample));
      }
    }
  }

  /** The open second t, or undefined when it is finished. */
  private second(t: number): Second | undefined {
    if (t <= this.finishedUpTo) return undefined;
    let second = this.open.get(t);
    if (second === undefined) {
      second = new Second();
      this.open.set(t, second);
    }
    return second;
  }

  private model(second: Second, key: string): ModelSecond {
    let acc = second.models.get(key);
    if (acc === undefined) {
      acc = new ModelSecond();
      second.models.set(key, acc);
    }
    return acc;
  }

  /**
   * The frames of every second from the first one not yet finished (or `from`) up to and
   * including `upTo`, one per second even when no sample came; those seconds are then finished.
   */
  finish(upTo: number, from?: number): Frame[] {
    const frames: Frame[] = [];
    let start = this.finishedUpTo === -Infinity ? (from ?? Math.min(upTo, ...this.open.keys())) : this.finishedUpTo + 1;
    if (from !== undefined) start = Math.max(start, from);
    for (let t = start; t <= upTo; t++) {
      const second = this.open.get(t) ?? new Second();
      this.open.delete(t);
      frames.push(this.frameOf(t, second));
      this.previous = second;
    }
    for (const t of this.open.keys()) if (t <= upTo) this.open.delete(t);
    this.finishedUpTo = Math.max(this.finishedUpTo, upTo);
    return frames;
  }

  private frameOf(t: number, second: Second): Frame {
    const all = new ModelSecond();
    const models: Record<string, ModelFrame> = {};
    for (const [key, model] of [...second.models].sort(([a], [b]) => a.localeCompare(b))) {
      models[key] = model.frame();
      all.merge(model);
    }
    const union = (pick: (s: Second) => Set<string>): number => new Set([...pick(second), ...(this.previous === undefined ? [] : pick(this.previous))]).size;
    return {
      t,
      models,
      all: all.frame(),
      workers: union((s) => s.workers),
      gateways: union((s) => s.gateways),
      autoscalers: Object.fromEntries(second.autoscalers),
    };
  }

  private rememberWorker(source: string, at: number, sample: WorkerSample): void {
    const list = this.recentWorkers.get(source) ?? [];
    this.recentWorkers.set(source, list);
    if (list.length > 0 && list.at(-1)!.at >= at) return;
    list.push({ at, sample });
    if (list.length > WORKER_WINDOW) list.shift();
  }

  /**
   * Prediction requests answered since they started, summed over the gateways heard from in
   * the last `liveMs` before `now` (each one's newest sample): a gateway that stopped, or
   * restarted under a new id, no longer counts.
   */
  requestsTotal(now: number, liveMs = 10_000): number {
    let total = 0;
    for (const [source, { at, total: n }] of this.gatewayTotals) {
      if (now - at <= liveMs) total += n;
      else if (now - at > 3_600_000) this.gatewayTotals.delete(source);
    }
    return total;
  }

  /**
   * One row per worker: those in `liveIds` (the gateway's view of the registry) when given,
   * else those whose last sample is at most `freshMs` old. `now` in the store's clock.
   */
  workerRows(now: number, liveIds: ReadonlySet<string> | undefined, freshMs: number): WorkerRow[] {
    const rows: WorkerRow[] = [];
    for (const [source, list] of this.recentWorkers) {
      const last = list.at(-1);
      if (last === undefined) continue;
      const live = liveIds === undefined ? now - last.at <= freshMs : liveIds.has(last.sample.id);
      if (!live) {
        if (now - last.at > 60_000) this.recentWorkers.delete(source);
        continue;
      }
      const first = list[0]!;
      const seconds = (last.at - first.at) / 1000;
      const items = last.sample.items - first.sample.items;
      const batches = last.sample.batches - first.sample.batches;
      rows.push({
        id: last.sample.id,
        host: last.sample.host,
        keys: last.sample.keys,
        uptimeS: Math.max(0, Math.round((Date.now() - last.sample.startedAt) / 1000)),
        imagesPerS: seconds > 0 ? round(Math.max(0, items) / seconds) : null,
        busyPct: seconds > 0 ? round(Math.max(0, last.sample.busyMs - first.sample.busyMs) / (seconds * 10)) : null,
        meanBatch: batches > 0 ? round(items / batches) : null,
        rssBytes: last.sample.rssBytes,
        memoryLimitBytes: last.sample.memoryLimitBytes,
      });
    }
    return rows.sort((a, b) => a.id.localeCompare(b.id));
  }
}

function autoscalerFrame(sample: AutoscalerSample): AutoscalerFrame {
  return { desired: sample.desired, current: sample.current, live: sample.live, reason: sample.reason, changed: sample.changed };
}
