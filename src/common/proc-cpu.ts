// CPU accounting from /proc (Linux), for the benchmarks and the experiment: how many cores the machine as a
// whole, and each process of interest, kept busy over a measured window. Used to tell whether
// a side was starved (e.g. the server sharing 2 cores with the load generator, or with other
// work on the machine). Everything returns `undefined` where /proc is not available.

import { execFileSync } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';

let clockTicks: number | undefined;

/** Kernel clock ticks per second (USER_HZ), the unit of /proc jiffies. */
function ticksPerSecond(): number {
  if (clockTicks === undefined) {
    try {
      const value = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim());
      clockTicks = Number.isFinite(value) && value > 0 ? value : 100;
    } catch {
      clockTicks = 100;
    }
  }
  return clockTicks;
}

interface MachineTicks {
  busy: number;
  total: number;
}

function machineTicks(): MachineTicks | undefined {
  try {
    const line = readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '';
    // cpu user nice system idle iowait irq softirq steal guest guest_nice (guest is inside user)
    const [user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0, steal = 0] = line.trim().split(/\s+/).slice(1).map(Number);
    const busy = user + nice + system + irq + softirq + steal;
    return { busy, total: busy + idle + iowait };
  } catch {
    return undefined;
  }
}

/** utime + stime of one process (all its threads), in ticks; with `reaped`, also its children it has waited for. */
function processTicks(pid: number, reaped = false): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // Fields after "(comm) ": state=3 … utime=14, stime=15, cutime=16, cstime=17 (1-based) → indices 11-14.
    const ticks = (reaped ? [11, 12, 13, 14] : [11, 12]).map((i) => Number(fields[i]));
    return ticks.every(Number.isFinite) ? ticks.reduce((a, b) => a + b, 0) : undefined;
  } catch {
    return undefined;
  }
}

/** Direct children of `pid` (over all its threads). */
export function childPids(pid: number = process.pid): number[] {
  try {
    const pids = new Set<number>();
    for (const tid of readdirSync(`/proc/${pid}/task`)) {
      const text = readFileSync(`/proc/${pid}/task/${tid}/children`, 'utf8').trim();
      for (const p of text.split(/\s+/)) if (p !== '') pids.add(Number(p));
    }
    return [...pids];
  } catch {
    return [];
  }
}

export interface CpuSample {
  at: number;
  machine: MachineTicks | undefined;
  processes: Map<string, number | undefined>;
}

/**
 * Samples the machine and the named processes now. `reapedChildren`: count, in each
 * process, its children that have exited and been waited for (short-lived helpers a
 * long-lived process starts, such as the health checks a containerd shim runs).
 */
export function sampleCpu(processes: Record<string, number | undefined>, o: { reapedChildren?: boolean } = {}): CpuSample {
  const map = new Map<string, number | undefined>();
  for (const [name, pid] of Object.entries(processes)) map.set(name, pid === undefined ? undefined : processTicks(pid, o.reapedChildren));
  return { at: performance.now(), machine: machineTicks(), processes: map };
}

/** Cores kept busy between two samples, per process and for the machine; `other` = machine − named. */
export interface CpuUsage {
  windowS: number;
  machineCores: number;
  /** Busy share of the whole machine, 0..1. */
  machineBusyFraction: number;
  processCores: Record<string, number>;
  /** Busy cores not accounted for by the named processes (the benchmark driver, other work on the machine). */
  otherCores: number;
}

export function cpuUsage(start: CpuSample, end: CpuSample): CpuUsage | undefined {
  if (start.machine === undefined || end.machine === undefined) return undefined;
  const hz = ticksPerSecond();
  const windowS = (end.at - start.at) / 1000;
  if (windowS <= 0) return undefined;
  const busy = end.machine.busy - start.machine.busy;
  const total = end.machine.total - start.machine.total;
  const processCores: Record<string, number> = {};
  let named = 0;
  for (const [name, before] of start.processes) {
    const after = end.processes.get(name);
    if (before === undefined || after === undefined) continue;
    const cores = (after - before) / hz / windowS;
    processCores[name] = round2(cores);
    named += cores;
  }
  const machineCores = busy / hz / windowS;
  return {
    windowS: round2(windowS),
    machineCores: round2(machineCores),
    machineBusyFraction: total > 0 ? round2(busy / total) : 0,
    processCores,
    otherCores: round2(Math.max(0, machineCores - named)),
  };
}

/**
 * CPU milliseconds (utime + stime) each named process used between two samples, not rounded:
 * cpuUsage() rounds to 0.01 cores, 10 ms per second, too coarse for a cost of a few ms per second.
 * The kernel reports whole ticks (10 ms at USER_HZ 100), so each figure is within one tick.
 */
export function processCpuMs(start: CpuSample, end: CpuSample): Record<string, number> {
  const msPerTick = 1000 / ticksPerSecond();
  const out: Record<string, number> = {};
  for (const [name, before] of start.processes) {
    const after = end.processes.get(name);
    if (before !== undefined && after !== undefined) out[name] = (after - before) * msPerTick;
  }
  return out;
}

function round2(value: number): number {
  return Math.round(value * 100) / 100;
}
