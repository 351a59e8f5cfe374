// Open Inference Protocol v2 against the embedded server, with the request and response
// fixtures of test/fixtures/oip/ (see SOURCES.md for where each comes from).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EmbeddedServer } from '../../src/embedded/embedded-server.js';
import { photo } from '../helpers/images.js';
import {
  MODELS_DIR,
  checkBinaryBytes,
  checkBinaryFp32,
  fixtureJson,
  parseElements,
  postBinary,
  referenceOutput,
  serializeElements,
  tensor,
} from '../helpers/oip.js';
import { startServer } from '../helpers/server.js';

let server: EmbeddedServer;
let url: string;

beforeAll(async () => {
  ({ server, url } = await startServer({ models: MODELS_DIR, only: 'moderation', defaultModel: 'moderation' }));
}, 60_000);
afterAll(async () => {
  await server.close();
});

async function postJson(path: string, body: unknown): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(`${url}${path}`, { method: 'POST', body: JSON.stringify(body), headers: { 'content-type': 'application/json' } });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

/** Fills a fixture's placeholders: "@base64:<photo>" and "@fp32:<items>". */
function fill(value: unknown): unknown {
  if (typeof value === 'string' && value.startsWith('@base64:')) return photo(value.slice(8) as 'dog').toString('base64');
  if (typeof value === 'string' && value.startsWith('@fp32:')) return Array.from(tensor(Number(value.slice(6))));
  if (Array.isArray(value)) return value.map(fill);
  if (typeof value === 'object' && value !== null) return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, fill(v)]));
  return value;
}

describe('Open Inference Protocol v2 (embedded)', () => {
  it('serves server metadata, health and model metadata', async () => {
    const meta = (await (await fetch(`${url}/v2`)).json()) as Record<string, unknown>;
    expect(meta).toMatchObject({ name: 'swarmserve', extensions: expect.arrayContaining(['binary_tensor_data', 'classification']) as unknown });
    expect(typeof meta['version']).toBe('string');
    for (const [path, expected] of Object.entries(fixtureJson('health.responses.json'))) {
      const res = await fetch(`${url}${path}`);
      expect(res.status, path).toBe(200);
      expect(await res.json()).toEqual(expected);
    }
    for (const path of ['/v2/models/moderation', '/v2/models/moderation/versions/1']) {
      const model = (await (await fetch(`${url}${path}`)).json()) as Record<string, unknown>;
      expect(model).toMatchObject(fixtureJson('model-metadata.response.json'));
      expect(model['versions']).toContain('1');
      expect(model['parameters']).toMatchObject({ accepted_input_datatypes: 'FP32,BYTES' });
    }
  });

  it('answers errors as {"error": "..."} with the status of the error table', async () => {
    const shape = Object.keys(fixtureJson('error.response.json'));
    const cases: Array<[string, number, RequestInit]> = [
      ['/v2/models/nope', 404, {}],
      ['/v2/models/moderation/versions/9', 404, {}],
      [
        '/v2/models/moderation/infer',
        400,
        { method: 'POST', body: JSON.stringify({ inputs: [{ name: 'wrong', shape: [1], datatype: 'BYTES', data: ['x'] }] }) },
      ],
      ['/v2/models/moderation/infer', 400, { method: 'POST', body: '{not json' }],
      [
        '/v2/models/moderation/infer',
        400,
        { method: 'POST', body: JSON.stringify({ inputs: [{ name: 'input', shape: [1, 3], datatype: 'FP32', data: [1, 2, 3] }] }) },
      ],
    ];
    for (const [path, status, init] of cases) {
      const res = await fetch(`${url}${path}`, init);
      const body = (await res.json()) as Record<string, unknown>;
      expect(res.status, path).toBe(status);
      expect(Object.keys(body)).toEqual(shape);
      expect(typeof body['error']).toBe('string');
    }
  });

  it('rejects a request with one element that is not an image, naming its index, computing nothing', async () => {
    const data = [photo('dog').toString('base64'), Buffer.from('not an image').toString('base64')];
    const { status, body } = await postJson('/v2/models/moderation/infer', { inputs: [{ name: 'input', shape: [2], datatype: 'BYTES', data }] });
    expect(status).toBe(400);
    expect(String(body['error'])).toMatch(/element 1/);
  });

  it('refuses more items than the limit', async () => {
    const data = Array.from({ length: 65 }, () => 'AAAA');
    const { status, body } = await postJson('/v2/models/moderation/infer', { inputs: [{ name: 'input', shape: [65], datatype: 'BYTES', data }] });
    expect(status).toBe(400);
    expect(String(body['error'])).toMatch(/1 to 64/);
  });

  it('--max-infer-items sets the limit', async () => {
    const small = await startServer({ models: MODELS_DIR, only: 'moderation', defaultModel: 'moderation', maxInferItems: 2 });
    try {
      const data = Array.from({ length: 3 }, () => 'AAAA');
      const res = await fetch(`${small.url}/v2/models/moderation/infer`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ inputs: [{ name: 'input', shape: [3], datatype: 'BYTES', data }] }),
      });
      expect(res.status).toBe(400);
      expect(String(((await res.json()) as { error?: string }).error)).toMatch(/1 to 2/);
    } finally {
      await small.server.close();
    }
  }, 60_000);

  it('JSON FP32 infer (KServe form): the raw output equals onnxruntime on the same tensor', async () => {
    const { status, body } = await postJson('/v2/models/moderation/infer', fill(fixtureJson('kserve-json-fp32.request.json')));
    expect(status, JSON.stringify(body)).toBe(200);
    expect(body).toMatchObject(fixtureJson('kserve-json-fp32.response.json'));
    const output = (body['outputs'] as Array<{ data: number[] }>)[0]?.data ?? [];
    expect(output).toEqual(Array.from(await referenceOutput(tensor(1), 1)));
  });

  it('JSON BYTES infer with the classification extension returns /predict top-k', async () => {
    const { status, body } = await postJson('/v2/models/moderation/infer', fill(fixtureJson('json-bytes-classification.request.json')));
    expect(status, JSON.stringify(body)).toBe(200);
    expect(body).toMatchObject(fixtureJson('json-bytes-classification.response.json'));
    const strings = (body['outputs'] as Array<{ data: string[] }>)[0]?.data ?? [];
    const labels = readFileSync(join(MODELS_DIR, 'moderation', 'labels.txt'), 'utf8')
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l !== '');
    const expected: string[] = [];
    for (const name of ['dog', 'eagle'] as const) {
      const res = await fetch(`${url}/predict?model=moderation&top_k=3`, { method: 'POST', body: photo(name), headers: { 'content-type': 'image/jpeg' } });
      const { predictions } = (await res.json()) as { predictions: Array<{ label: string; probability: number }> };
      expected.push(...predictions.map((p) => `${p.probability}:${labels.indexOf(p.label)}:${p.label}`));
    }
    expect(strings).toEqual(expected);
  });

  it('binary BYTES infer as tritonclient sends it (no Content-Type), plain and gzip', async () => {
    const plain = await checkBinaryBytes(url, false);
    const gzipped = await checkBinaryBytes(url, true);
    expect(Array.from(gzipped)).toEqual(Array.from(plain));
  });

  it('binary FP32 infer round trip equals onnxruntime byte for byte', async () => {
    await checkBinaryFp32(url);
  });

  it('binary classification output: BYTES elements in the binary part', async () => {
    const header = Buffer.from(
      JSON.stringify({
        inputs: [{ name: 'input', shape: [1], datatype: 'BYTES', parameters: { binary_data_size: photo('dog').length + 4 } }],
        outputs: [{ name: 'output', parameters: { classification: 2, binary_data: true } }],
      }),
    );
    const answer = await postBinary(`${url}/v2/models/moderation/versions/1/infer`, header, serializeElements([photo('dog')]));
    expect(answer.status).toBe(200);
    const output = (answer.header['outputs'] as Array<{ shape: number[]; parameters: { binary_data_size: number } }>)[0];
    expect(output?.shape).toEqual([1, 2]);
    expect(output?.parameters.binary_data_size).toBe(answer.binary.length);
    expect(parseElements(answer.binary)).toHaveLength(2);
  });

  it('parameters.timeout (µs) becomes the deadline', async () => {
    const body = fill(fixtureJson('kserve-json-fp32.request.json')) as Record<string, unknown>;
    body['parameters'] = { timeout: 1 };
    const { status, body: answer } = await postJson('/v2/models/moderation/infer', body);
    // 1 ms is less than the model's batching delay (5 ms): the job cannot be answered in time.
    expect(status).toBe(504);
    expect(typeof answer['error']).toBe('string');
  });

  it('infer calls are counted in the request metrics like /predict (model, version, code, error_code)', async () => {
    const count = async (labels: RegExp): Promise<number> => {
      const text = await (await fetch(`${url}/metrics`)).text();
      return text
        .split('\n')
        .filter((l) => l.startsWith('swarmserve_requests_total{') && labels.test(l))
        .reduce((sum, l) => sum + Number(l.slice(l.lastIndexOf(' ') + 1)), 0);
    };
    const ok = /model="moderation".*version="1".*code="200".*error_code=""/;
    const missing = /model="unknown".*code="404".*error_code="MODEL_NOT_FOUND"/;
    const [okBefore, missingBefore] = [await count(ok), await count(missing)];
    expect((await postJson('/v2/models/moderation/infer', fill(fixtureJson('kserve-json-fp32.request.json')))).status).toBe(200);
    expect((await postJson('/v2/models/no-such-model/infer', fill(fixtureJson('kserve-json-fp32.request.json')))).status).toBe(404);
    expect(await count(ok)).toBe(okBefore + 1);
    expect(await count(missing)).toBe(missingBefore + 1);
    expect(await (await fetch(`${url}/metrics`)).text()).toMatch(/^swarmserve_requests_in_flight 0$/m);
  });
});
