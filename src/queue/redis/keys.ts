// Every Redis key and channel of a deployment, under one prefix.
export const GROUP = 'workers';

export class RedisKeys {
  constructor(readonly prefix: string) {}
  /** Job stream of one model version (queue key "model:version"). */
  jobs(queueKey: string): string {
    return `${this.prefix}:jobs:${queueKey}`;
  }
  /** Reply stream of one gateway; expires when the gateway is gone. */
  replies(gatewayId: string): string {
    return `${this.prefix}:replies:${gatewayId}`;
  }
  get deadLetter(): string {
    return `${this.prefix}:dead-letter`;
  }
  /** Pub/sub channel on which gateways announce cancelled jobs. */
  get cancelChannel(): string {
    return `${this.prefix}:cancel`;
  }
  /** Sorted set of worker ids by last heartbeat (Redis time, ms). */
  get workers(): string {
    return `${this.prefix}:workers`;
  }
  worker(id: string): string {
    return `${this.prefix}:worker:${id}`;
  }
  /** The lease an autoscaler holds while it sizes one worker group (only the holder acts). */
  autoscalerLease(group: string): string {
    return `${this.prefix}:autoscaler:${group}`;
  }
  /** Sorted set of stats sources (`<kind>:<id>`) by their last sample (Redis time, ms). */
  get statsIndex(): string {
    return `${this.prefix}:stats`;
  }
  /** Prefix of the stats streams; a source's stream is this + its source name. */
  get statsStreamPrefix(): string {
    return `${this.prefix}:stats:`;
  }
  /** The capped stream of one source's stats samples (`source` = `<kind>:<id>`). */
  stats(source: string): string {
    return `${this.statsStreamPrefix}${source}`;
  }
}
