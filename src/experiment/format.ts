// Text forms of the experiment's results: one line per step as it ends, and the final table.
import type { ExperimentSummary, StepRow } from './contract.js';
import { workersLabel } from './svg-chart.js';

/** Other work on the host above this many cores in a step leaves the speed targets unjudged (and is said in the step's line). */
export const HOST_BUSY_CORES = 0.3;

export function ms(v: number | null): string {
  return v === null ? '–' : v >= 100 ? v.toFixed(0) : v.toFixed(1);
}

export function ratio(v: number | null): string {
  return v === null ? '–' : `${v.toFixed(2)}×`;
}

/** "step 2/3 · 2 workers · 17.0 s measured: 520 requests, 0 failed, 30.6 req/s (1.71× step 1), mean 520 ms, p95 700 ms" */
export function stepLine(row: StepRow, steps: number): string {
  return (
    `step ${row.step}/${steps} · ${workersText(row)} · ${row.measuredS.toFixed(1)} s measured: ` +
    `${row.requests} requests, ${row.failures} failed, ${row.rps.toFixed(1)} req/s` +
    `${row.step > 1 ? ` (${ratio(row.ratio)} step 1)` : ''}, mean ${ms(row.meanMs)} ms, p95 ${ms(row.p95Ms)} ms` +
    (row.imagesByReplica === null ? '' : `; images by replica: ${replicaWork(row.imagesByReplica)}`) +
    (row.otherCores !== null && row.otherCores > HOST_BUSY_CORES ? `; other work on this host: ${row.otherCores.toFixed(2)} cores` : '')
  );
}

/** "2 workers", or with the autoscaler "20 users · 1–4 workers" (the live workers seen in the step). */
function workersText(row: StepRow): string {
  const range = row.replicaRange;
  if (range === null) return workersLabel(row.replicas);
  return `${row.users} users · ${range.min === range.max ? workersLabel(range.min) : `${range.min}–${range.max} workers`}`;
}

/** "worker 1 230, worker 2 241" */
export function replicaWork(images: Record<string, number>): string {
  return Object.entries(images)
    .map(([name, n]) => `${name} ${n}`)
    .join(', ');
}

const TABLE_HEADER = [
  'step',
  'workers',
  'users',
  'measured',
  'requests',
  'failures',
  'req/s',
  'mean ms',
  'p50 ms',
  'p95 ms',
  'p99 ms',
  'req/s ÷ step 1',
] as const;

/** The users column only when the steps' users differ (a load schedule): a fixed-load table stays as it was. */
function withUsers(rows: readonly StepRow[]): boolean {
  return rows.some((r) => r.users !== rows[0]?.users);
}

export function tableHeader(rows: readonly StepRow[]): string[] {
  return TABLE_HEADER.filter((h) => h !== 'users' || withUsers(rows));
}

/** A row's cells; `rows` is the whole table (whether it has the users column). With the autoscaler, workers is the range of live workers seen. */
export function tableCells(row: StepRow, rows: readonly StepRow[]): string[] {
  const range = row.replicaRange;
  const workers = range === null ? String(row.replicas) : range.min === range.max ? String(range.min) : `${range.min}–${range.max}`;
  return [
    String(row.step),
    workers,
    ...(withUsers(rows) ? [String(row.users)] : []),
    `${row.measuredFromS.toFixed(1)}–${row.endS.toFixed(1)} s`,
    String(row.requests),
    String(row.failures),
    row.rps.toFixed(1),
    ms(row.meanMs),
    ms(row.p50Ms),
    ms(row.p95Ms),
    ms(row.p99Ms),
    ratio(row.ratio),
  ];
}

/** The table as aligned text columns. */
export function textTable(rows: readonly StepRow[]): string {
  const header = tableHeader(rows);
  const lines = [header, ...rows.map((row) => tableCells(row, rows))];
  const widths = header.map((_, c) => Math.max(...lines.map((l) => (l[c] ?? '').length)));
  return lines
    .map((l) =>
      l

        .map((cell, c) => (c < header.indexOf('measured') + 1 && c !== header.indexOf('users') ? cell.padEnd(widths[c] ?? 0) : cell.padStart(widths[c] ?? 0)))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

/** "16 users", or a schedule: "2 → 20 → 2 users". */
export function usersText(users: number | readonly number[]): string {
  return `${typeof users === 'number' ? users : users.join(' → ')} users`;
}

/** What drove the workers: "1 worker → 2 workers", or "autoscaled (min 1, max 4)" (only the settings given). */
export function replicasText(settings: ExperimentSummary['settings']): string {
  if (settings.replicas !== null) return settings.replicas.map(workersLabel).join(' → ');
  const a = settings.autoscale ?? {};
  const given = [
    a.min === undefined ? '' : `min ${a.min}`,
    a.max === undefined ? '' : `max ${a.max}`,
    a.stabilizationMs === undefined ? '' : `stabilization ${a.stabilizationMs / 1000} s`,
    a.targetWaitMs === undefined ? '' : `target wait ${a.targetWaitMs} ms`,
  ].filter((x) => x !== '');
  return `workers by the autoscaler${given.length === 0 ? '' : ` (${given.join(', ')})`}`;
}
