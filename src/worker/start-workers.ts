// Starts one batching worker per model version of a repository on a consumer: what
// embedded mode and `swarmserve worker` share.
import type { Logger } from '../common/logger.js';
import type { ModelRepository } from '../model/repository/contract.js';
import type { JobConsumer } from '../queue/contract.js';
import { afterModelLoad, beforeModelLoad } from '../runtime/allocator.js';
import { BatchWorker } from './batch-worker.js';
import type { BatchObserver, BatchWorkerOptions } from './contract.js';

export interface StartWorkersOptions {
  repository: ModelRepository;
  consumer: JobConsumer;
  metrics: BatchObserver;
  logger: Logger;
  mallocTuning: boolean;
  /** Per-worker options shared by all (overrides, test doubles). */
  common?: Partial<
    Pick<BatchWorkerOptions, 'maxPixels' | 'maxBatchSize' | 'maxQueueDelayMs' | 'intraOpThreads' | 'prefetch' | 'now' | 'openSession' | 'openDecoder'>
  >;
}

/** Loads every version (warming each up) and returns the workers, not yet started. */
export async function createBatchWorkers(options: StartWorkersOptions): Promise<BatchWorker[]> {
  const { repository, consumer, metrics, logger, common } = options;
  const workers: BatchWorker[] = [];
  const tuned = options.mallocTuning && beforeModelLoad();
  try {
    for (const entry of repository.models.values()) {
      for (const version of entry.versions) {
        const started = performance.now();
        const worker = await BatchWorker.create({
          ...common,
          consumer,
          entry,
          version,
          metrics,
          logger,
          releaseMemoryAfterLoad: tuned,
          onError: throttledErrorLog(logger, { model: entry.name, version: version.version }),
        });
        workers.push(worker);
        logger.info(
          { model: entry.name, version: version.version, maxBatchSize: worker.maxBatchSize, loadMs: Math.round(performance.now() - started) },
          `loaded ${entry.name} v${version.version}`,
        );
      }
    }
  } catch (err) {
    await Promise.all(workers.map((w) => w.close()));
    throw err;
  }
  if (tuned) afterModelLoad();
  logger.info({ mallocTuning: tuned ? 'applied' : options.mallocTuning ? 'unavailable (not glibc)' : 'off' }, 'memory allocator');
  return workers;
}

/** At most one loop-error line per this many ms and worker. */
const ERROR_LOG_INTERVAL_MS = 10_000;

/**
 * A worker loop's error log. While the transport is down every receive fails (four a
 * second per worker): the first error is logged, then one line per interval that counts
 * the ones left out.
 */
function throttledErrorLog(logger: Logger, fields: Record<string, string>): (err: unknown) => void {
  let lastAt = -Infinity;
  let suppressed = 0;
  return (err) => {
    const now = performance.now();
    if (now - lastAt < ERROR_LOG_INTERVAL_MS) {
      suppressed++;
      return;
    }
    logger.error({ err, ...fields, ...(suppressed > 0 ? { suppressedSinceLast: suppressed } : {}) }, 'worker loop error');
    lastAt = now;
    suppressed = 0;
  };
}

/** The per-worker overrides that serve and worker share (flags that beat the model configs). */
export function batchingOverrides(config: {
  maxPixels: number;
  maxBatchSize?: number | undefined;
  maxQueueDelayMs?: number | undefined;
}): NonNullable<StartWorkersOptions['common']> {
  return {
    maxPixels: config.maxPixels,
    ...(config.maxBatchSize === undefined ? {} : { maxBatchSize: config.maxBatchSize }),
    ...(config.maxQueueDelayMs === undefined ? {} : { maxQueueDelayMs: config.maxQueueDelayMs }),
  };
}
