// The stats store of embedded mode: the one process's samples, in memory, stamped with its
// own clock. Same contract as the Redis store, so the dashboard reads both alike.
import { DEFAULT_STATS_HISTORY_S, sourceOf, type StampedSample, type StatsRead, type StatsSample, type StatsStore } from './contract.js';

export class MemoryStatsStore implements StatsStore {
  private readonly sources = new Map<string, StampedSample[]>();

  private constructor(
    private readonly historyS: number,
    private readonly now: () => number,
  ) {}

  static create(options: { historyS?: number; now?: () => number } = {}): Promise<MemoryStatsStore> {
    return Promise.resolve(new MemoryStatsStore(options.historyS ?? DEFAULT_STATS_HISTORY_S, options.now ?? Date.now));
  }

  publish(sample: StatsSample): Promise<boolean> {
    if (this.historyS === 0) return Promise.resolve(false);
    const source = sourceOf(sample);
    const list = this.sources.get(source) ?? [];
    this.sources.set(source, list);
    // Strictly increasing stamps per source, as Redis stream ids are.
    const at = Math.max(this.now(), (list.at(-1)?.at ?? 0) + 1);
    list.push({ at, source, sample });
    // Trimmed in chunks: one splice per 64 samples instead of a shift per sample.
    if (list.length > this.historyS + 64) list.splice(0, list.length - this.historyS);
    return Promise.resolve(true);
  }

  read(sinceMs: number, limit = Number.MAX_SAFE_INTEGER): Promise<StatsRead> {
    let now = this.now();
    const samples: StampedSample[] = [];
    for (const [source, list] of this.sources) {
      // A source silent for a whole history is forgotten.
      if ((list.at(-1)?.at ?? 0) < now - this.historyS * 1000) {
        this.sources.delete(source);
        continue;
      }
      let first = list.length;
      while (first > 0 && list[first - 1]!.at > sinceMs) first--;
      samples.push(...list.slice(Math.max(first, list.length - limit)));
      // Stamps are made strictly increasing, so one may run a millisecond ahead of the clock.
      now = Math.max(now, list.at(-1)?.at ?? 0);
    }
    return Promise.resolve({ now, samples });
  }

  close(): Promise<void> {
    this.sources.clear();
    return Promise.resolve();
  }
}
