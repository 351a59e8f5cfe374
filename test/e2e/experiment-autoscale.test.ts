// `swarmserve experiment --local --autoscale` as users run it (issue 21, item 7): the real CLI
// starts Redis, a gateway and `swarmserve autoscale --local`, whose workers serve the delay
// test double (100 ms per job: 10 jobs/s a worker, no CPU). The load goes 2 → 20 → 2 users:
// the autoscaler must scale up for the 20 and back down after its stabilization window.
// Headless Chromium opens the report: the workers' series takes more than one value, and up
// and down decisions are marked. Everything it started, the autoscaler's workers included, is
// gone afterwards.
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ExperimentSummary } from '../../src/experiment/contract.js';
import { delayModelImage, makeDelayRepository } from '../helpers/delay-model.js';
import { CLI, ROOT, ensureBuilt } from '../helpers/process.js';
import { withReportPage } from '../helpers/chromium.js';
import { processAlive } from '../swarm/exec.js';
import { writeFile } from 'node:fs/promises';

const RESULTS = join(ROOT, 'bench', 'results');
const REPORT = join(RESULTS, 'experiment-autoscale-e2e.html');

interface InPage {
  live: number[];
  desired: number;
  users: number;
  decisions: Array<{ direction: string | null; title: string }>;
  bands: string[];
  rows: string[][];
}

describe('swarmserve experiment --local --autoscale (delay model, users 2 → 20 → 2)', () => {
  let repo: Awaited<ReturnType<typeof makeDelayRepository>> | undefined;
  let code: number | null = null;
  let stderr = '';
  let summary: ExperimentSummary;

  beforeAll(async () => {
    ensureBuilt();
    mkdirSync(RESULTS, { recursive: true });
    for (const ext of ['.html', '.json', '.svg']) rmSync(REPORT.replace(/\.html$/, ext), { force: true });
    repo = await makeDelayRepository({ delayMs: 100, maxBatch: 1 });
    const image = join(RESULTS, 'experiment-autoscale-request.png');
    await writeFile(image, await delayModelImage());
    const args = [
      ...['--local', '--autoscale', '--models', repo.root, '--model', 'delay', '--image', image],
      ...['--users', '2,20,2', '--step', '20s', '--settle', '5s', '--window', '5s'],
      ...['--max', '4', '--stabilization', '8s', '--interval', '1s', '--target-wait', '300ms'],
      ...['--out', REPORT, '--json'],
    ];
    const child = spawn(process.execPath, [CLI, 'experiment', ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    // A hung run must not outlive the test: SIGINT, which stops everything it started.
    const timer = setTimeout(() => child.kill('SIGINT'), 100_000);
    code = await new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)));
    clearTimeout(timer);
    summary = JSON.parse(stdout === '' ? 'null' : stdout) as ExperimentSummary;
    process.stdout.write(
      `experiment --autoscale: ${JSON.stringify(summary?.steps.map((s) => ({ users: s.users, workers: s.replicaRange, rps: s.rps, p95Ms: s.p95Ms })))}; decisions ${JSON.stringify(summary?.autoscaler?.decisions)}\n`,
    );
  }, 150_000);

  afterAll(async () => {
    await repo?.cleanup();
  });

  it('follows the load: up for 20 users, down after the window, no request failed', () => {
    expect(code, stderr).toBe(0);
    expect(summary.steps.map((s) => s.users)).toEqual([2, 20, 2]);
    expect(summary.settings.replicas).toBeNull();
    expect(summary.settings.autoscale).toEqual({ max: 4, stabilizationMs: 8000, targetWaitMs: 300, intervalMs: 1000 });
    const [one, two] = summary.steps;
    expect(two?.replicaRange?.max ?? 0).toBeGreaterThan(one?.replicaRange?.min ?? 0);
    const decisions = summary.autoscaler?.decisions ?? [];
    expect(decisions.some((d) => d.direction === 'up' && d.t > 0)).toBe(true);
    expect(decisions.some((d) => d.direction === 'down')).toBe(true);
    expect((summary.autoscaler?.samples.length ?? 0) > 40).toBe(true);
    expect(summary.totals.failures).toBe(0);
    expect(summary.targets).toEqual([]);
    expect(stderr).toMatch(/^autoscaler: up \d+ → \d+ \(/m);
    expect(stderr).toMatch(/^step 2\/3 · 20 users · [\d–]+ workers? · /m);
  });

  it('stops everything it started, the autoscaler and its workers included', () => {
    const pids = [...stderr.matchAll(/^local: (?:redis-server|gateway|autoscaler|worker \d+) pid (\d+)/gm)].map((m) => Number(m[1]));
    expect(pids.length).toBeGreaterThanOrEqual(4); // redis-server, gateway, autoscaler, ≥ 1 worker
    expect(pids.filter(processAlive)).toEqual([]);
    const dir = /data in (\S+)\)/.exec(stderr)?.[1];
    expect(existsSync(dir ?? '/')).toBe(false);
  });

  it('the report opens in Chromium: the workers series takes several values, up and down decisions are marked', async () => {
    await withReportPage(REPORT, async (page, errors) => {
      // In-page code as a string: this project compiles without the DOM library.
      const seen = await page.evaluate<InPage>(`(() => {
        const line = (name) => document.querySelector('polyline[data-series="' + name + '"]');
        const ys = (el) => el === null ? [] : [...Array(el.points.numberOfItems).keys()].map((i) => Math.round(el.points.getItem(i).y));
        return {
          live: [...new Set(ys(line('live')))],
          desired: ys(line('desired')).length,
          users: ys(line('users')).length,
          decisions: [...document.querySelectorAll('svg g.decision')].map((g) => ({ direction: g.getAttribute('data-direction'), title: g.querySelector('title')?.textContent ?? '' })),
          bands: [...document.querySelectorAll('svg g.band .band-label')].map((t) => t.textContent ?? ''),
          rows: [...document.querySelectorAll('table.steps tbody tr')].map((tr) => [...tr.cells].map((c) => c.textContent ?? '')),
        };
      })()`);
      expect(seen.live.length, 'distinct heights of the live workers line').toBeGreaterThan(1);
      expect(seen.desired).toBeGreaterThan(10);
      expect(seen.users).toBeGreaterThan(2);
      expect(seen.decisions.filter((d) => d.direction === 'up').length).toBeGreaterThanOrEqual(1);
      expect(seen.decisions.filter((d) => d.direction === 'down').length).toBeGreaterThanOrEqual(1);
      for (const d of seen.decisions) expect(d.title).toMatch(/^(up|down) \d+ → \d+ at [\d.]+ s: [a-z-]+ \(desired \d+\)$/);
      expect(seen.bands).toEqual(['2 users', '20 users', '2 users']);
      expect(seen.rows.map((r) => r[2])).toEqual(['2', '20', '2']);
      await page.screenshot({ path: REPORT.replace(/\.html$/, '.png'), fullPage: true });
      expect(errors).toEqual([]);
    });
  });
});
