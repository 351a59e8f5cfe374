import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EmbeddedServer } from '../../src/embedded/embedded-server.js';
import { photo } from '../helpers/images.js';
import { multipart, startServer } from '../helpers/server.js';
import { makeRepository } from '../helpers/tiny-model.js';

let repo: Awaited<ReturnType<typeof makeRepository>>;
let server: EmbeddedServer;
let url: string;
const dog = photo('dog');

beforeAll(async () => {
  repo = await makeRepository([
    { name: 'tiny', classes: 5 },
    { name: 'patient', classes: 4, config: { batching: { maxBatchSize: 8, maxQueueDelayMs: 400, queueBound: 64, timeoutMs: 10_000 } } },
    { name: 'lonely', classes: 4, config: { batching: { maxBatchSize: 8, maxQueueDelayMs: 2_000, queueBound: 64, timeoutMs: 10_000 } } },
    { name: 'narrow', classes: 3, config: { batching: { maxBatchSize: 1, maxQueueDelayMs: 0, queueBound: 1, timeoutMs: 10_000 } } },
  ]);
  ({ server, url } = await startServer({ models: repo.root, defaultModel: 'tiny' }));
});
afterAll(async () => {
  await server.close();
  await repo.cleanup();
});

function postImage(query = '', init: RequestInit = {}): Promise<Response> {
  return fetch(`${url}/predict${query}`, { method: 'POST', body: dog, headers: { 'content-type': 'image/jpeg' }, ...init });
}

async function metric(name: string, labels: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name}{`) && l.includes(labels));
  return line === undefined ? 0 : Number(line.split(' ').at(-1));
}

describe('HTTP API', () => {
  it('answers the seed format for multipart img_file, with model, version and top_k', async () => {
    const form = multipart([
      { name: 'img_file', filename: 'dog.jpg', type: 'image/jpeg', data: dog },
      { name: 'top_k', data: '2' },
    ]);
    const res = await fetch(`${url}/predict`, { method: 'POST', body: form });
    expect(res.status).toBe(200);
    const body = (await res.json()) as { success: boolean; predictions: Array<{ label: string; probability: number }>; model: string; version: string };
    expect(body.success).toBe(true);
    expect(body.model).toBe('tiny');
    expect(body.version).toBe('1');
    expect(body.predictions).toHaveLength(2);
    expect(body.predictions[0]!.probability).toBeGreaterThanOrEqual(body.predictions[1]!.probability);
    expect(body.predictions[0]!.label).toMatch(/^class-\d$/);
  });

  it('takes a raw image body and ?model=', async () => {
    const res = await postImage('?model=patient&top_k=4');
    const body = (await res.json()) as { model: string; predictions: unknown[] };
    expect(res.status).toBe(200);
    expect(body.model).toBe('patient');
    expect(body.predictions).toHaveLength(4);
  });

  it('echoes a valid X-Request-Id and makes one up otherwise', async () => {
    const given = await postImage('', { headers: { 'content-type': 'image/jpeg', 'x-request-id': 'req-42.a' } });
    expect(given.headers.get('x-request-id')).toBe('req-42.a');
    const bad = await postImage('', { headers: { 'content-type': 'image/jpeg', 'x-request-id': 'bad id with spaces' } });
    expect(bad.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
    const none = await fetch(`${url}/health/live`);
    expect(none.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('health: live and ready', async () => {
    expect((await fetch(`${url}/health/live`)).status).toBe(200);
    const ready = await fetch(`${url}/health/ready`);
    expect(ready.status).toBe(200);
    expect(((await ready.json()) as { models: string[] }).models.sort()).toEqual(['lonely', 'narrow', 'patient', 'tiny']);
  });

  it('metrics: requests by status, latency, batch size, queue depth and inference time', async () => {
    await postImage();
    await fetch(`${url}/predict?model=nope`, { method: 'POST', body: dog, headers: { 'content-type': 'image/jpeg' } });
    const res = await fetch(`${url}/metrics`);
    expect(res.headers.get('content-type')).toContain('text/plain');
    const text = await res.text();
    expect(text).toMatch(/swarmserve_requests_total\{model="tiny",version="1",code="200",error_code=""\} \d+/);
    expect(text).toMatch(/swarmserve_requests_total\{model="unknown",version="",code="404",error_code="MODEL_NOT_FOUND"\} 1/);
    for (const name of [
      'swarmserve_request_duration_seconds_bucket',
      'swarmserve_batch_size_bucket',
      'swarmserve_inference_duration_seconds_bucket',
      'swarmserve_queue_depth{model="tiny",version="1"}',
    ]) {
      expect(text).toContain(name);
    }
  });

  it('a request past its deadline gets 504 DEADLINE_EXCEEDED', async () => {
    const res = await postImage('?model=patient&timeout_ms=50');
    expect(res.status).toBe(504);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe('DEADLINE_EXCEEDED');
  });

  it('a full queue answers 503 QUEUE_FULL with Retry-After, and the rest are served', async () => {
    const responses = await Promise.all(Array.from({ length: 30 }, () => postImage('?model=narrow')));
    const statuses = responses.map((r) => r.status);
    expect(statuses.filter((s) => s === 503).length).toBeGreaterThan(0);
    expect(statuses.every((s) => s === 200 || s === 503)).toBe(true);
    const refused = responses.find((r) => r.status === 503)!;
    expect(refused.headers.get('retry-after')).toBe('1');
    expect(((await refused.json()) as { error: { code: string } }).error.code).toBe('QUEUE_FULL');
    expect((await postImage('?model=narrow')).status).toBe(200);
  });

  it('a client that disconnects before its batch starts is not computed', async () => {
    const leaving = new AbortController();
    const gone = postImage('?model=lonely', { signal: leaving.signal }).catch((e: unknown) => e);
    await new Promise((r) => setTimeout(r, 300)); // taken by the worker, its batch still gathering (2 s)
    leaving.abort();
    expect(await gone).toBeInstanceOf(Error);
    // When the gathering ends, the worker drops the job instead of computing it.
    const until = Date.now() + 20_000;
    while ((await metric('swarmserve_jobs_skipped_total', 'reason="cancelled"')) === 0 && Date.now() < until) await new Promise((r) => setTimeout(r, 50));
    expect(await metric('swarmserve_jobs_skipped_total', 'reason="cancelled"')).toBe(1);
    expect(await metric('swarmserve_batch_size_count', 'model="lonely"')).toBe(0);
    expect(await metric('swarmserve_requests_total', 'error_code="CLIENT_CLOSED"')).toBe(1);
  });
});
