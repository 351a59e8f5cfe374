// Parsing of the experiment's schedule arguments: durations ("60s", "1m30s", "500ms", "90"),
// the replica list ("1,2,3") and the users' think time ("0", "1-5"). Each parser returns the
// value or throws an `ArgumentError` whose message names the bad text; the CLI turns it
// into one line and exit code 2.

export class ArgumentError extends Error {
  override readonly name = 'ArgumentError';
}

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** A duration: a number of seconds ("90", "2.5") or number+unit parts ("500ms", "60s", "1m30s", "1h"). */
export function parseDuration(text: string, what = 'duration'): number {
  const s = text.trim().toLowerCase();
  if (/^\d+(\.\d+)?$/.test(s)) return Number(s) * 1000;
  const part = /(\d+(?:\.\d+)?)(ms|s|m|h)/g;
  let ms = 0;
  let consumed = 0;
  for (const m of s.matchAll(part)) {
    if (m.index !== consumed) break;
    ms += Number(m[1]) * (UNIT_MS[m[2] ?? ''] ?? Number.NaN);
    consumed += m[0].length;
  }
  if (s === '' || consumed !== s.length || !Number.isFinite(ms)) {
    throw new ArgumentError(`${what} "${text}" is not a duration (e.g. 60s, 1m30s, 500ms, or a number of seconds)`);
  }
  return ms;
}

export const MAX_REPLICAS = 256;

/** "1,2,3" → [1, 2, 3]: at least one step, each 1…MAX_REPLICAS workers. */
export function parseReplicas(text: string): number[] {
  const parts = text.split(',').map((p) => p.trim());
  const counts = parts.map(Number);
  if (text.trim() === '' || counts.some((n, i) => parts[i] === '' || !Number.isInteger(n) || n < 1 || n > MAX_REPLICAS)) {
    throw new ArgumentError(`--replicas "${text}" is not a list of worker counts 1…${MAX_REPLICAS} (e.g. 1,2,3)`);
  }
  return counts;
}

/** "0" → none (closed loop); "a-b" → uniform think time in [a, b] seconds; "a" → a constant a seconds. */
export function parseWait(text: string): { minS: number; maxS: number } | undefined {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(?:-\s*(\d+(?:\.\d+)?)\s*)?$/.exec(text);
  const minS = Number(m?.[1]);
  const maxS = m?.[2] === undefined ? minS : Number(m[2]);
  if (m === null || !Number.isFinite(minS) || !Number.isFinite(maxS) || maxS < minS || maxS > 3600) {
    throw new ArgumentError(`--wait "${text}" is not 0 (no think time) or a-b seconds with a ≤ b ≤ 3600 (e.g. 1-5)`);
  }
  return maxS === 0 ? undefined : { minS, maxS };
}

/** Checks the schedule as a whole: settle shorter than a step, window positive. */
export function checkSchedule(s: { stepMs: number; settleMs: number; windowMs: number }): void {
  if (!(s.stepMs >= 1000)) throw new ArgumentError(`--step must be at least 1s (got ${s.stepMs / 1000}s)`);
  if (!(s.settleMs >= 0) || s.settleMs >= s.stepMs)
    throw new ArgumentError(
      `--settle (${s.settleMs / 1000}s) must be shorter than --step (${s.stepMs / 1000}s): the table counts the part of each step after it`,
    );
  if (!(s.windowMs >= 100)) throw new ArgumentError(`--window must be at least 100ms (got ${s.windowMs}ms)`);
}
