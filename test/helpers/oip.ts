// Open Inference Protocol fixtures (test/fixtures/oip/, sources in SOURCES.md) and what the
// tests need around them: binary bodies as tritonclient builds them, a reference run of the
// model with onnxruntime, and the shared checks run against embedded and distributed servers.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import ort from 'onnxruntime-node';
import { expect } from 'vitest';
import { photo } from './images.js';
import { ROOT } from './process.js';

export const MODELS_DIR = join(ROOT, 'models');
const FIXTURES = join(ROOT, 'test', 'fixtures', 'oip');
const ITEM = [224, 224, 3];
const ITEM_SIZE = 224 * 224 * 3;

export function fixture(name: string): Buffer {
  return readFileSync(join(FIXTURES, name));
}

export function fixtureJson(name: string): Record<string, unknown> {
  return JSON.parse(fixture(name).toString('utf8')) as Record<string, unknown>;
}

/** Deterministic, non-constant FP32 items in the model's input range (0..1). */
export function tensor(items: number): Float32Array {
  return Float32Array.from({ length: items * ITEM_SIZE }, (_, i) => ((i * 7919 + items) % 256) / 255);
}

/** tritonclient's BYTES serialisation: per element a uint32 little-endian length, then the bytes. */
export function serializeElements(elements: readonly Buffer[]): Buffer {
  return Buffer.concat(elements.flatMap((e) => [Buffer.from(Uint32Array.of(e.length).buffer), e]));
}

export function parseElements(data: Buffer): string[] {
  const out: string[] = [];
  for (let at = 0; at < data.length;) {
    const n = data.readUInt32LE(at);
    out.push(data.subarray(at + 4, at + 4 + n).toString('utf8'));
    at += 4 + n;
  }
  return out;
}

/** The model's raw output on `input`, as onnxruntime computes it with the server's session options. */
export async function referenceOutput(input: Float32Array, items: number): Promise<Float32Array> {
  const session = await ort.InferenceSession.create(join(MODELS_DIR, 'moderation', '1', 'model.onnx'), {
    graphOptimizationLevel: 'all',
    enableCpuMemArena: true,
    executionMode: 'sequential',
  });
  try {
    const out = await session.run({ input: new ort.Tensor('float32', input, [items, ...ITEM]) });
    return out['output']?.data as Float32Array;
  } finally {
    await session.release();
  }
}

export interface BinaryAnswer {
  status: number;
  header: Record<string, unknown>;
  binary: Buffer;
  contentType: string | null;
}

export async function postBinary(
  url: string,
  headerJson: Buffer,
  data: Buffer,
  options: { gzip?: boolean; headers?: Record<string, string> } = {},
): Promise<BinaryAnswer> {
  const raw = Buffer.concat([headerJson, data]);
  const headers: Record<string, string> = { 'inference-header-content-length': String(headerJson.length), ...options.headers };
  if (options.gzip === true) headers['content-encoding'] = 'gzip';
  const res = await fetch(url, { method: 'POST', body: options.gzip === true ? gzipSync(raw) : raw, headers });
  const body = Buffer.from(await res.arrayBuffer());
  const length = res.headers.get('inference-header-content-length');
  const split = length === null ? body.length : Number(length);
  return {
    status: res.status,
    header: JSON.parse(body.subarray(0, split).toString('utf8')) as Record<string, unknown>,
    binary: body.subarray(split),
    contentType: res.headers.get('content-type'),
  };
}

/** The tritonclient-style binary BYTES request (fixture header + dog and eagle) → binary FP32 [2, 5]. */
export async function checkBinaryBytes(baseUrl: string, gzip: boolean): Promise<Float32Array> {
  const answer = await postBinary(
    `${baseUrl}/v2/models/moderation/infer`,
    fixture('triton-binary-bytes.request-header.json'),
    serializeElements([photo('dog'), photo('eagle')]),
    { gzip },
  );
  expect(answer.status, JSON.stringify(answer.header)).toBe(200);
  expect(answer.header).toEqual(fixtureJson('triton-binary-bytes.response-header.json'));
  expect(answer.binary.length).toBe(40);
  return new Float32Array(answer.binary.buffer.slice(answer.binary.byteOffset, answer.binary.byteOffset + 40));
}

/** The binary FP32 request → binary output, byte for byte onnxruntime's on the same tensor. */
export async function checkBinaryFp32(baseUrl: string): Promise<void> {
  const input = tensor(2);
  const answer = await postBinary(`${baseUrl}/v2/models/moderation/infer`, fixture('triton-binary-fp32.request-header.json'), Buffer.from(input.buffer), {
    headers: { 'content-type': 'application/octet-stream' },
  });
  expect(answer.status, JSON.stringify(answer.header)).toBe(200);
  expect(answer.header).toEqual({
    id: 'fp32-binary',
    model_name: 'moderation',
    model_version: '1',
    outputs: [{ name: 'output', datatype: 'FP32', shape: [2, 5], parameters: { binary_data_size: 40 } }],
  });
  const reference = await referenceOutput(input, 2);
  expect(answer.binary.equals(Buffer.from(reference.buffer, reference.byteOffset, reference.byteLength))).toBe(true);
}

export { gzipSync };
