// Every completed request of an experiment, kept column by column (three numbers a request,
// no object each), in completion order; failures keep their kind.
import type { RequestResult } from './contract.js';

/** Requests in order of completion, times in seconds since the load started. */
export interface TimelineColumns {
  /** Completion time, seconds since the start; non-decreasing. */
  t: number[];
  latencyMs: number[];
  ok: boolean[];
  /** Index → failure kind ("503", "ECONNRESET"), for the failed requests only. */
  failures: Map<number, string>;
}

export class Timeline {
  private readonly endMs: number[] = [];
  private readonly latency: number[] = [];
  private readonly okFlags: boolean[] = [];
  private readonly failureKinds = new Map<number, string>();

  add(result: RequestResult): void {
    const i = this.endMs.length;
    this.endMs.push(result.endEpochMs);
    this.latency.push(result.latencyMs);
    this.okFlags.push(result.ok);
    if (!result.ok) this.failureKinds.set(i, result.failure ?? 'unknown');
  }

  get length(): number {
    return this.endMs.length;
  }

  /** The requests sorted by completion time (wall-clock steps could misorder a few), relative to `startEpochMs`. */
  columns(startEpochMs: number): TimelineColumns {
    const order = this.endMs.map((_, i) => i);
    order.sort((a, b) => (this.endMs[a] ?? 0) - (this.endMs[b] ?? 0) || a - b);
    const out: TimelineColumns = { t: [], latencyMs: [], ok: [], failures: new Map() };
    for (const i of order) {
      const j = out.t.length;
      out.t.push(((this.endMs[i] ?? 0) - startEpochMs) / 1000);
      out.latencyMs.push(this.latency[i] ?? 0);
      out.ok.push(this.okFlags[i] ?? false);
      const kind = this.failureKinds.get(i);
      if (kind !== undefined) out.failures.set(j, kind);
    }
    return out;
  }
}
