// Entry point of the load-generator child process (forked by `runLoadInChildProcess`): waits
// for one `run` message, runs the closed loop, sends back one report (or error), and exits.
// If the parent goes away, the run is aborted and the process exits.

import { runClosedLoop } from './closed-loop.js';
import type { LoadResultMessage, LoadRunMessage } from './child.js';

function isRunMessage(value: unknown): value is LoadRunMessage {
  return typeof value === 'object' && value !== null && (value as { type?: unknown }).type === 'run';
}

function reply(message: LoadResultMessage, exitCode: number): void {
  if (process.send === undefined || !process.connected) {
    process.exit(exitCode);
  }
  process.send(message, undefined, {}, () => process.exit(exitCode));
}

async function handle(message: unknown, signal: AbortSignal): Promise<void> {
  if (!isRunMessage(message)) {
    reply({ type: 'error', name: 'Error', message: 'expected a { type: "run", options } message' }, 2);
    return;
  }
  try {
    const report = await runClosedLoop(message.options, signal);
    reply({ type: 'report', report }, 0);
  } catch (err) {
    const e = err instanceof Error ? err : new Error(String(err));
    reply({ type: 'error', name: e.name, message: e.message, ...(e.stack === undefined ? {} : { stack: e.stack }) }, 1);
  }
}

if (process.send === undefined) {
  process.stderr.write('load-process: must be started by runLoadInChildProcess (child_process.fork with an IPC channel).\n');
  process.exit(2);
}

const controller = new AbortController();
process.once('disconnect', () => {
  controller.abort(new Error('the parent process disconnected'));
  // Give the aborted run a moment to close its sockets, then go regardless.
  setTimeout(() => process.exit(1), 500).unref();
});
process.once('message', (message: unknown) => {
  handle(message, controller.signal).catch((err: unknown) => {
    process.stderr.write(`load-process: ${String(err)}\n`);
    process.exit(1);
  });
});
