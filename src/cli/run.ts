import { CommanderError, type Command } from 'commander';
import { exitCodeOf, ServeError } from '../common/errors.js';

const SUGGESTIONS: Partial<Record<string, string>> = {
  CONFIG_INVALID: 'Check the file and field named above; `swarmserve <command> --help` lists every flag and its env var.',
};

/** `swarmserve models import-tfjs`: the words a user typed to reach this command. */
function commandPath(command: Command): string {
  const names: string[] = [];
  for (let c: Command | null = command; c !== null; c = c.parent) names.unshift(c.name());
  return names.join(' ');
}

/** Commander's own refusal (unknown option, missing argument, bad choice) as the coded usage error. */
function usageError(command: Command, err: CommanderError): ServeError {
  const message = err.message.replace(/^error: /, '').replace(/\s*\n\s*/g, ' ');
  if (err.code === 'commander.help') return new ServeError('USAGE', `${commandPath(command)} needs a command (listed above)`);
  return new ServeError('USAGE', `${message} (see ${commandPath(command)} --help)`);
}

/**
 * Every command reports commander's errors through us: commander prints nothing of its own
 * (help and --version still print), its errors become USAGE errors (exit 2).
 */
function routeCommanderErrors(command: Command): void {
  command.configureOutput({ outputError: () => undefined });
  command.showHelpAfterError(false);
  command.exitOverride((err) => {
    throw err.exitCode === 0 ? err : usageError(command, err);
  });
  for (const sub of command.commands) routeCommanderErrors(sub);
}

/** The one line (and hint) a user sees for an error, and the exit code it deserves (docs/errors.md). */
export function reportError(err: unknown, stderr: { write(text: string): unknown } = process.stderr): number {
  const coded = err instanceof ServeError ? err : new ServeError('INTERNAL', err instanceof Error ? err.message : String(err));
  stderr.write(`swarmserve: ${coded.code}: ${coded.message}\n`);
  const hint = SUGGESTIONS[coded.code];
  if (hint !== undefined) stderr.write(`hint: ${hint}\n`);
  // A bug, not a user's mistake: its stack only on request.
  if (!(err instanceof ServeError) && process.env.SWARMSERVE_DEBUG === '1' && err instanceof Error) stderr.write(`${err.stack ?? ''}\n`);
  return exitCodeOf(coded.code);
}

/**
 * Runs the program; every error becomes one coded line `swarmserve: CODE: message` (a
 * ServeError's code, USAGE for commander's own, INTERNAL for anything else) and the exit
 * code of its code in the error table — never a stack trace.
 */
export async function runCli(program: Command): Promise<void> {
  routeCommanderErrors(program);
  try {
    await program.parseAsync(process.argv);
  } catch (err) {
    if (err instanceof CommanderError && err.exitCode === 0) return; // --help, --version
    process.exitCode = reportError(err);
  }
}
