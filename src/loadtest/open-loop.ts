// Open loop: request k is due at t0 + k / rate, whatever happened to the ones before, with at
// most `maxInFlight` outstanding. Each request's latency counts from its intended send time,
// so a request that had to wait (for a free slot, or for this process to get the CPU) carries
// that wait in its latency: a stalled server cannot hide the stall by holding the sender back
// (no coordinated omission, as in wrk2).

import type { OpenLoopSummary } from './contract.js';
import type { RunContext, Scheduler } from './scheduler.js';

/** A request sent later than this after its intended time counts as a late send. */
export const LATE_SEND_MS = 50;
/** The scheduling timer firing this late means this process is too busy to keep the rate. */
const BUSY_LAG_MS = 100;

export class OpenLoop implements Scheduler {
  private readonly intervalMs: number;
  /** Requests due so far (their intended time has passed), never more than `limit`. */
  private due = 0;
  /** Requests sent so far (≤ due): the ones in between wait for a free slot. */
  private sent = 0;
  /** How many requests the run may ask for in all: those due before the end, and at most maxRequests. */
  private readonly limit: number;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  private lateSends = 0;
  private maxSendLagMs = 0;
  private capReached = false;
  private warnedBusy = false;
  private notSent = 0;
  private lastSendMs = 0;

  constructor(private readonly run: RunContext) {
    const { rate, durationMs, maxRequests } = run.options;
    this.intervalMs = 1000 / (rate ?? 1);
    // Request k is due at k × interval: those with k × interval < durationMs fall inside the run.
    const inDuration = Number.isFinite(durationMs) ? Math.ceil(durationMs / this.intervalMs) : Number.POSITIVE_INFINITY;
    this.limit = Math.min(inDuration, maxRequests);
  }

  private intended(k: number): number {
    return this.run.t0 + k * this.intervalMs;
  }

  start(): void {
    this.tick();
  }

  private tick(): void {
    this.timer = undefined;
    if (this.stopped) return;
    const now = performance.now();
    if (this.due < this.limit) {
      const timerLag = now - this.intended(this.due);
      if (timerLag > BUSY_LAG_MS && !this.warnedBusy) {
        this.warnedBusy = true;
        this.run.warn(
          `cannot keep the rate: the scheduler ran ${Math.round(timerLag)} ms late (this process is short of CPU); ` +
            'requests are sent late and their latencies still count from their intended send times',
        );
      }
    }
    this.due = Math.min(this.limit, Math.max(this.due, Math.floor((now - this.run.t0) / this.intervalMs) + 1));
    this.pump();
    if (this.due < this.limit) this.timer = setTimeout(() => this.tick(), Math.max(0, this.intended(this.due) - performance.now()));
  }

  /** Sends the due requests while there is a free slot, oldest first. */
  private pump(): void {
    const { maxInFlight } = this.run.options;
    while (this.sent < this.due && this.run.canSend()) {
      if (this.run.inFlight() >= maxInFlight) {
        if (!this.capReached) {
          this.capReached = true;
          this.run.warn(
            `cannot keep the rate: ${maxInFlight} requests in flight (--max-in-flight) after ${((performance.now() - this.run.t0) / 1000).toFixed(1)} s; ` +
              'requests wait for a free slot and their latencies still count from their intended send times',
          );
        }
        return;
      }
      const intended = this.intended(this.sent);
      this.sent++;
      const now = performance.now();
      const lag = now - intended;
      this.lastSendMs = now;
      if (lag > LATE_SEND_MS) this.lateSends++;
      if (lag > this.maxSendLagMs) this.maxSendLagMs = lag;
      this.run.send(intended);
    }
  }

  afterCompletion(): void {
    if (!this.stopped) this.pump();
  }

  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    clearTimeout(this.timer);
    this.notSent = this.due - this.sent;
  }

  summary(): OpenLoopSummary {
    // Over the time spent sending: the start → one interval after the last send (exactly the
    // asked rate when every request left on time), not the wait for the last answers.
    const sendingMs = this.sent === 0 ? 0 : this.lastSendMs - this.run.t0 + this.intervalMs;
    return {
      targetRate: 1000 / this.intervalMs,
      sentRate: sendingMs > 0 ? Math.round((this.sent / (sendingMs / 1000)) * 100) / 100 : 0,
      lateSends: this.lateSends,
      maxSendLagMs: Math.round(this.maxSendLagMs * 1000) / 1000,
      notSent: this.notSent,
      capReached: this.capReached,
      rateKept: this.lateSends === 0 && this.notSent === 0,
    };
  }
}
