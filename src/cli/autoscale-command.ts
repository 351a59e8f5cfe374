// `swarmserve autoscale`: sizes one worker group to its load (docs/autoscale.md) — a Docker
// Swarm service through the Docker Engine API (--swarm), or `swarmserve worker` processes it
// starts on this host (--local). SIGTERM/SIGINT: stop deciding, give the lease back, and (with
// --local) stop the workers it started, which drain first.
import type { Command } from 'commander';
import { createLogger } from '../common/logger.js';
import { AUTOSCALE_OPTIONS, resolveAutoscaleConfig, type AutoscaleOptions } from '../config/autoscale-config.js';
import { addOptions, cliFlags } from '../config/options.js';
import { redactRedisUrl } from '../config/redis-options.js';
import { AutoscalerNode } from '../autoscale/autoscaler-node.js';
import { loadRepository } from '../model/repository/repository.js';
import { queueKey } from '../queue/contract.js';
import type { ReplicaSet } from '../scaling/contract.js';
import { SwarmService } from '../scaling/swarm-service.js';
import { LocalWorkerPool } from '../scaling/worker-pool.js';
import type { Logger } from '../common/logger.js';
import { drainOnSignals } from './signals.js';

export function registerAutoscaleCommand(program: Command): void {
  const autoscale = program
    .command('autoscale')
    .description(
      'size the workers to the load: a Docker Swarm service (--swarm) or worker processes on this host (--local), from queue age and measured capacity',
    );
  addOptions(autoscale, AUTOSCALE_OPTIONS).action(async () => {
    const config = await resolveAutoscaleConfig(cliFlags(autoscale));
    const logger = createLogger(config.logLevel, 'swarmserve-autoscale');
    // The queues to read: the versions the workers load from the same repository and --only.
    const repository = await loadRepository(config.models, config.only);
    const queueKeys = [...repository.models.values()].flatMap((m) => m.versions.map((v) => queueKey(m.name, v.version)));
    const target = await scalingTarget(config, queueKeys, logger);
    const group = config.swarm ?? 'local';
    let node: AutoscalerNode;
    try {
      node = await AutoscalerNode.create({ config, group, queueKeys, target, logger });
    } catch (err) {
      await target.close();
      throw err;
    }
    logger.info(
      {
        group,
        target: target.description,
        queues: queueKeys,
        min: config.min,
        max: config.max,
        dryRun: config.dryRun,
        metricsUrl: `${node.metricsUrl}/metrics`,
        redis: redactRedisUrl(config.redis),
        prefix: config.redisPrefix,
      },
      `swarmserve autoscale sizing ${target.description} for ${queueKeys.join(', ')} (${config.min}..${config.max} replicas${config.dryRun ? ', dry run' : ''}; metrics ${node.metricsUrl}/metrics)`,
    );
    drainOnSignals(
      logger,
      async () => {
        await node.close();
        await target.close();
      },
      config.backend === 'local'
        ? 'stopping: lease given back; the workers started here drain and stop'
        : 'stopping: lease given back; the service keeps its replicas',
    );
  });
}

async function scalingTarget(config: AutoscaleOptions, queueKeys: readonly string[], logger: Logger): Promise<ReplicaSet> {
  if (config.swarm !== undefined) return await SwarmService.create({ service: config.swarm });
  // The workers get this process's Redis settings, so they meet its gateways and registry.
  const redisArgs = [
    '--redis-prefix',
    config.redisPrefix,
    '--heartbeat-interval-ms',
    String(config.heartbeatIntervalMs),
    '--heartbeat-expiry-ms',
    String(config.heartbeatExpiryMs),
    '--redis-timeout-ms',
    String(config.redisTimeoutMs),
    ...(config.redisPasswordFile === undefined ? [] : ['--redis-password-file', config.redisPasswordFile]),
  ];
  return await LocalWorkerPool.create({
    redisUrl: config.redis,
    // exactly the versions whose queues are read
    only: queueKeys.join(','),
    models: config.models,
    threads: config.workerThreads,
    extraArgs: redisArgs,
    logLevel: config.logLevel === 'debug' || config.logLevel === 'trace' ? config.logLevel : 'warn',
    onProgress: (line) => logger.info(line),
  });
}
