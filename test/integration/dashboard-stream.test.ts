// GET /dashboard/stream in embedded mode (the in-memory stats store): the protocol, its
// limits, API keys, and that a stream neither counts as a request in flight nor holds a
// drain open.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { StreamMessage } from '../../src/dashboard/contract.js';
import type { EmbeddedServer } from '../../src/embedded/embedded-server.js';
import { photo } from '../helpers/images.js';
import { startServer } from '../helpers/server.js';
import { makeRepository } from '../helpers/tiny-model.js';

const KEY = 'dashboard-test-key-0123456789';
// After an aborted fetch undici opens a fresh connection that sends no request; Node does not
// count it idle, so a drain waits for it until the drain timeout. Kept short here; the last
// test shows that a stream itself never holds a drain.
const DRAIN_MS = 1_000;
let repo: Awaited<ReturnType<typeof makeRepository>>;
let keyDir: string;

beforeAll(async () => {
  repo = await makeRepository([{ name: 'tiny', classes: 3, layout: 'NCHW', size: 32 }]);
  keyDir = await mkdtemp(join(tmpdir(), 'swarmserve-dashboard-'));
  await writeFile(join(keyDir, 'keys'), `${KEY}\n`);
});
afterAll(async () => {
  await repo?.cleanup();
  if (keyDir !== undefined) await rm(keyDir, { recursive: true, force: true });
});

/**
 * Opens the stream and reads its NDJSON messages until `until` says stop or `ms` pass; then
 * aborts the request (a cancelled body alone may leave undici reading the socket on).
 */
async function streamMessages(
  url: string,
  init: RequestInit,
  until: (messages: StreamMessage[]) => boolean,
  ms = 5_000,
): Promise<{ status: number; contentType: string | null; messages: StreamMessage[] }> {
  const abort = new AbortController();
  const messages: StreamMessage[] = [];
  try {
    const res = await fetch(url, { ...init, signal: abort.signal });
    if (res.status !== 200) return { status: res.status, contentType: res.headers.get('content-type'), messages };
    const reader: ReadableStreamDefaultReader<Uint8Array> = res.body!.getReader();
    const decoder = new TextDecoder();
    let buffered = '';
    const deadline = Date.now() + ms;
    while (!until(messages) && Date.now() < deadline) {
      const chunk = await Promise.race([reader.read(), new Promise<undefined>((r) => setTimeout(() => r(undefined), Math.max(1, deadline - Date.now())))]);
      if (chunk === undefined || chunk.done) break;
      buffered += decoder.decode(chunk.value, { stream: true });
      let at: number;
      while ((at = buffered.indexOf('\n')) >= 0) {
        messages.push(JSON.parse(buffered.slice(0, at)) as StreamMessage);
        buffered = buffered.slice(at + 1);
      }
    }
    return { status: res.status, contentType: res.headers.get('content-type'), messages };
  } finally {
    abort.abort();
  }
}

/** The status, the body read: an unread body would hold its connection, and the server's drain, open. */
async function statusOf(url: string, init?: RequestInit): Promise<number> {
  const res = await fetch(url, init);
  await res.arrayBuffer();
  return res.status;
}

async function predict(url: string): Promise<number> {
  const res = await fetch(`${url}/predict`, { method: 'POST', body: photo('dog'), headers: { 'content-type': 'image/jpeg' } });
  await res.arrayBuffer();
  return res.status;
}

describe('GET /dashboard/stream (embedded mode)', () => {
  let server: EmbeddedServer;
  let url: string;
  beforeAll(async () => {
    ({ server, url } = await startServer({ models: repo.root, defaultModel: 'tiny', drainTimeoutMs: DRAIN_MS }));
  });
  afterAll(async () => server?.close());

  it('sends hello, the history, then a tick a second with the requests answered, the worker row and the header', async () => {
    expect(await predict(url)).toBe(200);
    expect(await predict(url)).toBe(200);
    const bad = await fetch(`${url}/predict?model=nope`, { method: 'POST', body: photo('dog'), headers: { 'content-type': 'image/jpeg' } });
    expect(bad.status).toBe(404);
    const { status, contentType, messages } = await streamMessages(
      `${url}/dashboard/stream?range=60`,
      {},
      // Frames are finished 2 s after their second ends: wait for the one holding the last answer.
      (m) =>
        m.some((x) => x.type === 'tick' && x.header.requestsTotal === 3) &&
        m.flatMap((x) => (x.type === 'tick' || x.type === 'history' ? x.frames : [])).reduce((n, f) => n + f.all.outcomes[0] + f.all.outcomes[1], 0) >= 2.95,
      6_000,
    );
    expect(status).toBe(200);
    expect(contentType).toBe('application/x-ndjson; charset=utf-8');
    expect(messages[0]).toMatchObject({ type: 'hello', rangeS: 60, header: { mode: 'embedded', redis: 'none', notReady: null } });
    expect(messages[1]?.type).toBe('history');
    const frames = messages.flatMap((m) => (m.type === 'tick' || m.type === 'history' ? m.frames : []));
    // One frame per second, in order.
    frames.slice(1).forEach((f, i) => expect(f.t).toBe(frames[i]!.t + 1));
    // Counts are spread over the seconds each sample covers (rounded to 0.1).
    const outcomes = frames.reduce((sum, f) => sum.map((n, i) => n + f.all.outcomes[i]!), [0, 0, 0, 0, 0]).map((n) => Math.round(n));
    expect(outcomes).toEqual([2, 1, 0, 0, 0]);
    expect(frames.some((f) => f.models['tiny:1']?.total !== null && f.models['tiny:1']?.inference !== null)).toBe(true);
    const tick = messages.findLast((m) => m.type === 'tick');
    expect(tick?.type === 'tick' && tick.workers.map((w) => w.id)).toEqual(['embedded']);
    expect(tick?.type === 'tick' && tick.header.requestsTotal).toBe(3);
  });

  it('refuses a range out of bounds with 400 BAD_PARAMETER', async () => {
    for (const range of ['5', '3601', 'abc']) {
      const res = await fetch(`${url}/dashboard/stream?range=${range}`);
      expect(res.status).toBe(400);
      expect(await res.json()).toMatchObject({ error: { code: 'BAD_PARAMETER' } });
    }
  });

  it('serves the page and its assets from this process', async () => {
    const page = await fetch(`${url}/dashboard`);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-security-policy')).toContain("script-src 'self'");
    expect(await page.text()).toMatch(/<!doctype html>/i);
    for (const file of ['dashboard.js', 'dashboard.css', 'uPlot.iife.min.js', 'uPlot.min.css'])
      expect(await statusOf(`${url}/dashboard/assets/${file}`)).toBe(200);
    expect(await statusOf(`${url}/dashboard/assets/index.html`)).toBe(404);
    expect(await statusOf(`${url}/dashboard/assets/..%2Fhub.js`)).toBe(404);
  });

  it('allows 32 streams at once, answers the 33rd 503 TOO_MANY_STREAMS, and streams are not requests in flight', async () => {
    const controllers = Array.from({ length: 32 }, () => new AbortController());
    try {
      const open = await Promise.all(controllers.map((c) => fetch(`${url}/dashboard/stream?range=60`, { signal: c.signal })));
      expect(open.map((r) => r.status)).toEqual(Array(32).fill(200));
      const refused = await fetch(`${url}/dashboard/stream?range=60`);
      expect(refused.status).toBe(503);
      expect(refused.headers.get('retry-after')).toBe('5');
      expect(await refused.json()).toMatchObject({ error: { code: 'TOO_MANY_STREAMS' } });
      const metrics = await (await fetch(`${url}/metrics`)).text();
      expect(metrics).toMatch(/^swarmserve_requests_in_flight 0$/m);
    } finally {
      for (const c of controllers) c.abort();
    }
    // Closed streams free their places.
    const deadline = Date.now() + 3_000;
    let status = 0;
    while (Date.now() < deadline && status !== 200) {
      ({ status } = await streamMessages(`${url}/dashboard/stream?range=60`, {}, () => true));
      if (status !== 200) await new Promise((r) => setTimeout(r, 100));
    }
    expect(status).toBe(200);
  });
});

describe('the dashboard with API keys on', () => {
  let server: EmbeddedServer;
  let url: string;
  beforeAll(async () => {
    ({ server, url } = await startServer({ models: repo.root, defaultModel: 'tiny', apiKeysFile: join(keyDir, 'keys'), drainTimeoutMs: DRAIN_MS }));
  });
  afterAll(async () => server?.close());

  it('serves the page without a key; the data stream needs one (401), and streams with it', async () => {
    expect(await statusOf(`${url}/dashboard`)).toBe(200);
    expect(await statusOf(`${url}/dashboard/assets/dashboard.js`)).toBe(200);
    const refused = await fetch(`${url}/dashboard/stream`);
    expect(refused.status).toBe(401);
    expect(await refused.json()).toMatchObject({ success: false, error: { code: 'UNAUTHORIZED' } });
    expect(await statusOf(`${url}/dashboard/stream`, { headers: { authorization: 'Bearer wrong' } })).toBe(401);
    const keyed = await streamMessages(`${url}/dashboard/stream`, { headers: { authorization: `Bearer ${KEY}` } }, (m) => m.length >= 2);
    expect(keyed.status).toBe(200);
    expect(keyed.messages.map((m) => m.type)).toEqual(['hello', 'history']);
  });

  it('--open-paths /dashboard opens the stream', async () => {
    const opened = await startServer({ models: repo.root, defaultModel: 'tiny', apiKeysFile: join(keyDir, 'keys'), openPaths: '/dashboard' });
    try {
      expect((await streamMessages(`${opened.url}/dashboard/stream`, {}, (m) => m.length >= 1)).status).toBe(200);
      expect(await statusOf(`${opened.url}/metrics`)).toBe(401);
    } finally {
      await opened.server.close();
    }
  });
});

describe('SIGTERM with a dashboard open', () => {
  it('ends the streams at once: the drain does not wait for them', async () => {
    const { server, url } = await startServer({ models: repo.root, defaultModel: 'tiny', drainTimeoutMs: 20_000 });
    const reading = streamMessages(`${url}/dashboard/stream?range=60`, {}, () => false, 25_000);
    await new Promise((r) => setTimeout(r, 300));
    const started = Date.now();
    await server.close();
    expect(Date.now() - started).toBeLessThan(3_000);
    const { messages } = await reading;
    expect(messages[0]?.type).toBe('hello');
  });
});
