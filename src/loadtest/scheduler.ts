// What the two ways of making load (users-loop.ts, open-loop.ts) need from a run, and what
// the run needs from them.

import type { ResolvedRunOptions } from './run-options.js';

export interface RunContext {
  readonly options: ResolvedRunOptions;
  /** performance.now() at the start of the run. */
  readonly t0: number;
  /** False once the run is stopping or `maxRequests` requests have been sent. */
  canSend(): boolean;
  /** Sends the next request; its latency counts from `fromMs` (performance.now() clock). `tag` comes back in `afterCompletion`. */
  send(fromMs: number, tag?: unknown): void;
  /** Requests outstanding now. */
  inFlight(): number;
  /** Users mode: the number of started users changed. */
  usersChanged(users: number): void;
  /** A one-line warning for the observer (each caller sends each kind once). */
  warn(message: string): void;
}

export interface Scheduler {
  start(): void;
  /** A request sent with `tag` completed (`failed`: without a good answer), was counted, and the run goes on. */
  afterCompletion(tag: unknown, failed: boolean): void;
  /** Sends nothing more; clears every timer. */
  stop(): void;
}
