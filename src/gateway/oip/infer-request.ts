// Reads an Open Inference Protocol v2 infer request: a JSON header, optionally followed by
// binary tensor data (Triton's binary tensor data extension, Inference-Header-Content-Length),
// into one item per image or tensor, checked against the model before anything is queued.
import { z } from 'zod';
import { ServeError } from '../../common/errors.js';
import { sniffImageFormat } from '../../common/image-format.js';
import type { JobPayload } from '../../queue/contract.js';
import type { CatalogModel } from '../contract.js';

const parameters = z.record(z.string(), z.unknown()).optional();

const headerSchema = z.object({
  id: z.string().optional(),
  parameters,
  inputs: z
    .array(
      z.object({
        name: z.string(),
        shape: z.array(z.int().min(0)),
        datatype: z.string(),
        parameters: z.object({ binary_data_size: z.int().min(0).optional() }).loose().optional(),
        data: z.unknown().optional(),
      }),
    )
    .min(1),
  outputs: z
    .array(
      z.object({
        name: z.string(),
        parameters: z.object({ binary_data: z.boolean().optional(), classification: z.int().optional() }).loose().optional(),
      }),
    )
    .optional(),
});

export type InferHeader = z.infer<typeof headerSchema>;

export interface WantedOutput {
  name: string;
  binary: boolean;
  /** Top-k of the classification extension, or undefined for the raw FP32 tensor. */
  classification?: number;
}

export interface InferRequest {
  id?: string;
  items: JobPayload[];
  outputs: WantedOutput[];
  /** The deadline from parameters.timeout (µs), in ms, if given. */
  timeoutMs?: number;
}

const bad = (detail: string): ServeError => new ServeError('BAD_INFER_REQUEST', detail);

/** Splits the body into the JSON header and the binary data after it. */
function splitBody(body: Buffer, headerLength: string | undefined): { header: InferHeader; binary: Buffer } {
  let jsonEnd = body.length;
  if (headerLength !== undefined) {
    const n = Number(headerLength);
    if (!/^\d+$/.test(headerLength.trim()) || n > body.length) throw bad(`Inference-Header-Content-Length is "${headerLength}" but the body has ${body.length} bytes.`);
    jsonEnd = n;
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(body.subarray(0, jsonEnd).toString('utf8'));
  } catch (err) {
    throw bad(`The request header is not JSON: ${(err as Error).message}${headerLength === undefined ? ' (binary data needs the Inference-Header-Content-Length header)' : ''}.`);
  }
  const result = headerSchema.safeParse(parsed);
  if (!result.success) {
    const issue = result.error.issues[0];
    throw bad(`The request header is invalid at "${issue?.path.join('.') ?? ''}": ${issue?.message ?? 'unknown'}.`);
  }
  return { header: result.data, binary: body.subarray(jsonEnd) };
}

export function readInferRequest(body: unknown, headerLength: string | undefined, model: CatalogModel, maxItems: number): InferRequest {
  if (!Buffer.isBuffer(body) || body.length === 0) throw new ServeError('EMPTY_BODY', 'The infer request has no body: send the JSON inference request.');
  const { header, binary } = splitBody(body, headerLength);
  if (header.inputs.length !== 1) throw bad(`Model "${model.name}" has one input, "${model.inputName}"; the request has ${header.inputs.length}.`);
  const input = header.inputs[0] as InferHeader['inputs'][number];
  if (input.name !== model.inputName) throw bad(`Model "${model.name}" has no input "${input.name}": its input is "${model.inputName}".`);
  const size = input.parameters?.binary_data_size;
  if (size !== undefined && size !== binary.length) throw bad(`Input "${input.name}" declares binary_data_size ${size} but ${binary.length} bytes follow the header.`);
  if (size === undefined && binary.length > 0) throw bad(`${binary.length} bytes follow the header but no input declares binary_data_size.`);
  const raw = size === undefined ? undefined : binary;
  const n = input.shape[0] ?? 0;
  if (n < 1 || n > maxItems) throw bad(`Input "${input.name}" has ${n} items (shape [${input.shape.join(', ')}]); send 1 to ${maxItems}.`);
  let items: JobPayload[];
  if (input.datatype === 'BYTES') items = bytesItems(input, raw, n);
  else if (input.datatype === 'FP32') items = fp32Items(input, raw, n, model);
  else throw bad(`Input "${input.name}" has datatype ${input.datatype}: send BYTES (encoded images) or FP32 (shape [N, ${model.itemDims.join(', ')}]).`);
  const request: InferRequest = { items, outputs: wantedOutputs(header, model) };
  if (header.id !== undefined) request.id = header.id;
  const timeout = header.parameters?.['timeout'];
  if (timeout !== undefined) {
    if (typeof timeout !== 'number' || !Number.isInteger(timeout) || timeout < 1) throw bad(`parameters.timeout must be a positive integer of microseconds; got ${JSON.stringify(timeout)}.`);
    request.timeoutMs = Math.min(600_000, Math.ceil(timeout / 1000));
  }
  return request;
}

/** Encoded images: binary (each element a 4-byte little-endian length, then its bytes) or JSON base64 strings. */
function bytesItems(input: InferHeader['inputs'][number], raw: Buffer | undefined, n: number): JobPayload[] {
  if (input.shape.length !== 1) throw bad(`BYTES input "${input.name}" must have shape [N] (one encoded image per element); got [${input.shape.join(', ')}].`);
  const images: Buffer[] = [];
  if (raw !== undefined) {
    let at = 0;
    while (at < raw.length) {
      if (at + 4 > raw.length) throw bad(`BYTES input "${input.name}": element ${images.length} has a truncated length prefix.`);
      const length = raw.readUInt32LE(at);
      if (at + 4 + length > raw.length) throw bad(`BYTES input "${input.name}": element ${images.length} declares ${length} bytes; fewer follow.`);
      images.push(raw.subarray(at + 4, at + 4 + length));
      at += 4 + length;
    }
  } else {
    const data = input.data;
    if (!Array.isArray(data) || !data.flat().every((d) => typeof d === 'string')) throw bad(`BYTES input "${input.name}" needs "data": an array of base64 strings, or binary data.`);
    for (const d of data.flat() as string[]) images.push(Buffer.from(d, 'base64'));
  }
  if (images.length !== n) throw bad(`BYTES input "${input.name}" has shape [${n}] but ${images.length} elements.`);
  return images.map((bytes, i) => {
    try {
      sniffImageFormat(bytes);
    } catch (err) {
      throw bad(`Input "${input.name}" element ${i} is not an image this server decodes: ${(err as Error).message}`);
    }
    return { kind: 'image', contentType: 'application/octet-stream', bytes };
  });
}

/** Tensors already in the model's input layout: binary float32 little-endian, or JSON numbers (flat or nested). */
function fp32Items(input: InferHeader['inputs'][number], raw: Buffer | undefined, n: number, model: CatalogModel): JobPayload[] {
  const dims = model.itemDims;
  const shapeOk = input.shape.length === dims.length + 1 && dims.every((d, i) => input.shape[i + 1] === d);
  if (!shapeOk) throw new ServeError('INVALID_TENSOR', `FP32 input "${input.name}" must have shape [N, ${dims.join(', ')}]; got [${input.shape.join(', ')}].`);
  const itemSize = dims.reduce((a, b) => a * b, 1);
  let bytes: Buffer;
  if (raw !== undefined) {
    bytes = raw;
  } else {
    const data = input.data;
    const flat: unknown[] = Array.isArray(data) ? (data as unknown[]).flat(Infinity) : [];
    if (!flat.every((v) => typeof v === 'number')) throw bad(`FP32 input "${input.name}" needs "data": an array of numbers, or binary data.`);
    bytes = Buffer.from(Float32Array.from(flat).buffer);
  }
  if (bytes.length !== n * itemSize * 4) throw new ServeError('INVALID_TENSOR', `FP32 input "${input.name}" of shape [${input.shape.join(', ')}] needs ${n * itemSize} floats (${n * itemSize * 4} bytes); got ${bytes.length} bytes.`);
  return Array.from({ length: n }, (_, i) => ({ kind: 'tensor', dtype: 'float32', shape: dims, bytes: bytes.subarray(i * itemSize * 4, (i + 1) * itemSize * 4) }));
}

function wantedOutputs(header: InferHeader, model: CatalogModel): WantedOutput[] {
  const binaryDefault = header.parameters?.['binary_data_output'] === true;
  if (header.outputs === undefined || header.outputs.length === 0) return [{ name: model.outputName, binary: binaryDefault }];
  return header.outputs.map((o) => {
    if (o.name !== model.outputName) throw bad(`Model "${model.name}" has no output "${o.name}": its output is "${model.outputName}".`);
    const wanted: WantedOutput = { name: o.name, binary: o.parameters?.binary_data ?? binaryDefault };
    const k = o.parameters?.classification;
    if (k !== undefined) {
      if (k < 1 || k > model.labelCount) throw bad(`Output "${o.name}": classification must be from 1 to ${model.labelCount}; got ${k}.`);
      wanted.classification = k;
    }
    return wanted;
  });
}
