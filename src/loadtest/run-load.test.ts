import type { ServerResponse } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { after, answerJson, answerOk, closeAllStubs, startStub } from '../../test/helpers/http-stub.js';
import { LoadOptionsError } from './validate.js';
import type { LoadRequestBody, LoadResult, LoadRunOptions } from './contract.js';
import { runLoad } from './run-load.js';

afterEach(closeAllStubs);

const BODY: LoadRequestBody = { body: Buffer.from('jpeg bytes'), contentType: 'image/jpeg' };

function expectOrdered(l: { p50: number; p90: number; p95: number; p99: number; max: number; min: number }): void {
  expect(l.min).toBeLessThanOrEqual(l.p50);
  expect(l.p50).toBeLessThanOrEqual(l.p90);
  expect(l.p90).toBeLessThanOrEqual(l.p95);
  expect(l.p95).toBeLessThanOrEqual(l.p99);
  expect(l.p99).toBeLessThanOrEqual(l.max);
}

describe('runLoad, users mode', () => {
  it('against a fixed 50 ms server: exact request count with maxRequests, latency ≥ 50 ms, every result observed', async () => {
    const stub = await startStub((_req, _body, res) => after(50, () => answerOk(res)));
    const results: LoadResult[] = [];
    const users: number[] = [];
    const started = Date.now();
    const summary = await runLoad(
      { url: `${stub.url}/predict?model=m`, bodies: [BODY], users: 4, spawnRate: 100, maxRequests: 40 },
      { onResult: (r) => results.push(r), onUsers: (n) => users.push(n) },
    );
    console.info(`users, 50 ms server: ${JSON.stringify(summary)}`);
    expect(summary.mode).toBe('users');
    expect(summary.stoppedBy).toBe('requests');
    expect(summary.requests).toBe(40);
    expect(stub.received()).toBe(40);
    expect(summary.failures).toBe(0);
    expect(summary.failuresByKind).toEqual({});
    expect(summary.cutInFlight).toBe(0);
    // How far above 50 ms the latencies are is this machine's speed: printed above, not asserted.
    expect(summary.latencyMs.p50).toBeGreaterThanOrEqual(50);
    expect(summary.latencyMs.min).toBeGreaterThanOrEqual(50);
    expectOrdered(summary.latencyMs);
    expect(summary.users).toBe(4);
    // 1, 2, 3, 4 when each spawn timer fires on time; a late one starts the users due together.
    expect(users.at(-1)).toBe(4);
    expect(users).toEqual([...new Set(users)].sort((a, b) => a - b));
    expect(summary.peakInFlight).toBe(4);
    // 4 users, ≥ 50 ms each: at most 80 req/s.
    expect(summary.requestsPerSecond).toBeLessThanOrEqual(80);
    expect(summary.requestsPerSecond).toBeCloseTo(40 / (summary.durationMs / 1000), 1);
    expect(summary.avgContentBytes).toBeGreaterThan(50);
    expect(results).toHaveLength(40);
    for (const r of results) {
      expect(r.ok).toBe(true);
      expect(r.failure).toBeUndefined();
      expect(r.latencyMs).toBeGreaterThanOrEqual(50);
      expect(r.endEpochMs).toBeGreaterThanOrEqual(started);
      expect(r.endEpochMs).toBeLessThanOrEqual(Date.now());
    }
    expect(results.map((r) => r.endEpochMs)).toEqual(results.map((r) => r.endEpochMs).sort((a, b) => a - b));
  });

  it('starts users at the spawn rate and waits the think time between requests', async () => {
    const stub = await startStub((_req, _body, res) => answerOk(res));
    const users: Array<{ n: number; at: number }> = [];
    const t0 = performance.now();
    const summary = await runLoad(
      { url: stub.url, bodies: [BODY], users: 3, spawnRate: 5, wait: { minMs: 300, maxMs: 300 }, durationMs: 1_500 },
      { onUsers: (n) => users.push({ n, at: performance.now() - t0 }) },
    );
    console.info(`spawn and wait: ${JSON.stringify({ users, requests: summary.requests })}`);
    expect(summary.stoppedBy).toBe('duration');
    expect(users.map((u) => u.n)).toEqual([1, 2, 3]);
    // User i starts at i / 5 s: never earlier; later only by a timer's lateness (slack for a
    // busy machine, still short of the 800 ms a spawn interval twice too long would give).
    expect(users[1]!.at).toBeGreaterThanOrEqual(199);
    expect(users[2]!.at).toBeGreaterThanOrEqual(399);
    expect(users[2]!.at).toBeLessThan(800);
    // User 0 sends at 0, 0.3, …, 1.2 s (5), user 1 from 0.2 s (5), user 2 from 0.4 s (4): 14 when
    // timers are on time (late timers only lose some); never more than 15, since each user waits.
    expect(summary.requests).toBeGreaterThanOrEqual(8);
    expect(summary.requests).toBeLessThanOrEqual(15);
    // (A timer may fire a millisecond or so early: 1 498.9 ms was seen under load.)
    expect(summary.durationMs).toBeGreaterThanOrEqual(1_490);
    expect(summary.durationMs).toBeLessThan(2_500);
  });

  it('counts failures by kind: HTTP status with the error code, success:false, not JSON, timeout', async () => {
    let n = 0;
    const stub = await startStub((_req, _body, res) => {
      switch (n++ % 5) {
        case 0:
          answerOk(res);
          break;
        case 1:
          answerJson(res, 503, { success: false, error: { code: 'QUEUE_FULL', message: 'full' } });
          break;
        case 2:
          answerJson(res, 200, { success: false });
          break;
        case 3:
          res.writeHead(200, { 'content-type': 'text/html' });
          res.end('<html>');
          break;
        default:
          res.writeHead(404);
          res.end('no'); // not JSON: the status alone
      }
    });
    const results: LoadResult[] = [];
    const summary = await runLoad({ url: stub.url, bodies: [BODY], users: 1, maxRequests: 25 }, { onResult: (r) => results.push(r) });
    expect(summary.requests).toBe(25);
    expect(summary.failures).toBe(20);
    expect(summary.failureRatio).toBeCloseTo(0.8, 10);
    expect(summary.failuresByKind).toEqual({ 'HTTP 404': 5, 'HTTP 503 QUEUE_FULL': 5, 'not JSON': 5, 'success:false': 5 });
    expect(results.filter((r) => r.ok)).toHaveLength(5);
    expect(results.slice(0, 5).map((r) => r.failure)).toEqual([undefined, 'HTTP 503 QUEUE_FULL', 'success:false', 'not JSON', 'HTTP 404']);
  });

  it('with checkSuccess false, any 2xx succeeds', async () => {
    const stub = await startStub((_req, _body, res) => {
      res.writeHead(204);
      res.end();
    });
    const summary = await runLoad({ url: stub.url, bodies: [BODY], users: 2, maxRequests: 10, checkSuccess: false });
    expect(summary.requests).toBe(10);
    expect(summary.failures).toBe(0);
  });

  it('fails a request that runs past requestTimeoutMs as timeout, with its latency', async () => {
    const stub = await startStub(() => {
      // never answers
    });
    const summary = await runLoad({ url: stub.url, bodies: [BODY], users: 2, maxRequests: 4, requestTimeoutMs: 150 });
    expect(summary.requests).toBe(4);
    expect(summary.failuresByKind).toEqual({ timeout: 4 });
    expect(summary.latencyMs.min).toBeGreaterThanOrEqual(150);
    expect(summary.latencyMs.max).toBeLessThan(1_000);
  });

  it('counts transport errors by their code', async () => {
    const stub = await startStub((_req, _body, res) => answerOk(res));
    const url = stub.url;
    await stub.close(); // nothing listens there now
    const summary = await runLoad({ url, bodies: [BODY], users: 1, maxRequests: 3 });
    expect(summary.requests).toBe(3);
    expect(summary.failuresByKind).toEqual({ ECONNREFUSED: 3 });
  });

  it('stops on abort and resolves with the summary so far; in-flight requests finish within the grace', async () => {
    const stub = await startStub((_req, _body, res) => after(100, () => answerOk(res)));
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 350);
    const summary = await runLoad({ url: stub.url, bodies: [BODY], users: 2, spawnRate: 100, durationMs: 30_000 }, {}, controller.signal);
    expect(summary.stoppedBy).toBe('signal');
    // Each user completes at 100, 200, 300 ms, and the one in flight at the abort finishes at 400:
    // 8 when the timers are on time, fewer on a busy machine, never more (nothing is sent after it).
    expect(summary.requests).toBeGreaterThanOrEqual(2);
    expect(summary.requests).toBeLessThanOrEqual(8);
    // Every request sent was counted: those in flight at the abort too.
    expect(stub.received()).toBe(summary.requests);
    expect(summary.cutInFlight).toBe(0);
    expect(summary.failures).toBe(0);
  });

  it('cuts requests still in flight after the stop grace, and counts them only as cut', async () => {
    const stub = await startStub(() => {
      // never answers
    });
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 100);
    const started = performance.now();
    const summary = await runLoad({ url: stub.url, bodies: [BODY], users: 3, spawnRate: 1_000, stopGraceMs: 200 }, {}, controller.signal);
    // ~300 ms (abort + grace); not the 30 s request timeout.
    expect(performance.now() - started).toBeLessThan(10_000);
    expect(summary.requests).toBe(0);
    expect(summary.cutInFlight).toBe(3);
  });

  it('an already aborted signal sends nothing', async () => {
    const stub = await startStub((_req, _body, res) => answerOk(res));
    const summary = await runLoad({ url: stub.url, bodies: [BODY], users: 5 }, {}, AbortSignal.abort());
    expect(summary.requests).toBe(0);
    expect(stub.received()).toBe(0);
  });

  it('rejects with the error of an observer that throws, after stopping', async () => {
    const stub = await startStub((_req, _body, res) => answerOk(res));
    let calls = 0;
    const promise = runLoad(
      { url: stub.url, bodies: [BODY], users: 2, durationMs: 5_000 },
      {
        onResult: () => {
          if (++calls === 3) throw new Error('observer broke');
        },
      },
    );
    await expect(promise).rejects.toThrow('observer broke');
  });
});

describe('runLoad, open loop', () => {
  it('sends at the asked rate', async () => {
    const stub = await startStub((_req, _body, res) => after(5, () => answerOk(res)));
    const warnings: string[] = [];
    const summary = await runLoad({ url: stub.url, bodies: [BODY], rate: 100, durationMs: 1_000 }, { onWarning: (w) => warnings.push(w) });
    console.info(`open loop 100/s: ${JSON.stringify(summary)}`);
    expect(summary.mode).toBe('rate');
    expect(summary.requests).toBe(100); // due at 0, 10, …, 990 ms
    expect(summary.openLoop?.targetRate).toBe(100);
    expect(summary.openLoop?.notSent).toBe(0);
    expect(summary.openLoop?.capReached).toBe(false);
    expect(summary.users).toBe(0);
    expect(summary.latencyMs.p50).toBeGreaterThanOrEqual(5);
    expect(warnings.filter((w) => w.includes('in flight'))).toEqual([]);
  });

  it('stops at exactly maxRequests', async () => {
    const stub = await startStub((_req, _body, res) => after(50, () => answerOk(res)));
    const summary = await runLoad({ url: stub.url, bodies: [BODY], rate: 200, maxRequests: 30 });
    console.info(`open loop 200/s, 50 ms server: latency ${JSON.stringify(summary.latencyMs)}`);
    expect(summary.stoppedBy).toBe('requests');
    expect(summary.requests).toBe(30);
    expect(stub.received()).toBe(30);
    expect(summary.latencyMs.p50).toBeGreaterThanOrEqual(50);
  });

  it('says when the in-flight cap keeps it from the rate, and times requests from their intended send time', async () => {
    const stub = await startStub((_req, _body, res) => after(100, () => answerOk(res)));
    const warnings: string[] = [];
    // 100/s against 2 slots of 100 ms = 20/s at most: the backlog grows by 80 a second.
    const summary = await runLoad({ url: stub.url, bodies: [BODY], rate: 100, maxInFlight: 2, durationMs: 1_000 }, { onWarning: (w) => warnings.push(w) });
    console.info(`open loop capped: ${JSON.stringify(summary)}`);
    expect(warnings.some((w) => /cannot keep the rate: 2 requests in flight/.test(w))).toBe(true);
    const open = summary.openLoop!;
    expect(open.capReached).toBe(true);
    expect(open.rateKept).toBe(false);
    expect(open.notSent).toBeGreaterThan(50);
    expect(open.lateSends).toBeGreaterThan(5);
    expect(summary.peakInFlight).toBe(2);
    // The last requests sent waited ~0.5 s or more for a slot; their latency shows it.
    expect(summary.latencyMs.max).toBeGreaterThan(500);
    expect(summary.requests).toBeLessThanOrEqual(24);
  });
});

/**
 * A server that answers after 5 ms, except that every request arriving in a 1 s window
 * (starting 1 s after its first request) is held until the window ends.
 */
async function stallingServer(): Promise<{ url: string }> {
  let first: number | undefined;
  const held: ServerResponse[] = [];
  return startStub((_req, _body, res) => {
    const now = performance.now();
    first ??= now;
    const offset = now - first;
    if (offset >= 1_000 && offset < 2_000) {
      if (held.length === 0) after(2_000 - offset, () => held.splice(0).forEach((r) => answerOk(r)));
      held.push(res);
    } else {
      after(5, () => answerOk(res));
    }
  });
}

describe('coordinated omission', () => {
  it('a 1 s stall shows in many open-loop latencies (p99 ≥ 0.5 s), in only one request per closed-loop user', async () => {
    const options: Omit<LoadRunOptions, 'url'> = { bodies: [BODY], durationMs: 3_000 };
    const slow = (latencies: number[]): number => latencies.filter((ms) => ms >= 500).length;
    const openLatencies: number[] = [];
    const closedLatencies: number[] = [];
    const open = await runLoad({ ...options, url: (await stallingServer()).url, rate: 50 }, { onResult: (r) => openLatencies.push(r.latencyMs) });
    const closed = await runLoad(
      { ...options, url: (await stallingServer()).url, users: 2, spawnRate: 100 },
      { onResult: (r) => closedLatencies.push(r.latencyMs) },
    );
    console.info(
      `stall: open ${JSON.stringify(open.latencyMs)} (${open.requests} req, ${slow(openLatencies)} ≥ 0.5 s), ` +
        `closed ${JSON.stringify(closed.latencyMs)} (${closed.requests} req, ${slow(closedLatencies)} ≥ 0.5 s)`,
    );
    expect(open.failures).toBe(0);
    expect(closed.failures).toBe(0);
    // Open: ~50 of ~150 requests were due during the stall; each waited the rest of it, the ~25
    // due in its first half 0.5 s or more.
    expect(open.latencyMs.p99).toBeGreaterThanOrEqual(500);
    expect(slow(openLatencies)).toBeGreaterThanOrEqual(10);
    // Closed: each of the 2 users sent 1 request during the stall, which held it, and waited for
    // it: the stall shows in those 2 alone (≤ 4: a pause of this process itself could add one per
    // user). Their p99 is under the open loop's when this machine makes its usual ~700 requests
    // of 5 ms: printed above, not asserted.
    expect(closed.latencyMs.max).toBeGreaterThanOrEqual(500);
    expect(slow(closedLatencies)).toBeGreaterThanOrEqual(1);
    expect(slow(closedLatencies)).toBeLessThanOrEqual(4);
  });
});

describe('runLoad options', () => {
  it.each<[string, Record<string, unknown>, RegExp]>([
    ['users with rate', { rate: 10, users: 2 }, /users is for users mode/],
    ['maxInFlight without rate', { maxInFlight: 5 }, /maxInFlight is for the open loop/],
    ['zero users', { users: 0 }, /users must be an integer from 1/],
    ['negative spawn rate', { spawnRate: -1 }, /spawnRate must be a number > 0/],
    ['wait max < min', { wait: { minMs: 5, maxMs: 1 } }, /wait must be \{ minMs, maxMs \} with 0 <= minMs <= maxMs/],
    ['zero rate', { rate: 0 }, /rate must be a number > 0/],
    ['zero duration', { durationMs: 0 }, /durationMs must be a finite number > 0/],
    ['fractional maxRequests', { maxRequests: 1.5 }, /maxRequests must be an integer >= 1/],
    ['no bodies', { bodies: [] }, /bodies must be a non-empty array/],
    ['bad url', { url: 'localhost:8080' }, /url/],
  ])('rejects %s', async (_name, patch, message) => {
    const options = { url: 'http://127.0.0.1:9/predict', bodies: [BODY], ...patch } as LoadRunOptions;
    const promise = runLoad(options);
    await expect(promise).rejects.toBeInstanceOf(LoadOptionsError);
    await expect(promise).rejects.toThrow(message);
  });
});
