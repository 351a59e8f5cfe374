// Runs the closed-loop generator in a separate Node process, so that its event loop and CPU
// are not those of the code being measured (e.g. a server or an embedded model in the
// benchmark's own process). Options go over IPC with `serialization: 'advanced'` (structured
// clone), which keeps `Uint8Array`/`Buffer` bodies as bytes; JSON would turn them into objects.

import { fork } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { LoadOptionsError, validateLoadOptions } from './validate.js';
import type { LoadOptions, LoadReport } from './contract.js';

/** Parent → child. */
export interface LoadRunMessage {
  type: 'run';
  options: LoadOptions;
}

/** Child → parent: exactly one, then the child exits. */
export type LoadResultMessage = { type: 'report'; report: LoadReport } | { type: 'error'; name: string; message: string; stack?: string };

export interface ChildRunOptions {
  /**
   * The compiled `load-process.js` to fork. Default: the one next to this module (right when
   * running from dist/). Code running from TypeScript sources (tests) must point at
   * `dist/src/loadtest/load-process.js`.
   */
  entry?: string;
  /** Kill the child and reject if no report by then. Default: warmup + duration + 15 s. */
  timeoutMs?: number;
  /** Abort: kills the child and rejects with `signal.reason`. */
  signal?: AbortSignal;
  /** Node flags for the child. Default none (the parent's, e.g. a test runner's loaders, are not inherited). */
  execArgv?: string[];
}

/** After the report arrives, how long the child gets to exit on its own before it is killed. */
const EXIT_GRACE_MS = 2_000;
const STARTUP_AND_SHUTDOWN_MARGIN_MS = 15_000;

export function defaultLoadProcessEntry(): string {
  return fileURLToPath(new URL('./load-process.js', import.meta.url));
}

function isResultMessage(value: unknown): value is LoadResultMessage {
  if (typeof value !== 'object' || value === null) return false;
  const { type } = value as { type?: unknown };
  return type === 'report' || type === 'error';
}

function errorFromChild(msg: Extract<LoadResultMessage, { type: 'error' }>): Error {
  const err = msg.name === 'LoadOptionsError' ? new LoadOptionsError(msg.message) : new Error(`Load process failed: ${msg.message}`);
  if (msg.name !== 'LoadOptionsError' && msg.stack !== undefined) err.stack = `${err.name}: ${err.message}\n--- in the load process ---\n${msg.stack}`;
  return err;
}

/**
 * Forks a Node process that runs `runClosedLoop(options)` and resolves with its report once the
 * child has exited. On any failure (bad options, child error or crash, timeout, abort) the child
 * is killed and the promise rejects.
 */
export async function runLoadInChildProcess(options: LoadOptions, runOptions: ChildRunOptions = {}): Promise<LoadReport> {
  validateLoadOptions(options); // fail fast, with the same message the child would give
  runOptions.signal?.throwIfAborted();
  const entry = runOptions.entry ?? defaultLoadProcessEntry();
  if (!existsSync(entry)) {
    throw new Error(`Load process entry not found: ${entry} (build it with \`npm run build\`, or pass { entry }).`);
  }
  const timeoutMs = runOptions.timeoutMs ?? options.warmupMs + options.durationMs + STARTUP_AND_SHUTDOWN_MARGIN_MS;
  if (!Number.isFinite(timeoutMs) || timeoutMs <= 0) throw new LoadOptionsError(`timeoutMs must be a finite number > 0, got ${timeoutMs}.`);

  const child: ChildProcess = fork(entry, [], {
    serialization: 'advanced',
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    execArgv: runOptions.execArgv ?? [],
  });
  const pid = child.pid ?? 'unknown';

  return new Promise<LoadReport>((resolve, reject) => {
    let settled = false;
    let report: LoadReport | undefined;
    let exitTimer: NodeJS.Timeout | undefined;

    const cleanup = (): void => {
      clearTimeout(timer);
      clearTimeout(exitTimer);
      runOptions.signal?.removeEventListener('abort', onAbort);
      child.removeAllListeners();
    };
    const kill = (): void => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    };
    const fail = (err: unknown): void => {
      if (settled) return;
      settled = true;
      cleanup();
      kill();
      reject(err instanceof Error ? err : new Error(String(err)));
    };
    const succeed = (value: LoadReport): void => {
      if (settled) return;
      settled = true;
      cleanup();
      resolve(value);
    };
    const onAbort = (): void => fail(runOptions.signal?.reason);

    const timer = setTimeout(() => {
      fail(new Error(`Load process (pid ${pid}) gave no report within ${timeoutMs} ms; killed it.`));
    }, timeoutMs);
    runOptions.signal?.addEventListener('abort', onAbort, { once: true });

    child.on('error', (err) => fail(new Error(`Load process (pid ${pid}) failed: ${err.message}`, { cause: err })));
    // 'close' (not 'exit'): by then every IPC message the child sent has been delivered.
    child.on('close', (code, signal) => {
      if (report !== undefined) succeed(report);
      else fail(new Error(`Load process (pid ${pid}) exited (${signal ?? `code ${code}`}) without a report.`));
    });
    child.on('message', (msg: unknown) => {
      if (!isResultMessage(msg)) {
        fail(new Error(`Load process (pid ${pid}) sent an unexpected message; killed it.`));
      } else if (msg.type === 'error') {
        fail(errorFromChild(msg));
      } else if (report === undefined) {
        report = msg.report;
        clearTimeout(timer);
        // It exits by itself once the report is sent; don't wait on a stuck one for ever.
        exitTimer = setTimeout(() => {
          kill();
          succeed(msg.report);
        }, EXIT_GRACE_MS);
      }
    });

    const run: LoadRunMessage = { type: 'run', options };
    child.send(run, (err) => {
      if (err) fail(new Error(`Could not send the options to the load process (pid ${pid}): ${err.message}`, { cause: err }));
    });
  });
}
