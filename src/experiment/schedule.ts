// The experiment's schedule arguments beyond durations and think times (src/config/durations.ts):
// the replica list ("1,2,3") and the schedule as a whole. Each throws a USAGE error (exit 2)
// whose message names the bad text.

import { ServeError } from '../common/errors.js';

export const MAX_REPLICAS = 256;

/** "1,2,3" → [1, 2, 3], each an integer 1…max; undefined if any item is not. */
function parseCounts(text: string, max: number): number[] | undefined {
  const parts = text.split(',').map((p) => p.trim());
  const counts = parts.map(Number);
  if (text.trim() === '' || counts.some((n, i) => parts[i] === '' || !Number.isInteger(n) || n < 1 || n > max)) return undefined;
  return counts;
}

/** "1,2,3" → [1, 2, 3]: at least one step, each 1…MAX_REPLICAS workers. */
export function parseReplicas(text: string): number[] {
  const counts = parseCounts(text, MAX_REPLICAS);
  if (counts === undefined) throw new ServeError('USAGE', `"${text}" is not a list of worker counts 1…${MAX_REPLICAS} (e.g. 1,2,3)`);
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

export const MAX_USERS = 10_000;

/** "16" → 16 (every step); "5,40,5" → [5, 40, 5] (one per step): each 1…MAX_USERS. */
export function parseUsers(text: string): number | number[] {
  const counts = parseCounts(text, MAX_USERS);
  if (counts === undefined) throw new ServeError('USAGE', `"${text}" is not a user count 1…${MAX_USERS} or a list of them, one per step (e.g. 16, or 5,40,5)`);
  return counts.length === 1 ? (counts[0] ?? 1) : counts;
}
