import http from 'node:http';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { after } from '../../test/helpers/http-stub.js';
import { expectConsistent } from '../../test/helpers/load-report.js';
import { runClosedLoop } from './closed-loop.js';
import { encodeMultipart } from './multipart.js';
import { LoadOptionsError } from './validate.js';
import type { LoadOptions, LoadRequestBody } from './contract.js';

// ---------------------------------------------------------------------------------------------
// A tiny HTTP server whose behaviour each test sets.

interface TestServer {
  url: string;
  close(): Promise<void>;
}

type Handler = (req: IncomingMessage, body: Buffer, res: ServerResponse) => void;

const servers: TestServer[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

async function startServer(handler: Handler): Promise<TestServer> {
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => handler(req, Buffer.concat(chunks), res));
  });
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const handle: TestServer = {
    url: `http://127.0.0.1:${port}/predict?model=test`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
  servers.push(handle);
  return handle;
}

function answer(res: ServerResponse, status: number): void {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify({ success: status < 300 }));
}

const IMAGE: LoadRequestBody = { body: new Uint8Array([0xff, 0xd8, 0xff, 0xe0, 1, 2, 3, 4, 0, 255]), contentType: 'image/jpeg' };

// ---------------------------------------------------------------------------------------------

describe('runClosedLoop', () => {
  it("measures throughput as Little's law says (never above concurrency / service time), latency ≥ service time, and counts 503s", async () => {
    const serviceMs = 20;
    const concurrency = 8;
    let n = 0;
    const server = await startServer((_req, _body, res) => {
      const status = ++n % 10 === 0 ? 503 : 200; // every 10th request fails (after the same work)
      after(serviceMs, () => answer(res, status));
    });

    const report = await runClosedLoop({ url: server.url, concurrency, durationMs: 1_500, warmupMs: 300, bodies: [IMAGE] });

    // How close the rate comes to the ideal depends on this machine's speed: printed, not asserted.
    const expectedRps = concurrency / (serviceMs / 1000); // 400 req/s in all
    const measuredRps = report.requests / (report.durationMs / 1000);
    console.info(
      `closed loop C=${concurrency} S=${serviceMs}ms: ${measuredRps.toFixed(1)} req/s (${(measuredRps / expectedRps).toFixed(2)} of the ideal ${expectedRps}), ` +
        `ok ${report.throughputRps} req/s, latency ${JSON.stringify(report.latencyMs)}, ` +
        `status ${JSON.stringify(report.statusCounts)}`,
    );
    expectConsistent(report);
    expect(report.concurrency).toBe(concurrency);
    expect(report.durationMs).toBeGreaterThan(1_490);
    expect(report.durationMs).toBeLessThanOrEqual(1_500);
    expect(report.requests).toBeGreaterThan(0);
    // No more than `concurrency` in flight: never faster than concurrency / service time.
    expect(measuredRps).toBeLessThan(expectedRps * 1.3);
    expect(report.throughputRps).toBeLessThan(expectedRps * 0.9 * 1.3);
    expect(report.throughputRps).toBeCloseTo(report.ok / (report.durationMs / 1000), 1);
    // Little's law for a closed loop: rate = clients / time per request (all take the same time),
    // give or take one request per client at each edge of the window, however slow this machine is.
    const little = concurrency / (report.latencyMs.mean / 1000);
    const edge = concurrency / (report.durationMs / 1000);
    expect(measuredRps).toBeGreaterThan(little * 0.9 - edge);
    expect(measuredRps).toBeLessThan(little * 1.1 + edge);
    // Every request takes at least the service time, so does every percentile.
    expect(report.latencyMs.p50).toBeGreaterThanOrEqual(serviceMs);
    expect(report.latencyMs.mean).toBeGreaterThanOrEqual(serviceMs);
    // ~1 in 10 is a 503, counted as an error and kept out of `ok` (±5 %, or ±3 requests when few were made).
    const failed = report.statusCounts['503'] ?? 0;
    expect(failed).toBeGreaterThan(0);
    expect(Math.abs(failed - report.requests / 10)).toBeLessThanOrEqual(Math.max(3, report.requests * 0.05));
    expect(report.errors).toBe(failed);
    expect(report.statusCounts['200']).toBe(report.ok);
  });

  it('discards whatever completes during the warmup', async () => {
    const coldMs = 250;
    let warmupAnswers = 0;
    const server = await startServer((_req, _body, res) => {
      if (warmupAnswers < 4) {
        // Cold: the first request of each client is slow and marked 201; all are over (~250 ms)
        // long before the warmup ends.
        warmupAnswers++;
        after(coldMs, () => answer(res, 201));
      } else {
        after(5, () => answer(res, 200));
      }
    });

    const report = await runClosedLoop({ url: server.url, concurrency: 4, durationMs: 400, warmupMs: 1_500, bodies: [IMAGE] });

    expectConsistent(report);
    expect(warmupAnswers).toBe(4);
    expect(report.statusCounts['201']).toBeUndefined();
    expect(report.statusCounts['200']).toBe(report.requests);
    // Nor their latencies: each took ≥ coldMs, every counted one 5 ms and a bit.
    expect(report.latencyMs.max).toBeLessThan(coldMs);
    expect(report.latencyMs.p50).toBeGreaterThanOrEqual(5);
  });

  it('stops the window at maxRequests', async () => {
    const server = await startServer((_req, _body, res) => after(2, () => answer(res, 200)));
    const started = performance.now();
    const report = await runClosedLoop({ url: server.url, concurrency: 4, durationMs: 10_000, warmupMs: 50, bodies: [IMAGE], maxRequests: 50 });
    expectConsistent(report);
    expect(report.requests).toBe(50);
    expect(report.ok).toBe(50);
    expect(report.durationMs).toBeLessThan(5_000);
    expect(performance.now() - started).toBeLessThan(5_000);
  });

  it('sends the bodies round-robin with their content types and the extra headers', async () => {
    const seen: string[] = [];
    const server = await startServer((req, body, res) => {
      const { 'content-type': type = '', 'x-api-key': key = '' } = req.headers;
      seen.push(`${req.method} ${req.url} ${type} ${String(key)} ${body.toString('latin1')}`);
      answer(res, 200);
    });
    const bodies = ['a', 'b', 'c'].map((s) => ({ body: Buffer.from(s), contentType: `text/${s}` }));
    const report = await runClosedLoop({
      url: server.url,
      concurrency: 1,
      durationMs: 5_000,
      warmupMs: 0,
      bodies,
      headers: { 'X-Api-Key': 'k1', 'Content-Type': 'ignored/ignored' },
      maxRequests: 6,
    });
    expect(report.requests).toBe(6);
    expect(seen.slice(0, 6)).toEqual([0, 1, 2, 0, 1, 2].map((i) => `POST /predict?model=test text/${'abc'[i]} k1 ${'abc'[i]}`));
  });

  it('reports transport errors by code, with empty latency', async () => {
    const server = await startServer((_req, _body, res) => answer(res, 200));
    const { url } = server;
    await server.close(); // now nothing listens on that port
    servers.splice(servers.indexOf(server), 1);

    const report = await runClosedLoop({ url, concurrency: 2, durationMs: 200, warmupMs: 0, bodies: [IMAGE] });
    expectConsistent(report);
    expect(report.ok).toBe(0);
    expect(report.errors).toBeGreaterThan(0);
    expect(Object.keys(report.statusCounts)).toEqual(['ECONNREFUSED']);
    expect(report.throughputRps).toBe(0);
    expect(report.latencyMs).toEqual({ mean: 0, p50: 0, p90: 0, p95: 0, p99: 0, max: 0 });
  });

  it('counts requests that exceed requestTimeoutMs as timeouts', async () => {
    const server = await startServer(() => {
      // never answers
    });
    const report = await runClosedLoop({ url: server.url, concurrency: 2, durationMs: 2_000, warmupMs: 0, bodies: [IMAGE], requestTimeoutMs: 100 });
    expectConsistent(report);
    expect(report.ok).toBe(0);
    expect(Object.keys(report.statusCounts)).toEqual(['REQUEST_TIMEOUT']);
    // 2 clients × 2,000 ms / (100 ms + sweep lag ≤ 10 ms + reconnect) ≈ 36 timeouts; never more than
    // 40 (none fires before 100 ms). At least 3 per client: each goes on after a timeout.
    expect(report.errors).toBeGreaterThanOrEqual(6);
    expect(report.errors).toBeLessThanOrEqual(40);
  });

  it('rejects with the abort reason when aborted', async () => {
    const server = await startServer((_req, _body, res) => after(5, () => answer(res, 200)));
    const controller = new AbortController();
    setTimeout(() => controller.abort(new Error('stop now')), 100);
    const started = performance.now();
    await expect(runClosedLoop({ url: server.url, concurrency: 2, durationMs: 10_000, warmupMs: 0, bodies: [IMAGE] }, controller.signal)).rejects.toThrow(
      'stop now',
    );
    expect(performance.now() - started).toBeLessThan(2_000);
  });

  const base: LoadOptions = { url: 'http://127.0.0.1:9/predict', concurrency: 2, durationMs: 100, warmupMs: 0, bodies: [IMAGE] };
  it.each<[string, Record<string, unknown>, RegExp]>([
    ['concurrency 0', { concurrency: 0 }, /concurrency must be an integer from 1/],
    ['fractional concurrency', { concurrency: 1.5 }, /concurrency must be an integer/],
    ['durationMs 0', { durationMs: 0 }, /durationMs must be a finite number > 0, got 0/],
    ['NaN durationMs', { durationMs: Number.NaN }, /durationMs must be a finite number > 0, got NaN/],
    ['negative warmupMs', { warmupMs: -1 }, /warmupMs must be a finite number >= 0/],
    ['no bodies', { bodies: [] }, /bodies must be a non-empty array, got an empty array/],
    ['string body', { bodies: [{ body: 'x', contentType: 'image/jpeg' }] }, /bodies\[0\]\.body must be a Uint8Array/],
    ['no content type', { bodies: [{ body: new Uint8Array(1), contentType: '' }] }, /bodies\[0\]\.contentType/],
    ['not a URL', { url: 'localhost:8080' }, /url must be http: or https:|not an absolute URL/],
    ['ftp URL', { url: 'ftp://host/x' }, /url must be http: or https:/],
    ['content-length header', { headers: { 'Content-Length': '3' } }, /managed by the load generator/],
    ['header with CRLF', { headers: { 'x-a': 'a\r\nb: c' } }, /must be a string without CR\/LF/],
    ['maxRequests 0', { maxRequests: 0 }, /maxRequests must be an integer >= 1/],
    ['negative requestTimeoutMs', { requestTimeoutMs: -5 }, /requestTimeoutMs must be a finite number > 0/],
  ])('rejects %s', async (_name, patch, message) => {
    const options: LoadOptions = { ...base, ...patch }; // patch holds wrongly-typed values on purpose
    const promise = runClosedLoop(options);
    await expect(promise).rejects.toBeInstanceOf(LoadOptionsError);
    await expect(promise).rejects.toThrow(message);
  });

  it('lists every problem at once', async () => {
    const options = { url: 42, concurrency: -1, durationMs: 'long', warmupMs: 0, bodies: null } as unknown as LoadOptions;
    await expect(runClosedLoop(options)).rejects.toThrow(/url must be a string.*concurrency.*durationMs.*bodies must be a non-empty array/);
  });
});

describe('encodeMultipart', () => {
  it('encodes fields and files that a real multipart parser reads back', async () => {
    const data = new Uint8Array(3000).map((_, i) => (i * 7) % 256); // includes CR, LF, '-' bytes
    const encoded = encodeMultipart([
      { name: 'top_k', value: '5' },
      { name: 'note', value: 'héllo "world"\r\nline 2' },
      { name: 'img_file', filename: 'dog.jpg', contentType: 'image/jpeg', data },
    ]);
    expect(encoded.contentType).toMatch(/^multipart\/form-data; boundary=----swarmserve-[0-9a-f]{32}$/);

    const form = await new Request('http://localhost/predict', {
      method: 'POST',
      headers: { 'content-type': encoded.contentType },
      body: encoded.body,
    }).formData();
    expect(form.get('top_k')).toBe('5');
    expect(form.get('note')).toBe('héllo "world"\r\nline 2');
    const file = form.get('img_file');
    expect(file).toBeInstanceOf(Blob);
    if (!(file instanceof File)) throw new Error('img_file is not a file');
    expect(file.name).toBe('dog.jpg');
    expect(file.type).toBe('image/jpeg');
    expect(new Uint8Array(await file.arrayBuffer())).toEqual(data);
  });

  it('uses a fresh boundary per body and rejects an empty form', () => {
    const a = encodeMultipart([{ name: 'x', value: '1' }]);
    const b = encodeMultipart([{ name: 'x', value: '1' }]);
    expect(a.contentType).not.toBe(b.contentType);
    expect(() => encodeMultipart([])).toThrow(LoadOptionsError);
  });
});
