// `swarmserve health URL`: the container HEALTHCHECK. Slim images have no curl, and a
// check must be quick and quiet: exit 0 when the URL answers 2xx within the timeout,
// 1 otherwise, with one line saying what it saw.
import type { Command } from 'commander';
import { request, type Dispatcher } from 'undici';
import { addTlsClientOptions, tlsDispatcher, type TlsClientOptions } from './tls-client.js';

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
    .description('container health check: exit 0 if the URL answers 2xx within the timeout, else 1 (e.g. http://127.0.0.1:8080/health/live)')
    .option('-t, --timeout-ms <ms>', 'how long to wait for the answer', '3000');
  addTlsClientOptions(command).action(async (url: string, opts: { timeoutMs: string } & TlsClientOptions) => {
    const timeoutMs = Number(opts.timeoutMs);
    const { ok, line } = await checkHealth(url, Number.isFinite(timeoutMs) && timeoutMs > 0 ? timeoutMs : 3000, tlsDispatcher(opts));
    (ok ? process.stdout : process.stderr).write(`${line}\n`);
    process.exitCode = ok ? 0 : 1;
  });
}
