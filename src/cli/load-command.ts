// `swarmserve load BASE_URL`: a Locust-like load test of a running server (docs/loadtest.md).
// Exit codes: 0 the run passed, 1 failures above --max-failure-ratio (or no request completed),
// 2 bad arguments, 3 the target did not answer before the load started, 78 a bad env var, 130 a
// second Ctrl-C (docs/errors.md: the convention of every command).

import { writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { basename } from 'node:path';
import type { Command } from 'commander';
import { exitCodeOf, ServeError } from '../common/errors.js';
import { sniffImageFormat } from '../common/image-format.js';
import { addOptions, cliFlags } from '../config/options.js';
import { encodeMultipart } from '../loadtest/multipart.js';
import { LoadOptionsError } from '../loadtest/validate.js';
import type { LoadRequestBody, LoadRunOptions, LoadSummary } from '../loadtest/contract.js';
import { failuresCsv, HistoryCsvWriter, statsCsv } from '../loadtest/locust-csv.js';
import { unreachableReason } from '../loadtest/reachability.js';
import { formatSummary } from '../loadtest/report.js';
import { runLoad } from '../loadtest/run-load.js';
import { LOAD_OPTIONS, loadCommandConfig, type LoadCommandConfig } from './load-options.js';
import { LoadLive } from './load-live.js';

export const EXIT_FAILED = 1;
export const EXIT_USAGE = exitCodeOf('USAGE');
export const EXIT_UNREACHABLE = exitCodeOf('TARGET_UNREACHABLE');

function errorCode(err: unknown): string {
  const code = (err as { code?: unknown }).code;
  return typeof code === 'string' ? code : err instanceof Error ? err.message : String(err);
}

/** The photo as the seed's web server wants it: multipart field `img_file`. */
async function requestBody(path: string): Promise<LoadRequestBody> {
  let data: Buffer;
  try {
    data = await readFile(path);
  } catch (err) {
    throw new ServeError('USAGE', `load: cannot read --image ${path} (${errorCode(err)})`);
  }
  let contentType = 'application/octet-stream';
  try {
    contentType = `image/${sniffImageFormat(data)}`;
  } catch {
    // Not an image we know: send it anyway (testing how a server answers bad input is fair).
  }
  return encodeMultipart([{ name: 'img_file', filename: basename(path), contentType, data }]);
}

function openHistory(prefix: string | undefined): HistoryCsvWriter | undefined {
  if (prefix === undefined) return undefined;
  try {
    return new HistoryCsvWriter(`${prefix}_stats_history.csv`);
  } catch (err) {
    throw new ServeError('USAGE', `load: cannot write --csv ${prefix}_stats_history.csv (${errorCode(err)})`);
  }
}

function waitText({ minMs, maxMs }: { minMs: number; maxMs: number }): string {
  if (maxMs === 0) return 'no wait';
  return minMs === maxMs ? `wait ${minMs / 1000} s` : `wait ${minMs / 1000}-${maxMs / 1000} s`;
}

function describeRun(c: LoadCommandConfig): string {
  const how =
    c.rate !== undefined
      ? `open loop at ${c.rate} req/s (at most ${c.maxInFlight ?? 1000} in flight)`
      : `${c.users} user(s), ${c.spawnRate}/s spawn, ${waitText(c.wait)}`;
  const limits = [
    c.durationMs === undefined ? undefined : `${c.durationMs / 1000} s`,
    c.maxRequests === undefined ? undefined : `${c.maxRequests} requests`,
  ].filter((x) => x !== undefined);
  return `swarmserve load: ${how} → POST ${c.url}, ${limits.length > 0 ? `until ${limits.join(' or ')}` : 'until Ctrl-C'}\n`;
}

/**
 * Ctrl-C (or SIGTERM) stops the run as its end would: nothing new is sent, the report is
 * printed. A second one quits at once.
 */
function stopOnSignals(controller: AbortController): () => void {
  const onSignal = (): void => {
    if (controller.signal.aborted) process.exit(130);
    process.stderr.write('\nswarmserve load: stopping (waiting briefly for requests in flight; Ctrl-C again to quit now)\n');
    controller.abort();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  return () => {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  };
}

function writeCsv(prefix: string, summary: LoadSummary): void {
  for (const [suffix, text] of [
    ['_stats.csv', statsCsv(summary)],
    ['_failures.csv', failuresCsv(summary)],
  ] as const) {
    try {
      writeFileSync(`${prefix}${suffix}`, text);
    } catch (err) {
      throw new ServeError('WRITE_FAILED', `load: cannot write ${prefix}${suffix} (${errorCode(err)})`);
    }
  }
}

/** The exit code the run deserves, and the line that says why when it is not 0. */
function verdict(summary: LoadSummary, maxFailureRatio: number): { code: number; line?: string } {
  if (summary.requests === 0) return { code: EXIT_FAILED, line: 'no request completed' };
  if (summary.failureRatio > maxFailureRatio) {
    return {
      code: EXIT_FAILED,
      line: `${summary.failures} of ${summary.requests} requests failed (ratio ${summary.failureRatio.toFixed(4)}), above --max-failure-ratio ${maxFailureRatio}`,
    };
  }
  return { code: 0 };
}

export async function runLoadCommand(config: LoadCommandConfig): Promise<number> {
  const body = await requestBody(config.image);
  const reason = await unreachableReason(config.baseUrl);
  if (reason !== undefined) throw new ServeError('TARGET_UNREACHABLE', `load: cannot reach ${config.baseUrl}: ${reason}`);

  const history = openHistory(config.csv);
  const live = new LoadLive({ out: process.stderr, rate: config.rate, history });
  const options: LoadRunOptions = {
    url: config.url,
    bodies: [body],
    requestTimeoutMs: config.timeoutMs,
    ...(config.rate !== undefined
      ? { rate: config.rate, ...(config.maxInFlight === undefined ? {} : { maxInFlight: config.maxInFlight }) }
      : { users: config.users, spawnRate: config.spawnRate, wait: config.wait }),
    ...(config.durationMs === undefined ? {} : { durationMs: config.durationMs }),
    ...(config.maxRequests === undefined ? {} : { maxRequests: config.maxRequests }),
  };
  process.stderr.write(describeRun(config));
  const controller = new AbortController();
  const release = stopOnSignals(controller);
  live.start();
  let summary: LoadSummary;
  try {
    summary = await runLoad(options, live, controller.signal);
  } catch (err) {
    // The engine's own check of its options (src/loadtest), stricter than none of ours should allow: still a usage error, coded.
    throw err instanceof LoadOptionsError ? new ServeError('USAGE', `load: ${err.message}`) : err;
  } finally {
    live.stop();
    release();
  }

  if (config.csv !== undefined) writeCsv(config.csv, summary);
  process.stdout.write(config.json ? `${JSON.stringify(summary)}\n` : formatSummary(summary));
  const { code, line } = verdict(summary, config.maxFailureRatio);
  if (line !== undefined) process.stderr.write(`swarmserve load: ${line}\n`);
  return code;
}

export function registerLoadCommand(program: Command): void {
  const command = program
    .command('load <BASE_URL>')
    .description('Locust-like load test of a running server: users (closed loop) or --rate (open loop); a Locust-style report, --csv, --json');
  addOptions(command, LOAD_OPTIONS).action(async (baseUrl: string, _opts: unknown, cmd: Command) => {
    const config = loadCommandConfig(baseUrl, cliFlags(cmd));
    process.exitCode = await runLoadCommand(config);
  });
}
