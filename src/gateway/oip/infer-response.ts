// Builds an Open Inference Protocol v2 infer response: JSON, or a JSON header followed by
// the binary outputs (Triton's binary tensor data extension) when any output asks for it.
import { ServeError } from '../../common/errors.js';
import type { CatalogModel } from '../contract.js';
import type { WantedOutput } from './infer-request.js';
import type { ItemResult } from './infer-run.js';

interface OutputTensor {
  name: string;
  datatype: 'FP32' | 'BYTES';
  shape: number[];
  data?: Array<number | string>;
  parameters?: { binary_data_size: number };
}

export interface InferResponse {
  /** The JSON header (the whole body when `binary` is empty). */
  header: { model_name: string; model_version: string; id?: string; outputs: OutputTensor[] };
  binary: Buffer[];
}

/** Each label's index (the first, should two be equal), built once per label list: a lookup, never a scan. */
const indexes = new WeakMap<readonly string[], ReadonlyMap<string, number>>();
function labelIndex(labels: readonly string[]): ReadonlyMap<string, number> {
  let index = indexes.get(labels);
  if (index === undefined) {
    const built = new Map<string, number>();
    labels.forEach((label, i) => {
      if (!built.has(label)) built.set(label, i);
    });
    index = built;
    indexes.set(labels, index);
  }
  return index;
}

/** Triton's classification strings, "score:index:label", highest first. */
function classificationStrings(result: ItemResult, k: number, labels: readonly string[]): string[] {
  const index = labelIndex(labels);
  return result.predictions.slice(0, k).map((p) => `${p.probability}:${index.get(p.label) ?? -1}:${p.label}`);
}

/** Serialises BYTES elements as the binary extension does: a 4-byte little-endian length, then the bytes. */
export function serializeBytes(elements: readonly string[]): Buffer {
  return Buffer.concat(
    elements.flatMap((e) => {
      const bytes = Buffer.from(e, 'utf8');
      const length = Buffer.alloc(4);
      length.writeUInt32LE(bytes.length);
      return [length, bytes];
    }),
  );
}

export function buildInferResponse(
  model: CatalogModel,
  version: string,
  id: string | undefined,
  wanted: readonly WantedOutput[],
  results: readonly ItemResult[],
): InferResponse {
  const n = results.length;
  const binary: Buffer[] = [];
  const outputs = wanted.map((w): OutputTensor => {
    let tensor: OutputTensor;
    let bytes: () => Buffer;
    if (w.classification !== undefined) {
      const k = w.classification;
      const strings = results.flatMap((r) => classificationStrings(r, k, model.labels));
      tensor = { name: w.name, datatype: 'BYTES', shape: [n, k], data: strings };
      bytes = () => serializeBytes(strings);
    } else {
      const rows = results.map((r) => {
        if (r.output === undefined) throw new ServeError('INTERNAL', 'A worker answered without the output row.');
        return r.output;
      });
      const floats = new Float32Array(n * model.labelCount);
      rows.forEach((row, i) => floats.set(row, i * model.labelCount));
      tensor = { name: w.name, datatype: 'FP32', shape: [n, model.labelCount], data: Array.from(floats) };
      bytes = () => Buffer.from(floats.buffer, floats.byteOffset, floats.byteLength);
    }
    if (w.binary) {
      const data = bytes();
      binary.push(data);
      delete tensor.data;
      tensor.parameters = { binary_data_size: data.length };
    }
    return tensor;
  });
  const header: InferResponse['header'] = { model_name: model.name, model_version: version, outputs };
  if (id !== undefined) header.id = id;
  return { header, binary };
}
