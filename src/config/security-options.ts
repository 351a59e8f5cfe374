// Options of every process that serves the HTTP API (`serve`, `gateway`): API keys, the
// routes left open without one, and TLS. Both commands take the same flags.
import { z } from 'zod';
import type { OptionTable } from './options.js';
import { emptyIsUnset } from './redis-options.js';

/** Routes any client may call when API keys are on: probes, scrapes and the API's own docs. */
// /v2/health: KServe's and Triton's clients probe it like /health (Open Inference Protocol).
export const DEFAULT_OPEN_PATHS = ['/', '/health/live', '/health/ready', '/v2/health', '/metrics', '/docs', '/openapi.json'] as const;

const path = z.string().regex(/^\/[A-Za-z0-9._~/{}:*-]*$/, 'each path must start with "/"');

export const SECURITY_OPTIONS = {
  apiKeysFile: {
    flag: '--api-keys-file <path>',
    env: 'SWARMSERVE_API_KEYS_FILE',
    description: 'file of API keys (one per line, or sha256:<hex>); when set, routes not in --open-paths need "Authorization: Bearer <key>"; re-read on SIGHUP',
    schema: emptyIsUnset(z.string().optional()),
  },
  openPaths: {
    flag: '--open-paths <paths>',
    env: 'SWARMSERVE_OPEN_PATHS',
    description: `comma-separated routes that need no API key (a path also opens what is under it; "" opens none) (default: ${DEFAULT_OPEN_PATHS.join(',')})`,
    schema: z
      .string()
      .optional()
      .transform((s) =>
        s === undefined
          ? [...DEFAULT_OPEN_PATHS]
          : s
              .split(',')
              .map((p) => p.trim())
              .filter((p) => p !== ''),
      )
      .pipe(z.array(path)),
  },
  tlsCert: {
    flag: '--tls-cert <path>',
    env: 'SWARMSERVE_TLS_CERT',
    description: 'PEM certificate (chain) file: serve HTTPS instead of HTTP; needs --tls-key',
    schema: emptyIsUnset(z.string().optional()),
  },
  tlsKey: {
    flag: '--tls-key <path>',
    env: 'SWARMSERVE_TLS_KEY',
    description: 'PEM private key file of --tls-cert',
    schema: emptyIsUnset(z.string().optional()),
  },
} satisfies OptionTable;
