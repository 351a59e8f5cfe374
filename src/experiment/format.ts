// Text forms of the experiment's results: one line per step as it ends, and the final table.
import type { StepRow } from './contract.js';
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
    `step ${row.step}/${steps} · ${workersLabel(row.replicas)} · ${row.measuredS.toFixed(1)} s measured: ` +
    `${row.requests} requests, ${row.failures} failed, ${row.rps.toFixed(1)} req/s` +
    `${row.step > 1 ? ` (${ratio(row.ratio)} step 1)` : ''}, mean ${ms(row.meanMs)} ms, p95 ${ms(row.p95Ms)} ms` +
    (row.imagesByReplica === null ? '' : `; images by replica: ${replicaWork(row.imagesByReplica)}`) +
    (row.otherCores !== null && row.otherCores > HOST_BUSY_CORES ? `; other work on this host: ${row.otherCores.toFixed(2)} cores` : '')
  );
}

/** "worker 1 230, worker 2 241" */
export function replicaWork(images: Record<string, number>): string {
  return Object.entries(images)
    .map(([name, n]) => `${name} ${n}`)
    .join(', ');
}

export const TABLE_HEADER = [
  'step',
  'workers',
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

export function tableCells(row: StepRow): string[] {
  return [
    String(row.step),
    String(row.replicas),
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
  const lines = [[...TABLE_HEADER], ...rows.map(tableCells)];
  const widths = TABLE_HEADER.map((_, c) => Math.max(...lines.map((l) => (l[c] ?? '').length)));
  return lines
    .map((l) =>
      l
        .map((cell, c) => (c < 3 ? cell.padEnd(widths[c] ?? 0) : cell.padStart(widths[c] ?? 0)))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}
