// The worker registry on Redis: each worker writes a heartbeat (a hash that expires, and
// its id in a sorted set scored by Redis's own time), so gateways, dashboards and
// autoscalers see which workers are live without trusting the hosts' clocks.
import type { WorkerInfo, WorkerRegistry } from '../contract.js';
import type { WorkerSample } from '../../stats/contract.js';
import { DEFAULT_STATS_HISTORY_S } from '../../stats/contract.js';
import { RedisKeys } from './keys.js';
import { RedisLink, fieldMap, str } from './link.js';
import type { RedisRegistryOptions } from './options.js';
import { HEARTBEAT, LIVE_WORKERS } from './scripts.js';

export class RedisWorkerRegistry implements WorkerRegistry {
  private readonly keys: RedisKeys;

  private constructor(
    private readonly options: RedisRegistryOptions,
    private readonly link: RedisLink,
  ) {
    this.keys = new RedisKeys(options.prefix);
  }

  static async create(options: RedisRegistryOptions): Promise<RedisWorkerRegistry> {
    return new RedisWorkerRegistry(options, await RedisLink.connect(options, 'swarmserve-registry'));
  }

  async liveWorkers(): Promise<WorkerInfo[]> {
    const rows = (await this.link.eval(LIVE_WORKERS, [this.keys.workers], [String(this.options.expiryMs), this.keys.worker('')])) as Array<[unknown, unknown]>;
    return rows.map(([id, flat]) => {
      const fields = fieldMap(flat);
      const num = (name: string): number => Number(str(fields.get(name))) || 0;
      const keys = str(fields.get('keys'));
      return {
        id: str(id),
        host: str(fields.get('host')),
        pid: num('pid'),
        keys: keys === '' ? [] : keys.split(','),
        batches: num('batches'),
        items: num('items'),
        busyMs: num('busyMs'),
        startedAt: num('startedAt'),
        lastSeen: num('lastSeen'),
        rssBytes: num('rssBytes'),
        memoryLimitBytes: num('memoryLimitBytes'),
      };
    });
  }

  /**
   * Writes this worker's heartbeat; it expires after the registry's expiry unless renewed.
   * The same figures, as a stats sample, go to its stats stream for the dashboard (unless
   * the stats history is 0).
   */
  async beat(info: Omit<WorkerInfo, 'lastSeen'>): Promise<void> {
    const fields = [
      'id',
      info.id,
      'host',
      info.host,
      'pid',
      String(info.pid),
      'keys',
      info.keys.join(','),
      'batches',
      String(info.batches),
      'items',
      String(info.items),
      'busyMs',
      String(Math.round(info.busyMs)),
      'startedAt',
      String(info.startedAt),
      'rssBytes',
      String(info.rssBytes ?? 0),
      'memoryLimitBytes',
      String(info.memoryLimitBytes ?? 0),
    ];
    const history = this.options.statsHistoryS ?? DEFAULT_STATS_HISTORY_S;
    const sample: WorkerSample = {
      kind: 'worker',
      id: info.id,
      host: info.host,
      pid: info.pid,
      startedAt: info.startedAt,
      keys: info.keys,
      batches: info.batches,
      items: info.items,
      busyMs: Math.round(info.busyMs),
      rssBytes: info.rssBytes ?? 0,
      memoryLimitBytes: info.memoryLimitBytes ?? 0,
    };
    await this.link.eval(
      HEARTBEAT,
      [this.keys.worker(info.id), this.keys.workers, this.keys.stats(`worker:${info.id}`), this.keys.statsIndex],
      [info.id, String(this.options.expiryMs), String(history), history > 0 ? JSON.stringify(sample) : '', ...fields],
    );
  }

  /** Leaves the registry at once (clean shutdown), instead of expiring. */
  async remove(workerId: string): Promise<void> {
    await this.link.send(['DEL', this.keys.worker(workerId)]);
    await this.link.send(['ZREM', this.keys.workers, workerId]);
  }

  async close(): Promise<void> {
    await this.link.close();
  }
}
