// What an autoscaler reads of Redis each tick for one worker group: each of its queues
// (QUEUE_SIGNALS, in Redis's clock) and the live workers serving any of them (the registry's
// heartbeats, which carry each worker's items and busy time); and the lease that lets only
// one controller act on the group.
import type { WorkerInfo } from '../contract.js';
import { RedisKeys } from './keys.js';
import { RedisLease } from './lease.js';
import { RedisLink } from './link.js';
import type { RedisRegistryOptions } from './options.js';
import { readQueue, type QueueReading } from './queue-signals.js';
import { RedisWorkerRegistry } from './registry.js';

export interface GroupQueuesReading {
  /** Redis TIME at the reading, ms. */
  at: number;
  queues: Map<string, QueueReading>;
  workers: WorkerInfo[];
}

export class RedisGroupReader {
  private readonly keys: RedisKeys;

  private constructor(
    options: RedisRegistryOptions,
    private readonly link: RedisLink,
    private readonly registry: RedisWorkerRegistry,
  ) {
    this.keys = new RedisKeys(options.prefix);
  }

  static async create(options: RedisRegistryOptions): Promise<RedisGroupReader> {
    const link = await RedisLink.connect(options, 'swarmserve-autoscale');
    try {
      return new RedisGroupReader(options, link, await RedisWorkerRegistry.create(options));
    } catch (err) {
      await link.close();
      throw err;
    }
  }

  get isConnected(): boolean {
    return this.link.isReady;
  }

  /** The queues of these keys (model:version) and the live workers serving any of them. */
  async read(queueKeys: readonly string[]): Promise<GroupQueuesReading> {
    const [readings, live] = await Promise.all([Promise.all(queueKeys.map((k) => readQueue(this.link, this.keys, k))), this.registry.liveWorkers()]);
    const queues = new Map(queueKeys.map((k, i) => [k, readings[i]!]));
    const workers = live.filter((w) => w.keys.some((k) => queueKeys.includes(k)));
    return { at: Math.max(...readings.map((r) => r.at)), queues, workers };
  }

  /** The lease of one worker group (only its holder scales it). */
  lease(group: string, holder: string, ttlMs: number): RedisLease {
    return new RedisLease(this.link, this.keys.autoscalerLease(group), holder, ttlMs);
  }

  async close(): Promise<void> {
    await Promise.all([this.link.close(), this.registry.close()]);
  }
}
