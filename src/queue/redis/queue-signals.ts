// What the autoscaler reads of a model version's queue each tick: arrivals and completions
// (from the stream's own count of entries ever added, and its length: answered jobs are
// deleted), the backlog not yet taken, the jobs taken and not answered, and the age of the
// oldest job not yet taken (its entry id's time against Redis TIME: no host clock involved).
import { GROUP, RedisKeys } from './keys.js';
import type { RedisLink } from './link.js';
import { QUEUE_SIGNALS } from './scripts.js';

/** One reading of a job stream, in Redis's clock. */
export interface QueueReading {
  /** Redis TIME, ms. */
  at: number;
  /** Entries ever added to the stream (jobs submitted). */
  added: number;
  /** Entries in the stream: waiting + taken and not yet answered. */
  length: number;
  /** Taken by a worker, not yet answered. */
  pending: number;
  /** Time (ms) in the id of the oldest entry not yet taken; undefined when none waits. */
  oldestWaitingAt: number | undefined;
}

export async function readQueue(link: RedisLink, keys: RedisKeys, queueKey: string): Promise<QueueReading> {
  const reply = (await link.eval(QUEUE_SIGNALS, [keys.jobs(queueKey)], [GROUP])) as unknown[];
  const [at = 0, added = 0, length = 0, pending = 0, oldest = -1] = reply.map((v) => Number(v));
  return { at, added, length, pending, oldestWaitingAt: oldest >= 0 ? oldest : undefined };
}

export interface QueueSignals {
  /** Jobs submitted per second between the two readings (0 without a previous one). */
  arrivalPerS: number;
  /** Jobs answered per second between them. */
  completedPerS: number;
  /** Jobs waiting, not yet taken. */
  backlog: number;
  /** Jobs taken and not yet answered. */
  inProgress: number;
  /** Age of the oldest job not yet taken (0: none waits). */
  oldestWaitMs: number;
}

/** The signals between two readings of the same stream (a Redis that restarted empty counts from zero again). */
export function queueSignals(previous: QueueReading | undefined, current: QueueReading): QueueSignals {
  const seconds = previous === undefined ? 0 : (current.at - previous.at) / 1000;
  const restarted = previous !== undefined && current.added < previous.added;
  const rate = (now: number, before: number): number => (seconds > 0 && !restarted ? Math.max(0, now - before) / seconds : 0);
  return {
    arrivalPerS: previous === undefined ? 0 : rate(current.added, previous.added),
    completedPerS: previous === undefined ? 0 : rate(current.added - current.length, previous.added - previous.length),
    backlog: Math.max(0, current.length - current.pending),
    inProgress: current.pending,
    oldestWaitMs: current.oldestWaitingAt === undefined ? 0 : Math.max(0, current.at - current.oldestWaitingAt),
  };
}
