// What is wrong with load options that may come from a CLI, a config file or IPC: every problem
// found, in one LoadOptionsError. Shared by the closed-loop engine and runLoad.
import type { LoadOptions } from './contract.js';

export const MAX_CONCURRENCY = 10_000;
export const DEFAULT_REQUEST_TIMEOUT_MS = 30_000;
/** Thrown (synchronously inside the returned promise) when `LoadOptions` are not usable. */
export class LoadOptionsError extends Error {
  override readonly name = 'LoadOptionsError';
}

// Headers the generator sets itself or that undici refuses: a caller must not override them.
const RESERVED_HEADERS = new Set(['content-length', 'transfer-encoding', 'connection', 'keep-alive', 'upgrade', 'expect']);
const HEADER_NAME = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
export const BAD_HEADER_VALUE = /[\r\n\0]/;

export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export function describeValue(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'number' || typeof value === 'boolean' || value === null || value === undefined) return String(value);
  if (Array.isArray(value)) return 'an array';
  return `a ${typeof value}`;
}

/**
 * Checks options that may come from a CLI, a config file or IPC; throws one `LoadOptionsError`
 * listing every problem found.
 */
export function validateLoadOptions(options: LoadOptions): void {
  const input: unknown = options;
  if (!isRecord(input)) throw new LoadOptionsError(`Invalid load options: expected an object, got ${describeValue(input)}.`);
  const problems = urlProblems(input.url);

  const { concurrency } = input;
  if (typeof concurrency !== 'number' || !Number.isInteger(concurrency) || concurrency < 1 || concurrency > MAX_CONCURRENCY) {
    problems.push(`concurrency must be an integer from 1 to ${MAX_CONCURRENCY}, got ${describeValue(concurrency)}`);
  }
  const { durationMs } = input;
  if (typeof durationMs !== 'number' || !Number.isFinite(durationMs) || durationMs <= 0) {
    problems.push(`durationMs must be a finite number > 0, got ${describeValue(durationMs)}`);
  }
  const { warmupMs } = input;
  if (typeof warmupMs !== 'number' || !Number.isFinite(warmupMs) || warmupMs < 0) {
    problems.push(`warmupMs must be a finite number >= 0, got ${describeValue(warmupMs)}`);
  }
  const { maxRequests } = input;
  if (maxRequests !== undefined && (typeof maxRequests !== 'number' || !Number.isInteger(maxRequests) || maxRequests < 1)) {
    problems.push(`maxRequests must be an integer >= 1, got ${describeValue(maxRequests)}`);
  }
  problems.push(...payloadProblems(input));

  if (problems.length > 0) throw new LoadOptionsError(`Invalid load options: ${problems.join('; ')}.`);
}

// Shared by `runClosedLoop` and `runLoad`: what is wrong with the URL, and with what is sent
// (`bodies`, `headers`, `requestTimeoutMs`); empty when all is well.

export function urlProblems(url: unknown): string[] {
  const problems: string[] = [];
  if (typeof url !== 'string') {
    problems.push(`url must be a string, got ${describeValue(url)}`);
  } else {
    let parsed: URL | undefined;
    try {
      parsed = new URL(url);
    } catch {
      problems.push(`url ${JSON.stringify(url)} is not an absolute URL`);
    }
    if (parsed !== undefined) {
      if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') problems.push(`url must be http: or https:, got ${JSON.stringify(parsed.protocol)}`);
      if (parsed.username !== '' || parsed.password !== '') problems.push('url must not carry credentials: pass an authorization header instead');
    }
  }
  return problems;
}

export function payloadProblems(input: Record<string, unknown>): string[] {
  const problems: string[] = [];
  const { bodies } = input;
  if (!Array.isArray(bodies) || bodies.length === 0) {
    problems.push(`bodies must be a non-empty array, got ${Array.isArray(bodies) ? 'an empty array' : describeValue(bodies)}`);
  } else {
    bodies.forEach((item: unknown, i) => {
      if (!isRecord(item)) {
        problems.push(`bodies[${i}] must be an object { body, contentType }, got ${describeValue(item)}`);
        return;
      }
      if (!(item.body instanceof Uint8Array)) problems.push(`bodies[${i}].body must be a Uint8Array (or Buffer), got ${describeValue(item.body)}`);
      const ct = item.contentType;
      if (typeof ct !== 'string' || ct.trim() === '' || BAD_HEADER_VALUE.test(ct)) {
        problems.push(`bodies[${i}].contentType must be a non-empty header value, got ${describeValue(ct)}`);
      }
    });
  }

  const { headers } = input;
  if (headers !== undefined) {
    if (!isRecord(headers)) {
      problems.push(`headers must be an object of strings, got ${describeValue(headers)}`);
    } else {
      for (const [name, value] of Object.entries(headers)) {
        if (!HEADER_NAME.test(name)) problems.push(`header name ${JSON.stringify(name)} is not a valid HTTP token`);
        else if (RESERVED_HEADERS.has(name.toLowerCase())) problems.push(`header ${JSON.stringify(name)} is managed by the load generator and cannot be set`);
        if (typeof value !== 'string' || BAD_HEADER_VALUE.test(value))
          problems.push(`header ${JSON.stringify(name)} must be a string without CR/LF/NUL, got ${describeValue(value)}`);
      }
    }
  }

  const { requestTimeoutMs } = input;
  if (requestTimeoutMs !== undefined && (typeof requestTimeoutMs !== 'number' || !Number.isFinite(requestTimeoutMs) || requestTimeoutMs <= 0)) {
    problems.push(`requestTimeoutMs must be a finite number > 0, got ${describeValue(requestTimeoutMs)}`);
  }
  return problems;
}
