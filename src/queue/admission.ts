// What every transport's submitAll decides the same way before (or instead of) enqueueing:
// which one queue a group of jobs goes to, and the refusals it answers them with.
import { ServeError } from '../common/errors.js';
import { queueKey, type JobOutcome, type JobRequest } from './contract.js';

/** The queue key all `requests` share; a ServeError when they name several (the bound is per queue). */
export function queueOf(requests: readonly JobRequest[]): string | ServeError {
  // One job (every /predict): no set to build.
  if (requests.length === 1) return queueKey((requests[0] as JobRequest).model, (requests[0] as JobRequest).version);
  const keys = new Set(requests.map((r) => queueKey(r.model, r.version)));
  if (keys.size === 1) return [...keys][0] as string;
  return new ServeError('INTERNAL', `submitAll takes the jobs of one queue; these name ${[...keys].join(', ')}`);
}

export function queueFull(key: string, waiting: number, bound: number, jobs: number): ServeError {
  const room = jobs === 1 ? 'retry later' : `${jobs} more do not fit, retry later`;
  return new ServeError('QUEUE_FULL', `The queue of ${key} holds ${waiting} waiting jobs (bound ${bound}); ${room}.`, { headers: { 'retry-after': '1' } });
}

/** A refused group: one rejected promise per job, all with the same error. */
export function refuseAll(requests: readonly JobRequest[], err: ServeError): Promise<JobOutcome>[] {
  return requests.map(() => Promise.reject(err));
}

/** Why a caller stopped waiting: its abort reason when that is a ServeError. */
export function abortError(signal: AbortSignal | undefined): ServeError {
  const reason: unknown = signal?.reason;
  return reason instanceof ServeError ? reason : new ServeError('CLIENT_CLOSED');
}
