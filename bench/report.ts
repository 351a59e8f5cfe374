// What the benchmark drivers (bench/embedded.ts, bench/distributed.ts) print and write the same
// way: a run's CPU on its progress line, markdown tables, run labels, the list of disturbed runs, and the results file under
// bench/results/.

import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { CpuUsage } from '../src/common/proc-cpu.js';
import { ROOT, type Measured } from './driver.js';

const RESULTS_DIR = join(ROOT, 'bench', 'results');

export function markdownTable(header: readonly string[], rows: ReadonlyArray<readonly string[]>): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]): string => `| ${cells.map((c, i) => c.padEnd(widths[i] ?? 0)).join(' | ')} |`;
  return [line(header), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...rows.map(line)].join('\n');
}

/** A run's name in the tables: ` (re-run)` if its second attempt was kept, ` ⚠` if disturbed. */
export function runLabel(r: Measured): string {
  return `${r.id}${r.attempt > 1 ? ' (re-run)' : ''}${r.disturbed === true ? ' ⚠' : ''}`;
}

/** `id (n cores), …` for the disturbed runs. */
export function disturbedList(disturbed: readonly Measured[]): string {
  return disturbed.map((r) => `${r.id} (${r.cpu?.otherCores} cores)`).join(', ');
}

/** bench/results/<name>-<startedAt, ISO>.<ext>, the directory created. */
function resultsFile(name: string, startedAt: Date, ext: string): string {
  mkdirSync(RESULTS_DIR, { recursive: true });
  return join(RESULTS_DIR, `${name}-${startedAt.toISOString().replace(/[:.]/g, '-')}.${ext}`);
}

/** Writes bench/results/<name>-<startedAt, ISO>.json and says where. */
export function writeResults(name: string, startedAt: Date, json: object): void {
  const file = resultsFile(name, startedAt, 'json');
  writeFileSync(file, `${JSON.stringify(json, null, 2)}\n`);
  process.stdout.write(`\nResults written to ${file.slice(ROOT.length + 1)}\n`);
}

/** Writes the report as printed (markdown tables) to bench/results/<name>-<startedAt, ISO>.md and says where. */
export function writeMarkdown(name: string, startedAt: Date, markdown: string): void {
  const file = resultsFile(name, startedAt, 'md');
  writeFileSync(file, markdown.endsWith('\n') ? markdown : `${markdown}\n`);
  process.stdout.write(`Report written to ${file.slice(ROOT.length + 1)}\n`);
}

/** ` [CPU cores: <process> <cores>, …, other <cores>]`, for a run's progress line. */
export function cpuNote(c: CpuUsage | undefined): string {
  if (c === undefined) return '';
  const own = Object.entries(c.processCores)
    .map(([k, v]) => `${k} ${v}`)
    .join(', ');
  return ` [CPU cores: ${own}, other ${c.otherCores}]`;
}
