// The experiment's report: one self-contained HTML file (inline CSS and SVG, no script, nothing
// fetched), readable offline and attachable to an issue.
import { basename } from 'node:path';
import type { ExperimentSummary } from './contract.js';
import { replicaWork, tableHeader, replicasText, tableCells, usersText } from './format.js';
import { verdict } from './targets.js';
import { escapeXml, workersLabel } from './svg-chart.js';

const CSS = `
body { font-family: 'DejaVu Sans', Verdana, Arial, sans-serif; color: #222; margin: 24px auto; max-width: 1000px; padding: 0 16px; line-height: 1.45; }
h1 { font-size: 1.35em; margin-bottom: 0.2em; }
h2 { font-size: 1.1em; margin-top: 1.6em; }
.meta { color: #555; font-size: 0.9em; }
table { border-collapse: collapse; font-size: 0.9em; margin: 0.6em 0; }
th, td { border-bottom: 1px solid #ddd; padding: 4px 9px; text-align: right; white-space: nowrap; }
th { background: #f3f5f9; }
td:nth-child(-n+3), th:nth-child(-n+3) { text-align: left; }
dl { display: grid; grid-template-columns: max-content auto; gap: 2px 14px; font-size: 0.9em; }
dt { color: #555; }
dd { margin: 0; }
.chart svg { max-width: 100%; height: auto; border: 1px solid #e3e3e3; }
.warn { color: #a61e1e; }
.met { color: #1d6b2f; }
.missed { color: #a61e1e; font-weight: bold; }
`;

function seconds(s: number): string {
  return `${Number.isInteger(s) ? s : s.toFixed(1)} s`;
}

export function renderReport(summary: ExperimentSummary, chartSvg: string): string {
  const s = summary.settings;
  const model = `${s.model}${s.version === null ? '' : `:${s.version}`}`;
  const schedule = replicasText(s);
  const title = `swarmserve experiment: ${model}, ${usersText(s.users)}, ${schedule}`;
  const failures = Object.entries(summary.totals.failuresByKind);
  const settings: Array<[string, string]> = [
    ['started', summary.startedAt],
    ['target', `${summary.target.description} (load sent to ${summary.target.url})`],
    ['model', model],
    ['image', basename(s.image)],
    ['users', `${usersText(s.users)}${s.spawnRate === null ? ', all started at once' : `, started at ${s.spawnRate}/s`}`],
    [
      'think time',
      s.wait === null
        ? 'none (closed loop: each user sends its next request when the answer arrives)'
        : `${s.wait.minS}–${s.wait.maxS} s between a user's requests`,
    ],
    ['steps', `${summary.steps.length} × ${seconds(s.stepS)}: ${schedule}`],
    ['settle', `${seconds(s.settleS)} at each step's start left out of the table (and until the workers ran)`],
    ['window', `${seconds(s.windowS)} sliding window for the chart`],
    ['duration', seconds(Math.round(summary.durationS * 10) / 10)],
    ['load generator', `${summary.loadGenerator.cpuCores} cores of CPU (in the experiment's process)`],
  ];
  const targets = summary.targets.map(
    (t) =>
      `<tr><td>${escapeXml(t.name)}</td><td>${escapeXml(t.measured)}</td><td>${escapeXml(t.want)}</td><td class="${t.met === null ? '' : t.met ? 'met' : 'missed'}">${escapeXml(t.note ?? verdict(t))}</td></tr>`,
  );
  const work = summary.steps
    .filter((row) => row.imagesByReplica !== null)
    .map(
      (row) =>
        `<li>step ${row.step} (${workersLabel(row.replicas)}): ${escapeXml(replicaWork(row.imagesByReplica ?? {}))}${row.otherCores === null ? '' : `; other work on this host: ${row.otherCores.toFixed(2)} cores`}</li>`,
    );
  const rows = summary.steps.map(
    (row) =>
      `<tr>${tableCells(row, summary.steps)
        .map((c) => `<td>${escapeXml(c)}</td>`)
        .join('')}</tr>`,
  );
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeXml(title)}</title>
<style>${CSS}</style>
</head>
<body>
<h1>${escapeXml(title)}</h1>
<p class="meta">Requests ${summary.totals.requests}, failed ${summary.totals.failures}${failures.length > 0 ? ` (${escapeXml(failures.map(([k, n]) => `${k}: ${n}`).join(', '))})` : ''}. Raw timeline: <a href="${escapeXml(basename(summary.files.timeline))}">${escapeXml(basename(summary.files.timeline))}</a>.</p>
<div class="chart">
${chartSvg}
</div>
<h2>Per step</h2>
<table class="steps">
<thead><tr>${tableHeader(summary.steps)
    .map((h) => `<th>${escapeXml(h)}</th>`)
    .join('')}</tr></thead>
<tbody>
${rows.join('\n')}
</tbody>
</table>
<p>Each row counts the requests that completed in the step's measured part (the time shown): the first ${seconds(s.settleS)} of each step, and any time before its workers ran, are left out, so the previous step's backlog and the new workers' warm-up do not count. Response times are those of successful requests; req/s counts successful requests. Percentiles by nearest rank over every request of the part.</p>
${work.length > 0 ? `<p>Images each worker computed in the measured part, from its own counter (<code>swarmserve_batch_size_sum</code>):</p>\n<ul class="work">\n${work.join('\n')}\n</ul>\n` : ''}${targets.length > 0 ? `<h2>Targets</h2>\n<table class="targets">\n<thead><tr><th>what</th><th>measured</th><th>want</th><th>result</th></tr></thead>\n<tbody>\n${targets.join('\n')}\n</tbody>\n</table>\n<p>What the run was expected to show, judged from step 1 to the last step. A miss is a finding about this run and host (cores, other load), not a failed run.</p>\n` : ''}<h2>How to read the chart</h2>
<p>Each shaded band is a step, labelled with the number of workers it ran; the hatched start of a band is its settling part. The upper panel shows the mean and the 95th percentile of the response times of the requests that completed in the last ${seconds(s.windowS)} (a sliding window, as in Locust's charts); the lower one, successful requests per second over the same window. With more workers and the same users, requests/s should rise and response times fall, until something other than the workers (cores, the gateway, the load generator) is the limit.</p>
<h2>Settings</h2>
<dl>
${settings.map(([k, v]) => `<dt>${escapeXml(k)}</dt><dd>${escapeXml(v)}</dd>`).join('\n')}
</dl>
</body>
</html>
`;
}
