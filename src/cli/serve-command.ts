import type { Command } from 'commander';
import { createLogger } from '../common/logger.js';
import { addOptions, cliFlags, resolveOptions } from '../config/options.js';
import { SERVE_OPTIONS } from '../config/serve-config.js';
import { EmbeddedServer } from '../embedded/embedded-server.js';
import { drainOnSignals, reloadKeysOnSighup } from './signals.js';
import { tuneServerHeap } from '../common/gc-tuning.js';

export function registerServeCommand(program: Command): void {
  const serve = program.command('serve').description('embedded mode: gateway, queue and inference in one process (no Redis)');
  addOptions(serve, SERVE_OPTIONS).action(async () => {
    tuneServerHeap();
    const config = resolveOptions(SERVE_OPTIONS, cliFlags(serve));
    const logger = createLogger(config.logLevel);
    const server = await EmbeddedServer.create(config, logger);
    const url = await server.listen();
    logger.info(
      { url, models: [...server.repository.models.keys()], defaultModel: server.defaultModel },
      `swarmserve listening on ${url} (POST ${url}/predict)`,
    );
    drainOnSignals(logger, () => server.close());
    reloadKeysOnSighup(logger, server.apiKeys);
  });
}
