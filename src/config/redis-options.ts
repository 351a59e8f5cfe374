// Options every distributed process (gateway and worker) shares: where Redis is, how to
// log in, the key prefix, and the heartbeat timing, on which gateways and workers must agree;
// and how long a silent Redis connection is waited for.
import { readFile } from 'node:fs/promises';
import { z } from 'zod';
import { ServeError } from '../common/errors.js';
import type { Logger } from '../common/logger.js';
import { REDIS_DEFAULTS, type RedisConnectionOptions } from '../queue/redis/options.js';
import { intFrom } from './option-schemas.js';
import type { OptionTable, OptionValues } from './options.js';

/** An env var set to "" (e.g. `SWARMSERVE_WORKER_ID=` in a compose file) means "not given", as an unset one does. */
export const emptyIsUnset = <T extends z.ZodType>(schema: T) => z.preprocess((v) => (typeof v === 'string' && v.trim() === '' ? undefined : v), schema);

const URL_MISSING = 'required: give --redis <url> or set SWARMSERVE_REDIS_URL (e.g. redis://redis:6379)';

function isRedisUrl(text: string): boolean {
  try {
    const url = new URL(text);
    return (url.protocol === 'redis:' || url.protocol === 'rediss:') && url.hostname !== '';
  } catch {
    return false;
  }
}

export const REDIS_OPTIONS = {
  // The key is commander's name for --redis, so flags and env resolve to the same property.
  redis: {
    flag: '--redis <url>',
    env: 'SWARMSERVE_REDIS_URL',
    description: 'Redis URL: redis://[user:password@]host:port[/db], or rediss:// for TLS (required)',
    // The message never echoes the value: the URL may hold a password.
    schema: emptyIsUnset(z.string({ error: URL_MISSING }).trim().refine(isRedisUrl, 'must be redis://[user:password@]host:port[/db] or rediss://… (TLS)')),
  },
  redisPasswordFile: {
    flag: '--redis-password-file <path>',
    env: 'SWARMSERVE_REDIS_PASSWORD_FILE',
    description: "file holding the Redis password (e.g. a Docker secret); overrides the URL's password",
    schema: emptyIsUnset(z.string().optional()),
  },
  redisPrefix: {
    flag: '--redis-prefix <prefix>',
    env: 'SWARMSERVE_REDIS_PREFIX',
    description: 'prefix of every Redis key; processes sharing a prefix share queues and workers',
    schema: z
      .string()
      .regex(/^[A-Za-z0-9._:{}-]{1,64}$/, 'must be 1-64 characters of A-Z a-z 0-9 . _ : { } -')
      .default(REDIS_DEFAULTS.prefix),
  },
  heartbeatIntervalMs: {
    flag: '--heartbeat-interval-ms <ms>',
    env: 'SWARMSERVE_HEARTBEAT_INTERVAL_MS',
    description: 'how often a worker says it is alive in the worker registry',
    schema: intFrom(100, 600_000, REDIS_DEFAULTS.heartbeatIntervalMs),
  },
  heartbeatExpiryMs: {
    flag: '--heartbeat-expiry-ms <ms>',
    env: 'SWARMSERVE_HEARTBEAT_EXPIRY_MS',
    description: 'a worker silent this long is not live (gateway readiness, metrics); must exceed the interval',
    schema: intFrom(200, 3_600_000, REDIS_DEFAULTS.heartbeatExpiryMs),
  },
  redisTimeoutMs: {
    flag: '--redis-timeout-ms <ms>',
    env: 'SWARMSERVE_REDIS_TIMEOUT_MS',
    description:
      "a Redis connection silent this long while a command waits (beyond a blocking read's own wait) is taken as dead: closed, its commands failed, opened again",
    schema: intFrom(1_000, 600_000, REDIS_DEFAULTS.livenessTimeoutMs),
  },
} satisfies OptionTable;

export type RedisOptionValues = OptionValues<typeof REDIS_OPTIONS>;

/** What the Redis options give once the password file is read. */
export interface RedisSecret {
  redisPassword?: string;
}

/** The checks one option's schema cannot make, and the password file: run once at start-up, after resolveOptions. */
export async function completeRedisOptions<T extends RedisOptionValues>(values: T): Promise<T & RedisSecret> {
  const { heartbeatIntervalMs: interval, heartbeatExpiryMs: expiry } = values;
  if (expiry <= interval) {
    throw new ServeError(
      'CONFIG_INVALID',
      `--heartbeat-expiry-ms / SWARMSERVE_HEARTBEAT_EXPIRY_MS (${expiry}) must be greater than --heartbeat-interval-ms / SWARMSERVE_HEARTBEAT_INTERVAL_MS (${interval}): otherwise a worker is presumed dead between two of its heartbeats`,
    );
  }
  if (values.redisPasswordFile === undefined) return values;
  return { ...values, redisPassword: await readPasswordFile(values.redisPasswordFile) };
}

async function readPasswordFile(path: string): Promise<string> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new ServeError('CONFIG_INVALID', `--redis-password-file / SWARMSERVE_REDIS_PASSWORD_FILE: cannot read ${path}: ${(err as Error).message}`);
  }
  // Secret files usually end with the newline of the editor or `echo` that wrote them.
  const password = text.replace(/\r?\n$/, '');
  if (password === '') throw new ServeError('CONFIG_INVALID', `--redis-password-file / SWARMSERVE_REDIS_PASSWORD_FILE: ${path} is empty`);
  return password;
}

/** The connection part of every Redis transport's options. */
export function redisConnection(config: RedisOptionValues & RedisSecret, logger: Logger): RedisConnectionOptions {
  return {
    url: config.redis,
    prefix: config.redisPrefix,
    logger,
    livenessTimeoutMs: config.redisTimeoutMs,
    ...(config.redisPassword === undefined ? {} : { password: config.redisPassword }),
  };
}

export { redactRedisUrl } from '../queue/redis/options.js';
