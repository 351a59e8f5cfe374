// Options of the Redis Streams transport (see docs/architecture.md for the protocol).
import type { Logger } from '../../common/logger.js';

export interface RedisConnectionOptions {
  /** redis://[user:password@]host:port[/db] or rediss:// for TLS. */
  url: string;
  /** Overrides the URL's password (read from --redis-password-file, e.g. a Docker secret). */
  password?: string;
  /** Prefix of every key this deployment uses; processes sharing a prefix share queues. */
  prefix: string;
  logger: Logger;
  /** Redis silent this long while a command waits (beyond a blocking read's own wait): the connection is taken as dead and opened again. */
  livenessTimeoutMs?: number;
}

export interface RedisProducerOptions extends RedisConnectionOptions {
  /** This gateway's id (names its reply stream); default host-pid-random. */
  gatewayId?: string;
}

export interface RedisConsumerOptions extends RedisConnectionOptions {
  /** This worker's id (its consumer name in each group); default host-pid-random. */
  workerId?: string;
  /** A job delivered to a worker and idle this long is taken over by a peer (its worker is presumed dead). */
  reclaimIdleMs: number;
  /** After this many deliveries a job goes to the dead-letter stream and its caller gets JOB_FAILED. */
  maxDeliveries: number;
  /** A consumer (a worker's name in a group) that holds no job and was idle this long is removed; default max(60 s, 4 × reclaimIdleMs). */
  forgetConsumersAfterMs?: number;
  /** The worker's clock (epoch ms), for tests that set it off; deadlines are judged against Redis's clock through it. */
  now?: () => number;
}

export interface RedisRegistryOptions extends RedisConnectionOptions {
  /** A worker whose last heartbeat is older than this is not live. */
  expiryMs: number;
  /** Stats samples a worker's heartbeats keep for the dashboard (default 3600; 0: none). */
  statsHistoryS?: number;
}

export const REDIS_DEFAULTS = {
  prefix: 'swarmserve',
  reclaimIdleMs: 15_000,
  maxDeliveries: 3,
  heartbeatIntervalMs: 1_000,
  heartbeatExpiryMs: 10_000,
  // Above what a healthy Redis can be silent for (a slow script, a fork for an AOF rewrite
  // or snapshot, a disk stall of the AOF's fsync, ≈ 2 s at worst; a 3 s SIGSTOP in the e2e
  // tests), below the ≈ 10 s Swarm takes to start Redis elsewhere when its node dies.
  livenessTimeoutMs: 5_000,
} as const;

/** The URL with its password masked, for logs and messages. */
export function redactRedisUrl(text: string): string {
  try {
    const url = new URL(text);
    if (url.password !== '') url.password = '***';
    return url.toString();
  } catch {
    return '(invalid URL)';
  }
}
