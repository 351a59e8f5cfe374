// Graph analysis: parameters and stored values (counted the way torchvision counts them),
// per-layer output shape / parameters / MACs / activation bytes, totals, peak activation
// memory at a batch size (tensors freed after their last use), and what the seed
// document's per-layer formula would have estimated.
import { ServeError } from '../common/errors.js';
import { ELEMENT_BYTES, ELEMENT_TYPE_NAMES, FLOAT_TYPES, type ConstantTensor, type GraphNode, type OnnxGraph } from '../onnx/read-graph.js';
import { inferShapes, operatorName, type GraphInference, type NodeInference, type NodeStatus, type TensorValue } from './shape-inference.js';

export type DisplayDim = number | string;

export interface LayerAnalysis {
  name: string;
  op: string;
  status: NodeStatus;
  message?: string;
  /** First output's shape; batch-proportional dims shown as 'N' (or '2N', …). Null when unknown. */
  outputShape: DisplayDim[] | null;
  parameters: number;
  /** Multiply-accumulates per image. */
  macs: number;
  macKind: 'dense' | 'grouped' | null;
  /** Element type the MACs run in ('int8' for quantized operands, else the float type); null without MACs. */
  precision: string | null;
  /** Stored bytes of the layer's parameters (1 per int8 weight). */
  parameterBytes: number;
  /** Bytes of all the node's outputs for one image. */
  activationBytes: number;
}

export interface TensorSummary {
  name: string;
  shape: DisplayDim[];
  dtype: string;
  bytesPerImage: number;
}

export interface GraphTotals {
  /** Elements of float constants used as weights or biases (see docs/planner.md). */
  parameters: number;
  /** Elements of every stored constant (initializers and Constant nodes), parameters included. */
  storedValues: number;
  /** storedValues − parameters: batch-norm running statistics, shapes, scalar bounds, … */
  nonParameterValues: number;
  /** Bytes of every stored constant. */
  weightBytes: number;
  macsPerImage: number;
  /** MACs of Conv with one group, ConvTranspose, Gemm and MatMul. */
  denseMacsPerImage: number;
  /** MACs of grouped and depthwise Conv. */
  groupedMacsPerImage: number;
  /** Parameters by stored element type ('float32', 'int8', 'int32' for quantized biases, …). */
  parametersByPrecision: Record<string, number>;
  /** Stored bytes of the parameters. */
  parameterBytes: number;
  /** MACs per image by the type they run in ('int8', 'float32', …). */
  macsByPrecision: Record<string, number>;
  inputBytesPerImage: number;
  outputBytesPerImage: number;
  /** Sum of every node output for one image (no reuse): an upper bound on activation traffic. */
  activationBytesPerImage: number;
}

export interface SeedFormulaEstimate {
  /** Σ A_k over the convolution and fully-connected layers. */
  values: number;
  /** The seed's ratio for ReLU networks. */
  ratio: number;
  bytesPerValue: number;
  bytes: number;
  layers: number;
}

export interface UnsupportedOperator {
  op: string;
  count: number;
  nodes: string[];
}

export interface Problem {
  node: string;
  op: string;
  status: NodeStatus;
  message: string;
}

export interface GraphAnalysis {
  graph: OnnxGraph;
  /** Batch size fixed in the graph (first input dim), or null when dynamic. */
  fixedBatch: number | null;
  /** Values of the symbolic dims other than the batch. */
  dims: Readonly<Record<string, number>>;
  input: TensorSummary;
  outputs: TensorSummary[];
  layers: LayerAnalysis[];
  totals: GraphTotals;
  seedFormula: SeedFormulaEstimate;
  unsupported: UnsupportedOperator[];
  problems: Problem[];
  /** False when some node's shapes are unknown: totals and peaks are then lower bounds. */
  complete: boolean;
}

export interface PeakActivation {
  batch: number;
  bytes: number;
  /** The node during which the peak occurs. */
  atNode: string;
}

export interface AnalyzeOptions {
  /** Values for symbolic dims other than the batch (e.g. { H: 224, W: 224 }). */
  dims?: Readonly<Record<string, number>> | undefined;
}

const SEED_RATIO = 2;

/** Operators whose constant operands at these positions are parameters (any other constant is a stored value). */
const WEIGHT_INPUTS: Readonly<Record<string, (index: number, c: ConstantTensor) => boolean>> = {
  Conv: (i) => i === 1 || i === 2,
  ConvTranspose: (i) => i === 1 || i === 2,
  Gemm: () => true,
  MatMul: () => true,
  // scale and bias; input_mean / input_var (3, 4) are running statistics
  BatchNormalization: (i) => i === 1 || i === 2,
  InstanceNormalization: (i) => i === 1 || i === 2,
  LayerNormalization: (i) => i === 1 || i === 2,
  PRelu: (i) => i === 1,
  // constant tensor operands (a bias, a per-channel scale); a rank-0 scalar is a stored constant
  Add: (_i, c) => c.dims.length > 0,
  Mul: (_i, c) => c.dims.length > 0,
};

/**
 * The integer kernels: their data operands (weights int8/uint8, biases int32) are parameters;
 * scales and zero points are stored values.
 */
const QUANTIZED_WEIGHT_INPUTS: Readonly<Record<string, (index: number, c: ConstantTensor) => boolean>> = {
  QLinearConv: (i) => i === 3 || i === 8,
  'com.microsoft.QLinearConv': (i) => i === 3 || i === 8,
  ConvInteger: (i) => i === 1,
  QLinearMatMul: (i) => i === 0 || i === 3,
  MatMulInteger: (i) => i === 0 || i === 1,
  'com.microsoft.QGemm': (i) => i === 0 || i === 3 || i === 6,
  'com.microsoft.MatMulIntegerToFloat': (i) => i === 0 || i === 1 || i === 6,
  'com.microsoft.DynamicQuantizeMatMul': (i) => i === 1 || i === 4,
  'com.microsoft.QLinearAdd': (i, c) => (i === 0 || i === 3) && c.dims.length > 0,
  'com.microsoft.QLinearMul': (i, c) => (i === 0 || i === 3) && c.dims.length > 0,
};

const DEQUANTIZE = new Set(['DequantizeLinear', 'com.microsoft.DequantizeLinear']);

/**
 * Outputs of DequantizeLinear nodes that dequantize a stored constant (a QDQ graph's int8
 * weights, int32 biases) → that constant. A Conv reading such an output reads the integer
 * constant: it is the parameter, counted once, in its stored type (the DequantizeLinear node
 * itself owns nothing).
 */
export function dequantizedConstants(graph: OnnxGraph): Map<string, string> {
  const out = new Map<string, string>();
  for (const node of graph.nodes) {
    const source = node.inputs[0] ?? '';
    const target = node.outputs[0];
    if (DEQUANTIZE.has(operatorName(node)) && graph.constants.has(source) && target !== undefined) out.set(target, source);
  }
  return out;
}

export function elementBytes(dtype: number): number {
  return ELEMENT_BYTES[dtype] ?? 4;
}

export function tensorBytes(t: TensorValue): number {
  return t.shape.reduce((a, b) => a * b, 1) * elementBytes(t.dtype);
}

/** The set of constants that are parameters, and which node counts each. */
export function parameterOwners(graph: OnnxGraph): Map<string, GraphNode> {
  const owners = new Map<string, GraphNode>();
  const dequantized = dequantizedConstants(graph);
  for (const node of graph.nodes) {
    const op = operatorName(node);
    const floatRule = WEIGHT_INPUTS[op];
    const integerRule = QUANTIZED_WEIGHT_INPUTS[op];
    if (floatRule === undefined && integerRule === undefined) continue;
    node.inputs.forEach((name, index) => {
      const viaDequantize = dequantized.get(name);
      const constName = viaDequantize ?? name;
      const c = graph.constants.get(constName);
      if (c === undefined || owners.has(constName)) return;
      // a float weight of a float op; an integer one of an integer kernel, or behind DequantizeLinear
      const counted =
        integerRule !== undefined
          ? integerRule(index, c) && !FLOAT_TYPES.has(c.dataType)
          : (floatRule as (i: number, t: ConstantTensor) => boolean)(index, c) && (viaDequantize !== undefined || FLOAT_TYPES.has(c.dataType));
      if (counted) owners.set(constName, node);
    });
  }
  return owners;
}

/** Concrete input shapes at `batch`: a symbolic or unknown first dim is the batch, other symbolic dims come from `dims`. */
export function inputShapesAt(graph: OnnxGraph, batch: number, dims: Readonly<Record<string, number>>): Map<string, number[]> {
  const shapes = new Map<string, number[]>();
  for (const v of graph.inputs) {
    if (v.dims === undefined) throw new ServeError('BAD_PARAMETER', `graph input "${v.name}" declares no shape; the planner needs its rank and sizes`);
    shapes.set(
      v.name,
      v.dims.map((d, i) => {
        if (typeof d === 'number') return d;
        if (typeof d === 'string' && dims[d] !== undefined) return dims[d];
        if (i === 0) return batch;
        throw new ServeError(
          'BAD_PARAMETER',
          `graph input "${v.name}" has a symbolic dim ${d === undefined ? `#${i}` : `"${d}"`}: give its size with --dim ${d ?? `d${i}`}=<n>`,
        );
      }),
    );
  }
  return shapes;
}

function fixedBatchOf(graph: OnnxGraph, dims: Readonly<Record<string, number>>): number | null {
  const first = graph.inputs[0]?.dims?.[0];
  if (typeof first === 'number') return first;
  if (typeof first === 'string' && dims[first] !== undefined) return dims[first];
  return null;
}

/** Runs shape inference at one batch size. */
export function inferAt(graph: OnnxGraph, batch: number, dims: Readonly<Record<string, number>> = {}): GraphInference {
  return inferShapes(graph, inputShapesAt(graph, batch, dims));
}

function displayShape(one: readonly number[], two: readonly number[] | undefined): DisplayDim[] {
  return one.map((d, i) => {
    const d2 = two?.[i];
    if (d2 === undefined || d2 === d || d2 !== 2 * d) return d;
    return d === 1 ? 'N' : `${d}N`;
  });
}

export function analyzeGraph(graph: OnnxGraph, options: AnalyzeOptions = {}): GraphAnalysis {
  const dims = options.dims ?? {};
  const fixedBatch = fixedBatchOf(graph, dims);
  const one = inferAt(graph, fixedBatch ?? 1, dims);
  const two = fixedBatch === null ? inferAt(graph, 2, dims) : undefined;
  const owners = parameterOwners(graph);

  const dequantized = dequantizedConstants(graph);
  const layers: LayerAnalysis[] = one.nodes.map((r, i) => layerOf(r, two?.nodes[i], graph, owners, dequantized));
  const storedValues = [...graph.constants.values()].reduce((a, c) => a + c.elementCount, 0);
  const parameters = [...owners.keys()].reduce((a, name) => a + (graph.constants.get(name)?.elementCount ?? 0), 0);
  const summary = (name: string): TensorSummary => {
    const t1 = one.values.get(name);
    const t2 = two?.values.get(name);
    return {
      name,
      shape: t1 === undefined ? [] : displayShape(t1.shape, t2?.shape),
      dtype: t1 === undefined ? 'unknown' : typeName(t1.dtype),
      bytesPerImage: t1 === undefined ? 0 : tensorBytes(t1),
    };
  };
  const firstInput = graph.inputs[0];
  if (firstInput === undefined) throw new ServeError('BAD_PARAMETER', `graph "${graph.name}" has no input`);
  const input = summary(firstInput.name);
  const outputs = graph.outputs.map((o) => summary(o.name));

  const unsupportedMap = new Map<string, UnsupportedOperator>();
  const problems: Problem[] = [];
  for (const r of one.nodes) {
    if (r.status === 'ok') continue;
    const op = operatorName(r.node);
    problems.push({ node: r.node.name, op, status: r.status, message: r.message ?? r.status });
    if (r.status === 'unknown-operator') {
      const u = unsupportedMap.get(op) ?? { op, count: 0, nodes: [] };
      u.count++;
      u.nodes.push(r.node.name);
      unsupportedMap.set(op, u);
    }
  }

  const sum = (f: (l: LayerAnalysis) => number): number => layers.reduce((a, l) => a + f(l), 0);
  const parametersByPrecision: Record<string, number> = {};
  let parameterBytes = 0;
  for (const name of owners.keys()) {
    const c = graph.constants.get(name);
    if (c === undefined) continue;
    const type = typeName(c.dataType);
    parametersByPrecision[type] = (parametersByPrecision[type] ?? 0) + c.elementCount;
    parameterBytes += c.byteLength;
  }
  const macsByPrecision: Record<string, number> = {};
  for (const l of layers) if (l.macs > 0 && l.precision !== null) macsByPrecision[l.precision] = (macsByPrecision[l.precision] ?? 0) + l.macs;
  const totals: GraphTotals = {
    parameters,
    storedValues,
    nonParameterValues: storedValues - parameters,
    weightBytes: [...graph.constants.values()].reduce((a, c) => a + c.byteLength, 0),
    macsPerImage: sum((l) => l.macs),
    denseMacsPerImage: sum((l) => (l.macKind === 'dense' ? l.macs : 0)),
    groupedMacsPerImage: sum((l) => (l.macKind === 'grouped' ? l.macs : 0)),
    parametersByPrecision,
    parameterBytes,
    macsByPrecision,
    inputBytesPerImage: graph.inputs.reduce((a, v) => a + summary(v.name).bytesPerImage, 0),
    outputBytesPerImage: outputs.reduce((a, o) => a + o.bytesPerImage, 0),
    activationBytesPerImage: sum((l) => l.activationBytes),
  };
  return {
    graph,
    fixedBatch,
    dims,
    input,
    outputs,
    layers,
    totals,
    seedFormula: seedFormula(one, graph),
    unsupported: [...unsupportedMap.values()],
    problems,
    complete: problems.length === 0,
  };
}

const typeName = (dtype: number): string => ELEMENT_TYPE_NAMES[dtype] ?? `type${dtype}`;

function layerOf(
  r: NodeInference,
  r2: NodeInference | undefined,
  graph: OnnxGraph,
  owners: ReadonlyMap<string, GraphNode>,
  dequantized: ReadonlyMap<string, string>,
): LayerAnalysis {
  const first = r.outputs[0];
  // each constant once, even when a node reads it twice
  const own = [...new Set(r.node.inputs.map((name) => dequantized.get(name) ?? name))]
    .filter((name) => owners.get(name) === r.node)
    .map((name) => graph.constants.get(name));
  const parameters = own.reduce((a, c) => a + (c?.elementCount ?? 0), 0);
  const parameterBytes = own.reduce((a, c) => a + (c?.byteLength ?? 0), 0);
  return {
    name: r.node.name,
    op: operatorName(r.node),
    status: r.status,
    ...(r.message === undefined ? {} : { message: r.message }),
    outputShape: first === undefined ? null : displayShape(first.shape, r2?.outputs[0]?.shape),
    parameters,
    macs: r.macs,
    macKind: r.macKind ?? null,
    precision: r.macs > 0 ? (r.macPrecision ?? null) : null,
    parameterBytes,
    activationBytes: r.outputs.reduce((a, t) => a + (t === undefined ? 0 : tensorBytes(t)), 0),
  };
}

/**
 * Peak activation memory at `batch`: nodes run in graph order; a node's outputs are
 * allocated when it runs and a tensor is freed after its last consumer has run (graph
 * outputs stay to the end). During a node its inputs and outputs are all live. Only
 * node-produced tensors count: the graph input is the caller's buffer and constants are
 * weights.
 */
export function peakActivation(graph: OnnxGraph, batch: number, dims: Readonly<Record<string, number>> = {}): PeakActivation {
  return peakOf(inferAt(graph, batch, dims), graph, batch);
}

export function peakOf(inference: GraphInference, graph: OnnxGraph, batch: number): PeakActivation {
  const lastUse = new Map<string, number>();
  inference.nodes.forEach((r, i) => {
    for (const name of r.node.inputs) lastUse.set(name, i);
  });
  const graphOutputs = new Set(graph.outputs.map((o) => o.name));
  const sizes = new Map<string, number>();
  let live = 0;
  let peak = 0;
  let atNode = '';
  inference.nodes.forEach((r, i) => {
    r.node.outputs.forEach((name, j) => {
      const t = r.outputs[j];
      if (name === '' || t === undefined) return;
      const bytes = tensorBytes(t);
      sizes.set(name, bytes);
      live += bytes;
    });
    if (live > peak) {
      peak = live;
      atNode = r.node.name;
    }
    const done = new Set([...r.node.inputs, ...r.node.outputs]);
    for (const name of done) {
      const size = sizes.get(name);
      if (size === undefined || graphOutputs.has(name) || (lastUse.get(name) ?? -1) > i) continue;
      live -= size;
      sizes.delete(name);
    }
  });
  return { batch, bytes: peak, atNode };
}

/**
 * The seed document's per-layer heuristic (section 4): for each convolution (and each
 * fully-connected layer, taken as a 1×1 convolution),
 *   A_k = 3 / stride² × (kernel² − padding² + dilation² + 1) × (in_channels / groups) × (out_channels / groups)
 * — "kernel²" replaced by "kernel² − p² + dilation²" as its padding note says — summed over
 * layers, times the ratio 2 it gives for ReLU networks, at 4 bytes per float32 value.
 * Independent of the batch size, as in the document.
 */
export function seedFormula(inference: GraphInference, graph: OnnxGraph): SeedFormulaEstimate {
  let values = 0;
  let layers = 0;
  const dequantized = dequantizedConstants(graph);
  for (const r of inference.nodes) {
    // a QLinear kernel's weight is input 3; a QDQ graph's weight is a dequantized constant
    const integer = QLINEAR_AS_FLOAT[operatorName(r.node)];
    const op = integer ?? operatorName(r.node);
    const wName = r.node.inputs[integer === undefined ? 1 : 3] ?? '';
    const w = inference.values.get(wName);
    if (w === undefined || !graph.constants.has(dequantized.get(wName) ?? wName)) continue;
    let term: number | undefined;
    if ((op === 'Conv' || op === 'ConvTranspose') && w.shape.length >= 3) {
      const groupAttr = r.node.attrs.get('group');
      const group = typeof groupAttr === 'number' ? groupAttr : 1;
      const kernel = w.shape.slice(2);
      const rank = kernel.length;
      const strides = intsAttr(r.node, 'strides') ?? kernel.map(() => 1);
      const pads = intsAttr(r.node, 'pads') ?? new Array<number>(rank * 2).fill(0);
      const dilations = intsAttr(r.node, 'dilations') ?? kernel.map(() => 1);
      const square = (xs: readonly number[]): number => xs.reduce((a, b) => a * b, 1);
      const [w0 = 1, w1 = 1] = w.shape;
      const [cin, cout] = op === 'Conv' ? [w1 * group, w0] : [w0, w1 * group];
      term = (3 / square(strides)) * (square(kernel) - square(pads.slice(0, rank)) + square(dilations) + 1) * (cin / group) * (cout / group);
    } else if ((op === 'Gemm' || op === 'MatMul') && w.shape.length === 2) {
      const [k = 1, n = 1] = w.shape;
      term = 3 * (1 - 0 + 1 + 1) * k * n;
    }
    if (term === undefined) continue;
    values += term;
    layers++;
  }
  const bytesPerValue = 4;
  return { values: Math.round(values), ratio: SEED_RATIO, bytesPerValue, bytes: Math.round(values * SEED_RATIO * bytesPerValue), layers };
}

const QLINEAR_AS_FLOAT: Readonly<Record<string, string>> = {
  QLinearConv: 'Conv',
  'com.microsoft.QLinearConv': 'Conv',
  QLinearMatMul: 'MatMul',
  'com.microsoft.QGemm': 'Gemm',
};

function intsAttr(node: GraphNode, name: string): number[] | undefined {
  const v = node.attrs.get(name);
  return Array.isArray(v) && v.every((x) => typeof x === 'number') ? v : undefined;
}
