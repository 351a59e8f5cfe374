// The one shutdown sequence of the HTTP servers (`serve` and `gateway`): mark draining (so
// /health/ready answers 503 and new requests SHUTTING_DOWN), let the requests in flight
// finish while the HTTP server closes — up to the drain timeout —, then close the queue,
// then the workers.
import type { Logger } from './logger.js';

export interface DrainSteps {
  /** Readiness goes to "shutting down"; new requests are refused. */
  markDraining(): void;
  /** Stops accepting connections and resolves once those open are done (fastify's app.close()). */
  closeServer(): Promise<void>;
  drainTimeoutMs: number;
  closeQueue(): Promise<void>;
  closeWorkers(): Promise<void>;
  logger: Pick<Logger, 'warn'>;
}

/** Runs the steps in order; says whether the requests in flight all finished ('drained') or the timeout cut them short. */
export async function drainAndClose(steps: DrainSteps): Promise<'drained' | 'timeout'> {
  steps.markDraining();
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<'timeout'>((resolve) => {
    timer = setTimeout(() => resolve('timeout'), steps.drainTimeoutMs).unref();
  });
  const outcome = await Promise.race([steps.closeServer().then(() => 'drained' as const), timeout]);
  clearTimeout(timer);
  if (outcome === 'timeout') steps.logger.warn(`drain timeout (${steps.drainTimeoutMs} ms): answering what is left with SHUTTING_DOWN`);
  await steps.closeQueue();
  await steps.closeWorkers();
  return outcome;
}
