import type { Command } from 'commander';
import { createLogger } from '../common/logger.js';
import { addOptions, cliFlags } from '../config/options.js';
import { redactRedisUrl } from '../config/redis-options.js';
import { WORKER_OPTIONS, resolveWorkerConfig } from '../config/worker-config.js';
import { WorkerNode } from '../worker/worker-node.js';
import { drainOnSignals } from './signals.js';
import { tuneServerHeap } from '../common/gc-tuning.js';

export function registerWorkerCommand(program: Command): void {
  const worker = program.command('worker').description('distributed mode: a model-server replica, running batches of the jobs it takes from Redis');
  addOptions(worker, WORKER_OPTIONS).action(async () => {
    tuneServerHeap();
    const config = await resolveWorkerConfig(cliFlags(worker));
    const logger = createLogger(config.logLevel, 'swarmserve-worker');
    const node = await WorkerNode.create(config, logger);
    logger.info(
      { workerId: node.workerId, models: node.keys, metricsUrl: `${node.metricsUrl}/metrics`, redis: redactRedisUrl(config.redis), prefix: config.redisPrefix },
      `swarmserve worker ${node.workerId} serving ${node.keys.join(', ')} (metrics ${node.metricsUrl}/metrics)`,
    );
    drainOnSignals(logger, () => node.close(), 'draining (finishing and answering the batches taken; no new jobs)');
  });
}
