// The hostile clients of test/integration/hostile-clients.test.ts against distributed mode: a
// real `swarmserve gateway` and worker on a real Redis. Each attack gets a coded 4xx (or is cut
// by the body deadline), submits no job (the worker computes only the good requests), and
// costs the gateway no long stall (its own nodejs_eventloop_lag_max_seconds, reset by the
// scrape before the attack) and little memory, while a client at another address is served.
// Liveness bounds with wide headroom; `npm run bench:hostile` measures against the targets.
import { Agent, fetch as undiciFetch } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parsePrometheus } from '../../bench/served.js';
import { rawRequest, slowImageUpload, trickle } from '../../bench/hostile-clients.js';
import { Deployment, knownInputs, type KnownInput } from '../helpers/distributed.js';
import type { CliProcess } from '../helpers/process.js';

const MiB = 1024 * 1024;
const MAX_STALL_MS = 2_000;
const MAX_RSS_GROWTH = 100 * MiB;

let d: Deployment;
let gateway: CliProcess;
let worker: CliProcess;
let input: KnownInput;
const second = new Agent({ localAddress: '127.0.0.2' });

beforeAll(async () => {
  d = await Deployment.start({ classes: 1000 });
  input = (await knownInputs(d.repoRoot, 1, 1000))[0] as KnownInput;
  const stack = await d.stack(1, [], ['--body-timeout-ms', '1000']);
  gateway = stack.gateway;
  worker = stack.workers[0] as CliProcess;
}, 120_000);
afterAll(async () => {
  await d?.stop();
  await second.close();
});

async function scrape(url: string): Promise<ReturnType<typeof parsePrometheus>> {
  return parsePrometheus(await (await fetch(`${url}/metrics`)).text());
}

const sum = (series: ReturnType<typeof parsePrometheus>, name: string): number => series.filter((s) => s.name === name).reduce((a, s) => a + s.value, 0);

/** Runs `attack` while a good request from 127.0.0.2 is sent after `goodAfterMs`; returns what both got and what the attack cost the gateway. */
async function underAttack<T>(
  attack: () => Promise<T>,
  goodAfterMs = 0,
): Promise<{ result: T; good: number; stallMs: number; rssGrowth: number; jobs: number }> {
  await scrape(gateway.url); // resets the gateway's event-loop lag statistics
  const computedBefore = sum(await scrape(worker.url), 'swarmserve_batch_size_sum');
  const baseline = gateway.memory().now;
  let peak = baseline;
  const sampler = setInterval(() => {
    peak = Math.max(peak, gateway.memory().now);
  }, 20);
  try {
    const good = new Promise((r) => setTimeout(r, goodAfterMs)).then(async () => {
      const response = await undiciFetch(`${gateway.url}/predict`, {
        method: 'POST',
        body: input.png,
        headers: { 'content-type': 'image/png' },
        dispatcher: second,
      });
      await response.arrayBuffer();
      return response.status;
    });
    const [result, status] = await Promise.all([attack(), good]);
    const stallMs = sum(await scrape(gateway.url), 'nodejs_eventloop_lag_max_seconds') * 1000;
    // The good request's job is counted as the worker answers it: wait for it, then a little more for any other.
    const computed = async (): Promise<number> => sum(await scrape(worker.url), 'swarmserve_batch_size_sum') - computedBefore;
    for (let i = 0; i < 100 && (await computed()) < 1; i++) await new Promise((r) => setTimeout(r, 50));
    await new Promise((r) => setTimeout(r, 300));
    const jobs = await computed();
    return { result, good: status, stallMs, rssGrowth: peak - baseline, jobs };
  } finally {
    clearInterval(sampler);
  }
}

function expectCheap(outcome: { good: number; stallMs: number; rssGrowth: number; jobs: number }, what: string): void {
  console.info(
    `${what} (gateway): event loop max delay ${outcome.stallMs.toFixed(0)} ms, RSS +${(outcome.rssGrowth / MiB).toFixed(0)} MiB, jobs computed ${outcome.jobs}`,
  );
  expect(outcome.good, what).toBe(200);
  // The good request is the only job: the attack submitted none.
  expect(outcome.jobs, what).toBe(1);
  expect(outcome.stallMs, what).toBeLessThan(MAX_STALL_MS);
  expect(outcome.rssGrowth, what).toBeLessThan(MAX_RSS_GROWTH);
}

async function infer(body: string): Promise<number> {
  const response = await fetch(`${gateway.url}/v2/models/tiny/infer`, { method: 'POST', body, headers: { 'content-type': 'application/json' } });
  await response.arrayBuffer();
  return response.status;
}

describe('hostile clients against a gateway + worker', () => {
  it('OIP: outputs × 1,000 with 64 small images, and 3 M empty strings → 413, no job', async () => {
    const images = Array.from({ length: 64 }, () => input.png.toString('base64'));
    const outputs = await underAttack(() =>
      infer(
        JSON.stringify({
          inputs: [{ name: 'input', shape: [64], datatype: 'BYTES', data: images }],
          outputs: Array.from({ length: 1000 }, () => ({ name: 'logits', parameters: { classification: 1000 } })),
        }),
      ),
    );
    expect(outputs.result).toBe(413);
    expectCheap(outputs, 'outputs × 1000');
    const strings = JSON.stringify({ inputs: [{ name: 'input', shape: [1], datatype: 'BYTES', data: Array.from({ length: 3_000_000 }, () => '') }] });
    const empty = await underAttack(() => infer(strings));
    expect(empty.result).toBe(413);
    expectCheap(empty, '3 M empty strings');
  });

  it('26 slow 10 MB uploads from one address: another address is served while they are open; each is cut with 408', async () => {
    const slow = Array.from({ length: 26 }, () => slowImageUpload(gateway.url));
    const stops = slow.map((s) => trickle(s, 500));
    try {
      const outcome = await underAttack(
        () => Promise.all(slow.map((s) => Promise.race([s.status, new Promise<number>((r) => setTimeout(() => r(-1), 60_000))]))),
        2_500,
      );
      console.info(`slow uploads (gateway): ${JSON.stringify(outcome.result)}`);
      expect(outcome.result.filter((s) => s === 408).length).toBeGreaterThanOrEqual(25);
      expect(outcome.result.filter((s) => s !== 408 && s !== 503)).toEqual([]);
      expectCheap(outcome, '26 slow uploads');
    } finally {
      for (const stop of stops) stop();
      for (const s of slow) s.close();
    }
  }, 120_000);

  it('40 × PUT /metrics/x with 9.99 MB declared and the rest withheld → 404 each, unread, no job', async () => {
    const attacks = Array.from({ length: 40 }, () =>
      rawRequest(gateway.url, {
        method: 'PUT',
        path: '/metrics/x',
        headers: { 'content-type': 'application/octet-stream', 'content-length': String(Math.floor(9.99 * 1e6)) },
        initial: Buffer.alloc(64 * 1024, 1),
      }),
    );
    try {
      const outcome = await underAttack(() => Promise.all(attacks.map((a) => a.status)));
      expect(outcome.result).toEqual(Array.from({ length: 40 }, () => 404));
      expectCheap(outcome, '40 withheld PUT bodies');
    } finally {
      for (const a of attacks) a.close();
    }
  });
});
