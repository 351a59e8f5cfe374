// What a worker process says of itself each heartbeat (and, in embedded mode, each second):
// its batch workers' counters summed, and its memory against its limit. The registry hash,
// the autoscaler and the dashboard all read these same figures.
import { hostname } from 'node:os';
import type { WorkerInfo } from '../queue/contract.js';
import type { WorkerSample } from '../stats/contract.js';
import { memoryLimitBytes, rssBytes } from '../stats/process-memory.js';
import type { BatchWorker } from './batch-worker.js';

export function workerInfoOf(workers: readonly BatchWorker[], id: string, startedAt: number): Omit<WorkerInfo, 'lastSeen'> {
  const counted = workers.reduce(
    (sum, w) => ({ batches: sum.batches + w.counters.batches, items: sum.items + w.counters.items, busyMs: sum.busyMs + w.counters.busyMs }),
    { batches: 0, items: 0, busyMs: 0 },
  );
  return {
    id,
    host: hostname(),
    pid: process.pid,
    keys: workers.map((w) => w.key),
    ...counted,
    startedAt,
    rssBytes: rssBytes(),
    memoryLimitBytes: memoryLimitBytes(),
  };
}

const embeddedStartedAt = Date.now();

/** Embedded mode: the process's batch workers as one worker row. */
export function embeddedWorkerSample(workers: readonly BatchWorker[]): WorkerSample {
  const info = workerInfoOf(workers, 'embedded', embeddedStartedAt);
  return { kind: 'worker', ...info, busyMs: Math.round(info.busyMs), rssBytes: info.rssBytes ?? 0, memoryLimitBytes: info.memoryLimitBytes ?? 0 };
}
