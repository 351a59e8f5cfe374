import type { Command } from 'commander';
import { createLogger } from '../common/logger.js';
import { GATEWAY_OPTIONS, resolveGatewayConfig } from '../config/gateway-config.js';
import { addOptions, cliFlags } from '../config/options.js';
import { redactRedisUrl } from '../config/redis-options.js';
import { GatewayNode } from '../gateway/gateway-node.js';
import { drainOnSignals, reloadKeysOnSighup } from './signals.js';
import { tuneServerHeap } from '../common/gc-tuning.js';

export function registerGatewayCommand(program: Command): void {
  const gateway = program.command('gateway').description('distributed mode: the HTTP gateway, sending jobs to workers through Redis (loads no model)');
  addOptions(gateway, GATEWAY_OPTIONS).action(async () => {
    tuneServerHeap();
    const config = await resolveGatewayConfig(cliFlags(gateway));
    const logger = createLogger(config.logLevel, 'swarmserve-gateway');
    const node = await GatewayNode.create(config, logger);
    const url = await node.listen();
    logger.info(
      {
        url,
        models: [...node.repository.models.keys()],
        defaultModel: node.defaultModel,
        redis: redactRedisUrl(config.redis),
        prefix: config.redisPrefix,
        ready: node.notReadyReason() ?? 'yes',
      },
      `swarmserve gateway listening on ${url} (POST ${url}/predict)`,
    );
    drainOnSignals(logger, () => node.close());
    reloadKeysOnSighup(logger, node.apiKeys);
  });
}
