// Options of `swarmserve gateway`: the HTTP side of the serve options (a gateway loads no
// model, so no batching, threads or image limits) and the Redis options.
import { STATS_OPTIONS } from './stats-options.js';
import { resolveOptions, type OptionTable, type OptionValues } from './options.js';
import { REDIS_OPTIONS, completeRedisOptions, type RedisSecret } from './redis-options.js';
import { SECURITY_OPTIONS } from './security-options.js';
import { SERVE_OPTIONS } from './serve-config.js';

const {
  port,
  host,
  models,
  only,
  defaultModel,
  bodyLimit,
  maxQueuedBytes,
  bodyTimeoutMs,
  maxUploadsPerClient,
  maxInferItems,
  drainTimeoutMs,
  logLevel,
  prepare,
} = SERVE_OPTIONS;

export const GATEWAY_OPTIONS = {
  port,
  host,
  models,
  only: { ...only, description: 'comma-separated models, or model:version pairs, to route to (default: every model in the repository)' },
  defaultModel,
  bodyLimit,
  maxQueuedBytes,
  bodyTimeoutMs,
  maxUploadsPerClient,
  maxInferItems,
  drainTimeoutMs,
  logLevel,
  prepare,
  ...SECURITY_OPTIONS,
  ...STATS_OPTIONS,
  ...REDIS_OPTIONS,
} satisfies OptionTable;

export type GatewayConfig = OptionValues<typeof GATEWAY_OPTIONS> & RedisSecret;

/** Flags beat env vars beat defaults; then the cross-option checks and the password file. Throws CONFIG_INVALID. */
export async function resolveGatewayConfig(flags: Record<string, unknown>, env: NodeJS.ProcessEnv = process.env): Promise<GatewayConfig> {
  return await completeRedisOptions(resolveOptions(GATEWAY_OPTIONS, flags, env));
}
