// The one parser of durations and wait ranges, for every command (load, experiment):
// - a duration is a bare number of seconds (`90`, `2.5`, as Locust's -t takes it), or one or
//   more number+unit parts (`ms`, `s`, `m`, `h`) in any order, summed as Go's
//   time.ParseDuration does: `1m30s` = `30s1m` = 90 s; `1h30m`, `500ms`, `1m 30s`;
// - a wait range is `A-B` (uniform between A and B), or one duration `A` (always A); each side
//   is a duration, so `0.5-5` is seconds and `500ms-2s` works too; `0` is no wait.
// Bad input is a USAGE error whose message says what was expected, never undefined.
import { ServeError } from '../common/errors.js';

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
const NUMBER = String.raw`\d+(?:\.\d+)?`;
const PARTS = new RegExp(String.raw`^(?:${NUMBER}\s*(?:ms|s|m|h)\s*)+$`);
const PART = new RegExp(String.raw`(${NUMBER})\s*(ms|s|m|h)`, 'g');

export const DURATION_EXAMPLES = 'a duration such as 20s, 1m30s, 500ms or 90 (seconds)';

/** Milliseconds of a duration (see above); a USAGE error naming the text if it is not one. */
export function parseDuration(text: string): number {
  const s = text.trim().toLowerCase();
  if (new RegExp(`^${NUMBER}$`).test(s)) return Number(s) * 1000;
  if (!PARTS.test(s)) throw new ServeError('USAGE', `expected ${DURATION_EXAMPLES}, got ${JSON.stringify(text)}`);
  let ms = 0;
  for (const [, n, unit] of s.matchAll(PART)) ms += Number(n) * UNIT_MS[unit!]!;
  return ms;
}

export interface WaitRange {
  minMs: number;
  maxMs: number;
}

/** The longest think time a wait range may ask for. */
export const MAX_WAIT_MS = 3_600_000;

/** A think time: `A-B` (uniform in [A, B]) or `A` (always A), each a duration, A ≤ B ≤ 1 h; a USAGE error otherwise. */
export function parseWaitRange(text: string): WaitRange {
  const bad = (): ServeError =>
    new ServeError(
      'USAGE',
      `expected a wait range A-B with A <= B <= 1h (e.g. 0.5-5 seconds, 500ms-2s), or one duration (0: none), got ${JSON.stringify(text)}`,
    );
  const sides = text.split('-');
  if (sides.length > 2 || sides.some((side) => side.trim() === '')) throw bad();
  let minMs: number;
  let maxMs: number;
  try {
    minMs = parseDuration(sides[0]!);
    maxMs = sides[1] === undefined ? minMs : parseDuration(sides[1]);
  } catch {
    throw bad();
  }
  if (maxMs < minMs || maxMs > MAX_WAIT_MS) throw bad();
  return { minMs, maxMs };
}
