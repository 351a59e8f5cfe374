// The live dashboard end to end (GET /dashboard, its assets and /dashboard/stream), on real
// processes of the built CLI and one real redis-server shared by three deployments (each its
// own key prefix), all serving the delay test double (20 ms per batch of up to 4: no real
// inference, so a steady load costs next to no CPU):
// 1. a gateway and two workers under a steady load, the page in headless Chromium: it goes
//    live, every chart it shows has data within 3 s, both workers are listed, the request
//    total is the gateway's /metrics, a worker killed with SIGKILL leaves the table once its
//    heartbeat expires; a screenshot goes to bench/results/dashboard.png;
// 2. two gateways on one Redis: the stream of each counts the traffic of both;
// 3. API keys on: the page and its assets load without a key, the stream needs one; in
//    Chromium the page asks for it, goes live with it, and never puts it in a URL;
// 4. embedded mode (`swarmserve serve`): the same stream from memory, one worker row.
// Every process and Redis are stopped in afterAll, whether the tests passed or not.
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Frame, StreamMessage } from '../../src/dashboard/contract.js';
import { withPage } from '../helpers/chromium.js';
import { allSettled, DashboardCluster, HEARTBEAT_EXPIRY_MS, metricSum, readStream, sleep, steadyLoad, until, type LoadResult } from '../helpers/dashboard.js';
import { delayModelImage } from '../helpers/delay-model.js';
import { ROOT, stopProcess, type CliProcess, type ServeProcess } from '../helpers/process.js';

const RESULTS = join(ROOT, 'bench', 'results');
const SCREENSHOT = join(RESULTS, 'dashboard.png');
const CHARTS = ['requests', 'latency-total', 'latency-queue', 'latency-inference', 'batch', 'backlog', 'workers', 'autoscaler'];
const KEY = `dash-${randomBytes(12).toString('hex')}`;
const RUN = Date.now().toString(36);

let cluster: DashboardCluster | undefined;
let keysDir: string | undefined;
let image: Buffer;
// 1: one gateway, two workers. 2: gateways A and B, one worker. 3: a gateway with API keys (no worker: the page needs none). 4: embedded.
let one: { gateway: CliProcess; workers: [CliProcess, CliProcess] };
let two: { a: CliProcess; b: CliProcess };
let keyed: CliProcess;
let embedded: ServeProcess;

beforeAll(async () => {
  cluster = await DashboardCluster.start({ delayMs: 20, maxBatch: 4 });
  keysDir = mkdtempSync(join(tmpdir(), 'swarmserve-dashboard-'));
  writeFileSync(join(keysDir, 'keys'), `${KEY}\n`);
  image = await delayModelImage();
  const c = cluster;
  const started = Date.now();
  // All at once (5.5 s on 2 cores, 16 s when other work loads them); allSettled leaves nothing starting behind a failure.
  const [g1, w1, w2, ga, gb, , gk, serve] = await allSettled<
    [CliProcess, CliProcess, CliProcess, CliProcess, CliProcess, CliProcess, CliProcess, ServeProcess]
  >([
    c.spawn('gateway', `dash-${RUN}-one`),
    c.spawn('worker', `dash-${RUN}-one`, ['--worker-id', 'dash-w1']),
    c.spawn('worker', `dash-${RUN}-one`, ['--worker-id', 'dash-w2']),
    c.spawn('gateway', `dash-${RUN}-two`),
    c.spawn('gateway', `dash-${RUN}-two`),
    c.spawn('worker', `dash-${RUN}-two`, ['--worker-id', 'dash-w3']),
    c.spawn('gateway', `dash-${RUN}-keys`, ['--api-keys-file', join(keysDir, 'keys')]),
    c.serve(),
  ]);
  process.stdout.write(`dashboard: 4 gateways, 3 workers and serve started in ${Date.now() - started} ms\n`);
  one = { gateway: g1, workers: [w1, w2] };
  two = { a: ga, b: gb };
  keyed = gk;
  embedded = serve;
  await allSettled([
    until('gateway 1 to see both workers', async () => (await metricSum(g1.url, 'swarmserve_live_workers')) === 2, 15_000),
    until(
      'gateways A and B to see their worker',
      async () => (await metricSum(ga.url, 'swarmserve_live_workers')) + (await metricSum(gb.url, 'swarmserve_live_workers')) === 2,
      15_000,
    ),
  ]);
}, 60_000);

afterAll(async () => {
  await cluster?.stop();
  if (keysDir !== undefined) rmSync(keysDir, { recursive: true, force: true });
});

interface Seen {
  state: string | undefined;
  charts: Array<{ name: string | undefined; hidden: boolean; points: number }>;
  workers: string[];
  total: string | undefined;
}

// In-page code as strings: this project compiles without the DOM library.
const SEEN = `(() => ({
  state: document.body.dataset.state,
  charts: [...document.querySelectorAll('[data-chart]')].map((c) => ({ name: c.dataset.chart, hidden: c.hasAttribute('hidden'), points: Number(c.dataset.points) })),
  workers: [...document.querySelectorAll('#workers tbody tr[data-worker-id]')].map((tr) => tr.dataset.workerId),
  total: document.querySelector('#requests-total')?.dataset.value,
}))()`;
const seen = (page: Page): Promise<Seen> => page.evaluate<Seen>(SEEN);

/**
 * Polls what the page shows every 50 ms until `check` holds; fails with the last of it after
 * `timeoutMs`. From Node (page.evaluate), not page.waitForFunction: that one evaluates its
 * predicate inside the page, which the page's Content-Security-Policy (no 'unsafe-eval') forbids.
 */
async function waitFor(page: Page, what: string, check: (shown: Seen) => boolean, timeoutMs: number): Promise<Seen> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const shown = await seen(page);
    if (check(shown)) return shown;
    if (Date.now() > end) throw new Error(`${what}: not within ${timeoutMs} ms; the page shows ${JSON.stringify(shown)}`);
    await sleep(50);
  }
}

const waitForState = (page: Page, state: string, timeoutMs: number): Promise<Seen> => waitFor(page, `state "${state}"`, (s) => s.state === state, timeoutMs);

const expectAllOk = (result: LoadResult): void => expect(result.statuses, `answers by status of ${result.sent} requests`).toEqual({ 200: result.sent });
const ticks = (messages: readonly StreamMessage[]) => messages.filter((m) => m.type === 'tick');
const framesOf = (messages: readonly StreamMessage[]): Frame[] => messages.flatMap((m) => (m.type === 'hello' ? [] : m.frames));
const answeredOk = (frames: readonly Frame[]): number => frames.reduce((sum, f) => sum + f.all.outcomes[0], 0);

describe('the dashboard of a gateway with two workers under load (Chromium)', () => {
  it('goes live with every chart filled within 3 s, lists both workers, matches /metrics, drops a killed worker', async () => {
    const { gateway, workers } = one;
    mkdirSync(RESULTS, { recursive: true });
    // 30 requests a second all along, on 2 workers that can take ≈ 400: no backlog, every answer 200.
    const load = steadyLoad(gateway.url, image, 30);
    try {
      // Two seconds of traffic before the page opens: its history already holds frames with data.
      await sleep(2000);
      await withPage(
        async (page, { errors, requests }) => {
          const opened = Date.now();
          await page.goto(`${gateway.url}/dashboard`, { waitUntil: 'domcontentloaded' });
          await waitFor(
            page,
            'live, every chart shown with data',
            (shown) => shown.state === 'live' && shown.charts.length > 0 && shown.charts.every((c) => c.hidden || c.points > 0),
            Math.max(0, opened + 3000 - Date.now()),
          );
          process.stdout.write(`dashboard: live with every chart filled ${Date.now() - opened} ms after opening\n`);
          const filled = await seen(page);
          expect(filled.charts.map((c) => c.name).sort()).toEqual([...CHARTS].sort());
          // No autoscaler runs: its chart has nothing to show.
          expect(filled.charts.filter((c) => c.hidden).map((c) => c.name)).toEqual(['autoscaler']);
          // The worker rows come with the first tick (≤ 1.1 s after the stream opens).
          await waitFor(page, 'both workers in #workers', (shown) => shown.workers.length === 2, 3000);
          expect((await seen(page)).workers.sort()).toEqual(['dash-w1', 'dash-w2']);

          const controls = await page.evaluate<{ fields: Record<string, string>; models: string[]; ranges: string[]; keyForm: boolean }>(`(() => ({
            fields: Object.fromEntries([...document.querySelectorAll('[data-field]')].map((e) => [e.dataset.field, e.textContent.trim()])),
            models: [...document.querySelectorAll('select#model option')].map((o) => o.value),
            ranges: [...document.querySelectorAll('select#range option')].map((o) => o.value),
            keyForm: document.querySelector('#key-form input#api-key[type=password]') !== null,
          }))()`);
          expect(Object.keys(controls.fields)).toEqual(expect.arrayContaining(['version', 'mode', 'gateway', 'uptime', 'redis', 'not-ready']));
          expect(controls.fields.mode).toMatch(/distributed/);
          expect(controls.fields.version).toContain((JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version);
          expect(controls.models).toEqual(['all', 'delay:1']);
          expect(controls.ranges).toEqual(['300', '900', '3600']);
          expect(controls.keyForm).toBe(true);
          expect(await page.isVisible('#key-form')).toBe(false);

          // The range control opens a new stream for 5 min (the charts are wider for it): filled again at once.
          const switched = Date.now();
          await page.selectOption('select#range', '300');
          await waitFor(
            page,
            'range 5 min: live, every chart shown with data',
            (shown) =>
              requests.some((r) => r.url.endsWith('/dashboard/stream?range=300')) &&
              shown.state === 'live' &&
              shown.charts.every((c) => c.hidden || c.points > 0),
            3000,
          );
          process.stdout.write(`dashboard: range 5 min filled ${Date.now() - switched} ms after the switch\n`);

          // Under load, data on every chart: the picture of the feature.
          await sleep(1500);
          await page.screenshot({ path: SCREENSHOT, fullPage: true });

          // The page's total is the cluster's (one gateway here): the sum of swarmserve_requests_total.
          const result = await load.stop();
          expectAllOk(result);
          await sleep(2500);
          const shown = Number((await seen(page)).total);
          const counted = await metricSum(gateway.url, 'swarmserve_requests_total');
          process.stdout.write(`dashboard: ${result.sent} requests sent, /metrics ${counted}, the page ${shown}\n`);
          expect(counted).toBe(result.sent);
          expect(Math.abs(shown - counted), `the page's total ${shown} vs /metrics ${counted}`).toBeLessThanOrEqual(counted * 0.02);

          // A worker killed without a word: its registry entry outlives it by the heartbeat expiry
          // (3 s after its last beat, which is before the kill), the gateway re-reads the registry
          // every 1 s, and the next tick (each second, 100 ms past it) carries the new rows:
          // expiry + 1 s + 1.1 s, and 0.4 s for the page and a busy 2-core host.
          const bound = HEARTBEAT_EXPIRY_MS + 1000 + 1100 + 400;
          const killed = Date.now();
          await stopProcess(workers[1], 'SIGKILL');
          await waitFor(page, 'dash-w2 gone after its SIGKILL', (shown) => !shown.workers.includes('dash-w2'), bound);
          process.stdout.write(`dashboard: the killed worker's row left ${Date.now() - killed} ms after SIGKILL (bound ${bound} ms)\n`);
          // The other one stays, tick after tick.
          await sleep(1200);
          expect((await seen(page)).workers).toEqual(['dash-w1']);
          expect((await seen(page)).state).toBe('live');
          expect(errors).toEqual([]);
        },
        { width: 1280, height: 1000 },
      );
    } finally {
      await load.stop();
    }
  }, 45_000);
});

describe('two gateways behind one Redis', () => {
  it("each gateway's stream counts the requests of both: the total, the frames, gateways 2", async () => {
    const { a, b } = two;
    // Only A for 2 s, then only B for 2 s.
    const loadA = steadyLoad(a.url, image, 25);
    await sleep(2000);
    const sentA = await loadA.stop();
    const loadB = steadyLoad(b.url, image, 25);
    await sleep(2000);
    const sentB = await loadB.stop();
    expectAllOk(sentA);
    expectAllOk(sentB);
    const total = sentA.sent + sentB.sent;
    expect(await metricSum(a.url, 'swarmserve_requests_total')).toBe(sentA.sent);
    expect(await metricSum(b.url, 'swarmserve_requests_total')).toBe(sentB.sent);
    // Both gateways' last samples (one each second) hold every request within about a second.
    // Frames are finished 2 s after their second ends (docs/dashboard.md): wait for those holding the last answers too.
    const reachTotal = (messages: readonly StreamMessage[]): boolean =>
      ticks(messages).at(-1)?.header.requestsTotal === total && answeredOk(framesOf(messages)) >= total * 0.98;
    const [fromA, fromB] = await Promise.all([a, b].map((g) => readStream(g.url, { range: 300, timeoutMs: 6000, done: reachTotal })));
    for (const [name, messages, own] of [
      ['A', fromA!, sentA.sent],
      ['B', fromB!, sentB.sent],
    ] as const) {
      expect(
        messages.map((m) => m.type),
        name,
      ).toEqual(['hello', 'history', ...ticks(messages).map(() => 'tick')]);
      const hello = messages[0]!;
      if (hello.type !== 'hello') throw new Error('no hello');
      expect(hello.rangeS).toBe(300);
      expect(hello.header.mode).toBe('distributed');
      expect(hello.header.redis).toBe('up');
      const last = ticks(messages).at(-1);
      expect(last?.header.requestsTotal, `gateway ${name}: the total of ${JSON.stringify(ticks(messages).map((t) => t.header.requestsTotal))}`).toBe(total);
      const frames = framesOf(messages);
      expect(frames.at(-1)?.gateways, `gateway ${name}`).toBe(2);
      expect(frames.at(-1)?.workers, `gateway ${name}`).toBe(1);
      // Per second, summed over both gateways: more 2xx than this gateway answered alone, up to all of them
      // (a sample a second late would be dropped: 2 % allowed).
      const ok = answeredOk(frames);
      process.stdout.write(`dashboard: gateway ${name}'s frames count ${ok} answers of ${total} (${own} its own)\n`);
      expect(ok, `gateway ${name}`).toBeGreaterThan(own);
      expect(ok, `gateway ${name}`).toBeGreaterThanOrEqual(total * 0.98);
      // Counts are spread over the seconds a sample covers and rounded to 0.1 per second.
      expect(ok, `gateway ${name}`).toBeLessThanOrEqual(total + 1);
    }
    // Each gateway names itself in the header.
    const names = [fromA!, fromB!].map((m) => (m[0]?.type === 'hello' ? m[0].header.gateway : ''));
    expect(new Set(names).size).toBe(2);
  }, 30_000);
});

describe('the dashboard with API keys on', () => {
  it('the page and its assets load without a key, the stream needs one: 401 without, NDJSON with', async () => {
    const url = keyed.url;
    const none = await fetch(`${url}/dashboard/stream`);
    expect(none.status).toBe(401);
    expect(await none.json()).toMatchObject({ success: false, error: { code: 'UNAUTHORIZED' } });
    const wrong = await fetch(`${url}/dashboard/stream`, { headers: { authorization: 'Bearer not-the-key' } });
    expect(wrong.status).toBe(401);
    expect(await wrong.json()).toMatchObject({ success: false, error: { code: 'UNAUTHORIZED' } });

    const messages = await readStream(url, { headers: { authorization: `Bearer ${KEY}` }, timeoutMs: 4000, done: (m) => m.length >= 3 });
    expect(messages.map((m) => m.type)).toEqual(['hello', 'history', 'tick']);

    const page = await fetch(`${url}/dashboard`);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toMatch(/^text\/html/);
    const html = await page.text();
    const assets = [...html.matchAll(/(?:src|href)="([^"]*assets\/[^"]+)"/g)].map((m) => new URL(m[1]!, `${url}/dashboard`).href);
    expect(assets.length, 'the page refers to its script and styles').toBeGreaterThanOrEqual(2);
    for (const asset of assets) expect((await fetch(asset)).status, asset).toBe(200);
  });

  it('in Chromium: need-key, the key typed in, live; the key never in a URL, kept for the session', async () => {
    await withPage(async (page, { errors, requests }) => {
      await page.goto(`${keyed.url}/dashboard`, { waitUntil: 'domcontentloaded' });
      await waitForState(page, 'need-key', 5000);
      expect(await page.isVisible('#key-form')).toBe(true);
      expect(await page.getAttribute('input#api-key', 'type')).toBe('password');
      await page.fill('input#api-key', KEY);
      await page.locator('#key-form button, #key-form [type=submit]').first().click();
      await waitForState(page, 'live', 5000);
      expect(await page.isVisible('#key-form')).toBe(false);

      const stream = requests.filter((r) => r.url.includes('/dashboard/stream'));
      expect(stream.length).toBeGreaterThan(0);
      expect(stream.some((r) => r.headers.authorization === `Bearer ${KEY}`)).toBe(true);
      const kept = await page.evaluate<{ session: string[]; local: string[] }>(
        `({ session: Object.values(sessionStorage), local: Object.values(localStorage) })`,
      );
      expect(kept.session).toContain(KEY);
      expect(kept.local.filter((v) => v.includes(KEY))).toEqual([]);

      // A reload in the same tab goes live with the kept key, without asking.
      await page.reload({ waitUntil: 'domcontentloaded' });
      await waitForState(page, 'live', 5000);
      expect(await page.isVisible('#key-form')).toBe(false);

      const leaked = requests.map((r) => r.url).filter((u) => u.includes(KEY) || u.includes(encodeURIComponent(KEY)));
      expect(leaked).toEqual([]);
      // The stream asked without a key answers 401, which Chromium logs as a console error; nothing else may fail.
      expect(errors.filter((e) => !/status of 401/.test(e))).toEqual([]);
    });
  }, 30_000);
});

describe('the dashboard in embedded mode', () => {
  it('streams from memory: mode embedded, no Redis, the total of /metrics, one worker row', async () => {
    const load = steadyLoad(embedded.url, image, 20);
    await sleep(1500);
    const result = await load.stop();
    expectAllOk(result);
    expect(await metricSum(embedded.url, 'swarmserve_requests_total')).toBe(result.sent);
    const messages = await readStream(embedded.url, {
      range: 60,
      timeoutMs: 6000,
      done: (m) =>
        ticks(m).at(-1)?.header.requestsTotal === result.sent && (ticks(m).at(-1)?.workers.length ?? 0) > 0 && answeredOk(framesOf(m)) >= result.sent * 0.98,
    });
    const hello = messages[0];
    expect(hello?.type).toBe('hello');
    if (hello?.type !== 'hello') return;
    expect(hello.header.mode).toBe('embedded');
    expect(hello.header.redis).toBe('none');
    const last = ticks(messages).at(-1);
    expect(last?.header.requestsTotal).toBe(result.sent);
    expect(last?.workers.map((w) => w.id)).toEqual(['embedded']);
    expect(answeredOk(framesOf(messages))).toBeGreaterThanOrEqual(result.sent * 0.98);
    expect(framesOf(messages).at(-1)?.gateways).toBe(1);
  }, 20_000);
});
