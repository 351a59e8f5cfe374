// Phase-locked CPU of a process: how its CPU use is spread over the second of the host's
// clock, averaged over many seconds. Work a process does at a fixed point of every second
// (a publisher firing just after each second begins, a reader a third into it) stands out of this
// profile however busy and noisy the rest of its work is: that work has no phase, and its
// noise averages out over the seconds (synchronous averaging, as a lock-in amplifier does).
// Used by bench:dashboard to resolve a cost of a few ms per second in a process that spends
// ~600 ms per second serving load, where totals from round to round move by tens of ms.
//
// CPU time from /proc/<pid>/task/*/schedstat (the first field: ns on a CPU, per thread),
// read every few ms; each interval's CPU is spread over the phase bins it covers. Each whole
// second is one trial: its excess in a window of the second over its own mean; the trials are
// averaged with the tails trimmed (a collection landing in the window makes one second an
// outlier; in both sides compared alike).

import { readFileSync, readdirSync } from 'node:fs';

/** ns on a CPU of all threads of a process (undefined if it is gone, or not Linux). */
export function threadsCpuNs(pid: number): number | undefined {
  try {
    let sum = 0;
    for (const tid of readdirSync(`/proc/${pid}/task`)) {
      try {
        sum += Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ')[0]);
      } catch {
        // A thread that ended between the listing and the read.
      }
    }
    return sum;
  } catch {
    return undefined;
  }
}

/** CPU per phase bin of the host clock's second, for each whole second sampled. */
export interface PhaseProfile {
  binMs: number;
  /** Per whole second of the host clock: CPU ms spent in each bin of it. */
  seconds: number[][];
  samples: number;
}

/** Samples a process's CPU every `everyMs` until stop(), which folds the samples into a profile. */
export class PhaseSampler {
  private readonly samples: Array<[number, number]> = [];
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly pid: number,
    everyMs = 5,
  ) {
    this.take();
    this.timer = setInterval(() => this.take(), everyMs);
  }

  private take(): void {
    const cpu = threadsCpuNs(this.pid);
    // Wall-clock ms with sub-ms precision: the processes schedule on Date.now() of the same host.
    if (cpu !== undefined) this.samples.push([performance.timeOrigin + performance.now(), cpu]);
  }

  stop(binMs = 20): PhaseProfile {
    clearInterval(this.timer);
    this.take();
    return fold(this.samples, binMs);
  }
}

function fold(samples: ReadonlyArray<[number, number]>, binMs: number): PhaseProfile {
  const n = Math.round(1000 / binMs);
  const bySecond = new Map<number, number[]>();
  for (let i = 1; i < samples.length; i++) {
    const [a, c0] = samples[i - 1] as [number, number];
    const [b, c1] = samples[i] as [number, number];
    if (b <= a) continue;
    const cpuMs = (c1 - c0) / 1e6;
    // Spread evenly over the interval: each bin it crosses gets its share.
    for (let x = a; x < b;) {
      const next = Math.min(b, (Math.floor(x / binMs) + 1) * binMs);
      const second = Math.floor(x / 1000);
      let bins = bySecond.get(second);
      if (bins === undefined) {
        bins = new Array<number>(n).fill(0);
        bySecond.set(second, bins);
      }
      const bin = Math.min(n - 1, Math.floor((x - second * 1000) / binMs));
      bins[bin] = (bins[bin] ?? 0) + (cpuMs * (next - x)) / (b - a);
      x = next;
    }
  }
  // Only the seconds sampled from their start to their end.
  const first = Math.ceil((samples[0]?.[0] ?? 0) / 1000);
  const last = Math.floor((samples[samples.length - 1]?.[0] ?? 0) / 1000);
  const seconds = [...bySecond.entries()].filter(([s]) => s >= first && s < last).map(([, bins]) => bins.map((v) => Math.round(v * 1000) / 1000));
  return { binMs, seconds, samples: samples.length };
}

/**
 * One second's phase-locked CPU in a window of the second [fromMs, toMs): what its bins there
 * hold above that second's mean bin, scaled for the share of the mean the window's own excess
 * raised (so a cost confined to the window is returned whole), ms.
 */
export function windowExcess(bins: readonly number[], binMs: number, fromMs: number, toMs: number): number {
  const n = bins.length;
  const mean = bins.reduce((a, b) => a + b, 0) / n;
  let excess = 0;
  let width = 0;
  bins.forEach((v, i) => {
    if (i * binMs >= fromMs && i * binMs < toMs) {
      excess += v - mean;
      width++;
    }
  });
  return width >= n ? 0 : excess / (1 - width / n);
}

/** Trimmed mean (γ off each end) and its standard error (from the winsorized variance). */
export function trimmedMean(values: readonly number[], gamma = 0.1): { mean: number; se: number; n: number } {
  const n = values.length;
  if (n === 0) return { mean: Number.NaN, se: Number.NaN, n };
  const sorted = [...values].sort((a, b) => a - b);
  const k = Math.floor(gamma * n);
  const kept = sorted.slice(k, n - k);
  const mean = kept.reduce((a, b) => a + b, 0) / kept.length;
  const lo = sorted[k] as number;
  const hi = sorted[n - k - 1] as number;
  const winsorized = sorted.map((v) => Math.min(hi, Math.max(lo, v)));
  const wMean = winsorized.reduce((a, b) => a + b, 0) / n;
  const wVar = n < 2 ? Number.NaN : winsorized.reduce((a, v) => a + (v - wMean) ** 2, 0) / (n - 1);
  return { mean, se: Math.sqrt(wVar) / ((1 - 2 * gamma) * Math.sqrt(n)), n };
}
