// The types shape inference and its operator handlers share (the float handlers in
// shape-inference.ts, the quantized ones in quantized-ops.ts): a file of their own, so neither
// imports the other.
import type { GraphNode } from '../onnx/read-graph.js';

/** A tensor as the planner sees it: element type, concrete shape, and values when small and known. */
export interface TensorValue {
  dtype: number;
  shape: number[];
  values?: number[] | undefined;
  /** The integer element type behind a DequantizeLinear output: the tensor is stored (and, fused, computed) in that type. */
  quantized?: number | undefined;
}

export interface OpResult {
  outputs: Array<TensorValue | undefined>;
  macs?: number;
  macKind?: 'dense' | 'grouped';
  macPrecision?: string;
}

export interface OpContext {
  node: GraphNode;
  opset: number;
  /** By position; undefined for an absent optional input ('' in the graph). */
  inputs: Array<TensorValue | undefined>;
}

export type OpHandler = (ctx: OpContext) => OpResult;
