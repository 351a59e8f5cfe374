// Writes an experiment's three files side by side: the HTML report, the chart alone (SVG) and
// the raw timeline (JSON: the summary, the chart's series and every request).
import { writeFile } from 'node:fs/promises';
import type { ExperimentSummary, WindowPoint } from './contract.js';
import { renderReport } from './report-html.js';
import { renderChart } from './svg-chart.js';
import type { TimelineColumns } from './timeline.js';
import { replicasText, usersText } from './format.js';

/** `out` without its .html extension, plus `ext`: experiment-1.html → experiment-1.json. */
export function sibling(out: string, ext: string): string {
  return `${out.replace(/\.html?$/i, '')}${ext}`;
}

const round3 = (v: number): number => Math.round(v * 1000) / 1000;

/** The timeline file's content: every number rounded to a microsecond (times) or a thousandth. */
export function timelineJson(summary: ExperimentSummary, series: readonly WindowPoint[], cols: TimelineColumns): string {
  const roundOrNull = (v: number | null): number | null => (v === null ? null : round3(v));
  return JSON.stringify({
    summary,
    series: series.map((p) => ({ ...p, rps: round3(p.rps), meanMs: roundOrNull(p.meanMs), p95Ms: roundOrNull(p.p95Ms) })),
    requests: {
      description: 't: completion time, seconds since the load started; latencyMs: send → answer; ok: 1 if it succeeded; failures: index → kind',
      t: cols.t.map((t) => Math.round(t * 1e6) / 1e6),
      latencyMs: cols.latencyMs.map(round3),
      ok: cols.ok.map((ok) => (ok ? 1 : 0)),
      failures: Object.fromEntries(cols.failures),
    },
  });
}

export function chartTitle(summary: ExperimentSummary): string {
  const s = summary.settings;
  return `${s.model}${s.version === null ? '' : `:${s.version}`} · ${usersText(s.users)} · ${replicasText(s)} · ${summary.target.kind === 'local' ? 'local processes' : summary.target.description}`;
}

export async function writeReport(summary: ExperimentSummary, series: readonly WindowPoint[], cols: TimelineColumns): Promise<void> {
  const chart = renderChart({
    title: chartTitle(summary),
    durationS: summary.durationS,
    windowS: summary.settings.windowS,
    points: series,
    steps: summary.steps,
    ...(summary.autoscaler === null ? {} : { autoscale: summary.autoscaler }),
  });
  await writeFile(summary.files.chart, `${chart}\n`);
  await writeFile(summary.files.timeline, `${timelineJson(summary, series, cols)}\n`);
  await writeFile(summary.files.report, renderReport(summary, chart));
}
