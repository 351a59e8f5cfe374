// What `health` and `predict` need to reach an HTTPS gateway whose certificate is not in
// the system store (self-signed, a private CA): --ca-file, or --insecure to skip the check.
import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { Agent, type Dispatcher } from 'undici';

export interface TlsClientOptions {
  caFile?: string;
  insecure?: boolean;
}

export function addTlsClientOptions(command: Command): Command {
  return command
    .option('--ca-file <path>', 'PEM file of the CA that signed the server certificate (HTTPS)')
    .option('--insecure', 'HTTPS without checking the server certificate');
}

/** An undici dispatcher for the options, or undefined for the defaults. */
export function tlsDispatcher(opts: TlsClientOptions): Dispatcher | undefined {
  if (opts.caFile === undefined && opts.insecure !== true) return undefined;
  return new Agent({ connect: { ...(opts.caFile === undefined ? {} : { ca: readFileSync(opts.caFile) }), rejectUnauthorized: opts.insecure !== true } });
}
