import { CommanderError, type Command } from 'commander';
import { ServeError } from '../common/errors.js';
import { CliError } from './cli-error.js';

const SUGGESTIONS: Partial<Record<string, string>> = {
  CONFIG_INVALID: 'Check the file and field named above; `swarmserve <command> --help` lists every flag and its env var.',
};

/**
 * Runs the program; a ServeError becomes a message, a suggestion and an exit code, a CliError
 * its one line and its exit code, never a stack trace. A CommanderError comes from a command
 * that overrides commander's exit (e.g. `load`, whose usage errors exit 2): commander has
 * already printed its message.
 */
export async function runCli(program: Command): Promise<void> {
  try {
    await program.parseAsync(process.argv);
  } catch (err) {
    if (err instanceof ServeError) {
      process.stderr.write(`swarmserve: ${err.code}: ${err.message}\n`);
      const hint = SUGGESTIONS[err.code];
      if (hint !== undefined) process.stderr.write(`hint: ${hint}\n`);
      process.exitCode = err.code === 'CONFIG_INVALID' ? 78 : 1;
      return;
    }
    if (err instanceof CliError) {
      process.stderr.write(`swarmserve: ${err.message}\n`);
      process.exitCode = err.exitCode;
      return;
    }
    if (err instanceof CommanderError) {
      process.exitCode = err.exitCode;
      return;
    }
    throw err;
  }
}
