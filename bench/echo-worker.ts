// `swarmserve worker` with the ECHO model's doubles (bench/echo-model.ts): the same options
// (flags or SWARMSERVE_* env, parsed by the CLI's own option table), the same WorkerNode, the
// same SIGTERM drain; only decoding and inference are skipped. Started by bench/distributed.ts
// as a process of its own, like a real worker.
//
//   node dist/bench/echo-worker.js --models <repo> --redis redis://… [any worker flag]
import { Command } from 'commander';
import { drainOnSignals } from '../src/cli/signals.js';
import { runCli } from '../src/cli/run.js';
import { createLogger } from '../src/common/logger.js';
import { addOptions, cliFlags } from '../src/config/options.js';
import { WORKER_OPTIONS, resolveWorkerConfig } from '../src/config/worker-config.js';
import { WorkerNode } from '../src/worker/worker-node.js';
import { echoDoubles } from './echo-model.js';

const program = new Command('echo-worker').description('benchmark: a swarmserve worker whose models skip decoding and inference');
addOptions(program, WORKER_OPTIONS).action(async () => {
  const config = await resolveWorkerConfig(cliFlags(program));
  const logger = createLogger(config.logLevel, 'swarmserve-echo-worker');
  const node = await WorkerNode.create(config, logger, echoDoubles());
  logger.info({ workerId: node.workerId, models: node.keys, metricsUrl: node.metricsUrl }, `echo worker ${node.workerId} serving ${node.keys.join(', ')}`);
  drainOnSignals(logger, () => node.close(), 'draining (finishing and answering the batches taken; no new jobs)');
});

await runCli(program);
