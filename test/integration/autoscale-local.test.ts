// `swarmserve autoscale --local` end to end (issue 21): a real Redis, a real gateway, and the
// controller starting and stopping real `swarmserve worker` processes on the delay test
// double (100 ms per batch of one: 10 jobs/s per worker, whatever the machine).
//   --min 0: the first request after idle is answered (scale from zero);
//   25 req/s open loop: up to ceil(25 × 1.2 / 10) = 3 workers, the oldest wait back under target;
//   load stops: down one per tick after the stabilization window, to 0, no request failed.
import { writeFileSync } from 'node:fs';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { delayModelImage } from '../helpers/delay-model.js';
import { predict, type Answer } from '../helpers/distributed.js';
import { parseExposition } from '../helpers/metrics-catalog.js';
import { DelayStack } from '../helpers/delay-stack.js';
import { stopProcess, type CliProcess } from '../helpers/process.js';

const DELAY_MS = 100;
const RATE = 25;
const LOAD_S = 25;
const STABILIZATION_S = 10;
const TARGET_WAIT_MS = 500;

let stack: DelayStack | undefined;

beforeAll(async () => {
  stack = await DelayStack.start({ delayMs: DELAY_MS, prefix: `autoscale-${Date.now().toString(36)}` });
});

// Everything started is stopped, whether the test passed, failed or timed out: the
// autoscaler first (SIGTERM: its workers drain and stop with it), then the rest.
afterAll(async () => {
  await stack?.stop('SIGTERM');
});

interface Reading {
  current: number;
  live: number;
  oldestWaitS: number;
  decisions: Map<string, number>;
}

async function read(autoscaler: CliProcess): Promise<Reading> {
  const text = await (await fetch(`${autoscaler.url}/metrics`)).text();
  const { samples } = parseExposition(text);
  const value = (name: string): number => samples.find((s) => s.name === name)?.value ?? Number.NaN;
  const decisions = new Map<string, number>();
  for (const s of samples.filter((x) => x.name === 'swarmserve_autoscale_decisions_total'))
    decisions.set(`${s.labels.direction}:${s.labels.reason}`, (decisions.get(`${s.labels.direction}:${s.labels.reason}`) ?? 0) + s.value);
  return {
    current: value('swarmserve_autoscale_current_replicas'),
    live: value('swarmserve_autoscale_live_replicas'),
    oldestWaitS: value('swarmserve_autoscale_oldest_wait_seconds'),
    decisions,
  };
}

async function until<T>(what: string, probe: () => Promise<T>, done: (v: T) => boolean, timeoutMs: number): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (done(v)) return v;
    if (Date.now() > end)
      throw new Error(
        `timed out after ${timeoutMs} ms waiting for ${what}; last: ${JSON.stringify(v, (_k, x: unknown) => (x instanceof Map ? (Object.fromEntries(x) as unknown) : x))}`,
      );
    await new Promise((r) => setTimeout(r, 250));
  }
}

it('scales from zero, up to the load and back down to zero, failing no request', { timeout: 240_000 }, async () => {
  const s = stack!;
  const gateway = await s.spawn('gateway', ['--default-model', 'delay', '--log-level', 'warn'], { waitFor: 'live' });
  const autoscaler = await s.spawn('autoscale', [
    '--local',
    '--min',
    '0',
    '--max',
    '4',
    '--interval',
    '1s',
    '--stabilization',
    `${STABILIZATION_S}s`,
    '--target-wait',
    `${TARGET_WAIT_MS}ms`,
    '--log-level',
    process.env.AUTOSCALE_LOG === undefined ? 'info' : 'debug',
  ]);
  expect((await read(autoscaler)).current).toBe(0);

  // From zero: the gateway holds the job, the controller asks for a worker, the job is answered.
  const image = await delayModelImage();
  const first = await predict(gateway.url, image, {}, '?timeout_ms=60000');
  expect(first.status).toBe(200);
  expect((await read(autoscaler)).decisions.get('up:scale-from-zero')).toBe(1);

  // Open loop at RATE/s: requests are sent on time whatever the answers do.
  const answers: Array<Promise<Answer>> = [];
  let maxLive = 0;
  const sampler = setInterval(() => {
    void read(autoscaler).then(
      (r) => (maxLive = Math.max(maxLive, r.live)),
      () => undefined,
    );
  }, 500);
  const started = Date.now();
  await new Promise<void>((resolve) => {
    const timer = setInterval(() => {
      const due = Math.floor(((Date.now() - started) / 1000) * RATE);
      while (answers.length < due) answers.push(predict(gateway.url, image, {}, '?timeout_ms=60000'));
      if (Date.now() - started >= LOAD_S * 1000) {
        clearInterval(timer);
        resolve();
      }
    }, 20);
  });
  const atEndOfLoad = await read(autoscaler);
  const settled = await Promise.all(answers);
  clearInterval(sampler);
  const failed = settled.filter((a) => a.status !== 200);
  expect(failed.map((a) => a.status)).toEqual([]);
  // ceil(25 × 1.2 / 10) = 3; one more at most while the backlog of the step drains
  expect(maxLive).toBeGreaterThanOrEqual(3);
  expect(maxLive).toBeLessThanOrEqual(4);
  expect(atEndOfLoad.oldestWaitS).toBeLessThan(TARGET_WAIT_MS / 1000);

  // Idle: after a whole window of lower desired values, one down per tick, to --min 0.
  const down = await until(
    'scale-down to 0',
    () => read(autoscaler),
    (r) => r.current === 0 && r.live === 0,
    (STABILIZATION_S + 30) * 1000,
  ).catch((err: unknown) => {
    if (process.env.AUTOSCALE_LOG !== undefined) writeFileSync(process.env.AUTOSCALE_LOG, autoscaler.output());
    throw err;
  });
  expect(down.decisions.get('down:below-for-the-window')).toBeGreaterThanOrEqual(3);
  const log = autoscaler.output();
  expect(log).toMatch(/"direction":"up","reason":"(arrival-above-capacity|oldest-wait-past-target)"/);
  expect(log).toMatch(/"direction":"down","reason":"below-for-the-window"/);

  // SIGTERM: the lease is given back and the workers it started are gone with it.
  expect(await stopProcess(autoscaler, 'SIGTERM')).toBe(0);
});
