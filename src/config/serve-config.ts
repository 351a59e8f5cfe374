import { STATS_OPTIONS } from './stats-options.js';
import { z } from 'zod';
import { bundledModelsDir } from './paths.js';
import { intFrom } from './option-schemas.js';
import type { OptionTable } from './options.js';
import { SECURITY_OPTIONS } from './security-options.js';

/** A switch that is on unless its --no- flag or its env var (false / 0) turns it off. */
const onByDefault = () =>
  z
    .union([z.boolean(), z.enum(['true', 'false', '1', '0'])])
    .default(true)
    .transform((v) => v === true || v === 'true' || v === '1');

/** A request body must arrive within this many ms per MiB (--body-timeout-ms): about 200 KiB/s at least. */
export const DEFAULT_BODY_TIMEOUT_MS = 5_000;

export const SERVE_OPTIONS = {
  port: { flag: '-p, --port <port>', env: 'SWARMSERVE_PORT', description: 'HTTP port (0 picks a free one)', schema: intFrom(0, 65535, 8080) },
  host: { flag: '--host <host>', env: 'SWARMSERVE_HOST', description: 'interface to listen on', schema: z.string().min(1).default('0.0.0.0') },
  models: {
    flag: '-m, --models <dir>',
    env: 'SWARMSERVE_MODELS',
    description: 'model repository directory',
    schema: z.string().min(1).default(bundledModelsDir()),
  },
  only: {
    flag: '--only <names>',
    env: 'SWARMSERVE_ONLY',
    description: 'comma-separated models to load, or model:version pairs (default: all)',
    schema: z
      .string()
      .optional()
      .transform((s) =>
        s === undefined || s.trim() === ''
          ? undefined
          : s
              .split(',')
              .map((n) => n.trim())
              .filter((n) => n !== ''),
      ),
  },
  defaultModel: {
    flag: '--default-model <name>',
    env: 'SWARMSERVE_DEFAULT_MODEL',
    description: 'model used when a request names none',
    schema: z.string().default('moderation'),
  },
  bodyLimit: {
    flag: '--body-limit <bytes>',
    env: 'SWARMSERVE_BODY_LIMIT',
    description: 'largest request body in bytes',
    schema: intFrom(1024, 1 << 30, 10 * 1024 * 1024),
  },
  maxQueuedBytes: {
    flag: '--max-queued-bytes <bytes>',
    env: 'SWARMSERVE_MAX_QUEUED_BYTES',
    description: 'bytes of request bodies held at once (reading, queued, answering); beyond it 503 + Retry-After',
    schema: intFrom(1024, 2 ** 40, 256 * 1024 * 1024),
  },
  bodyTimeoutMs: {
    flag: '--body-timeout-ms <ms>',
    env: 'SWARMSERVE_BODY_TIMEOUT_MS',
    description:
      "a request body must arrive within this many ms per MiB (at least one MiB's worth); slower: 408, and an upload that falls behind that rate holds only the bytes it has sent",
    schema: intFrom(100, 3_600_000, DEFAULT_BODY_TIMEOUT_MS),
  },
  maxUploadsPerClient: {
    flag: '--max-uploads-per-client <n>',
    env: 'SWARMSERVE_MAX_UPLOADS_PER_CLIENT',
    description:
      "request bodies one client address may send at once, beyond it 429; 0: no limit (behind a proxy or Swarm's ingress mesh, every client may share one address)",
    schema: intFrom(0, 1_000_000, 0),
  },
  maxInferItems: {
    flag: '--max-infer-items <n>',
    env: 'SWARMSERVE_MAX_INFER_ITEMS',
    description: 'most items (images or tensors) in one Open Inference Protocol infer call; beyond it 400',
    schema: intFrom(1, 4096, 64),
  },
  maxPixels: {
    flag: '--max-pixels <n>',
    env: 'SWARMSERVE_MAX_PIXELS',
    description: 'largest image in pixels (decompression-bomb guard)',
    schema: intFrom(1, 1_000_000_000, 40_000_000),
  },
  maxBatchSize: {
    flag: '--max-batch-size <n>',
    env: 'SWARMSERVE_MAX_BATCH_SIZE',
    description: "override every model's batching.maxBatchSize",
    schema: z.coerce.number().int().min(1).max(1024).optional(),
  },
  maxQueueDelayMs: {
    flag: '--max-queue-delay-ms <ms>',
    env: 'SWARMSERVE_MAX_QUEUE_DELAY_MS',
    description: "override every model's batching.maxQueueDelayMs",
    schema: z.coerce.number().min(0).max(10_000).optional(),
  },
  threads: {
    flag: '--threads <n>',
    env: 'SWARMSERVE_THREADS',
    description: "override every model's intra-op threads",
    schema: z.coerce.number().int().min(1).max(256).optional(),
  },
  drainTimeoutMs: {
    flag: '--drain-timeout-ms <ms>',
    env: 'SWARMSERVE_DRAIN_TIMEOUT_MS',
    description: 'on SIGTERM, how long in-flight work may take',
    schema: intFrom(0, 600_000, 30_000),
  },
  logLevel: {
    flag: '--log-level <level>',
    env: 'SWARMSERVE_LOG_LEVEL',
    description: 'fatal|error|warn|info|debug|trace|silent',
    schema: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  },
  mallocTuning: {
    flag: '--no-malloc-tuning',
    env: 'SWARMSERVE_MALLOC_TUNING',
    description: 'do not tune glibc malloc around model loading (docs/configuration.md)',
    schema: onByDefault(),
  },
  prepare: {
    flag: '--no-prepare',
    env: 'SWARMSERVE_PREPARE',
    description: 'do not generate missing bundled model files at start',
    schema: onByDefault(),
  },
  ...SECURITY_OPTIONS,
  ...STATS_OPTIONS,
} satisfies OptionTable;

export type ServeConfig = { [K in keyof typeof SERVE_OPTIONS]: z.infer<(typeof SERVE_OPTIONS)[K]['schema']> };
