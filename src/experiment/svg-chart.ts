// The experiment's chart as one standalone SVG (no script, no external font or style): response
// time (mean and p95 over the sliding window) above, requests/s below, on one time axis; each
// step is a shaded band labelled with its worker count, its settling part hatched. With the
// autoscaler, a third panel: live, desired and asked-for workers as step lines, the users on a
// second axis, and a mark (with its reason as a tooltip) for each scaling decision.
import type { AutoscaleDecision, ReplicaSample, StepTiming, WindowPoint } from './contract.js';

export interface ChartInput {
  /** First line of the chart, e.g. "resnet50 · 16 users · 1 → 2 workers". */
  title: string;
  durationS: number;
  windowS: number;
  points: readonly WindowPoint[];
  steps: readonly StepTiming[];
  /** With the autoscaler: its gauges over time and its decisions (times in seconds since the load started). */
  autoscale?: { samples: readonly ReplicaSample[]; decisions: readonly AutoscaleDecision[] };
}

const W = 960;
const H = 560;
const LEFT = 78;
const RIGHT = 24;
const BAND_TOP = 58; // band labels sit between BAND_TOP and the top panel
const TOP = { y0: 84, y1: 344 }; // response time panel
const BOTTOM = { y0: 380, y1: 494 }; // requests/s panel
const REPLICAS = { y0: 540, y1: 654 }; // the autoscaler's panel, when there is one
const X0 = LEFT;
const X1 = W - RIGHT;
const FONT = 'font-family="\'DejaVu Sans\', Verdana, Arial, sans-serif"';
const COLORS = { mean: '#1f5fbf', p95: '#e8590c', rps: '#2b8a3e', axis: '#444', grid: '#d9d9d9', text: '#222' };
const SCALE_COLORS = { live: '#5f3dc4', desired: '#c2255c', current: '#495057', users: '#9aa3ad', up: '#2b8a3e', down: '#c92a2a' };
const BAND_FILLS = ['#e7eefa', '#f4f4f4'];

export function escapeXml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] ?? c);
}

/** 1, 2 or 5 × 10^k: the tick spacing that gives about `count` ticks up to `max`. */
export function niceStep(max: number, count: number): number {
  if (!(max > 0)) return 1;
  const raw = max / count;
  const magnitude = 10 ** Math.floor(Math.log10(raw));
  const unit = raw / magnitude;
  return (unit <= 1 ? 1 : unit <= 2 ? 2 : unit <= 5 ? 5 : 10) * magnitude;
}

/** Ticks 0, step, … up to the first multiple of step ≥ max. */
export function ticks(max: number, count: number): number[] {
  const step = niceStep(max, count);
  const top = Math.max(step, Math.ceil(max / step - 1e-9) * step);
  const out: number[] = [];
  for (let v = 0; v <= top + step / 1e6; v += step) out.push(Math.round(v * 1e9) / 1e9);
  return out;
}

function fmt(v: number): string {
  return Number.isInteger(v) ? String(v) : v.toFixed(v < 1 ? 2 : 1);
}

function r(v: number): string {
  return (Math.round(v * 10) / 10).toString();
}

export function workersLabel(n: number): string {
  return `${n} worker${n === 1 ? '' : 's'}`;
}

/** Polylines of one series, split where it has no value (no successful request in the window). */
function series(
  name: 'mean' | 'p95' | 'rps',
  points: readonly WindowPoint[],
  value: (p: WindowPoint) => number | null,
  x: (t: number) => number,
  y: (v: number) => number,
): string {
  const runs: string[][] = [[]];
  for (const p of points) {
    const v = value(p);
    if (v === null) {
      if ((runs.at(-1) ?? []).length > 0) runs.push([]);
      continue;
    }
    runs.at(-1)?.push(`${r(x(p.t))},${r(y(v))}`);
  }
  return runs
    .filter((pts) => pts.length > 0)
    .map(
      (pts) =>
        `<polyline class="series" data-series="${name}" points="${pts.join(' ')}" fill="none" stroke="${COLORS[name]}" stroke-width="${name === 'p95' ? 1.8 : 2.2}" stroke-linejoin="round"/>`,
    )
    .join('\n');
}

function yAxis(label: string, panel: { y0: number; y1: number }, tickValues: readonly number[], y: (v: number) => number): string {
  const out: string[] = [];
  for (const v of tickValues) {
    const yy = r(y(v));
    out.push(`<line x1="${X0}" x2="${X1}" y1="${yy}" y2="${yy}" stroke="${COLORS.grid}" stroke-width="1"/>`);
    out.push(`<text x="${X0 - 6}" y="${yy}" text-anchor="end" dominant-baseline="middle" font-size="11" fill="${COLORS.text}">${fmt(v)}</text>`);
  }
  const mid = (panel.y0 + panel.y1) / 2;
  out.push(
    `<text x="18" y="${r(mid)}" transform="rotate(-90 18 ${r(mid)})" text-anchor="middle" font-size="12" fill="${COLORS.text}">${escapeXml(label)}</text>`,
  );
  out.push(`<line x1="${X0}" x2="${X0}" y1="${panel.y0}" y2="${panel.y1}" stroke="${COLORS.axis}"/>`);
  out.push(`<line x1="${X0}" x2="${X1}" y1="${panel.y1}" y2="${panel.y1}" stroke="${COLORS.axis}"/>`);
  return out.join('\n');
}

function legend(): string {
  const items: Array<[string, string]> = [
    ['mean response time', `<line x1="0" x2="22" y1="0" y2="0" stroke="${COLORS.mean}" stroke-width="2.2"/>`],
    ['p95 response time', `<line x1="0" x2="22" y1="0" y2="0" stroke="${COLORS.p95}" stroke-width="1.8"/>`],
    ['requests/s (successful)', `<line x1="0" x2="22" y1="0" y2="0" stroke="${COLORS.rps}" stroke-width="2.2"/>`],
    ['settling (not in the table)', `<rect x="0" y="-7" width="22" height="14" fill="url(#settle-hatch)" stroke="#999" stroke-width="0.5"/>`],
  ];
  let x = X0;
  const out = ['<g class="legend">'];
  for (const [label, swatch] of items) {
    out.push(
      `<g transform="translate(${x},40)">${swatch}<text x="28" y="0" dominant-baseline="middle" font-size="12" fill="${COLORS.text}">${escapeXml(label)}</text></g>`,
    );
    // No text measuring in a static SVG: ~7 px a character at 12 px covers the usual sans fonts.
    x += 28 + label.length * 7 + 22;
  }
  out.push('</g>');
  return out.join('\n');
}

export function renderChart(input: ChartInput): string {
  const duration = Math.max(input.durationS, 1e-3);
  const x = (t: number): number => X0 + (Math.min(Math.max(t, 0), duration) / duration) * (X1 - X0);
  const latencies = input.points.flatMap((p) => [p.meanMs, p.p95Ms]).filter((v): v is number => v !== null);
  const latencyTicks = ticks(Math.max(1, ...latencies), 6);
  const latencyTop = latencyTicks.at(-1) ?? 1;
  const yTop = (v: number): number => TOP.y1 - (v / latencyTop) * (TOP.y1 - TOP.y0);
  const rpsTicks = ticks(Math.max(1, ...input.points.map((p) => p.rps)), 3);
  const rpsTop = rpsTicks.at(-1) ?? 1;
  const yBottom = (v: number): number => BOTTOM.y1 - (v / rpsTop) * (BOTTOM.y1 - BOTTOM.y0);
  // The lowest panel carries the time axis; the chart grows by the autoscaler's panel when it has one.
  const last = input.autoscale === undefined ? BOTTOM : REPLICAS;
  const height = H + (last.y1 - BOTTOM.y1);

  const out: string[] = [];
  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${W} ${height}" width="${W}" height="${height}" ${FONT} role="img" aria-label="${escapeXml(input.title)}">`,
  );
  out.push(`<title>${escapeXml(input.title)}</title>`);
  out.push(
    '<defs><pattern id="settle-hatch" patternUnits="userSpaceOnUse" width="8" height="8" patternTransform="rotate(45)"><rect width="3" height="8" fill="#000" fill-opacity="0.09"/></pattern></defs>',
  );
  out.push(`<rect x="0" y="0" width="${W}" height="${height}" fill="#fff"/>`);
  out.push(`<text x="${X0}" y="20" font-size="15" font-weight="bold" fill="${COLORS.text}">${escapeXml(input.title)}</text>`);
  out.push(legend());

  // Bands first, so everything else is drawn over them.
  out.push('<g class="bands">');
  input.steps.forEach((step, i) => {
    const bx0 = x(step.startS);
    const bx1 = x(step.endS);
    const settleEnd = x(Math.min(step.measuredFromS, step.endS));
    // A narrow band (many steps) gets the bare count: ~8 px a character at 13 px bold.
    // With the autoscaler a step is a load level, not a worker count.
    const full = input.autoscale === undefined ? workersLabel(step.replicas) : `${step.users} users`;
    const label = full.length * 8 <= bx1 - bx0 - 4 ? full : String(input.autoscale === undefined ? step.replicas : step.users);
    out.push(
      `<g class="band" data-step="${step.step}" data-replicas="${step.replicas}">` +
        `<title>step ${step.step}: ${full}, ${fmt(step.startS)}–${fmt(step.endS)} s; the table counts ${fmt(step.measuredFromS)}–${fmt(step.endS)} s</title>` +
        `<rect x="${r(bx0)}" y="${BAND_TOP}" width="${r(Math.max(0, bx1 - bx0))}" height="${last.y1 - BAND_TOP}" fill="${BAND_FILLS[i % 2] ?? '#eee'}"/>` +
        `<rect class="settle" x="${r(bx0)}" y="${TOP.y0}" width="${r(Math.max(0, settleEnd - bx0))}" height="${last.y1 - TOP.y0}" fill="url(#settle-hatch)"/>` +
        `<line x1="${r(bx0)}" x2="${r(bx0)}" y1="${BAND_TOP}" y2="${last.y1}" stroke="#8a99b3" stroke-width="1"/>` +
        `<text class="band-label" x="${r((bx0 + bx1) / 2)}" y="${BAND_TOP + 17}" text-anchor="middle" font-size="13" font-weight="bold" fill="#33415c">${escapeXml(label)}</text>` +
        '</g>',
    );
  });
  out.push('</g>');

  out.push(yAxis(`response time (ms), ${fmt(input.windowS)} s window`, TOP, latencyTicks, yTop));
  out.push(yAxis('requests/s', BOTTOM, rpsTicks, yBottom));
  for (const t of ticks(duration, 10).filter((v) => v <= duration + 1e-9)) {
    const xx = r(x(t));
    out.push(`<line x1="${xx}" x2="${xx}" y1="${last.y1}" y2="${last.y1 + 5}" stroke="${COLORS.axis}"/>`);
    for (const panel of last === BOTTOM ? [TOP] : [TOP, BOTTOM])
      out.push(`<line x1="${xx}" x2="${xx}" y1="${panel.y1}" y2="${panel.y1 + 4}" stroke="${COLORS.axis}"/>`);
    out.push(`<text x="${xx}" y="${last.y1 + 18}" text-anchor="middle" font-size="11" fill="${COLORS.text}">${fmt(t)}</text>`);
  }
  out.push(
    `<text x="${r((X0 + X1) / 2)}" y="${last.y1 + 40}" text-anchor="middle" font-size="12" fill="${COLORS.text}">time since the load started (s)</text>`,
  );

  out.push(series('p95', input.points, (p) => p.p95Ms, x, yTop));
  out.push(series('mean', input.points, (p) => p.meanMs, x, yTop));
  out.push(series('rps', input.points, (p) => p.rps, x, yBottom));
  if (input.autoscale !== undefined) out.push(autoscalePanel(input.autoscale, input.steps, duration, x));
  out.push('</svg>');
  return out.join('\n');
}

/** Points of a step line through (t, v): each value holds until the next one. */
function stepPoints(values: ReadonlyArray<{ t: number; v: number }>, x: (t: number) => number, y: (v: number) => number): string {
  const pts: string[] = [];
  values.forEach((p, i) => {
    const prev = values[i - 1];
    if (prev !== undefined) pts.push(`${r(x(p.t))},${r(y(prev.v))}`);
    pts.push(`${r(x(p.t))},${r(y(p.v))}`);
  });
  return pts.join(' ');
}

/**
 * The autoscaler's panel: live (actual), desired and asked-for workers as step lines on the
 * left axis, the users of each step on the right one, and a triangle per decision whose
 * <title> (the browser's tooltip) gives its reason.
 */
function autoscalePanel(a: NonNullable<ChartInput['autoscale']>, steps: readonly StepTiming[], duration: number, x: (t: number) => number): string {
  const inRun = a.samples.filter((s) => s.t >= 0 && s.t <= duration);
  const gauges = ['live', 'desired', 'current'] as const;
  const workerValues = [...inRun.flatMap((s) => gauges.map((g) => s[g] ?? 0)), ...a.decisions.map((d) => d.replicas)];
  const workerTicks = ticks(Math.max(2, ...workerValues), 4).filter((v) => Number.isInteger(v));
  const workerTop = workerTicks.at(-1) ?? 1;
  const y = (v: number): number => REPLICAS.y1 - (Math.min(v, workerTop) / workerTop) * (REPLICAS.y1 - REPLICAS.y0);
  const userTicks = ticks(Math.max(1, ...steps.map((s) => s.users)), 4);
  const userTop = userTicks.at(-1) ?? 1;
  const yUsers = (v: number): number => REPLICAS.y1 - (v / userTop) * (REPLICAS.y1 - REPLICAS.y0);

  const out: string[] = ['<g class="autoscale">', yAxis('workers', REPLICAS, workerTicks, y)];
  for (const v of userTicks)
    out.push(`<text x="${X1 - 3}" y="${r(yUsers(v) - 6)}" text-anchor="end" font-size="10" fill="${SCALE_COLORS.users}">${fmt(v)}</text>`);
  const users = steps.flatMap((s) => [
    { t: s.startS, v: s.users },
    { t: s.endS, v: s.users },
  ]);
  out.push(
    `<polyline class="series" data-series="users" points="${stepPoints(users, x, yUsers)}" fill="none" stroke="${SCALE_COLORS.users}" stroke-width="2"/>`,
  );
  const styles = { live: 'stroke-width="2.4"', desired: 'stroke-width="1.6" stroke-dasharray="6 4"', current: 'stroke-width="1.2" stroke-dasharray="2 3"' };
  for (const g of ['current', 'desired', 'live'] as const) {
    const values = inRun.filter((s) => s[g] !== null).map((s) => ({ t: s.t, v: s[g] ?? 0 }));
    if (values.length > 0)
      out.push(
        `<polyline class="series" data-series="${g}" points="${stepPoints(values, x, y)}" fill="none" stroke="${SCALE_COLORS[g]}" ${styles[g]} stroke-linejoin="round"/>`,
      );
  }
  for (const d of a.decisions.filter((d) => d.t >= 0 && d.t <= duration)) {
    const cx = x(d.t);
    const cy = y(d.replicas);
    const path = d.direction === 'up' ? `M${r(cx)},${r(cy - 7)} l6,10 h-12 z` : `M${r(cx)},${r(cy + 7)} l6,-10 h-12 z`;
    out.push(
      `<g class="decision" data-direction="${d.direction}" data-reason="${escapeXml(d.reason)}"><title>${escapeXml(`${d.direction} ${d.from} → ${d.replicas} at ${d.t.toFixed(1)} s: ${d.reason} (desired ${d.desired})`)}</title>` +
        `<path d="${path}" fill="${SCALE_COLORS[d.direction]}" stroke="#fff" stroke-width="1"/></g>`,
    );
  }
  const items: Array<[string, string]> = [
    ['live workers', `<line x1="0" x2="22" y1="0" y2="0" stroke="${SCALE_COLORS.live}" stroke-width="2.4"/>`],
    ['desired', `<line x1="0" x2="22" y1="0" y2="0" stroke="${SCALE_COLORS.desired}" stroke-width="1.6" stroke-dasharray="6 4"/>`],
    ['asked for', `<line x1="0" x2="22" y1="0" y2="0" stroke="${SCALE_COLORS.current}" stroke-width="1.2" stroke-dasharray="2 3"/>`],
    ['users (right scale)', `<line x1="0" x2="22" y1="0" y2="0" stroke="${SCALE_COLORS.users}" stroke-width="2"/>`],
    ['scale up', `<path d="M11,-6 l6,10 h-12 z" fill="${SCALE_COLORS.up}"/>`],
    ['scale down', `<path d="M11,6 l6,-10 h-12 z" fill="${SCALE_COLORS.down}"/>`],
  ];
  let lx = X0;
  out.push('<g class="legend">');
  for (const [label, swatch] of items) {
    out.push(
      `<g transform="translate(${lx},${REPLICAS.y0 - 16})">${swatch}<text x="28" y="0" dominant-baseline="middle" font-size="12" fill="${COLORS.text}">${escapeXml(label)}</text></g>`,
    );
    lx += 28 + label.length * 7 + 18;
  }
  out.push('</g>', '</g>');
  return out.join('\n');
}
