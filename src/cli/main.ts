#!/usr/bin/env node
// The swarmserve command line.
import { Command } from 'commander';
import { packageVersion } from '../config/paths.js';
import { runCli } from './run.js';

const program = new Command('swarmserve')
  .description('Serve deep-learning models as horizontally scalable microservices.')
  .version(packageVersion())
  // Program options (-V, --version) only before the command: after it, `load --version 2` is the model version.
  .enablePositionalOptions();

type Register = (program: Command) => void;
// Each command's modules, loaded only when that command runs (all of them for help, or a
// command we do not know here). `health` is the container HEALTHCHECK: it runs every few
// seconds in every container, inside the worker's CPU quota, so it loads nothing else
// (~0.1 s of CPU instead of ~0.8 s). The long-running servers load no swarm, load-test or
// planner code either: every loaded module's source stays on the heap, and a smaller heap
// makes each full garbage collection under load cheaper.
const commands: Record<string, () => Promise<Register>> = {
  serve: () => import('./serve-command.js').then((m) => m.registerServeCommand),
  gateway: () => import('./gateway-command.js').then((m) => m.registerGatewayCommand),
  worker: () => import('./worker-command.js').then((m) => m.registerWorkerCommand),
  models: () => import('./models-commands.js').then((m) => m.registerModelsCommands),
  predict: () => import('./predict-command.js').then((m) => m.registerPredictCommand),
  plan: () => import('./plan-command.js').then((m) => m.registerPlanCommand),
  health: () => import('./health-command.js').then((m) => m.registerHealthCommand),
  load: () => import('./load-command.js').then((m) => m.registerLoadCommand),
  experiment: () => import('./experiment-command.js').then((m) => m.registerExperimentCommand),
  autoscale: () => import('./autoscale-command.js').then((m) => m.registerAutoscaleCommand),
};
const named = process.argv[2] === undefined ? undefined : commands[process.argv[2]];
const registrations: Register[] = named !== undefined ? [await named()] : await Promise.all(Object.values(commands).map((load) => load()));
for (const register of registrations) register(program);

await runCli(program);
