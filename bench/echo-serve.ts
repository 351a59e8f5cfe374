// `swarmserve serve` with the ECHO model's doubles (bench/echo-model.ts): the embedded server
// (gateway + in-memory queue + batching worker in one process) with decoding and inference
// skipped; the baseline of the distributed queue path in bench/distributed.ts. Same options
// (flags or SWARMSERVE_* env) and SIGTERM drain as `serve`.
//
//   node dist/bench/echo-serve.js --models <repo> --port 0 [any serve flag]
import { Command } from 'commander';
import { drainOnSignals } from '../src/cli/signals.js';
import { runCli } from '../src/cli/run.js';
import { createLogger } from '../src/common/logger.js';
import { addOptions, cliFlags, resolveOptions } from '../src/config/options.js';
import { SERVE_OPTIONS } from '../src/config/serve-config.js';
import { EmbeddedServer } from '../src/embedded/embedded-server.js';
import { echoDoubles } from './echo-model.js';

const program = new Command('echo-serve').description('benchmark: swarmserve serve whose models skip decoding and inference');
addOptions(program, SERVE_OPTIONS).action(async () => {
  const config = resolveOptions(SERVE_OPTIONS, cliFlags(program));
  const logger = createLogger(config.logLevel);
  const server = await EmbeddedServer.create(config, logger, echoDoubles());
  const url = await server.listen();
  logger.info({ url, models: [...server.repository.models.keys()] }, `echo serve listening on ${url}`);
  drainOnSignals(logger, () => server.close());
});

await runCli(program);
