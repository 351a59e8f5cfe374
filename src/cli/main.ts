#!/usr/bin/env node
// The swarmserve command line.
import { Command } from 'commander';
import { registerExperimentCommand } from './experiment-command.js';
import { registerGatewayCommand } from './gateway-command.js';
import { registerHealthCommand } from './health-command.js';
import { registerLoadCommand } from './load-command.js';
import { registerModelsCommands } from './models-commands.js';
import { registerPlanCommand } from './plan-command.js';
import { registerPredictCommand } from './predict-command.js';
import { registerServeCommand } from './serve-command.js';
import { registerWorkerCommand } from './worker-command.js';
import { runCli } from './run.js';

const program = new Command('swarmserve')
  .description('Serve deep-learning models as horizontally scalable microservices.')
  .version('0.1.0')
  // Program options (-V, --version) only before the command: after it, `load --version 2` is the model version.
  .enablePositionalOptions()
  .showHelpAfterError('(run with --help for usage)');

registerServeCommand(program);
registerGatewayCommand(program);
registerWorkerCommand(program);
registerModelsCommands(program);
registerPredictCommand(program);
registerPlanCommand(program);
registerHealthCommand(program);
registerLoadCommand(program);
registerExperimentCommand(program);

await runCli(program);
