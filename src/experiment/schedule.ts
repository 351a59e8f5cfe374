// The experiment's schedule arguments beyond durations and think times (src/config/durations.ts):
// the replica list ("1,2,3") and the schedule as a whole. Each throws a USAGE error (exit 2)
// whose message names the bad text.

import { ServeError } from '../common/errors.js';

export const MAX_REPLICAS = 256;

/** "1,2,3" → [1, 2, 3]: at least one step, each 1…MAX_REPLICAS workers. */
export function parseReplicas(text: string): number[] {
  const parts = text.split(',').map((p) => p.trim());
  const counts = parts.map(Number);
  if (text.trim() === '' || counts.some((n, i) => parts[i] === '' || !Number.isInteger(n) || n < 1 || n > MAX_REPLICAS)) {
    throw new ServeError('USAGE', `"${text}" is not a list of worker counts 1…${MAX_REPLICAS} (e.g. 1,2,3)`);
  }
  return counts;
}

/** Checks the schedule as a whole: settle shorter than a step, window positive. */
export function checkSchedule(s: { stepMs: number; settleMs: number; windowMs: number }): void {
  if (!(s.stepMs >= 1000)) throw new ServeError('USAGE', `--step must be at least 1s (got ${s.stepMs / 1000}s)`);
  if (!(s.settleMs >= 0) || s.settleMs >= s.stepMs)
    throw new ServeError(
      'USAGE',
      `--settle (${s.settleMs / 1000}s) must be shorter than --step (${s.stepMs / 1000}s): the table counts the part of each step after it`,
    );
  if (!(s.windowMs >= 100)) throw new ServeError('USAGE', `--window must be at least 100ms (got ${s.windowMs}ms)`);
}
