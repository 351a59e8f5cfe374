// Checks `LoadRunOptions` (they may come from a CLI, a config file or another process) and
// fills in the defaults, so the engine works on one fully-resolved shape.

import { DEFAULT_REQUEST_TIMEOUT_MS, describeValue, isRecord, LoadOptionsError, payloadProblems, urlProblems } from './validate.js';
import type { LoadRequestBody, LoadRunOptions } from './contract.js';

export const DEFAULT_MAX_IN_FLIGHT = 1_000;
export const DEFAULT_STOP_GRACE_MS = 2_000;
export const MAX_USERS = 10_000;
export const MAX_IN_FLIGHT = 100_000;
export const MAX_RATE = 1_000_000;

export interface ResolvedRunOptions {
  url: string;
  bodies: readonly LoadRequestBody[];
  headers: Record<string, string>;
  /** Users mode when undefined. */
  rate: number | undefined;
  users: number;
  spawnRate: number;
  waitMinMs: number;
  waitMaxMs: number;
  maxInFlight: number;
  /** Infinity when absent. */
  durationMs: number;
  /** Infinity when absent. */
  maxRequests: number;
  requestTimeoutMs: number;
  checkSuccess: boolean;
  stopGraceMs: number;
}

function positive(value: unknown): value is number {
  return typeof value === 'number' && Number.isFinite(value) && value > 0;
}

function intIn(value: unknown, min: number, max: number): value is number {
  return typeof value === 'number' && Number.isInteger(value) && value >= min && value <= max;
}

/** Throws one `LoadOptionsError` listing every problem; returns the options with defaults filled in. */
export function resolveRunOptions(options: LoadRunOptions): ResolvedRunOptions {
  const input: unknown = options;
  if (!isRecord(input)) throw new LoadOptionsError(`Invalid load options: expected an object, got ${describeValue(input)}.`);
  const problems = [...urlProblems(input.url), ...payloadProblems(input)];
  const { users, spawnRate, wait, durationMs, maxRequests, rate, maxInFlight, checkSuccess, stopGraceMs } = input;

  if (rate !== undefined) {
    if (!positive(rate) || rate > MAX_RATE) problems.push(`rate must be a number > 0 and <= ${MAX_RATE} (requests/s), got ${describeValue(rate)}`);
    for (const [name, value] of [
      ['users', users],
      ['spawnRate', spawnRate],
      ['wait', wait],
    ] as const) {
      if (value !== undefined) problems.push(`${name} is for users mode; it cannot be combined with rate (open loop)`);
    }
    if (maxInFlight !== undefined && !intIn(maxInFlight, 1, MAX_IN_FLIGHT))
      problems.push(`maxInFlight must be an integer from 1 to ${MAX_IN_FLIGHT}, got ${describeValue(maxInFlight)}`);
  } else {
    if (maxInFlight !== undefined) problems.push('maxInFlight is for the open loop: it needs rate');
    if (users !== undefined && !intIn(users, 1, MAX_USERS)) problems.push(`users must be an integer from 1 to ${MAX_USERS}, got ${describeValue(users)}`);
    if (spawnRate !== undefined && !positive(spawnRate)) problems.push(`spawnRate must be a number > 0 (users/s), got ${describeValue(spawnRate)}`);
    if (wait !== undefined) {
      const min = isRecord(wait) ? wait.minMs : undefined;
      const max = isRecord(wait) ? wait.maxMs : undefined;
      if (typeof min !== 'number' || typeof max !== 'number' || !Number.isFinite(min) || !Number.isFinite(max) || min < 0 || max < min) {
        problems.push(
          `wait must be { minMs, maxMs } with 0 <= minMs <= maxMs, got ${isRecord(wait) ? `{ minMs: ${describeValue(min)}, maxMs: ${describeValue(max)} }` : describeValue(wait)}`,
        );
      }
    }
  }
  if (durationMs !== undefined && !positive(durationMs)) problems.push(`durationMs must be a finite number > 0, got ${describeValue(durationMs)}`);
  if (maxRequests !== undefined && !intIn(maxRequests, 1, Number.MAX_SAFE_INTEGER))
    problems.push(`maxRequests must be an integer >= 1, got ${describeValue(maxRequests)}`);
  if (checkSuccess !== undefined && typeof checkSuccess !== 'boolean') problems.push(`checkSuccess must be a boolean, got ${describeValue(checkSuccess)}`);
  if (stopGraceMs !== undefined && (typeof stopGraceMs !== 'number' || !Number.isFinite(stopGraceMs) || stopGraceMs < 0)) {
    problems.push(`stopGraceMs must be a finite number >= 0, got ${describeValue(stopGraceMs)}`);
  }
  if (problems.length > 0) throw new LoadOptionsError(`Invalid load options: ${problems.join('; ')}.`);

  return {
    url: options.url,
    bodies: options.bodies,
    headers: options.headers ?? {},
    rate: options.rate,
    users: options.users ?? 1,
    spawnRate: options.spawnRate ?? 1,
    waitMinMs: options.wait?.minMs ?? 0,
    waitMaxMs: options.wait?.maxMs ?? 0,
    maxInFlight: options.maxInFlight ?? DEFAULT_MAX_IN_FLIGHT,
    durationMs: options.durationMs ?? Number.POSITIVE_INFINITY,
    maxRequests: options.maxRequests ?? Number.POSITIVE_INFINITY,
    requestTimeoutMs: options.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS,
    checkSuccess: options.checkSuccess ?? true,
    stopGraceMs: options.stopGraceMs ?? DEFAULT_STOP_GRACE_MS,
  };
}
