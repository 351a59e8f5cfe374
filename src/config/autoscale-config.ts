// Options of `swarmserve autoscale`: which worker group it sizes (a Swarm service, or worker
// processes it starts on this host), the model versions that group serves, the policy's
// targets and bounds, its tick, and its own metrics/health listener.
import { STATS_OPTIONS } from './stats-options.js';
import { z } from 'zod';
import { ServeError } from '../common/errors.js';
import { parseDuration } from './durations.js';
import { booleanFlag, intFrom, numberIn, parsedBy } from './option-schemas.js';
import { givenOptions, resolveOptions, type OptionTable, type OptionValues } from './options.js';
import { REDIS_OPTIONS, completeRedisOptions, emptyIsUnset, type RedisSecret } from './redis-options.js';
import { SERVE_OPTIONS } from './serve-config.js';

const { models, only, logLevel } = SERVE_OPTIONS;

/** A duration option (`500ms`, `2s`, `3m`, or seconds) within [min, max] ms. */
function durationIn(minMs: number, maxMs: number, fallbackMs: number) {
  return parsedBy((text) => {
    const ms = parseDuration(text);
    if (ms < minMs || ms > maxMs) throw new ServeError('USAGE', `must be between ${minMs} ms and ${maxMs / 1000} s, got ${JSON.stringify(text)}`);
    return ms;
  }).default(fallbackMs);
}

export const AUTOSCALE_DEFAULTS = {
  // 2 s, the workers' default heartbeat interval: every tick sees fresh busy-time figures, a
  // 5x step is acted on within one tick, a tick still counts >= 10 arrivals at 5 jobs/s (a
  // rate, not noise), and a tick costs Redis one short script per model version plus one
  // registry read. Shorter ticks see the same heartbeat twice; longer ones react later.
  intervalMs: 2_000,
  stabilizationMs: 180_000,
  targetWaitMs: 500,
  headroom: 0.2,
  startupTimeoutMs: 180_000,
  metricsPort: 9091,
} as const;

export const AUTOSCALE_OPTIONS = {
  swarm: {
    flag: '--swarm <service>',
    env: 'SWARMSERVE_AUTOSCALE_SERVICE',
    description: 'scale this Docker Swarm service (e.g. swarmserve_worker) through the Docker Engine API (DOCKER_HOST, else /var/run/docker.sock)',
    schema: emptyIsUnset(
      z
        .string()
        .regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/, 'must be a service name or id')
        .optional(),
    ),
  },
  local: {
    flag: '--local',
    env: 'SWARMSERVE_AUTOSCALE_LOCAL',
    description: 'start and stop `swarmserve worker` processes on this host instead (a supervisor for one machine without Swarm)',
    schema: booleanFlag(false),
  },
  models,
  only: { ...only, description: 'the model versions the workers serve (the queues read): names or model:version pairs (default: all in --models)' },
  min: {
    flag: '--min <n>',
    env: 'SWARMSERVE_AUTOSCALE_MIN',
    description: 'fewest replicas (0: none while no job waits; the first job scales to 1)',
    schema: intFrom(0, 1000, 1),
  },
  max: {
    flag: '--max <n>',
    env: 'SWARMSERVE_AUTOSCALE_MAX',
    description: 'most replicas (the cluster capacity may cap lower)',
    schema: intFrom(1, 1000, 10),
  },
  targetWait: {
    flag: '--target-wait <duration>',
    env: 'SWARMSERVE_AUTOSCALE_TARGET_WAIT',
    description: 'how long a job may wait in the queue: the backlog is drained within it, and an oldest job past it scales up by at least double',
    schema: durationIn(10, 600_000, AUTOSCALE_DEFAULTS.targetWaitMs),
  },
  headroom: {
    flag: '--headroom <fraction>',
    env: 'SWARMSERVE_AUTOSCALE_HEADROOM',
    description: 'spare capacity planned above the arrival rate (0.2: 20 %)',
    schema: parsedBy(numberIn(0, 10, false), 'a number between 0 and 10').default(AUTOSCALE_DEFAULTS.headroom),
  },
  stabilization: {
    flag: '--stabilization <duration>',
    env: 'SWARMSERVE_AUTOSCALE_STABILIZATION',
    description: 'a scale-down needs every desired value this long below the current count (and this long after the last scale-up)',
    schema: durationIn(0, 3_600_000, AUTOSCALE_DEFAULTS.stabilizationMs),
  },
  interval: {
    flag: '--interval <duration>',
    env: 'SWARMSERVE_AUTOSCALE_INTERVAL',
    description: 'the tick: how often the signals are read and a decision made',
    schema: durationIn(200, 60_000, AUTOSCALE_DEFAULTS.intervalMs),
  },
  startupTimeout: {
    flag: '--startup-timeout <duration>',
    env: 'SWARMSERVE_AUTOSCALE_STARTUP_TIMEOUT',
    description: 'replicas asked for and not sending heartbeats after this long are no longer waited for (a further scale-up may follow)',
    schema: durationIn(1_000, 3_600_000, AUTOSCALE_DEFAULTS.startupTimeoutMs),
  },
  dryRun: {
    flag: '--dry-run',
    env: 'SWARMSERVE_AUTOSCALE_DRY_RUN',
    description: 'decide and log (and export the metrics) without scaling',
    schema: booleanFlag(false),
  },
  workerThreads: {
    flag: '--worker-threads <n>',
    env: 'SWARMSERVE_AUTOSCALE_WORKER_THREADS',
    description: 'with --local: intra-op threads of each worker started',
    schema: intFrom(1, 256, 1),
  },
  ...REDIS_OPTIONS,
  ...STATS_OPTIONS,
  metricsPort: {
    flag: '--metrics-port <port>',
    env: 'SWARMSERVE_METRICS_PORT',
    description: 'port of the GET /metrics and /health/* listener (0 picks a free one)',
    schema: intFrom(0, 65535, AUTOSCALE_DEFAULTS.metricsPort),
  },
  metricsHost: {
    flag: '--metrics-host <host>',
    env: 'SWARMSERVE_METRICS_HOST',
    description: 'interface of the metrics and health listener',
    schema: z.string().min(1).default('0.0.0.0'),
  },
  logLevel,
} satisfies OptionTable;

export type AutoscaleOptions = OptionValues<typeof AUTOSCALE_OPTIONS> & RedisSecret & { backend: 'swarm' | 'local' };

/** Flags beat env vars beat defaults; then the checks across options. Throws USAGE or CONFIG_INVALID. */
export async function resolveAutoscaleConfig(flags: Record<string, unknown>, env: NodeJS.ProcessEnv = process.env): Promise<AutoscaleOptions> {
  const values = await completeRedisOptions(resolveOptions(AUTOSCALE_OPTIONS, flags, env));
  const given = givenOptions(AUTOSCALE_OPTIONS, flags, env);
  if (values.swarm !== undefined && values.local)
    throw new ServeError('USAGE', '--swarm <service> and --local do not go together: one controller sizes one worker group');
  if (values.swarm === undefined && !values.local)
    throw new ServeError(
      'USAGE',
      'name what to scale: --swarm <service> (a Docker Swarm service, e.g. swarmserve_worker) or --local (worker processes on this host)',
    );
  if (values.min > values.max) throw new ServeError('USAGE', `--min (${values.min}) must not exceed --max (${values.max})`);
  if (given.has('workerThreads') && !values.local) throw new ServeError('USAGE', '--worker-threads applies to --local only (a Swarm service sets its own)');
  return { ...values, backend: values.local ? 'local' : 'swarm' };
}
