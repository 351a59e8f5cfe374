// `swarmserve experiment --local` as users run it: the real CLI, a real redis-server, gateway
// and resnet50 workers started by it. One run at 16 users, 1 then 2 workers, proves the
// mechanism: each worker's own counter shows work, no request fails across the scale-up, and
// 2 workers serve more than 1 by a margin noise cannot cross (≥ 1.1×). The speed targets
// (≥ 1.3×, a lower p95) are judged and printed by the experiment itself (its `targets`) and
// by `npm run bench:experiment`, where a miss on a slow or shared host is a finding, not a red
// test. Headless Chromium then opens its report. Also: an interrupted run leaves no process
// nor directory behind, and bad arguments exit 2. The report, its timeline and chart, and the
// screenshot stay in bench/results/ (git-ignored).
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ExperimentSummary } from '../../src/experiment/contract.js';
import { HOST_BUSY_CORES } from '../../src/experiment/format.js';
import { CLI, ROOT, ensureBuilt } from '../helpers/process.js';
import { withReportPage } from '../helpers/chromium.js';
import { processAlive } from '../swarm/exec.js';

const RESULTS = join(ROOT, 'bench', 'results');
const REPORT = join(RESULTS, 'experiment-e2e.html');
const SCREENSHOT = join(RESULTS, 'experiment-e2e.png');
/** What proves that adding a worker adds capacity, with a margin noise cannot cross. */
const MECHANISM_RATIO = 1.1;
/** The speed target, judged by the experiment and reported, not asserted (a slow host misses it). */
const TARGET_RATIO = 1.3;

interface Run {
  child: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  exit: Promise<number | null>;
}

function start(args: string[], env: NodeJS.ProcessEnv = {}): Run {
  const child = spawn(process.execPath, [CLI, 'experiment', ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  const exit = new Promise<number | null>((resolve) => child.once('exit', (code, signal) => resolve(code ?? (signal === null ? null : -1))));
  return { child, stdout: () => stdout, stderr: () => stderr, exit };
}

/** What the report test reads in the page: points per series (as the browser parsed them), bands, table rows, chart texts. */
interface ChartInPage {
  mean: number;
  p95: number;
  rps: number;
  bands: Array<{ step: string | null; label: string; width: number }>;
  rows: number;
  targets: string[][];
  axis: string[];
}

const started: Run[] = [];
function track(run: Run): Run {
  started.push(run);
  return run;
}

/** Pids of everything the local scaler said it started, and its Redis directory. */
function startedByIt(stderr: string): { pids: number[]; dir: string | undefined } {
  const pids = [...stderr.matchAll(/^local: (?:redis-server|gateway|worker \d+) pid (\d+)/gm)].map((m) => Number(m[1]));
  return { pids, dir: /data in (\S+)\)/.exec(stderr)?.[1] };
}

async function waitFor(what: string, check: () => boolean, timeoutMs: number, run: Run): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (run.child.exitCode !== null) throw new Error(`the experiment exited (${run.child.exitCode}) before ${what}:\n${run.stderr()}`);
    if (Date.now() > deadline) throw new Error(`${what} not seen within ${timeoutMs} ms:\n${run.stderr()}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

afterAll(async () => {
  // A failed test must not leave an experiment (and its workers) running.
  for (const run of started) {
    if (run.child.exitCode === null && run.child.signalCode === null) {
      run.child.kill('SIGINT');
      const timer = setTimeout(() => run.child.kill('SIGKILL'), 30_000);
      await run.exit;
      clearTimeout(timer);
    }
  }
});

describe('swarmserve experiment --local (resnet50, 16 users, 1 → 2 workers)', () => {
  let run: Run;
  let code: number | null;
  let summary: ExperimentSummary;

  beforeAll(async () => {
    ensureBuilt();
    mkdirSync(RESULTS, { recursive: true });
    for (const ext of ['.html', '.json', '.svg']) rmSync(REPORT.replace(/\.html$/, ext), { force: true });
    run = track(
      start([
        '--local',
        '--model',
        'resnet50',
        '--users',
        '16',
        '--wait',
        '0',
        '--replicas',
        '1,2',
        '--step',
        '25s',
        '--settle',
        '8s',
        '--target-ratio',
        String(TARGET_RATIO),
        '--out',
        REPORT,
        '--json',
      ]),
    );
    code = await run.exit;
    summary = JSON.parse(run.stdout()) as ExperimentSummary;
    process.stdout.write(
      `experiment: ${JSON.stringify(summary.steps.map((s) => ({ workers: s.replicas, rps: s.rps, p95Ms: s.p95Ms, meanMs: s.meanMs, requests: s.requests, ratio: s.ratio, images: s.imagesByReplica })))}\n`,
    );
    for (const t of summary.targets)
      process.stdout.write(
        `experiment target: ${t.name}: ${t.measured} (want ${t.want}): ${t.note ?? (t.met === null ? 'not judged' : t.met ? 'met' : 'MISSED')}\n`,
      );
    process.stdout.write(`experiment: other work on the host per step: ${JSON.stringify(summary.steps.map((s) => s.otherCores))} cores\n`);
  }, 600_000);

  it('each worker does work, 2 workers serve more than 1 (≥ 1.1×), and no request fails across the scale-up', () => {
    expect(code, run.stderr()).toBe(0);
    const [one, two] = summary.steps;
    expect(summary.steps.map((s) => s.replicas)).toEqual([1, 2]);
    expect(one?.requests).toBeGreaterThan(50);
    // Every replica's own counter: the work really went to both workers.
    expect(Object.keys(one?.imagesByReplica ?? {})).toEqual(['worker 1']);
    expect(Object.keys(two?.imagesByReplica ?? {})).toEqual(['worker 1', 'worker 2']);
    for (const step of summary.steps)
      for (const images of Object.values(step.imagesByReplica ?? {})) expect(images, JSON.stringify(step.imagesByReplica)).toBeGreaterThan(0);
    // More throughput with 2 workers than 1 needs a second core to run on: judged when other
    // work left the host's cores to the experiment (a spin loop on one of 2 cores left 1.14×).
    const otherCores = Math.max(...summary.steps.map((s) => s.otherCores ?? 0));
    if (otherCores <= HOST_BUSY_CORES) expect(two?.ratio).toBeGreaterThanOrEqual(MECHANISM_RATIO);
    else process.stdout.write(`experiment: other work used ${otherCores} cores: the ${MECHANISM_RATIO}× check is not judged (${two?.ratio}× measured)\n`);
    expect(summary.steps.every((s) => s.otherCores !== null)).toBe(true);
    expect(summary.totals.failures).toBe(0);
    expect(summary.totals.requests).toBeGreaterThan((one?.requests ?? 0) + (two?.requests ?? 0));
    // Per-step lines as it went, then the table went to --json's summary.
    expect(run.stderr()).toMatch(/^step 1\/2 · 1 worker · 17\.0 s measured: \d+ requests, 0 failed/m);
    expect(run.stderr()).toMatch(
      /^step 2\/2 · 2 workers · [\d.]+ s measured: \d+ requests, 0 failed, [\d.]+ req\/s \([\d.]+× step 1\).*; images by replica: worker 1 \d+, worker 2 \d+(; other work on this host: [\d.]+ cores)?$/m,
    );
  });

  it('judges the speed targets beside the figures (≥ 1.3×, a lower p95), in the summary and on stderr, whatever they say', () => {
    const [one, two] = summary.steps;
    expect(summary.settings.targetRatio).toBe(TARGET_RATIO);
    const busy = summary.steps.some((s) => (s.otherCores ?? 0) > HOST_BUSY_CORES);
    const judged = (met: boolean): object =>
      busy ? { met: null, note: expect.stringMatching(/^not judged: other work on this host used/) as string } : { met };
    expect(summary.targets).toEqual([
      { name: 'req/s, 2 workers ÷ 1 worker', measured: `${two?.ratio?.toFixed(2)}×`, want: `≥ ${TARGET_RATIO}×`, ...judged((two?.ratio ?? 0) >= TARGET_RATIO) },
      {
        name: 'p95 response time, 2 workers vs 1 worker',
        measured: expect.stringMatching(/^[\d.]+ ms vs [\d.]+ ms$/) as string,
        want: 'lower',
        ...judged((two?.p95Ms ?? 0) < (one?.p95Ms ?? 0)),
      },
    ]);
    expect(run.stderr()).toMatch(/^target: req\/s, 2 workers ÷ 1 worker: [\d.]+× \(want ≥ 1\.3×\): (met|missed|not judged: .*)$/m);
    expect(run.stderr()).toMatch(/^target: p95 response time, 2 workers vs 1 worker: [\d.]+ ms vs [\d.]+ ms \(want lower\): (met|missed|not judged: .*)$/m);
  });

  it('writes the report, the chart and the raw timeline, whose requests add up to the summary', () => {
    expect(summary.files).toEqual({ report: REPORT, timeline: REPORT.replace(/\.html$/, '.json'), chart: REPORT.replace(/\.html$/, '.svg') });
    const timeline = JSON.parse(readFileSync(summary.files.timeline, 'utf8')) as {
      summary: ExperimentSummary;
      requests: { t: number[]; ok: number[] };
      series: unknown[];
    };
    expect(timeline.summary).toEqual(summary);
    expect(timeline.requests.t).toHaveLength(summary.totals.requests);
    expect(timeline.series).toHaveLength(50);
    // The step's own end, not 2 × 25 s: a step starts when the scaling call returns, a little after its nominal time.
    const inStep2 = timeline.requests.t.filter((t) => t >= (summary.steps[1]?.measuredFromS ?? 0) && t < (summary.steps[1]?.endS ?? 0)).length;
    expect(inStep2).toBe(summary.steps[1]?.requests);
    expect(readFileSync(summary.files.chart, 'utf8')).toMatch(/^<svg xmlns/);
  });

  it('stops everything it started: no process left, its Redis directory removed', () => {
    const { pids, dir } = startedByIt(run.stderr());
    expect(pids).toHaveLength(4); // redis-server, gateway, 2 workers
    expect(pids.filter(processAlive)).toEqual([]);
    expect(dir).toBeDefined();
    expect(existsSync(dir ?? '/')).toBe(false);
  });

  it('the report opens in headless Chromium: both series with ≥ 10 points, one band per step, no console error', async () => {
    await withReportPage(REPORT, async (page, errors) => {
      // In-page code as a string: this project compiles without the DOM library.
      const chart = await page.evaluate<ChartInPage>(`(() => {
        const count = (name) => [...document.querySelectorAll('polyline[data-series="' + name + '"]')].reduce((n, line) => n + line.points.numberOfItems, 0);
        const bands = [...document.querySelectorAll('svg g.band')];
        return {
          mean: count('mean'),
          p95: count('p95'),
          rps: count('rps'),
          bands: bands.map((b) => ({ step: b.getAttribute('data-step'), label: b.querySelector('.band-label')?.textContent ?? '', width: b.querySelector('rect')?.getBoundingClientRect().width ?? 0 })),
          rows: document.querySelectorAll('table.steps tbody tr').length,
          targets: [...document.querySelectorAll('table.targets tbody tr')].map((tr) => [...tr.cells].map((c) => c.textContent)),
          axis: [...document.querySelectorAll('svg text')].map((t) => t.textContent ?? ''),
        };
      })()`);
      expect(chart.mean).toBeGreaterThanOrEqual(10);
      expect(chart.p95).toBeGreaterThanOrEqual(10);
      expect(chart.rps).toBeGreaterThanOrEqual(10);
      expect(chart.bands.map((b) => [b.step, b.label])).toEqual([
        ['1', '1 worker'],
        ['2', '2 workers'],
      ]);
      expect(chart.bands.every((b) => b.width > 100)).toBe(true);
      expect(chart.rows).toBe(2);
      expect(chart.targets.map((cells) => cells[0])).toEqual(summary.targets.map((t) => t.name));
      expect(chart.targets.map((cells) => cells[3])).toEqual(summary.targets.map((t) => t.note ?? (t.met === null ? 'not judged' : t.met ? 'met' : 'missed')));
      expect(chart.axis).toEqual(
        expect.arrayContaining(['response time (ms), 10 s window', 'requests/s', 'time since the load started (s)', 'mean response time', 'p95 response time']),
      );
      await page.screenshot({ path: SCREENSHOT, fullPage: true });
      expect(errors).toEqual([]);
    });
    expect(existsSync(SCREENSHOT)).toBe(true);
  });
});

describe('swarmserve experiment: interrupts and bad arguments', () => {
  it('SIGINT during the load stops the load and every process it started, removes its directory, exits 130', async () => {
    ensureBuilt();
    mkdirSync(RESULTS, { recursive: true });
    const out = join(RESULTS, 'experiment-interrupted.html');
    rmSync(out, { force: true });
    const run = track(start(['--local', '--users', '4', '--replicas', '1,2', '--step', '60s', '--settle', '5s', '--out', out]));
    await waitFor('the load start', () => run.stderr().includes('\nload: 4 users'), 180_000, run);
    const { pids, dir } = startedByIt(run.stderr());
    expect(pids).toHaveLength(3); // redis-server, gateway, worker 1
    expect(pids.every(processAlive)).toBe(true);
    run.child.kill('SIGINT');
    expect(await run.exit).toBe(130);
    expect(run.stderr()).toContain('SIGINT: stopping the load and everything the experiment started');
    expect(pids.filter(processAlive)).toEqual([]);
    expect(existsSync(dir ?? '/')).toBe(false);
    expect(existsSync(out)).toBe(false);
  }, 300_000);

  it('bad arguments: one line and exit 2, before anything starts', async () => {
    const cases: Array<[string[], RegExp]> = [
      [[], /choose where the workers run: --local .* or --swarm SERVICE URL/],
      [['--local', '--swarm', 'swarmserve_worker'], /choose where the workers run/],
      [['--swarm', 'swarmserve_worker'], /needs the gateway URL/],
      [['--local', '--replicas', '1,0'], /--replicas: "1,0" is not a list of worker counts/],
      [['--local', '--step', '10s', '--settle', '10s'], /--settle \(10s\) must be shorter than --step \(10s\)/],
      [['--local', '--users', 'many'], /--users: /],
      [['--local', '--wait', '5-1'], /--wait: expected a wait range A-B .*got "5-1"/],
      [['--local', '--image', '/nonexistent.jpg'], /--image \/nonexistent.jpg: cannot read it \(ENOENT\)/],
      [['--local', '--out', '/nonexistent/dir/report.html'], /--out .*cannot write in \/nonexistent\/dir/],
      [['--swarm', 'swarmserve_worker', 'http://127.0.0.1:8080', '--threads', '2'], /--threads is for --local/],
      [['--local', '--no-such-flag'], /unknown option '--no-such-flag'/],
      [['--local', '--autoscale', '--replicas', '1,2'], /--autoscale lets the autoscaler choose the worker count: give no --replicas/],
      [['--swarm', 'swarmserve_worker', 'http://127.0.0.1:8080', '--autoscale'], /--autoscale is for --local .*run the stack's autoscaler service/],
      [['--local', '--max', '3'], /--max is for --autoscale/],
      [['--local', '--users', '2,20', '--replicas', '1,2,3'], /--users lists 2 steps and --replicas 3/],
    ];
    for (const [args, message] of cases) {
      const run = start(args);
      expect(await run.exit, args.join(' ')).toBe(2);
      expect(run.stderr(), args.join(' ')).toMatch(message);
      expect(run.stderr()).not.toMatch(/^\s+at /m); // no stack trace
    }
  }, 120_000);

  it('--swarm without a reachable Docker Engine: DOCKER_UNAVAILABLE, exit 1', async () => {
    const run = start(['--swarm', 'swarmserve_worker', 'http://127.0.0.1:8080'], { DOCKER_HOST: 'unix:///nonexistent/docker.sock' });
    expect(await run.exit).toBe(1);
    expect(run.stderr()).toMatch(/^swarmserve: DOCKER_UNAVAILABLE: cannot reach the Docker Engine at unix:\/\/\/nonexistent\/docker.sock \(ENOENT\)/m);
  });
});
