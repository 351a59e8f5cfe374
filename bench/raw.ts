// The "raw" side of the embedded benchmark: the same decode and session code as the server,
// with no HTTP, no queue and no gateway, in its own Node process (see raw-runner.ts), so it
// shares no event loop with the benchmark driver. This module is the parent's side: the
// message types and `runRawInChildProcess`.

import { fork } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { LatencySummaryMs } from '../src/loadtest/contract.js';

export type RawMode = 'throughput' | 'sequential';

export interface RawRunOptions {
  /**
   * throughput: batches of `maxBatchSize` images, decode of the next batch overlapping the
   * inference of the current one (as BatchWorker does under load).
   * sequential: one image at a time, decode + fill + batch-1 `session.run`.
   */
  mode: RawMode;
  modelsDir: string;
  model: string;
  /** JPEG files, read into memory before anything is measured; used round-robin. */
  imagePaths: string[];
  /** Batch size asked for (the model config's, or the override); capped by the graph's batch dim. */
  maxBatchSize: number;
  intraOpThreads: number;
  maxPixels: number;
  warmupMs: number;
  durationMs: number;
}

export interface RawReport {
  mode: RawMode;
  model: string;
  version: string;
  /** Effective batch size (throughput mode) — min(asked, graph limit); 1 in sequential mode. */
  batchSize: number;
  intraOpThreads: number;
  interOpThreads: number;
  /** Measured window actually covered, ms. */
  durationMs: number;
  /** Images whose batch completed inside the window. */
  images: number;
  batches: number;
  throughputIps: number;
  /**
   * Per image, from the start of its decode to the end of its batch's `session.run`
   * (sequential mode: decode + fill + run of that one image).
   */
  latencyMs: LatencySummaryMs;
  /** Sequential mode only: decode (sharp) and decode + fill, per image. */
  decodeMs?: LatencySummaryMs;
  decodeFillMs?: LatencySummaryMs;
  /** Per `session.run`, as timed on the session thread. */
  inferenceMs: LatencySummaryMs;
  /** Sum of `session.run` time / window: how busy the session thread was. */
  inferenceBusyFraction: number;
  /** CPU of the whole runner process (all threads) in the window, in cores. */
  cpuCores: number;
}

/** Parent → child. */
export interface RawRunMessage {
  type: 'run';
  options: RawRunOptions;
}

/** Child → parent: `window` marks (for CPU sampling), then one `report` or `error`. */
export type RawResultMessage =
  | { type: 'window'; edge: 'start' | 'end' }
  | { type: 'report'; report: RawReport }
  | { type: 'error'; message: string; stack?: string };

export function isRawResultMessage(value: unknown): value is RawResultMessage {
  if (typeof value !== 'object' || value === null) return false;
  const { type } = value as { type?: unknown };
  return type === 'window' || type === 'report' || type === 'error';
}

export interface RawChildHooks {
  /** Called with the child's pid as soon as it is forked. */
  onStart?: (pid: number) => void;
  /** Called when the child's measured window starts and ends. */
  onWindow?: (edge: 'start' | 'end') => void;
}

const MARGIN_MS = 90_000;

/** Forks raw-runner.js, runs one measurement, resolves with its report once the child has exited. */
export function runRawInChildProcess(options: RawRunOptions, hooks: RawChildHooks = {}): Promise<RawReport> {
  const entry = fileURLToPath(new URL('./raw-runner.js', import.meta.url));
  if (!existsSync(entry)) return Promise.reject(new Error(`${entry} not found: run \`npm run build\` first.`));
  const child = fork(entry, [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], execArgv: [] });
  if (child.pid !== undefined) hooks.onStart?.(child.pid);
  return new Promise<RawReport>((resolve, reject) => {
    let report: RawReport | undefined;
    let failure: Error | undefined;
    const timer = setTimeout(() => {
      failure = new Error(`raw runner (pid ${child.pid ?? '?'}) gave no report within ${options.warmupMs + options.durationMs + MARGIN_MS} ms; killed it.`);
      child.kill('SIGKILL');
    }, options.warmupMs + options.durationMs + MARGIN_MS);
    child.on('message', (msg: unknown) => {
      if (!isRawResultMessage(msg)) return;
      if (msg.type === 'window') hooks.onWindow?.(msg.edge);
      else if (msg.type === 'report') report = msg.report;
      else {
        failure = new Error(`raw runner failed: ${msg.message}`);
        if (msg.stack !== undefined) failure.stack = `${failure.message}\n--- in the raw runner ---\n${msg.stack}`;
      }
    });
    child.on('error', (err) => {
      failure ??= err;
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (failure !== undefined) reject(failure);
      else if (report !== undefined) resolve(report);
      else reject(new Error(`raw runner exited (${signal ?? `code ${code}`}) without a report.`));
    });
    const run: RawRunMessage = { type: 'run', options };
    child.send(run);
  });
}
