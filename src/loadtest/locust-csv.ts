// CSV files with exactly the columns of Locust 2.12's `--csv PREFIX` (locust/stats.py,
// StatsCSV and StatsCSVFileWriter), so tools that read Locust's files read ours:
//   PREFIX_stats.csv          one row for the endpoint and one "Aggregated" row (at the end);
//   PREFIX_stats_history.csv  one "Aggregated" row a second while the test runs;
//   PREFIX_failures.csv       one row per kind of failure.
// Values follow Locust's: times in ms, percentiles and the median as integers, "N/A"
// percentiles before the first request, rates in the history with 6 decimals.

import { appendFileSync, writeFileSync } from 'node:fs';
import type { LoadSummary } from './contract.js';
import { PERCENTILES, type LoadStats } from './stats.js';

/** Locust's percentile column names: 50% … 99.99%, then 100% (the max). */
const PERCENTILE_COLUMNS = [...PERCENTILES.map((p) => p.locust), '100%'];

export const STATS_COLUMNS = [
  'Type',
  'Name',
  'Request Count',
  'Failure Count',
  'Median Response Time',
  'Average Response Time',
  'Min Response Time',
  'Max Response Time',
  'Average Content Size',
  'Requests/s',
  'Failures/s',
  ...PERCENTILE_COLUMNS,
];

export const HISTORY_COLUMNS = [
  'Timestamp',
  'User Count',
  'Type',
  'Name',
  'Requests/s',
  'Failures/s',
  ...PERCENTILE_COLUMNS,
  'Total Request Count',
  'Total Failure Count',
  'Total Median Response Time',
  'Total Average Response Time',
  'Total Min Response Time',
  'Total Max Response Time',
  'Total Average Content Size',
];

export const FAILURES_COLUMNS = ['Method', 'Name', 'Error', 'Occurrences'];

/** One CSV line as Python's csv.writer writes it (quote only when needed; \r\n line ends). */
export function csvLine(fields: ReadonlyArray<string | number>): string {
  return `${fields
    .map((field) => {
      const text = String(field);
      return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
    })
    .join(',')}\r\n`;
}

/** The request's name as Locust shows it: path and query. */
export function locustName(url: string): string {
  const u = new URL(url);
  return `${u.pathname}${u.search}`;
}

/** The `PREFIX_stats.csv` file for a finished run: the endpoint's row and the Aggregated one (the same numbers: one endpoint). */
export function statsCsv(summary: LoadSummary): string {
  const l = summary.latencyMs;
  const none = summary.requests === 0;
  const values = [
    summary.requests,
    summary.failures,
    Math.round(l.p50),
    l.mean,
    l.min,
    l.max,
    summary.avgContentBytes,
    summary.requestsPerSecond,
    summary.failuresPerSecond,
    ...(none ? PERCENTILE_COLUMNS.map(() => 'N/A') : [...PERCENTILES.map((p) => Math.round(l[p.key])), Math.round(l.max)]),
  ];
  return csvLine(STATS_COLUMNS) + csvLine(['POST', locustName(summary.url), ...values]) + csvLine(['', 'Aggregated', ...values]);
}

/** The `PREFIX_failures.csv` file: one row per failure kind. */
export function failuresCsv(summary: LoadSummary): string {
  const name = locustName(summary.url);
  return (
    csvLine(FAILURES_COLUMNS) +
    Object.entries(summary.failuresByKind)
      .map(([kind, n]) => csvLine(['POST', name, kind, n]))
      .join('')
  );
}

/** Appends one "Aggregated" row a call to `PREFIX_stats_history.csv`, as Locust does each second. */
export class HistoryCsvWriter {
  constructor(private readonly path: string) {
    writeFileSync(path, csvLine(HISTORY_COLUMNS));
  }

  /** `stats` holds every result so far; `nowMs` is on its clock; `users` is the user count now. */
  append(stats: LoadStats, nowMs: number, epochMs: number, users: number): void {
    const { rps, fps } = stats.currentRates(nowMs);
    const l = stats.latencyMs();
    const none = stats.requests === 0;
    const row = [
      Math.floor(epochMs / 1000),
      users,
      '',
      'Aggregated',
      rps.toFixed(6),
      fps.toFixed(6),
      ...(none ? PERCENTILE_COLUMNS.map(() => 'N/A') : [...PERCENTILES.map((p) => Math.round(l[p.key])), Math.round(l.max)]),
      stats.requests,
      stats.failures,
      Math.round(l.p50),
      l.mean,
      l.min,
      l.max,
      stats.avgContentBytes,
    ];
    appendFileSync(this.path, csvLine(row));
  }
}
