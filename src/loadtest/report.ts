// Human-readable output of `swarmserve load`: the final table (like Locust's) and the lines
// under it, and the live progress line.

import type { LoadSummary } from './contract.js';
import { locustName } from './locust-csv.js';

function ms(value: number): string {
  return value >= 100 ? value.toFixed(0) : value >= 10 ? value.toFixed(1) : value.toFixed(2);
}

function pct(part: number, whole: number): string {
  return whole === 0 ? '0%' : `${((part / whole) * 100).toFixed(part === whole || part === 0 ? 0 : 2)}%`;
}

function seconds(msValue: number): string {
  return `${(msValue / 1000).toFixed(1)} s`;
}

/** Pads a table: first column left-aligned, the others right-aligned. */
function table(rows: string[][]): string[] {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  return rows.map((r) =>
    r
      .map((cell, i) => (i === 0 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!)))
      .join('  ')
      .trimEnd(),
  );
}

/** The final report: the table, the failures by kind, the open loop's rate, the load generator's CPU. */
export function formatSummary(summary: LoadSummary): string {
  const l = summary.latencyMs;
  const lines = table([
    ['Name', '# reqs', '# fails', 'mean', 'min', 'max', 'p50', 'p90', 'p95', 'p99', 'req/s', 'fails/s'],
    [
      `POST ${locustName(summary.url)}`,
      String(summary.requests),
      `${summary.failures} (${pct(summary.failures, summary.requests)})`,
      ms(l.mean),
      ms(l.min),
      ms(l.max),
      ms(l.p50),
      ms(l.p90),
      ms(l.p95),
      ms(l.p99),
      summary.requestsPerSecond.toFixed(2),
      summary.failuresPerSecond.toFixed(2),
    ],
  ]);
  lines.splice(1, 0, '-'.repeat(lines[0]!.length));
  lines.push('(response times in ms, failures included, from an HDR histogram)');
  const how =
    summary.mode === 'users'
      ? `${summary.users} user(s)`
      : `open loop at ${summary.openLoop?.targetRate ?? 0} req/s (latency from each request's intended send time)`;
  lines.push(
    `${how}, ${seconds(summary.durationMs)}, ended by ${summary.stoppedBy === 'signal' ? 'interrupt' : summary.stoppedBy === 'requests' ? 'the request count' : 'the duration'}`,
  );

  const kinds = Object.entries(summary.failuresByKind).sort((a, b) => b[1] - a[1]);
  if (kinds.length > 0) {
    lines.push('', 'Failures:');
    for (const [kind, n] of kinds) lines.push(`  ${String(n).padStart(8)}  ${kind}`);
  }
  if (summary.cutInFlight > 0) lines.push(`${summary.cutInFlight} request(s) still in flight at the end were cut and are not counted.`);
  const open = summary.openLoop;
  if (open !== undefined) {
    lines.push(
      '',
      open.rateKept
        ? `Rate kept: ${open.sentRate.toFixed(2)} req/s sent of ${open.targetRate} asked.`
        : `RATE NOT KEPT: ${open.sentRate.toFixed(2)} req/s sent of ${open.targetRate} asked; ${open.lateSends} sent over 50 ms late (worst ${ms(open.maxSendLagMs)} ms), ` +
            `${open.notSent} never sent${open.capReached ? '; the in-flight cap was reached (--max-in-flight)' : ''}.`,
    );
  }
  // One Node process uses about one core at most: near that, the tester may limit the load.
  const busy = summary.cpu.cores >= 0.8 ? ' — close to one core: the load generator itself may be the bottleneck' : '';
  lines.push(
    '',
    `Load generator CPU: ${summary.cpu.cores.toFixed(2)} core(s) (user ${seconds(summary.cpu.userMs)}, system ${seconds(summary.cpu.systemMs)})${busy}.`,
  );
  return `${lines.join('\n')}\n`;
}

export interface ProgressFigures {
  elapsedMs: number;
  /** Users started (users mode), or undefined in the open loop. */
  users: number | undefined;
  rate: number | undefined;
  rps: number;
  p50: number;
  p95: number;
  requests: number;
  failures: number;
}

/** The live line: where the run is, the current rate, latency so far, failures so far. */
export function formatProgress(f: ProgressFigures): string {
  const who = f.users !== undefined ? `${f.users} users` : `open loop ${f.rate ?? 0}/s`;
  return (
    `[${(f.elapsedMs / 1000).toFixed(0).padStart(4)} s] ${who} | ${f.rps.toFixed(1)} req/s | ` +
    `p50 ${ms(f.p50)} ms, p95 ${ms(f.p95)} ms | ${f.requests} reqs, ${f.failures} failures (${pct(f.failures, f.requests)})`
  );
}
