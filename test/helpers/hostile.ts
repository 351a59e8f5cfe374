// What an attack costs the server under test when it runs in this process: its event loop's
// longest stall and its memory growth, watched while the attack runs.
import { monitorEventLoopDelay } from 'node:perf_hooks';

export interface AttackCost {
  /** The event loop's longest stall, ms (this process: the server runs in it). */
  maxDelayMs: number;
  /** Peak RSS over the baseline, bytes. */
  rssGrowth: number;
}

/** Watches this process's event loop and memory while `attack` runs; the server under test must run in this process. */
export async function costOf<T>(attack: () => Promise<T>): Promise<{ result: T; cost: AttackCost }> {
  global.gc?.();
  const baseline = process.memoryUsage().rss;
  let peak = baseline;
  const sampler = setInterval(() => {
    peak = Math.max(peak, process.memoryUsage().rss);
  }, 20);
  const delay = monitorEventLoopDelay({ resolution: 10 });
  delay.enable();
  try {
    const result = await attack();
    peak = Math.max(peak, process.memoryUsage().rss);
    return { result, cost: { maxDelayMs: delay.max / 1e6, rssGrowth: peak - baseline } };
  } finally {
    delay.disable();
    clearInterval(sampler);
  }
}
