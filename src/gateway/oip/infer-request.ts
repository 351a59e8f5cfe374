// Reads an Open Inference Protocol v2 infer request: a JSON header, optionally followed by
// binary tensor data (Triton's binary tensor data extension, Inference-Header-Content-Length),
// into one item per image or tensor, checked against the model before anything is queued.
// Its cost is bounded before any work: element counts are checked against the shape while
// parsing (never after building everything), nesting is at most the shape's rank, outputs
// are distinct model outputs, and the answer's element count has a ceiling.
import { z } from 'zod';
import { ServeError } from '../../common/errors.js';
import { sniffImageFormat } from '../../common/image-format.js';
import type { JobPayload } from '../../queue/contract.js';
import type { CatalogModel } from '../contract.js';
import { exceededJsonCount, type JsonValueCounts } from './json-cost.js';

/** Inputs or outputs one request may list (models here have one of each). */
const MAX_TENSORS = 16;
/** Dimensions of a tensor's shape. */
const MAX_RANK = 16;

const parameters = z.record(z.string(), z.unknown()).optional();

const headerSchema = z.object({
  id: z.string().optional(),
  parameters,
  inputs: z
    .array(
      z.object({
        name: z.string(),
        shape: z.array(z.int().min(0)).max(MAX_RANK),
        datatype: z.string(),
        parameters: z
          .object({ binary_data_size: z.int().min(0).optional() })
          .loose()
          .optional(),
        data: z.unknown().optional(),
      }),
    )
    .min(1)
    .max(MAX_TENSORS),
  outputs: z
    .array(
      z.object({
        name: z.string(),
        parameters: z.object({ binary_data: z.boolean().optional(), classification: z.int().optional() }).loose().optional(),
      }),
    )
    .max(MAX_TENSORS)
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

/** The most elements (floats or classification strings) one infer answer may hold, all outputs together. */
export const MAX_ANSWER_ELEMENTS = 4_194_304;

/** Values a header holds besides its items' data: names, datatypes, shapes, ids, parameters. */
const HEADER_VALUES = 1024;

/** The most values of each kind a JSON header to this model can need: its items' data at the most, and the rest. */
export function jsonValueLimits(model: CatalogModel, maxItems: number): JsonValueCounts {
  // Nested FP32 data: per item one array, then one per element of each dimension but the last.
  let prefix = 1;
  let arraysPerItem = 1;
  for (const d of model.itemDims.slice(0, -1)) {
    prefix *= d;
    arraysPerItem += prefix;
  }
  const itemSize = model.itemDims.reduce((a, b) => a * b, 1);
  return { strings: maxItems + HEADER_VALUES, containers: maxItems * arraysPerItem + HEADER_VALUES, scalars: maxItems * itemSize + HEADER_VALUES };
}

/** Splits the body into the JSON header and the binary data after it; the header's values are counted before it is parsed. */
function splitBody(body: Buffer, headerLength: string | undefined, limits: JsonValueCounts): { header: InferHeader; binary: Buffer } {
  let jsonEnd = body.length;
  if (headerLength !== undefined) {
    const n = Number(headerLength);
    if (!/^\d+$/.test(headerLength.trim()) || n > body.length)
      throw bad(`Inference-Header-Content-Length is "${headerLength}" but the body has ${body.length} bytes.`);
    jsonEnd = n;
  }
  const text = body.subarray(0, jsonEnd);
  const exceeded = exceededJsonCount(text, limits);
  if (exceeded !== undefined) {
    throw new ServeError(
      'PAYLOAD_TOO_LARGE',
      `The request's JSON holds more ${exceeded === 'scalars' ? 'numbers and literals' : exceeded === 'containers' ? 'arrays and objects' : 'strings'} than a request to this model can need (at most ${limits[exceeded]}); it was refused unparsed.`,
    );
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text.toString('utf8'));
  } catch (err) {
    throw bad(
      `The request header is not JSON: ${(err as Error).message}${headerLength === undefined ? ' (binary data needs the Inference-Header-Content-Length header)' : ''}.`,
    );
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
  const { header, binary } = splitBody(body, headerLength, jsonValueLimits(model, maxItems));
  if (header.inputs.length !== 1) throw bad(`Model "${model.name}" has one input, "${model.inputName}"; the request has ${header.inputs.length}.`);
  const input = header.inputs[0] as InferHeader['inputs'][number];
  if (input.name !== model.inputName) throw bad(`Model "${model.name}" has no input "${input.name}": its input is "${model.inputName}".`);
  const size = input.parameters?.binary_data_size;
  if (size !== undefined && size !== binary.length)
    throw bad(`Input "${input.name}" declares binary_data_size ${size} but ${binary.length} bytes follow the header.`);
  if (size === undefined && binary.length > 0) throw bad(`${binary.length} bytes follow the header but no input declares binary_data_size.`);
  const raw = size === undefined ? undefined : binary;
  const n = input.shape[0] ?? 0;
  if (n < 1 || n > maxItems) throw bad(`Input "${input.name}" has ${n} items (shape [${input.shape.join(', ')}]); send 1 to ${maxItems}.`);
  // Before the data: a request with wrong outputs costs nothing to refuse.
  wantedOutputs(header, model);
  let items: JobPayload[];
  if (input.datatype === 'BYTES') items = bytesItems(input, raw, n);
  else if (input.datatype === 'FP32') items = fp32Items(input, raw, n, model);
  else throw bad(`Input "${input.name}" has datatype ${input.datatype}: send BYTES (encoded images) or FP32 (shape [N, ${model.itemDims.join(', ')}]).`);
  const outputs = wantedOutputs(header, model);
  const answerElements = outputs.reduce((sum, o) => sum + n * (o.classification ?? model.labelCount), 0);
  if (answerElements > MAX_ANSWER_ELEMENTS)
    throw new ServeError(
      'ANSWER_TOO_LARGE',
      `The answer would hold ${answerElements} elements (${n} items × ${outputs.map((o) => o.classification ?? model.labelCount).join(' + ')} per item); at most ${MAX_ANSWER_ELEMENTS}.`,
    );
  const request: InferRequest = { items, outputs };
  if (header.id !== undefined) request.id = header.id;
  const timeout = header.parameters?.['timeout'];
  if (timeout !== undefined) {
    if (typeof timeout !== 'number' || !Number.isInteger(timeout) || timeout < 1)
      throw bad(`parameters.timeout must be a positive integer of microseconds; got ${JSON.stringify(timeout)}.`);
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
      // Counted while parsing: millions of empty elements stop at the first one too many.
      if (images.length === n) throw bad(`BYTES input "${input.name}" has shape [${n}] but more elements follow.`);
      if (at + 4 > raw.length) throw bad(`BYTES input "${input.name}": element ${images.length} has a truncated length prefix.`);
      const length = raw.readUInt32LE(at);
      if (at + 4 + length > raw.length) throw bad(`BYTES input "${input.name}": element ${images.length} declares ${length} bytes; fewer follow.`);
      images.push(raw.subarray(at + 4, at + 4 + length));
      at += 4 + length;
    }
  } else {
    const data = input.data;
    if (!Array.isArray(data) || !data.every((d) => typeof d === 'string'))
      throw bad(`BYTES input "${input.name}" needs "data": a flat array of base64 strings (shape [N]), or binary data.`);
    if (data.length !== n) throw bad(`BYTES input "${input.name}" has shape [${n}] but ${data.length} elements.`);
    for (const d of data) images.push(Buffer.from(d, 'base64'));
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
  const count = n * itemSize;
  let bytes: Buffer;
  if (raw !== undefined) {
    bytes = raw;
    if (bytes.length !== count * 4)
      throw new ServeError(
        'INVALID_TENSOR',
        `FP32 input "${input.name}" of shape [${input.shape.join(', ')}] needs ${count} floats (${count * 4} bytes); got ${bytes.length} bytes.`,
      );
    // Aligned copy to read the floats; non-finite values are refused like JSON's.
    const floats = new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length));
    const at = floats.findIndex((v) => !Number.isFinite(v));
    if (at >= 0) throw new ServeError('INVALID_TENSOR', `FP32 input "${input.name}": element ${at} is ${floats[at]}; every value must be finite.`);
  } else {
    bytes = Buffer.from(jsonFloats(input, count).buffer);
  }
  return Array.from({ length: n }, (_, i) => ({
    kind: 'tensor',
    dtype: 'float32',
    shape: dims,
    bytes: bytes.subarray(i * itemSize * 4, (i + 1) * itemSize * 4),
  }));
}

/**
 * JSON `data` of an FP32 input into `count` floats: flat or nested no deeper than the shape's
 * rank, counted as it goes (an element too many stops it), every value a finite number.
 */
function jsonFloats(input: InferHeader['inputs'][number], count: number): Float32Array {
  const data = input.data;
  if (!Array.isArray(data)) throw bad(`FP32 input "${input.name}" needs "data": an array of numbers, or binary data.`);
  const floats = new Float32Array(count);
  let filled = 0;
  // Iterative, depth-first: [array, next index, depth] frames, at most the shape's rank deep.
  const stack: Array<[unknown[], number, number]> = [[data, 0, 1]];
  while (stack.length > 0) {
    const frame = stack[stack.length - 1] as [unknown[], number, number];
    const [array, index, depth] = frame;
    if (index === array.length) {
      stack.pop();
      continue;
    }
    frame[1] = index + 1;
    const value = array[index];
    if (Array.isArray(value)) {
      if (depth >= input.shape.length) throw bad(`FP32 input "${input.name}": "data" is nested deeper than its shape [${input.shape.join(', ')}].`);
      stack.push([value, 0, depth + 1]);
    } else if (typeof value === 'number') {
      if (!Number.isFinite(value))
        throw new ServeError('INVALID_TENSOR', `FP32 input "${input.name}": element ${filled} is ${value}; every value must be finite.`);
      if (filled === count)
        throw new ServeError('INVALID_TENSOR', `FP32 input "${input.name}" of shape [${input.shape.join(', ')}] needs ${count} floats; "data" has more.`);
      floats[filled++] = value;
    } else {
      throw bad(
        `FP32 input "${input.name}" needs "data": an array of numbers, or binary data; element ${filled} is ${value === null ? 'null' : typeof value}.`,
      );
    }
  }
  if (filled !== count)
    throw new ServeError('INVALID_TENSOR', `FP32 input "${input.name}" of shape [${input.shape.join(', ')}] needs ${count} floats; "data" has ${filled}.`);
  return floats;
}

/** The outputs asked for: distinct names of the model's outputs (it has one), each at most once. */
function wantedOutputs(header: InferHeader, model: CatalogModel): WantedOutput[] {
  const binaryDefault = header.parameters?.['binary_data_output'] === true;
  if (header.outputs === undefined || header.outputs.length === 0) return [{ name: model.outputName, binary: binaryDefault }];
  const seen = new Set<string>();
  return header.outputs.map((o) => {
    if (o.name !== model.outputName) throw bad(`Model "${model.name}" has no output "${o.name}": its output is "${model.outputName}".`);
    if (seen.has(o.name)) throw bad(`Output "${o.name}" is asked for more than once.`);
    seen.add(o.name);
    const wanted: WantedOutput = { name: o.name, binary: o.parameters?.binary_data ?? binaryDefault };
    const k = o.parameters?.classification;
    if (k !== undefined) {
      if (k < 1 || k > model.labelCount) throw bad(`Output "${o.name}": classification must be from 1 to ${model.labelCount}; got ${k}.`);
      wanted.classification = k;
    }
    return wanted;
  });
}
