// From raw readings (each queue's counters and the group's live workers, in Redis's clock) to
// one tick's signals for the policy. What needs two readings is kept here between ticks:
//   - arrival and completion rates: differences of the streams' counters;
//   - a replica's service rate while busy: Σ items / Σ busy time over the workers whose
//     heartbeat moved since the last tick, smoothed, and kept while no batch runs (an idle
//     group still knows what a replica can do);
//   - the start-up time: from a scale-up being asked for to that many workers sending
//     heartbeats (container start, image pull, model load: everything a new replica costs).
// No I/O and no clock of its own, so it is tested on synthetic readings.
import type { WorkerInfo } from '../queue/contract.js';
import { queueSignals, type QueueReading } from '../queue/redis/queue-signals.js';
import type { GroupReading, Signals } from './contract.js';

export interface TickSignals extends Signals {
  /** Jobs answered per second since the last tick. */
  completedPerS: number;
  /** Jobs taken by a worker and not yet answered. */
  inProgress: number;
  /** A scale-up asked for earlier is still waiting for its workers (this long so far). */
  startingForMs: number | undefined;
  /** The replicas of a scale-up did not all send heartbeats within the start-up timeout: no longer waited for. */
  startupGaveUp: boolean;
}

/** Less busy time than this since the last tick is too little to measure a rate on (a batch or two). */
const MIN_BUSY_MS_FOR_A_RATE = 200;
/** Weight of the newest measurement: recent figures count most, one odd tick does not swing the rate. */
const RATE_SMOOTHING = 0.3;
const STARTUP_SMOOTHING = 0.5;

export class SignalTracker {
  private previousQueues = new Map<string, QueueReading>();
  private previousWorkers = new Map<string, { items: number; busyMs: number }>();
  private ratePerS: number | undefined;
  private startupMs: number | undefined;
  private pendingUp: { at: number; target: number } | undefined;

  constructor(private readonly options: { startupTimeoutMs: number; intervalMs: number }) {}

  /** The controller asked for `target` replicas at `at` (Redis clock): their arrival is timed as a start-up. */
  scaledUp(at: number, target: number): void {
    this.pendingUp = { at: this.pendingUp?.at ?? at, target };
  }

  /** A scale-down: replicas still starting no longer need to arrive. */
  scaledDown(target: number): void {
    if (this.pendingUp !== undefined && target <= this.pendingUp.target) this.pendingUp = undefined;
  }

  read(r: GroupReading): TickSignals {
    let arrivalPerS = 0;
    let completedPerS = 0;
    let backlog = 0;
    let inProgress = 0;
    let oldestWaitMs = 0;
    for (const [key, reading] of r.queues) {
      const q = queueSignals(this.previousQueues.get(key), reading);
      arrivalPerS += q.arrivalPerS;
      completedPerS += q.completedPerS;
      backlog += q.backlog;
      inProgress += q.inProgress;
      oldestWaitMs = Math.max(oldestWaitMs, q.oldestWaitMs);
    }
    this.previousQueues = new Map(r.queues);
    this.measureRate(r.workers);
    const live = r.workers.length;

    let startingForMs: number | undefined;
    let startupGaveUp = false;
    if (this.pendingUp !== undefined) {
      const waited = r.at - this.pendingUp.at;
      if (live >= this.pendingUp.target) {
        this.startupMs = this.startupMs === undefined ? waited : STARTUP_SMOOTHING * waited + (1 - STARTUP_SMOOTHING) * this.startupMs;
        this.pendingUp = undefined;
      } else if (waited > this.options.startupTimeoutMs) {
        this.pendingUp = undefined;
        startupGaveUp = true;
      } else startingForMs = waited;
    }
    return {
      at: r.at,
      arrivalPerS,
      completedPerS,
      backlog,
      inProgress,
      oldestWaitMs,
      liveReplicas: live,
      perReplicaPerS: this.ratePerS,
      // While replicas asked for still start, the hold lasts at least until they arrive (one more
      // tick than waited so far): a start-up slower than the tick is never taken for a scale-up
      // that had no effect.
      startupMs: startingForMs === undefined ? this.startupMs : Math.max(this.startupMs ?? 0, startingForMs + this.options.intervalMs),
      startingForMs,
      startupGaveUp,
    };
  }

  private measureRate(workers: readonly WorkerInfo[]): void {
    let items = 0;
    let busyMs = 0;
    const seen = new Map<string, { items: number; busyMs: number }>();
    for (const w of workers) {
      seen.set(w.id, { items: w.items, busyMs: w.busyMs });
      const before = this.previousWorkers.get(w.id);
      // A new worker has no difference yet; counters that went back are a restarted process.
      if (before === undefined || w.items < before.items || w.busyMs < before.busyMs) continue;
      items += w.items - before.items;
      busyMs += w.busyMs - before.busyMs;
    }
    this.previousWorkers = seen;
    if (busyMs < MIN_BUSY_MS_FOR_A_RATE) return;
    const sample = items / (busyMs / 1000);
    this.ratePerS = this.ratePerS === undefined ? sample : RATE_SMOOTHING * sample + (1 - RATE_SMOOTHING) * this.ratePerS;
  }
}
