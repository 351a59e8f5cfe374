// The frame the benchmark drivers (bench/embedded.ts, bench/distributed.ts) share: timed
// progress lines, duration knobs from the environment, waiting for a quiet machine before each
// run, measuring a disturbed run again while the time budget allows, applying closed-loop load
// with a snapshot at each edge of the measured window, and the main()/cleanup/signal/exit
// wiring (every process started through bench/processes.ts is killed however the driver ends).

import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { packageRoot } from '../src/config/paths.js';
import { runLoadInChildProcess } from '../src/loadtest/child.js';
import type { LoadOptions, LoadReport } from '../src/loadtest/contract.js';
import { childPids, cpuUsage, sampleCpu, type CpuUsage } from '../src/common/proc-cpu.js';
import { killAll, livePids } from './processes.js';

export const ROOT = packageRoot();
export const MAIN_JS = join(ROOT, 'dist', 'src', 'cli', 'main.js');

/** A run during which other work used more cores than this is "disturbed" and measured again if time allows. */
export const DISTURBED_CORES = 0.3;
/** Before each run, wait until the machine uses at most this many cores (other work), for at most QUIET_MAX_WAIT_MS. */
export const QUIET_CORES = 0.3;
export const QUIET_MAX_WAIT_MS = 15_000;
/** All waits for quiet together stay under this. */
export const QUIET_TOTAL_WAIT_MS = 30_000;
/** Server-side samples start this long after the load process is forked (its own start-up). */
export const LOAD_STARTUP_ALLOWANCE_MS = 250;

/** The driver's start: progress lines and time budgets count from here. */
export const T0 = performance.now();

export function progress(message: string): void {
  process.stdout.write(`[bench ${`${((performance.now() - T0) / 1000).toFixed(1)}s`.padStart(6)}] ${message}\n`);
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export function errorText(err: unknown): string {
  return err instanceof Error ? (err.stack ?? err.message) : String(err);
}

/** A duration knob: `name` from the environment, in ms, or `fallback` when unset. */
export function envMs(name: string, fallback: number): number {
  const raw = process.env[name];
  const value = raw === undefined || raw === '' ? fallback : Number(raw);
  if (!Number.isFinite(value) || value <= 0) throw new Error(`${name} must be a positive number of ms, got ${raw}`);
  return value;
}

// ---- a quiet machine ---------------------------------------------------------------------

let quietWaitLeftMs = QUIET_TOTAL_WAIT_MS;

/** Before a run: wait (at most QUIET_MAX_WAIT_MS, QUIET_TOTAL_WAIT_MS over the whole driver) until other work leaves the cores alone. */
export async function waitForQuiet(): Promise<void> {
  const started = performance.now();
  const deadline = started + Math.min(QUIET_MAX_WAIT_MS, quietWaitLeftMs);
  let announced = false;
  try {
    for (;;) {
      const a = sampleCpu({});
      await sleep(500);
      const usage = cpuUsage(a, sampleCpu({}));
      if (usage === undefined || usage.machineCores <= QUIET_CORES) {
        if (announced) progress(`machine quiet (${usage?.machineCores ?? '?'} cores busy)`);
        return;
      }
      if (performance.now() > deadline) {
        progress(`machine still busy (${usage.machineCores} cores used by other work) and the wait budget is spent: measuring anyway`);
        return;
      }
      if (!announced) progress(`waiting for the machine to go quiet: other work is using ${usage.machineCores} of ${availableParallelism()} cores`);
      announced = true;
    }
  } finally {
    quietWaitLeftMs = Math.max(0, quietWaitLeftMs - (performance.now() - started));
  }
}

// ---- measuring, and measuring again ------------------------------------------------------

/** What the drivers' run records have in common. */
export interface Measured {
  id: string;
  /** 1 for the first measurement, 2 for the re-run of a disturbed one. */
  attempt: number;
  /** Other work on the machine used more than DISTURBED_CORES during the window. */
  disturbed?: boolean;
  cpu?: CpuUsage;
  error?: string;
}

/** Flags the record as disturbed if other work used more than DISTURBED_CORES during its window. */
export function checkDisturbed(record: Measured): void {
  if (record.cpu !== undefined && record.cpu.otherCores > DISTURBED_CORES) record.disturbed = true;
}

/** The runs of one driver, measured one after the other within a time budget. */
export class Runs<R extends Measured> {
  /** The runs kept for the report, in order. */
  readonly kept: R[] = [];
  /** Disturbed measurements that were measured again: the more disturbed attempt of each (kept in the JSON only). */
  readonly discarded: R[] = [];
  /** Time the runs not yet measured will take (see plan()): what a re-run must leave room for. */
  private plannedLeftMs = 0;

  /** No re-run starts that would end past `budgetMs` from the driver's start. */
  constructor(private readonly budgetMs: number) {}

  /** Announces how long the runs still to come will take; each measure() then takes its estimate off. */
  plan(ms: number): void {
    this.plannedLeftMs = ms;
  }

  find(id: string): R | undefined {
    return this.kept.find((r) => r.id === id);
  }

  /**
   * Waits for a quiet machine and measures a run; if other work disturbed it and the budget
   * allows, measures it once more and keeps the less disturbed of the two attempts.
   */
  async measure(estimateMs: number, run: (attempt: number) => Promise<R>): Promise<R> {
    await waitForQuiet();
    let record = await run(1);
    this.plannedLeftMs = Math.max(0, this.plannedLeftMs - estimateMs);
    if (record.disturbed === true) {
      if (performance.now() - T0 + estimateMs + this.plannedLeftMs + QUIET_MAX_WAIT_MS / 2 < this.budgetMs) {
        progress(`${record.id}: other work used ${record.cpu?.otherCores} cores during the window — measuring it again`);
        await waitForQuiet();
        const again = await run(2);
        const cleaner = again.error === undefined && (again.cpu?.otherCores ?? Infinity) <= (record.cpu?.otherCores ?? Infinity);
        this.discarded.push(cleaner ? record : again);
        if (cleaner) record = again;
      } else {
        progress(`${record.id}: other work used ${record.cpu?.otherCores} cores during the window; no time left in the budget to measure it again`);
      }
    }
    this.kept.push(record);
    return record;
  }
}

// ---- load with a measured window ---------------------------------------------------------

export interface LoadWindow<S> {
  report: LoadReport;
  /** Snapshots at the opening and the close of the measured window (undefined if not taken). */
  before: S | undefined;
  after: S | undefined;
}

/**
 * Applies closed-loop load from a process of its own (src/loadtest) and calls `snapshot` as the
 * measured window opens (after the warm-up and the load process's start-up) and as it closes.
 * `snapshot` is given the load generator's pid: the driver's one child that bench/processes.ts
 * did not spawn.
 */
export async function loadWithWindow<S>(options: LoadOptions, snapshot: (loadgenPid: number | undefined) => Promise<S>): Promise<LoadWindow<S>> {
  let before: S | undefined;
  let after: S | undefined;
  const take = (): Promise<S> => {
    const spawned = new Set(livePids());
    return snapshot(childPids().find((p) => !spawned.has(p)));
  };
  const snapshots: Promise<void>[] = [];
  const startTimer = setTimeout(() => snapshots.push(take().then((s) => void (before = s))), options.warmupMs + LOAD_STARTUP_ALLOWANCE_MS);
  const endTimer = setTimeout(() => snapshots.push(take().then((s) => void (after = s))), options.warmupMs + options.durationMs);
  try {
    const report = await runLoadInChildProcess(options);
    await Promise.all(snapshots);
    return { report, before, after };
  } finally {
    clearTimeout(startTimer);
    clearTimeout(endTimer);
  }
}

// ---- main --------------------------------------------------------------------------------

/**
 * Runs a driver: the exit code is main's; every process spawned through bench/processes.ts is
 * killed (and `cleanup` called) at exit, on SIGINT/SIGTERM (exit 130) and if main throws (exit 1).
 */
export function runDriver(name: string, main: () => Promise<number>, cleanup: () => void = () => {}): void {
  const cleanUp = (): void => {
    killAll();
    cleanup();
  };
  process.once('exit', cleanUp);
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      cleanUp();
      process.exit(130);
    });
  }
  main().then(
    (code) => {
      process.exitCode = code;
      // Anything left holding the loop open (keep-alive sockets) must not keep the process alive.
      setTimeout(() => process.exit(code), 2_000).unref();
    },
    (err: unknown) => {
      process.stderr.write(`${name} failed: ${errorText(err)}\n`);
      cleanUp();
      process.exit(1);
    },
  );
}
