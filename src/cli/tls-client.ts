// What `health` and `predict` need to reach an HTTPS gateway whose certificate is not in
// the system store (self-signed, a private CA): --ca-file, or --insecure to skip the check.
// Plain schemas (no zod): `health` loads them every few seconds (see main.ts).
import { readFileSync } from 'node:fs';
import { Agent, type Dispatcher } from 'undici';
import { ServeError } from '../common/errors.js';
import { optionalText, switchValue, type OptionTable } from '../config/options.js';

export const TLS_CLIENT_OPTIONS = {
  caFile: {
    flag: '--ca-file <path>',
    env: 'SWARMSERVE_CA_FILE',
    description: 'PEM file of the CA that signed the server certificate (HTTPS)',
    schema: optionalText,
  },
  insecure: { flag: '--insecure', env: 'SWARMSERVE_INSECURE', description: 'HTTPS without checking the server certificate', schema: switchValue(false) },
} satisfies OptionTable;

export interface TlsClientOptions {
  caFile?: string | undefined;
  insecure?: boolean;
}

/** An undici dispatcher for the options, or undefined for the defaults; CONFIG_INVALID (as for a server's TLS files) when --ca-file cannot be read. */
export function tlsDispatcher(opts: TlsClientOptions): Dispatcher | undefined {
  if (opts.caFile === undefined && opts.insecure !== true) return undefined;
  let ca: Buffer | undefined;
  try {
    ca = opts.caFile === undefined ? undefined : readFileSync(opts.caFile);
  } catch (err) {
    throw new ServeError('CONFIG_INVALID', `--ca-file ${opts.caFile}: cannot read it (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
  }
  return new Agent({ connect: { ...(ca === undefined ? {} : { ca }), rejectUnauthorized: opts.insecure !== true } });
}
