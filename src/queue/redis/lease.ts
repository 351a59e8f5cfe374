// A lease in Redis: of several controllers (an autoscaler's replicas, or an old and a new one
// overlapping in a rolling update) only the holder acts. Taken with SET … PX when free,
// renewed by its holder each tick, lost by a holder that stops renewing once the time to live
// has passed in Redis's clock.
import type { RedisLink } from './link.js';
import { LEASE_RELEASE, LEASE_TAKE } from './scripts.js';

export class RedisLease {
  constructor(
    private readonly link: RedisLink,
    /** The lease's key (one per thing it guards). */
    readonly key: string,
    /** Who asks: unique per process. */
    readonly holder: string,
    /** How long the lease lasts without renewal: a few ticks. */
    readonly ttlMs: number,
  ) {}

  /** Takes the lease, or renews it if this holder has it; true when this holder has it now. */
  async hold(): Promise<boolean> {
    return Number(await this.link.eval(LEASE_TAKE, [this.key], [this.holder, String(this.ttlMs)])) === 1;
  }

  /** Gives the lease back at once if this holder has it (a clean shutdown: the next controller need not wait for the expiry). */
  async release(): Promise<boolean> {
    return Number(await this.link.eval(LEASE_RELEASE, [this.key], [this.holder])) === 1;
  }
}
