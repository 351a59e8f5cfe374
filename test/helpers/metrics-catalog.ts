// What a process exports on /metrics, what docs/api.md says it exports, and which metrics
// a PromQL expression reads: the pieces of the docs and dashboard checks.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parsePrometheus, type Series } from '../../bench/served.js';
import { ROOT } from './process.js';

export type Sample = Series;

export interface Exported {
  /** Metric name → type, from the `# TYPE` lines (present before any sample exists). */
  types: Map<string, string>;
  samples: Sample[];
}

export function parseExposition(text: string): Exported {
  const types = new Map<string, string>();
  for (const [, name, type] of text.matchAll(/^# TYPE (\S+) (\S+)$/gm)) types.set(name as string, type as string);
  return { types, samples: parsePrometheus(text) };
}

export async function scrape(url: string): Promise<Exported> {
  const response = await fetch(`${url}/metrics`);
  if (response.status !== 200) throw new Error(`${url}/metrics answered ${response.status}`);
  return parseExposition(await response.text());
}

/** The metric a sample belongs to: itself, or the histogram/summary its _bucket/_sum/_count suffix names. */
export function metricOf(sample: string, types: ReadonlyMap<string, string>): string {
  if (types.has(sample)) return sample;
  const base = sample.replace(/_(bucket|sum|count)$/, '');
  return types.has(base) ? base : sample;
}

export interface DocumentedMetric {
  /** Exact names, or prefixes ending in `*` (a group such as `process_*`). */
  names: string[];
  type: string;
  labels: string[];
  processes: string[];
}

const ticked = (cell: string): string[] => [...cell.matchAll(/`([^`]+)`/g)].map((m) => m[1] as string);

/** The rows of the metrics table in docs/api.md (| metric | type | labels | exported by | meaning |). */
export function documentedMetrics(): DocumentedMetric[] {
  const text = readFileSync(join(ROOT, 'docs', 'api.md'), 'utf8');
  const start = text.indexOf('\n## `GET /metrics`\n');
  if (start === -1) throw new Error('docs/api.md has no "## `GET /metrics`" section');
  const rest = text.slice(start + 1);
  const section = rest.slice(0, rest.indexOf('\n## ', 1) === -1 ? undefined : rest.indexOf('\n## ', 1));
  const rows: DocumentedMetric[] = [];
  let inTable = false;
  for (const line of section.split('\n')) {
    if (line.startsWith('| metric | type | labels | exported by |')) inTable = true;
    else if (!line.startsWith('|')) inTable = false;
    else if (inTable && !line.startsWith('|---')) {
      const cells = line.split('|').slice(1, -1);
      rows.push({ names: ticked(cells[0] ?? ''), type: (cells[1] ?? '').trim(), labels: ticked(cells[2] ?? ''), processes: ticked(cells[3] ?? '') });
    }
  }
  return rows;
}

export function covers(row: DocumentedMetric, metric: string): boolean {
  return row.names.some((name) => (name.endsWith('*') ? metric.startsWith(name.slice(0, -1)) : metric === name));
}

const PROMQL_WORDS = new Set(['by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'bool', 'and', 'or', 'unless', 'offset', 'inf', 'nan']);

/** Metric names a PromQL expression reads (label matchers, ranges, groupings, strings and functions left out). */
export function promqlMetricNames(expr: string): string[] {
  const bare = expr
    .replace(/"(?:[^"\\]|\\.)*"/g, ' ')
    .replace(/\{[^}]*\}/g, ' ')
    .replace(/\[[^\]]*\]/g, ' ')
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ')
    .replace(/\$\{?\w+\}?/g, ' ');
  const names: string[] = [];
  for (const m of bare.matchAll(/[a-zA-Z_:][\w:]*(?!\w)(?=(\s*\()?)/g)) {
    if (m[1] !== undefined || PROMQL_WORDS.has(m[0].toLowerCase())) continue;
    names.push(m[0]);
  }
  return names;
}
