// Options of `swarmserve worker`: the model and batching side of the serve options, the
// Redis options, the worker's own metrics/health listener and its delivery settings.
import { STATS_OPTIONS } from './stats-options.js';
import { z } from 'zod';
import { REDIS_DEFAULTS } from '../queue/redis/options.js';
import { intFrom } from './option-schemas.js';
import { resolveOptions, type OptionTable, type OptionValues } from './options.js';
import { REDIS_OPTIONS, completeRedisOptions, emptyIsUnset, type RedisSecret } from './redis-options.js';
import { SERVE_OPTIONS } from './serve-config.js';

const { models, only, maxPixels, maxBatchSize, maxQueueDelayMs, threads, drainTimeoutMs, logLevel, mallocTuning, prepare } = SERVE_OPTIONS;

/** A day either way is far more than any test needs, and keeps `now()` a sane epoch. */
const MAX_CLOCK_OFFSET_MS = 86_400_000;

export const WORKER_OPTIONS = {
  models,
  only,
  maxPixels,
  maxBatchSize,
  maxQueueDelayMs,
  // Same flag and values as serve; only the default differs (the CPUs this container may use).
  threads: { ...threads, description: 'intra-op threads of every model (default: the CPUs this process may use: cgroup quota, else cores)' },
  drainTimeoutMs,
  logLevel,
  mallocTuning,
  prepare,
  ...REDIS_OPTIONS,
  ...STATS_OPTIONS,
  metricsPort: {
    flag: '--metrics-port <port>',
    env: 'SWARMSERVE_METRICS_PORT',
    description: 'port of the GET /metrics and /health/* listener (0 picks a free one)',
    schema: intFrom(0, 65535, 9090),
  },
  metricsHost: {
    flag: '--metrics-host <host>',
    env: 'SWARMSERVE_METRICS_HOST',
    description: 'interface of the metrics and health listener',
    schema: z.string().min(1).default('0.0.0.0'),
  },
  reclaimIdleMs: {
    flag: '--reclaim-idle-ms <ms>',
    env: 'SWARMSERVE_RECLAIM_IDLE_MS',
    description: 'a job delivered to a worker and idle this long is taken over (its worker is presumed dead)',
    schema: intFrom(100, 3_600_000, REDIS_DEFAULTS.reclaimIdleMs),
  },
  maxDeliveries: {
    flag: '--max-deliveries <n>',
    env: 'SWARMSERVE_MAX_DELIVERIES',
    description: 'after this many deliveries a job goes to the dead-letter stream and its caller gets JOB_FAILED',
    schema: intFrom(1, 100, REDIS_DEFAULTS.maxDeliveries),
  },
  workerId: {
    flag: '--worker-id <id>',
    env: 'SWARMSERVE_WORKER_ID',
    description: "this worker's id in the consumer groups and the registry (default: host-pid-random)",
    schema: emptyIsUnset(
      z
        .string()
        .regex(/^[A-Za-z0-9._:-]{1,128}$/, 'must be 1-128 characters of A-Z a-z 0-9 . _ : -')
        .optional(),
    ),
  },
  clockOffsetMs: {
    flag: '--clock-offset-ms <ms>',
    env: 'SWARMSERVE_CLOCK_OFFSET_MS',
    description: "for tests: shift this worker's clock by this many ms (deadlines, enqueue times)",
    schema: z.coerce.number().int().min(-MAX_CLOCK_OFFSET_MS).max(MAX_CLOCK_OFFSET_MS).default(0),
    hidden: true,
  },
} satisfies OptionTable;

export type WorkerConfig = OptionValues<typeof WORKER_OPTIONS> & RedisSecret;

/** Flags beat env vars beat defaults; then the cross-option checks and the password file. Throws CONFIG_INVALID. */
export async function resolveWorkerConfig(flags: Record<string, unknown>, env: NodeJS.ProcessEnv = process.env): Promise<WorkerConfig> {
  return await completeRedisOptions(resolveOptions(WORKER_OPTIONS, flags, env));
}

/** The worker's clock: the system clock, or (tests) the system clock shifted by --clock-offset-ms. */
export function workerClock(config: Pick<WorkerConfig, 'clockOffsetMs'>): (() => number) | undefined {
  const offset = config.clockOffsetMs;
  return offset === 0 ? undefined : () => Date.now() + offset;
}
