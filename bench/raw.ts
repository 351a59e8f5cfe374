// The "raw" side of the embedded benchmark: the same decode and session code as the server,
// with no HTTP, no queue and no gateway, in its own Node process (see raw-runner.ts), so it
// shares no event loop with the benchmark driver. This module is the parent's side: the
// message types, `runRawInChildProcess` and `runCompareInChildProcess` (two versions of a
// model, inference only, in interleaved rounds: raw-compare.ts).

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
  /** The version to load (always explicit: a model's default version may change under the benchmark). */
  version: string;
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

export interface CompareOptions {
  modelsDir: string;
  model: string;
  /** [baseline, candidate], e.g. ['1', '2'] for FP32 then INT8: the ratio is candidate / baseline. */
  versions: readonly [string, string];
  /** JPEG files decoded once into the one input buffer both sessions run. */
  imagePaths: string[];
  batchSize: number;
  intraOpThreads: number;
  maxPixels: number;
  /** Alternating warm-up before the measured rounds. */
  warmupMs: number;
  /** Each round runs both versions for `roundMs` each, in ABBA order over the rounds. */
  rounds: number;
  roundMs: number;
}

export interface CompareSide {
  version: string;
  images: number;
  batches: number;
  /** Images / wall time of this version's rounds. */
  throughputIps: number;
  /** Per image: each session.run (as timed on the session thread) / batch size. */
  msPerImage: LatencySummaryMs;
  /** Throughput of each of its rounds, in order. */
  roundIps: number[];
}

export interface CompareReport {
  model: string;
  batchSize: number;
  intraOpThreads: number;
  interOpThreads: number;
  rounds: number;
  roundMs: number;
  /** Measured window (all rounds), ms. */
  durationMs: number;
  baseline: CompareSide;
  candidate: CompareSide;
  /** candidate / baseline throughput over all rounds. */
  ratio: number;
  /** The same ratio per round (min / median / max): how much the machine moved during the run. */
  roundRatio: { min: number; median: number; max: number };
  /** CPU of the whole runner process in the window, in cores. */
  cpuCores: number;
}

/** Parent → child. */
export type RawRunMessage = { type: 'run'; options: RawRunOptions } | { type: 'compare'; options: CompareOptions };

/** Child → parent: `window` marks (for CPU sampling), then one `report`, `compare-report` or `error`. */
export type RawResultMessage =
  | { type: 'window'; edge: 'start' | 'end' }
  | { type: 'report'; report: RawReport }
  | { type: 'compare-report'; report: CompareReport }
  | { type: 'error'; message: string; stack?: string };

export function isRawResultMessage(value: unknown): value is RawResultMessage {
  if (typeof value !== 'object' || value === null) return false;
  const { type } = value as { type?: unknown };
  return type === 'window' || type === 'report' || type === 'compare-report' || type === 'error';
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
  return inChildProcess({ type: 'run', options }, options.warmupMs + options.durationMs, hooks, (msg) => (msg.type === 'report' ? msg.report : undefined));
}

/** Forks raw-runner.js for one interleaved comparison of two versions (raw-compare.ts). */
export function runCompareInChildProcess(options: CompareOptions, hooks: RawChildHooks = {}): Promise<CompareReport> {
  return inChildProcess({ type: 'compare', options }, options.warmupMs + 2 * options.rounds * options.roundMs, hooks, (msg) =>
    msg.type === 'compare-report' ? msg.report : undefined,
  );
}

function inChildProcess<R>(message: RawRunMessage, expectedMs: number, hooks: RawChildHooks, pick: (msg: RawResultMessage) => R | undefined): Promise<R> {
  const entry = fileURLToPath(new URL('./raw-runner.js', import.meta.url));
  if (!existsSync(entry)) return Promise.reject(new Error(`${entry} not found: run \`npm run build\` first.`));
  const child = fork(entry, [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], execArgv: [] });
  if (child.pid !== undefined) hooks.onStart?.(child.pid);
  return new Promise<R>((resolve, reject) => {
    let report: R | undefined;
    let failure: Error | undefined;
    const timer = setTimeout(() => {
      failure = new Error(`raw runner (pid ${child.pid ?? '?'}) gave no report within ${expectedMs + MARGIN_MS} ms; killed it.`);
      child.kill('SIGKILL');
    }, expectedMs + MARGIN_MS);
    child.on('message', (msg: unknown) => {
      if (!isRawResultMessage(msg)) return;
      if (msg.type === 'window') hooks.onWindow?.(msg.edge);
      else if (msg.type !== 'error') report = pick(msg) ?? report;
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
    child.send(message);
  });
}
