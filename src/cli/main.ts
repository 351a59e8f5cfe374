#!/usr/bin/env node
// The swarmserve command line.
import { Command } from 'commander';
import { packageVersion } from '../config/paths.js';
import { registerHealthCommand } from './health-command.js';
import { runCli } from './run.js';

const program = new Command('swarmserve')
  .description('Serve deep-learning models as horizontally scalable microservices.')
  .version(packageVersion())
  // Program options (-V, --version) only before the command: after it, `load --version 2` is the model version.
  .enablePositionalOptions()
  .showHelpAfterError('(run with --help for usage)');

type Register = (program: Command) => void;
// `health` is the container HEALTHCHECK: it runs every few seconds in every container, inside
// the worker's CPU quota, so it loads no other command's modules (onnxruntime, sharp, fastify,
// dockerode…): ~0.1 s of CPU instead of ~0.8 s, which a busy 1-CPU worker could not spare
// within the check's timeout.
const registrations: Register[] =
  process.argv[2] === 'health'
    ? [registerHealthCommand]
    : await Promise.all([
        import('./serve-command.js').then((m) => m.registerServeCommand),
        import('./gateway-command.js').then((m) => m.registerGatewayCommand),
        import('./worker-command.js').then((m) => m.registerWorkerCommand),
        import('./models-commands.js').then((m) => m.registerModelsCommands),
        import('./predict-command.js').then((m) => m.registerPredictCommand),
        import('./plan-command.js').then((m) => m.registerPlanCommand),
        Promise.resolve(registerHealthCommand),
        import('./load-command.js').then((m) => m.registerLoadCommand),
        import('./experiment-command.js').then((m) => m.registerExperimentCommand),
      ]);
for (const register of registrations) register(program);

await runCli(program);
