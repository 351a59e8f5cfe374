// Reads an ONNX ModelProto (onnx-proto) into the plain graph the planner works on: nodes
// with decoded attributes, graph inputs/outputs with their declared dims, and constants
// (initializers and Constant nodes) with their element counts, byte sizes and, for the small
// ones (shapes, axes, pads, scales, scalar bounds), their values.
import { ServeError } from '../common/errors.js';
import { DataType as DT, decodeModel, num, onnx, type Attribute, type Model, type Tensor, type ValueInfo } from './proto.js';

/** ONNX element type (TensorProto.DataType) → bytes per element. */
export const ELEMENT_BYTES: Readonly<Record<number, number>> = {
  [DT.FLOAT]: 4,
  [DT.UINT8]: 1,
  [DT.INT8]: 1,
  [DT.UINT16]: 2,
  [DT.INT16]: 2,
  [DT.INT32]: 4,
  [DT.INT64]: 8,
  [DT.BOOL]: 1,
  [DT.FLOAT16]: 2,
  [DT.DOUBLE]: 8,
  [DT.UINT32]: 4,
  [DT.UINT64]: 8,
  [DT.COMPLEX64]: 8,
  [DT.COMPLEX128]: 16,
  [DT.BFLOAT16]: 2,
};

export const ELEMENT_TYPE_NAMES: Readonly<Record<number, string>> = {
  [DT.FLOAT]: 'float32',
  [DT.UINT8]: 'uint8',
  [DT.INT8]: 'int8',
  [DT.UINT16]: 'uint16',
  [DT.INT16]: 'int16',
  [DT.INT32]: 'int32',
  [DT.INT64]: 'int64',
  [DT.STRING]: 'string',
  [DT.BOOL]: 'bool',
  [DT.FLOAT16]: 'float16',
  [DT.DOUBLE]: 'float64',
  [DT.UINT32]: 'uint32',
  [DT.UINT64]: 'uint64',
  [DT.BFLOAT16]: 'bfloat16',
};

export const FLOAT_TYPES: ReadonlySet<number> = new Set([DT.FLOAT, DT.FLOAT16, DT.DOUBLE, DT.BFLOAT16]);
export { DT as DataType };

/** Constants with at most this many elements keep their values (for shape inference). */
export const SMALL_CONSTANT_LIMIT = 4096;

export type AttrValue = number | number[] | string | string[] | ConstantTensor;

export interface GraphNode {
  name: string;
  opType: string;
  domain: string;
  inputs: string[];
  outputs: string[];
  attrs: ReadonlyMap<string, AttrValue>;
}

/** A declared graph input or output: dims are sizes or symbolic names ('N'); undefined when unknown. */
export interface GraphValue {
  name: string;
  elemType: number;
  dims: Array<number | string | undefined> | undefined;
}

/** An initializer, or the tensor of a Constant node. */
export interface ConstantTensor {
  name: string;
  dataType: number;
  dims: number[];
  elementCount: number;
  byteLength: number;
  /** Decoded values when the tensor is small (≤ SMALL_CONSTANT_LIMIT elements) and numeric. */
  values: number[] | undefined;
  /** 'initializer', or the Constant node that produces it. */
  origin: 'initializer' | 'constant-node';
}

export interface OnnxGraph {
  name: string;
  producer: string;
  opset: number;
  inputs: GraphValue[];
  outputs: GraphValue[];
  nodes: GraphNode[];
  constants: ReadonlyMap<string, ConstantTensor>;
}

/** Decodes a serialized ModelProto. */
export function readOnnxGraph(bytes: Uint8Array, source = 'model'): OnnxGraph {
  let model: Model;
  try {
    model = decodeModel(bytes);
  } catch (err) {
    throw new ServeError('BAD_PARAMETER', `${source} is not an ONNX model: ${(err as Error).message}`);
  }
  const graph = model.graph;
  if (graph === null || graph === undefined || (graph.node ?? []).length === 0) throw new ServeError('BAD_PARAMETER', `${source} has no graph nodes`);
  const initializers = graph.initializer ?? [];
  const opset = (model.opsetImport ?? []).find((o) => (o.domain ?? '') === '' || o.domain === 'ai.onnx');
  const constants = new Map<string, ConstantTensor>();
  for (const init of initializers) constants.set(init.name ?? '', tensorFromProto(init, init.name ?? '', 'initializer'));
  const nodes: GraphNode[] = [];
  (graph.node ?? []).forEach((n, index) => {
    const attrs = new Map<string, AttrValue>();
    for (const a of n.attribute ?? []) {
      const value = attrValue(a);
      if (value !== undefined) attrs.set(a.name ?? '', value);
    }
    const opType = n.opType ?? '';
    const domain = n.domain ?? '';
    const node: GraphNode = {
      name: n.name !== null && n.name !== undefined && n.name !== '' ? n.name : `${opType}_${index}`,
      opType,
      domain,
      inputs: [...(n.input ?? [])],
      outputs: [...(n.output ?? [])],
      attrs,
    };
    if (opType === 'Constant' && (domain === '' || domain === 'ai.onnx') && node.outputs[0] !== undefined) {
      const tensor = constantNodeTensor(node, node.outputs[0]);
      if (tensor !== undefined) {
        constants.set(tensor.name, tensor);
        return; // a Constant node stores a value; it does no work at run time
      }
    }
    nodes.push(node);
  });
  const initializerNames = new Set(initializers.map((t) => t.name ?? ''));
  return {
    name: graph.name ?? '',
    producer: `${model.producerName} ${model.producerVersion}`.trim(),
    opset: opset === undefined ? 0 : num(opset.version ?? 0),
    // Since IR v4 initializers may also be listed as inputs (overridable defaults): those are constants.
    inputs: (graph.input ?? []).filter((v) => !initializerNames.has(v.name ?? '')).map(graphValue),
    outputs: (graph.output ?? []).map(graphValue),
    nodes,
    constants,
  };
}

function graphValue(v: ValueInfo): GraphValue {
  const tensorType = v.type?.tensorType;
  const dims = tensorType?.shape?.dim?.map((d) => {
    if (d.dimValue !== null && d.dimValue !== undefined && num(d.dimValue) > 0) return num(d.dimValue);
    if (d.dimParam !== null && d.dimParam !== undefined && d.dimParam !== '') return d.dimParam;
    return undefined;
  });
  return {
    name: v.name ?? '',
    elemType: tensorType?.elemType ?? DT.FLOAT,
    dims: tensorType?.shape === null || tensorType?.shape === undefined ? undefined : (dims ?? []),
  };
}

function attrValue(a: Attribute): AttrValue | undefined {
  const T = onnx.AttributeProto.AttributeType;
  switch (a.type) {
    case T.INT:
      return num(a.i ?? 0);
    case T.FLOAT:
      return a.f ?? 0;
    case T.STRING:
      return new TextDecoder().decode(a.s ?? new Uint8Array());
    case T.INTS:
      return (a.ints ?? []).map(num);
    case T.FLOATS:
      return [...(a.floats ?? [])];
    case T.STRINGS:
      return (a.strings ?? []).map((s) => new TextDecoder().decode(s));
    case T.TENSOR:
      return a.t === null || a.t === undefined ? undefined : tensorFromProto(a.t, a.name ?? 'value', 'constant-node');
    default:
      return undefined; // graphs, sparse tensors, type protos: not used by the operators the planner knows
  }
}

function constantNodeTensor(node: GraphNode, output: string): ConstantTensor | undefined {
  const make = (dataType: number, dims: number[], values: number[]): ConstantTensor => ({
    name: output,
    dataType,
    dims,
    elementCount: values.length,
    byteLength: values.length * (ELEMENT_BYTES[dataType] ?? 4),
    values,
    origin: 'constant-node',
  });
  const value = node.attrs.get('value');
  if (typeof value === 'object' && !Array.isArray(value)) return { ...value, name: output, origin: 'constant-node' };
  const f = node.attrs.get('value_float');
  if (typeof f === 'number') return make(DT.FLOAT, [], [f]);
  const fs = node.attrs.get('value_floats');
  if (Array.isArray(fs)) return make(DT.FLOAT, [fs.length], fs.map(Number));
  const i = node.attrs.get('value_int');
  if (typeof i === 'number') return make(DT.INT64, [], [i]);
  const is = node.attrs.get('value_ints');
  if (Array.isArray(is)) return make(DT.INT64, [is.length], is.map(Number));
  return undefined;
}

function tensorFromProto(t: Tensor, name: string, origin: ConstantTensor['origin']): ConstantTensor {
  const dims = (t.dims ?? []).map(num);
  const dataType = t.dataType ?? DT.FLOAT;
  const elementCount = dims.reduce((a, b) => a * b, 1);
  const elementBytes = ELEMENT_BYTES[dataType] ?? 0;
  let byteLength = elementCount * elementBytes;
  if (dataType === Number(DT.STRING)) byteLength = (t.stringData ?? []).reduce((a, s) => a + s.length, 0);
  return {
    name,
    dataType,
    dims,
    elementCount,
    byteLength,
    values: elementCount <= SMALL_CONSTANT_LIMIT ? decodeValues(t, dataType, elementCount) : undefined,
    origin,
  };
}

function decodeValues(t: Tensor, dataType: number, count: number): number[] | undefined {
  const raw = t.rawData;
  if (raw !== null && raw !== undefined && raw.length > 0) {
    const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
    const read: ((offset: number) => number) | undefined = {
      [DT.FLOAT]: (o: number) => view.getFloat32(o, true),
      [DT.DOUBLE]: (o: number) => view.getFloat64(o, true),
      [DT.INT64]: (o: number) => Number(view.getBigInt64(o, true)),
      [DT.UINT64]: (o: number) => Number(view.getBigUint64(o, true)),
      [DT.INT32]: (o: number) => view.getInt32(o, true),
      [DT.UINT32]: (o: number) => view.getUint32(o, true),
      [DT.INT16]: (o: number) => view.getInt16(o, true),
      [DT.UINT16]: (o: number) => view.getUint16(o, true),
      [DT.INT8]: (o: number) => view.getInt8(o),
      [DT.UINT8]: (o: number) => view.getUint8(o),
      [DT.BOOL]: (o: number) => view.getUint8(o),
    }[dataType];
    const size = ELEMENT_BYTES[dataType];
    if (read === undefined || size === undefined || raw.length < count * size) return undefined;
    return Array.from({ length: count }, (_, i) => read(i * size));
  }
  const typed: readonly unknown[] | null | undefined =
    {
      [DT.FLOAT]: t.floatData,
      [DT.DOUBLE]: t.doubleData,
      [DT.INT64]: t.int64Data,
      [DT.UINT64]: t.uint64Data,
      [DT.UINT32]: t.uint64Data,
    }[dataType] ?? t.int32Data;
  if (typed === null || typed === undefined || typed.length !== count) return count === 0 ? [] : undefined;
  return typed.map(num);
}
