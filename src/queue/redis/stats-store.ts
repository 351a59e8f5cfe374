// The stats store of distributed mode: one capped stream per process in Redis, stamped by
// Redis's clock, and an index of the sources, so any gateway reads every process's samples.
import { DEFAULT_STATS_HISTORY_S, sourceOf, type StampedSample, type StatsRead, type StatsSample, type StatsStore } from '../../stats/contract.js';
import { RedisKeys } from './keys.js';
import { RedisLink, fieldMap, str } from './link.js';
import type { RedisConnectionOptions } from './options.js';
import { STATS_PUBLISH, STATS_READ } from './scripts.js';

export interface RedisStatsOptions extends RedisConnectionOptions {
  /** Samples each source keeps (one a second); 0: publish nothing. */
  historyS?: number;
}

/** The entry id's time part: Redis's clock when the sample was added. */
const stampOf = (entryId: string): number => Number(entryId.slice(0, entryId.indexOf('-')));

export class RedisStatsStore implements StatsStore {
  private readonly keys: RedisKeys;
  private readonly historyS: number;

  private constructor(
    options: RedisStatsOptions,
    private readonly link: RedisLink,
  ) {
    this.keys = new RedisKeys(options.prefix);
    this.historyS = options.historyS ?? DEFAULT_STATS_HISTORY_S;
  }

  static async create(options: RedisStatsOptions): Promise<RedisStatsStore> {
    return new RedisStatsStore(options, await RedisLink.connect(options, 'swarmserve-stats'));
  }

  async publish(sample: StatsSample): Promise<boolean> {
    if (this.historyS === 0) return false;
    const source = sourceOf(sample);
    const added = await this.link.eval(STATS_PUBLISH, [this.keys.stats(source), this.keys.statsIndex], [source, String(this.historyS), JSON.stringify(sample)]);
    return Number(added) === 1;
  }

  async read(sinceMs: number, limit = this.historyS + 200): Promise<StatsRead> {
    const reply = (await this.link.eval(
      STATS_READ,
      [this.keys.statsIndex],
      [String(Math.floor(sinceMs)), String(limit), this.keys.statsStreamPrefix],
    )) as unknown[];
    const samples: StampedSample[] = [];
    for (const row of reply.slice(1) as Array<[unknown, Array<[unknown, unknown]>]>) {
      const source = str(row[0]);
      // Newest first from XREVRANGE: walked backwards, so each source comes oldest first.
      for (let i = row[1].length - 1; i >= 0; i--) {
        const [id, flat] = row[1][i]!;
        const text = fieldMap(flat).get('s');
        if (text === undefined) continue;
        try {
          samples.push({ at: stampOf(str(id)), source, sample: JSON.parse(text.toString('utf8')) as StatsSample });
        } catch {
          // A sample that is not JSON (another writer under our prefix) is skipped, not fatal.
        }
      }
    }
    return { now: Number(reply[0]), samples };
  }

  async close(): Promise<void> {
    await this.link.close();
  }
}
