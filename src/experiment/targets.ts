// The experiment's targets: what the tutorial claims ("response time falls as we add
// replicas") and, when asked, a req/s ratio, judged on the step table from step 1 to the last
// step. They are reported beside the figures; a miss is a finding about this host, never a
// failed run (a shared or slower machine misses a speed target without anything being wrong).
import type { ExperimentTarget, StepRow } from './contract.js';
import { HOST_BUSY_CORES, ms, ratio } from './format.js';
import { workersLabel } from './svg-chart.js';

export function judgeTargets(steps: readonly StepRow[], targetRatio: number | undefined): ExperimentTarget[] {
  const first = steps[0];
  const last = steps.at(-1);
  if (first === undefined || last === undefined || steps.length < 2 || last.replicas <= first.replicas) return [];
  const busiest = Math.max(...[first, last].map((s) => s.otherCores ?? 0));
  const targets = judgeBoth(first, last, targetRatio);
  if (busiest <= HOST_BUSY_CORES) return targets;
  return targets.map((t) => ({
    ...t,
    met: null,
    note: `not judged: other work on this host used ${busiest.toFixed(2)} cores in a step (more than ${HOST_BUSY_CORES})`,
  }));
}

function judgeBoth(first: StepRow, last: StepRow, targetRatio: number | undefined): ExperimentTarget[] {
  const versus = `${workersLabel(last.replicas)} vs ${workersLabel(first.replicas)}`;
  const targets: ExperimentTarget[] = [];
  if (targetRatio !== undefined) {
    targets.push({
      name: `req/s, ${workersLabel(last.replicas)} ÷ ${workersLabel(first.replicas)}`,
      measured: ratio(last.ratio),
      want: `≥ ${targetRatio}×`,
      met: last.ratio === null ? null : last.ratio >= targetRatio,
    });
  }
  targets.push({
    name: `p95 response time, ${versus}`,
    measured: `${ms(last.p95Ms)} ms vs ${ms(first.p95Ms)} ms`,
    want: 'lower',
    met: last.p95Ms === null || first.p95Ms === null ? null : last.p95Ms < first.p95Ms,
  });
  return targets;
}

/** "met", "missed" or "not judged", for the progress lines and the report. */
export function verdict(target: ExperimentTarget): string {
  return target.met === null ? 'not judged' : target.met ? 'met' : 'missed';
}

/** "target: p95 response time, 2 workers vs 1 worker: 412 ms vs 690 ms (want lower): met" */
export function targetLine(target: ExperimentTarget): string {
  return `target: ${target.name}: ${target.measured} (want ${target.want}): ${target.note ?? verdict(target)}`;
}
