// The ONNX protobuf in one place (onnx-proto): its types, decode/encode, and the few tensor
// helpers the planner, the quantizer and the graph builder share (int64 fields decode as Long
// objects).
import { readFile, writeFile, mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import onnxProto from 'onnx-proto';

const { onnx } = onnxProto;
export { onnx };
export type Model = onnxProto.onnx.IModelProto;
export type Graph = onnxProto.onnx.IGraphProto;
export type Node = onnxProto.onnx.INodeProto;
export type Tensor = onnxProto.onnx.ITensorProto;
export type ValueInfo = onnxProto.onnx.IValueInfoProto;
export type Attribute = onnxProto.onnx.IAttributeProto;

export const DataType = onnx.TensorProto.DataType;

export async function loadModel(path: string): Promise<Model> {
  return decodeModel(await readFile(path));
}

export function decodeModel(bytes: Uint8Array): Model {
  return onnx.ModelProto.decode(bytes);
}

export function encodeModel(model: Model): Uint8Array {
  return onnx.ModelProto.encode(onnx.ModelProto.create(model)).finish();
}

export async function saveModel(model: Model, path: string): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  await writeFile(path, encodeModel(model));
}

/** A number from an int64 proto field (a Long object once decoded, a number once built by us; unset: 0). */
export function num(value: unknown): number {
  if (typeof value === 'number') return value;
  if (value === null || value === undefined) return 0;
  if (typeof value === 'object' && 'toNumber' in value && typeof value.toNumber === 'function') return Number((value as { toNumber(): number }).toNumber());
  return Number(value);
}

export function graphOf(model: Model): Graph & { node: Node[]; initializer: Tensor[] } {
  const graph = model.graph;
  if (graph === null || graph === undefined) throw new Error('the model has no graph');
  graph.node ??= [];
  graph.initializer ??= [];
  return graph as Graph & { node: Node[]; initializer: Tensor[] };
}

export function dimsOf(tensor: Tensor): number[] {
  return (tensor.dims ?? []).map((d) => num(d));
}

/** The float32 values of an initializer (copied: raw data may be unaligned). */
export function floatsOf(tensor: Tensor): Float32Array {
  if (tensor.dataType !== DataType.FLOAT) throw new Error(`initializer ${tensor.name ?? ''} is not float32`);
  const raw = tensor.rawData;
  if (raw !== null && raw !== undefined && raw.length > 0) return new Float32Array(new Uint8Array(raw).buffer); // a copy: a decoded Buffer may be a view into a pool
  return Float32Array.from(tensor.floatData ?? []);
}

export function floatTensor(name: string, dims: number[], values: Float32Array): Tensor {
  return { name, dims, dataType: DataType.FLOAT, rawData: new Uint8Array(values.buffer, values.byteOffset, values.byteLength) };
}

export function int8Tensor(name: string, dims: number[], values: Int8Array): Tensor {
  return { name, dims, dataType: DataType.INT8, rawData: new Uint8Array(values.buffer, values.byteOffset, values.byteLength) };
}

export function uint8Tensor(name: string, dims: number[], values: Uint8Array): Tensor {
  return { name, dims, dataType: DataType.UINT8, rawData: values };
}

export function int32Tensor(name: string, dims: number[], values: Int32Array): Tensor {
  return { name, dims, dataType: DataType.INT32, rawData: new Uint8Array(values.buffer, values.byteOffset, values.byteLength) };
}

/** Attribute lookups (ints and floats; int64 attributes decode as Long). */
export function attrInt(node: Node, name: string, fallback: number): number {
  const a = node.attribute?.find((x) => x.name === name);
  return a === undefined ? fallback : num(a.i);
}

export function attrFloat(node: Node, name: string, fallback: number): number {
  const a = node.attribute?.find((x) => x.name === name);
  return a === undefined ? fallback : (a.f ?? fallback);
}

export function attrString(node: Node, name: string, fallback: string): string {
  const a = node.attribute?.find((x) => x.name === name);
  return a?.s === undefined || a.s === null ? fallback : new TextDecoder().decode(a.s);
}

/** Node name for messages (ONNX names are optional). */
export function describeNode(node: Node): string {
  const name = node.name ?? '';
  return `${node.opType ?? '?'} node "${name === '' ? (node.output?.[0] ?? '?') : name}"`;
}

/** tensor name → the nodes that read it. */
export function consumersOf(graph: Graph): Map<string, Node[]> {
  const map = new Map<string, Node[]>();
  for (const node of graph.node ?? []) {
    for (const input of node.input ?? []) {
      if (input === '') continue;
      const list = map.get(input);
      if (list === undefined) map.set(input, [node]);
      else if (!list.includes(node)) list.push(node);
    }
  }
  return map;
}
