import { describe, expect, it } from 'vitest';
import type { WindowPoint } from './contract.js';
import { niceStep, renderChart, ticks, workersLabel } from './svg-chart.js';

const point = (t: number, meanMs: number | null, p95Ms: number | null, rps: number): WindowPoint => ({ t, requests: 1, failures: 0, rps, meanMs, p95Ms });

const steps = [
  { step: 1, replicas: 1, users: 16, replicaRange: null, startS: 0, readyS: 0, measuredFromS: 5, endS: 20 },
  { step: 2, replicas: 2, users: 16, replicaRange: null, startS: 20, readyS: 22, measuredFromS: 25, endS: 40 },
];

describe('ticks', () => {
  it('steps of 1, 2 or 5 × 10^k up to the first multiple at or above the maximum', () => {
    expect(niceStep(95, 6)).toBe(20);
    expect(ticks(95, 6)).toEqual([0, 20, 40, 60, 80, 100]);
    expect(ticks(40, 10)).toEqual([0, 5, 10, 15, 20, 25, 30, 35, 40]);
    expect(ticks(0.7, 3)).toEqual([0, 0.5, 1]);
    expect(ticks(0.7, 7)).toEqual([0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7]);
    expect(niceStep(0, 5)).toBe(1);
  });
});

describe('renderChart', () => {
  const points = Array.from({ length: 40 }, (_, i) => point(i + 1, i === 10 ? null : 400 - i * 5, i === 10 ? null : 600 - i * 5, i === 10 ? 0 : 10 + i / 2));
  const svg = renderChart({ title: 'resnet50 <test> & more', durationS: 40, windowS: 10, points, steps });

  it('is standalone SVG with the title escaped', () => {
    expect(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"')).toBe(true);
    expect(svg.trimEnd().endsWith('</svg>')).toBe(true);
    expect(svg).toContain('resnet50 &lt;test&gt; &amp; more');
    expect(svg).not.toContain('<test>');
  });

  it('has one band per step, labelled with its workers, and the settling part hatched', () => {
    expect(svg.match(/<g class="band" /g)).toHaveLength(2);
    expect(svg).toContain('data-step="1" data-replicas="1"');
    expect(svg).toContain('>1 worker</text>');
    expect(svg).toContain('>2 workers</text>');
    expect(svg.match(/class="settle"/g)).toHaveLength(2);
    expect(workersLabel(1)).toBe('1 worker');
    expect(workersLabel(3)).toBe('3 workers');
  });

  it('labels a narrow band with the bare count', () => {
    const many = Array.from({ length: 40 }, (_, i) => ({
      step: i + 1,
      replicas: 10 + i,
      users: 16,
      replicaRange: null,
      startS: i,
      readyS: i,
      measuredFromS: i + 0.5,
      endS: i + 1,
    }));
    const narrow = renderChart({ title: 't', durationS: 40, windowS: 10, points, steps: many });
    expect(narrow.match(/<g class="band" /g)).toHaveLength(40);
    expect(narrow).toContain('class="band-label" x="88.7" y="75" text-anchor="middle" font-size="13" font-weight="bold" fill="#33415c">10</text>');
    expect(narrow).toContain('<title>step 1: 10 workers, 0–1 s');
    expect(narrow).not.toContain('>10 workers</text>');
  });

  it('draws each series with one point per sample, split where the window had no success', () => {
    const polylines = [...svg.matchAll(/<polyline class="series" data-series="(\w+)" points="([^"]*)"/g)];
    const count = (name: string): number[] => polylines.filter((m) => m[1] === name).map((m) => (m[2] ?? '').split(' ').length);
    expect(count('mean')).toEqual([10, 29]);
    expect(count('p95')).toEqual([10, 29]);
    expect(count('rps')).toEqual([40]);
  });

  it('labels both axes with units and has a legend', () => {
    for (const text of [
      'requests/s',
      'time since the load started (s)',
      'response time (ms), 10 s window',
      'mean response time',
      'p95 response time',
      'settling (not in the table)',
    ]) {
      expect(svg).toContain(text);
    }
    // The p95 line peaks at 600 ms: the axis goes to 600 in steps of 100.
    expect(svg).toMatch(/>600<\/text>/);
    expect(svg).not.toMatch(/>700<\/text>/);
  });
});

describe('renderChart with the autoscaler', () => {
  const points = Array.from({ length: 40 }, (_, i) => point(i + 1, 100, 150, 10));
  const scaled = [{ ...steps[0], users: 2 } as (typeof steps)[number], { ...steps[1], users: 20 } as (typeof steps)[number]];
  const samples = Array.from({ length: 40 }, (_, t) => ({ t, desired: t < 20 ? 1 : 3, current: t < 22 ? 1 : 3, live: t < 25 ? 1 : 3 }));
  const decisions = [
    { t: 21.5, direction: 'up' as const, reason: 'arrival-above-capacity', from: 1, replicas: 3, desired: 3 },
    { t: 38, direction: 'down' as const, reason: 'below-for-the-window', from: 3, replicas: 2, desired: 1 },
    { t: -2, direction: 'up' as const, reason: 'at-min', from: 0, replicas: 1, desired: 0 },
  ];
  const svg = renderChart({ title: 't', durationS: 40, windowS: 10, points, steps: scaled, autoscale: { samples, decisions } });

  it('adds a panel with live, desired and asked-for workers as step lines, and the users', () => {
    for (const name of ['live', 'desired', 'current', 'users']) expect(svg).toContain(`data-series="${name}"`);
    const live = /data-series="live" points="([^"]+)"/.exec(svg)?.[1]?.split(' ') ?? [];
    // a step line: 40 samples, one extra point per sample after the first
    expect(live).toHaveLength(79);
    expect(svg).toContain('>20 users</text>');
    expect(svg).toMatch(/viewBox="0 0 960 720"/);
  });

  it('marks each decision in the run, with its reason in a tooltip', () => {
    expect(svg.match(/<g class="decision" /g)).toHaveLength(2);
    expect(svg).toContain(
      '<g class="decision" data-direction="up" data-reason="arrival-above-capacity"><title>up 1 → 3 at 21.5 s: arrival-above-capacity (desired 3)</title>',
    );
    expect(svg).toContain('data-direction="down" data-reason="below-for-the-window"');
  });
});
