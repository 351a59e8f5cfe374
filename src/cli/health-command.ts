// `swarmserve health URL`: the container HEALTHCHECK. Slim images have no curl, and a
// check must be quick and quiet: exit 0 when the URL answers 2xx within the timeout,
// 1 otherwise, with one line saying what it saw. Its options use plain schemas, not zod:
// it runs every few seconds in every container (see main.ts).
import type { Command } from 'commander';
import { request, type Dispatcher } from 'undici';
import { addOptions, cliFlags, plainSchema, resolveOptions, type OptionTable } from '../config/options.js';
import { TLS_CLIENT_OPTIONS, tlsDispatcher } from './tls-client.js';

export const HEALTH_OPTIONS = {
  timeoutMs: {
    flag: '-t, --timeout-ms <ms>',
    env: 'SWARMSERVE_HEALTH_TIMEOUT_MS',
    description: 'how long to wait for the answer (default 3000)',
    schema: plainSchema((raw): number => {
      if (raw === undefined) return 3000;
      const ms = typeof raw === 'string' && raw.trim() !== '' ? Number(raw) : Number.NaN;
      if (!Number.isInteger(ms) || ms < 1 || ms > 600_000) throw new Error(`expected milliseconds from 1 to 600000, got ${JSON.stringify(raw)}`);
      return ms;
    }),
  },
  ...TLS_CLIENT_OPTIONS,
} satisfies OptionTable;

export async function checkHealth(url: string, timeoutMs: number, dispatcher?: Dispatcher): Promise<{ ok: boolean; line: string }> {
  try {
    const response = await request(url, {
      method: 'GET',
      ...(dispatcher === undefined ? {} : { dispatcher }),
      headersTimeout: timeoutMs,
      bodyTimeout: timeoutMs,
      signal: AbortSignal.timeout(timeoutMs),
    });
    const body = (await response.body.text()).slice(0, 200).replace(/\s+/g, ' ');
    const ok = response.statusCode >= 200 && response.statusCode < 300;
    return { ok, line: `${url} → HTTP ${response.statusCode} ${body}` };
  } catch (err) {
    return { ok: false, line: `${url} → ${err instanceof Error ? err.message : String(err)}` };
  }
}

export function registerHealthCommand(program: Command): void {
  const command = program
    .command('health <url>')
    .description('container health check: exit 0 if the URL answers 2xx within the timeout, else 1 (e.g. http://127.0.0.1:8080/health/live)');
  addOptions(command, HEALTH_OPTIONS).action(async (url: string, _opts: unknown, cmd: Command) => {
    const o = resolveOptions(HEALTH_OPTIONS, cliFlags(cmd));
    const { ok, line } = await checkHealth(url, o.timeoutMs, tlsDispatcher(o));
    (ok ? process.stdout : process.stderr).write(`${line}\n`);
    process.exitCode = ok ? 0 : 1;
  });
}
