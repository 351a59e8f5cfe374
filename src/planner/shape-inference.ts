// Shape inference for the operators of vision models, with the multiply-accumulates of the
// operators that do dense linear algebra (Conv, ConvTranspose, Gemm, MatMul). Small integer
// tensors (shapes, axes, pads, sizes) are folded to values where their inputs are known, so
// exported `x.view(x.size(0), -1)`-style shape arithmetic (Shape → Gather → Concat →
// Reshape) resolves. An operator the planner does not know is reported, never skipped.
import { InferenceError } from './inference-error.js';
import { DataType, ELEMENT_TYPE_NAMES, type AttrValue, type ConstantTensor, type GraphNode, type OnnxGraph } from '../onnx/read-graph.js';
import type { OpContext, OpHandler, TensorValue } from './op-types.js';
import { quantizedHandlers } from './quantized-ops.js';

export type { OpContext, OpHandler, OpResult, TensorValue } from './op-types.js';

export type NodeStatus = 'ok' | 'unknown-operator' | 'failed' | 'missing-input';

export interface NodeInference {
  node: GraphNode;
  status: NodeStatus;
  /** Why the node has no shapes (status ≠ ok). */
  message?: string;
  /** One per node output; undefined where unknown. */
  outputs: Array<TensorValue | undefined>;
  /** Multiply-accumulates of this node at the inferred shapes. */
  macs: number;
  /** 'dense' (Conv with one group, ConvTranspose, Gemm, MatMul) or 'grouped' (grouped/depthwise Conv) when macs > 0. */
  macKind?: 'dense' | 'grouped';
  /** Element type the MACs run in: 'int8' when both operands are 8-bit integers (or dequantized from them), else the float type. */
  macPrecision?: string;
}

export interface GraphInference {
  /** Every known tensor: graph inputs, constants and node outputs. */
  values: ReadonlyMap<string, TensorValue>;
  nodes: NodeInference[];
}

export { InferenceError };

const FOLD_LIMIT = 4096;

// ---------------------------------------------------------------------------------------------
// helpers

const prod = (xs: readonly number[]): number => xs.reduce((a, b) => a * b, 1);

function attr(ctx: OpContext, name: string): AttrValue | undefined {
  return ctx.node.attrs.get(name);
}
function attrInt(ctx: OpContext, name: string, fallback: number): number {
  const v = attr(ctx, name);
  return typeof v === 'number' ? v : fallback;
}
function attrInts(ctx: OpContext, name: string): number[] | undefined {
  const v = attr(ctx, name);
  return Array.isArray(v) && v.every((x) => typeof x === 'number') ? v : undefined;
}
function attrString(ctx: OpContext, name: string, fallback: string): string {
  const v = attr(ctx, name);
  return typeof v === 'string' ? v : fallback;
}

function input(ctx: OpContext, index: number, what = `input ${index}`): TensorValue {
  const t = ctx.inputs[index];
  if (t === undefined) throw new InferenceError(`${what} is missing or has an unknown shape`);
  return t;
}
function optionalValues(ctx: OpContext, index: number, what: string): number[] | undefined {
  if (ctx.node.inputs[index] === undefined || ctx.node.inputs[index] === '') return undefined;
  const t = ctx.inputs[index];
  if (t?.values === undefined) throw new InferenceError(`${what} (input ${index}) is not a constant the planner can read`);
  return t.values;
}
function normAxis(axis: number, rank: number, what = 'axis'): number {
  const a = axis < 0 ? axis + rank : axis;
  if (a < 0 || a >= rank) throw new InferenceError(`${what} ${axis} is out of range for rank ${rank}`);
  return a;
}
function same(x: TensorValue, dtype = x.dtype): TensorValue {
  return { dtype, shape: [...x.shape] };
}
function small(shape: readonly number[]): boolean {
  return prod(shape) <= FOLD_LIMIT;
}

const EIGHT_BIT: ReadonlySet<number> = new Set([DataType.INT8, DataType.UINT8]);

/** 'int8' when both operands are 8-bit integers or dequantized from them (onnxruntime then runs integer kernels), else the first operand's type. */
export function macPrecision(a: TensorValue, b: TensorValue): string {
  const eightBit = (t: TensorValue): boolean => EIGHT_BIT.has(t.dtype) || (t.quantized !== undefined && EIGHT_BIT.has(t.quantized));
  return eightBit(a) && eightBit(b) ? 'int8' : (ELEMENT_TYPE_NAMES[a.dtype] ?? `type${a.dtype}`);
}

export function broadcastShapes(shapes: ReadonlyArray<readonly number[]>): number[] {
  const rank = Math.max(0, ...shapes.map((s) => s.length));
  const out: number[] = [];
  for (let i = 0; i < rank; i++) {
    let dim = 1;
    for (const s of shapes) {
      const d = s[s.length - rank + i] ?? 1;
      if (d === 1) continue;
      if (dim !== 1 && dim !== d) throw new InferenceError(`shapes [${shapes.map((x) => x.join(',')).join('] and [')}] do not broadcast`);
      dim = d;
    }
    out.push(dim);
  }
  return out;
}

/** Values of a broadcast elementwise op, when all inputs are small and known. */
function foldElementwise(inputs: TensorValue[], shape: number[], fn: (xs: number[]) => number): number[] | undefined {
  if (!small(shape) || inputs.some((t) => t.values === undefined)) return undefined;
  const count = prod(shape);
  const out: number[] = [];
  for (let flat = 0; flat < count; flat++) {
    const idx: number[] = [];
    let rest = flat;
    for (let d = shape.length - 1; d >= 0; d--) {
      const size = shape[d] ?? 1;
      idx[d] = rest % size;
      rest = Math.floor(rest / size);
    }
    const args = inputs.map((t) => {
      let offset = 0;
      let stride = 1;
      for (let d = t.shape.length - 1; d >= 0; d--) {
        const size = t.shape[d] ?? 1;
        const i = size === 1 ? 0 : (idx[d + shape.length - t.shape.length] ?? 0);
        offset += i * stride;
        stride *= size;
      }
      return (t.values as number[])[offset] ?? 0;
    });
    out.push(fn(args));
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// operator families

const unary: OpHandler = (ctx) => ({ outputs: [same(input(ctx, 0))] });

const elementwise =
  (fn?: (xs: number[]) => number, outDtype?: number): OpHandler =>
  (ctx) => {
    const xs = ctx.node.inputs.map((_, i) => input(ctx, i));
    if (xs.length === 0) throw new InferenceError('needs at least one input');
    const shape = broadcastShapes(xs.map((x) => x.shape));
    const dtype = outDtype ?? (xs[0] as TensorValue).dtype;
    const values = fn === undefined ? undefined : foldElementwise(xs, shape, fn);
    return { outputs: [{ dtype, shape, values }] };
  };

const intDiv = (a: number, b: number): number => (b === 0 ? 0 : Math.trunc(a / b));

function spatialParams(ctx: OpContext, spatialRank: number, kernel: number[]): { strides: number[]; dilations: number[]; pads: number[] } {
  const strides = attrInts(ctx, 'strides') ?? new Array<number>(spatialRank).fill(1);
  const dilations = attrInts(ctx, 'dilations') ?? new Array<number>(spatialRank).fill(1);
  const pads = attrInts(ctx, 'pads') ?? new Array<number>(spatialRank * 2).fill(0);
  if (kernel.length !== spatialRank || strides.length !== spatialRank || dilations.length !== spatialRank || pads.length !== spatialRank * 2) {
    throw new InferenceError(`kernel/strides/dilations/pads do not match ${spatialRank} spatial dims`);
  }
  return { strides, dilations, pads };
}

/** Output spatial sizes of a convolution or pooling window (ONNX spec, incl. auto_pad and ceil_mode). */
export function windowOutput(
  inSizes: number[],
  kernel: number[],
  strides: number[],
  dilations: number[],
  pads: number[],
  autoPad: string,
  ceilMode: boolean,
): number[] {
  const rank = inSizes.length;
  return inSizes.map((size, i) => {
    const k = kernel[i] ?? 1;
    const s = strides[i] ?? 1;
    const d = dilations[i] ?? 1;
    const span = (k - 1) * d + 1;
    if (autoPad === 'SAME_UPPER' || autoPad === 'SAME_LOWER') return Math.ceil(size / s);
    if (autoPad === 'VALID') return Math.floor((size - span) / s) + 1;
    const begin = pads[i] ?? 0;
    const end = pads[i + rank] ?? 0;
    const total = size + begin + end - span;
    if (total < 0) throw new InferenceError(`window ${span} larger than padded input ${size + begin + end}`);
    let out = (ceilMode ? Math.ceil(total / s) : Math.floor(total / s)) + 1;
    // ceil_mode: the last window must start inside the input or its left padding.
    if (ceilMode && (out - 1) * s >= size + begin) out -= 1;
    return out;
  });
}

/** X, W and the window attributes shared by Conv and ConvTranspose. */
function convOperands(ctx: Parameters<OpHandler>[0]) {
  const x = input(ctx, 0, 'X');
  const w = input(ctx, 1, 'W');
  const spatial = x.shape.length - 2;
  const kernel = attrInts(ctx, 'kernel_shape') ?? w.shape.slice(2);
  const [n = 1, cin = 1] = x.shape;
  return { x, w, spatial, n, cin, group: attrInt(ctx, 'group', 1), kernel, ...spatialParams(ctx, spatial, kernel) };
}

const conv: OpHandler = (ctx) => {
  const { x, w, n, cin, group, kernel, strides, dilations, pads } = convOperands(ctx);
  if (x.shape.length < 3 || w.shape.length !== x.shape.length)
    throw new InferenceError(`X [${x.shape.join(',')}] and W [${w.shape.join(',')}] ranks do not fit a convolution`);
  const [cout = 1, cinPerGroup = 1] = w.shape;
  if (cin !== cinPerGroup * group) throw new InferenceError(`X has ${cin} channels but W expects ${cinPerGroup} × group ${group}`);
  const outSpatial = windowOutput(x.shape.slice(2), kernel, strides, dilations, pads, attrString(ctx, 'auto_pad', 'NOTSET'), false);
  const shape = [n, cout, ...outSpatial];
  return {
    outputs: [{ dtype: x.dtype, shape }],
    macs: prod(shape) * cinPerGroup * prod(kernel),
    macKind: group === 1 ? 'dense' : 'grouped',
    macPrecision: macPrecision(x, w),
  };
};

const convTranspose: OpHandler = (ctx) => {
  const { x, w, spatial, n, cin, group, kernel, strides, dilations, pads } = convOperands(ctx);
  const [wIn = 1, coutPerGroup = 1] = w.shape;
  if (cin !== wIn) throw new InferenceError(`X has ${cin} channels but W has ${wIn}`);
  const outputPadding = attrInts(ctx, 'output_padding') ?? new Array<number>(spatial).fill(0);
  const explicit = attrInts(ctx, 'output_shape');
  const autoPad = attrString(ctx, 'auto_pad', 'NOTSET');
  const inSizes = x.shape.slice(2);
  const outSpatial =
    explicit !== undefined
      ? explicit.slice(-spatial)
      : inSizes.map((size, i) => {
          const s = strides[i] ?? 1;
          if (autoPad === 'SAME_UPPER' || autoPad === 'SAME_LOWER') return size * s;
          const span = ((kernel[i] ?? 1) - 1) * (dilations[i] ?? 1) + 1;
          const padTotal = autoPad === 'VALID' ? 0 : (pads[i] ?? 0) + (pads[i + spatial] ?? 0);
          return s * (size - 1) + (outputPadding[i] ?? 0) + span - padTotal;
        });
  // Every input element is multiplied into a full (cout/group × kernel) window.
  return {
    outputs: [{ dtype: x.dtype, shape: [n, coutPerGroup * group, ...outSpatial] }],
    macs: prod(x.shape) * coutPerGroup * prod(kernel),
    macKind: group === 1 ? 'dense' : 'grouped',
    macPrecision: macPrecision(x, w),
  };
};

const pool: OpHandler = (ctx) => {
  const x = input(ctx, 0, 'X');
  const spatial = x.shape.length - 2;
  const kernel = attrInts(ctx, 'kernel_shape');
  if (kernel === undefined) throw new InferenceError('kernel_shape is required');
  const { strides, dilations, pads } = spatialParams(ctx, spatial, kernel);
  const outSpatial = windowOutput(
    x.shape.slice(2),
    kernel,
    strides,
    dilations,
    pads,
    attrString(ctx, 'auto_pad', 'NOTSET'),
    attrInt(ctx, 'ceil_mode', 0) === 1,
  );
  const shape = [...x.shape.slice(0, 2), ...outSpatial];
  return {
    outputs: [
      { dtype: x.dtype, shape },
      { dtype: DataType.INT64, shape },
    ],
  };
};

const globalPool: OpHandler = (ctx) => {
  const x = input(ctx, 0, 'X');
  return { outputs: [{ dtype: x.dtype, shape: [...x.shape.slice(0, 2), ...x.shape.slice(2).map(() => 1)] }] };
};

const gemm: OpHandler = (ctx) => {
  const a = input(ctx, 0, 'A');
  const b = input(ctx, 1, 'B');
  if (a.shape.length !== 2 || b.shape.length !== 2) throw new InferenceError(`A [${a.shape.join(',')}] and B [${b.shape.join(',')}] must be 2-D`);
  const [a0 = 1, a1 = 1] = a.shape;
  const [b0 = 1, b1 = 1] = b.shape;
  const [m, k] = attrInt(ctx, 'transA', 0) === 1 ? [a1, a0] : [a0, a1];
  const [kb, n] = attrInt(ctx, 'transB', 0) === 1 ? [b1, b0] : [b0, b1];
  if (k !== kb) throw new InferenceError(`inner dimensions differ: ${k} vs ${kb}`);
  return { outputs: [{ dtype: a.dtype, shape: [m, n] }], macs: m * n * k, macKind: 'dense', macPrecision: macPrecision(a, b) };
};

const matmul: OpHandler = (ctx) => {
  const a = input(ctx, 0, 'A');
  const b = input(ctx, 1, 'B');
  const aShape = a.shape.length === 1 ? [1, ...a.shape] : a.shape;
  const bShape = b.shape.length === 1 ? [...b.shape, 1] : b.shape;
  const m = aShape[aShape.length - 2] ?? 1;
  const k = aShape[aShape.length - 1] ?? 1;
  const kb = bShape[bShape.length - 2] ?? 1;
  const n = bShape[bShape.length - 1] ?? 1;
  if (k !== kb) throw new InferenceError(`inner dimensions differ: ${k} vs ${kb}`);
  const batch = broadcastShapes([aShape.slice(0, -2), bShape.slice(0, -2)]);
  const shape = [...batch, ...(a.shape.length === 1 ? [] : [m]), ...(b.shape.length === 1 ? [] : [n])];
  return { outputs: [{ dtype: a.dtype, shape }], macs: prod(batch) * m * n * k, macKind: 'dense', macPrecision: macPrecision(a, b) };
};

const flatten: OpHandler = (ctx) => {
  const x = input(ctx, 0);
  const rank = x.shape.length;
  let axis = attrInt(ctx, 'axis', 1);
  if (axis < 0) axis += rank;
  if (axis < 0 || axis > rank) throw new InferenceError(`axis out of range for rank ${rank}`);
  return { outputs: [{ dtype: x.dtype, shape: [prod(x.shape.slice(0, axis)), prod(x.shape.slice(axis))], values: x.values }] };
};

const reshape: OpHandler = (ctx) => {
  const x = input(ctx, 0);
  const target = ctx.opset >= 5 ? optionalValues(ctx, 1, 'shape') : attrInts(ctx, 'shape');
  if (target === undefined) throw new InferenceError('the target shape is unknown');
  const allowZero = attrInt(ctx, 'allowzero', 0) === 1;
  const shape = target.map((d, i) => (d === 0 && !allowZero ? (x.shape[i] ?? 0) : d));
  const unknown = shape.filter((d) => d === -1).length;
  if (unknown > 1) throw new InferenceError('more than one -1 in the target shape');
  const known = prod(shape.filter((d) => d !== -1));
  const total = prod(x.shape);
  if (unknown === 1) shape[shape.indexOf(-1)] = known === 0 ? 0 : total / known;
  if (prod(shape) !== total || shape.some((d) => !Number.isInteger(d) || d < 0))
    throw new InferenceError(`cannot reshape [${x.shape.join(',')}] to [${target.join(',')}]`);
  return { outputs: [{ dtype: x.dtype, shape, values: x.values }] };
};

const transpose: OpHandler = (ctx) => {
  const x = input(ctx, 0);
  const perm = attrInts(ctx, 'perm') ?? x.shape.map((_, i) => x.shape.length - 1 - i);
  if (perm.length !== x.shape.length) throw new InferenceError(`perm has ${perm.length} axes for rank ${x.shape.length}`);
  return { outputs: [{ dtype: x.dtype, shape: perm.map((p) => x.shape[p] ?? 1) }] };
};

function axesOf(ctx: OpContext, inputIndex: number, sinceOpset: number): number[] | undefined {
  return ctx.opset >= sinceOpset ? optionalValues(ctx, inputIndex, 'axes') : attrInts(ctx, 'axes');
}

const squeeze: OpHandler = (ctx) => {
  const x = input(ctx, 0);
  const axes = axesOf(ctx, 1, 13);
  const drop = new Set(axes === undefined ? x.shape.flatMap((d, i) => (d === 1 ? [i] : [])) : axes.map((a) => normAxis(a, x.shape.length)));
  for (const a of drop) if (x.shape[a] !== 1) throw new InferenceError(`cannot squeeze axis ${a} of size ${x.shape[a]}`);
  return { outputs: [{ dtype: x.dtype, shape: x.shape.filter((_, i) => !drop.has(i)), values: x.values }] };
};

const unsqueeze: OpHandler = (ctx) => {
  const x = input(ctx, 0);
  const axes = axesOf(ctx, 1, 13);
  if (axes === undefined) throw new InferenceError('axes are required');
  const rank = x.shape.length + axes.length;
  const add = new Set(axes.map((a) => normAxis(a, rank)));
  const shape: number[] = [];
  let next = 0;
  for (let i = 0; i < rank; i++) shape.push(add.has(i) ? 1 : (x.shape[next++] ?? 1));
  return { outputs: [{ dtype: x.dtype, shape, values: x.values }] };
};

const concat: OpHandler = (ctx) => {
  const xs = ctx.node.inputs.map((_, i) => input(ctx, i));
  const first = xs[0];
  if (first === undefined) throw new InferenceError('needs at least one input');
  const axis = normAxis(attrInt(ctx, 'axis', 0), first.shape.length);
  const shape = [...first.shape];
  shape[axis] = xs.reduce((a, x) => a + (x.shape[axis] ?? 0), 0);
  for (const x of xs) {
    if (x.shape.length !== shape.length || x.shape.some((d, i) => i !== axis && d !== shape[i]))
      throw new InferenceError(`inputs [${xs.map((t) => t.shape.join(',')).join('] [')}] differ off axis ${axis}`);
  }
  const values = axis === 0 && shape.length === 1 && xs.every((x) => x.values !== undefined) ? xs.flatMap((x) => x.values as number[]) : undefined;
  return { outputs: [{ dtype: first.dtype, shape, values }] };
};

const split: OpHandler = (ctx) => {
  const x = input(ctx, 0);
  const axis = normAxis(attrInt(ctx, 'axis', 0), x.shape.length);
  const size = x.shape[axis] ?? 0;
  const count = ctx.node.outputs.length;
  let parts = ctx.opset >= 13 ? optionalValues(ctx, 1, 'split') : attrInts(ctx, 'split');
  if (parts === undefined) {
    const each = Math.ceil(size / count);
    parts = Array.from({ length: count }, (_, i) => Math.max(0, Math.min(each, size - i * each)));
  }
  if (parts.reduce((a, b) => a + b, 0) !== size) throw new InferenceError(`split [${parts.join(',')}] does not add up to ${size}`);
  return { outputs: parts.map((p) => ({ dtype: x.dtype, shape: x.shape.map((d, i) => (i === axis ? p : d)) })) };
};

const slice: OpHandler = (ctx) => {
  const x = input(ctx, 0);
  const rank = x.shape.length;
  const starts = ctx.opset >= 10 ? optionalValues(ctx, 1, 'starts') : attrInts(ctx, 'starts');
  const ends = ctx.opset >= 10 ? optionalValues(ctx, 2, 'ends') : attrInts(ctx, 'ends');
  if (starts === undefined || ends === undefined) throw new InferenceError('starts and ends are required');
  const axes = (ctx.opset >= 10 ? optionalValues(ctx, 3, 'axes') : attrInts(ctx, 'axes')) ?? starts.map((_, i) => i);
  const steps = (ctx.opset >= 10 ? optionalValues(ctx, 4, 'steps') : undefined) ?? starts.map(() => 1);
  const shape = [...x.shape];
  const ranges = x.shape.map((d) => ({ start: 0, step: 1, count: d }));
  axes.forEach((rawAxis, i) => {
    const axis = normAxis(rawAxis, rank);
    const dim = x.shape[axis] ?? 0;
    const step = steps[i] ?? 1;
    if (step === 0) throw new InferenceError('slice step 0');
    const clamp = (v: number, lo: number, hi: number): number => Math.min(Math.max(v, lo), hi);
    let start = starts[i] ?? 0;
    let end = ends[i] ?? dim;
    if (start < 0) start += dim;
    if (end < 0) end += dim;
    start = step > 0 ? clamp(start, 0, dim) : clamp(start, 0, dim - 1);
    end = step > 0 ? clamp(end, 0, dim) : clamp(end, -1, dim - 1);
    const count = Math.max(0, Math.ceil((end - start) / step));
    shape[axis] = count;
    ranges[axis] = { start, step, count };
  });
  let values: number[] | undefined;
  if (x.values !== undefined && rank === 1) {
    const r = ranges[0] ?? { start: 0, step: 1, count: 0 };
    values = Array.from({ length: r.count }, (_, i) => (x.values as number[])[r.start + i * r.step] ?? 0);
  }
  return { outputs: [{ dtype: x.dtype, shape, values }] };
};

const gather: OpHandler = (ctx) => {
  const data = input(ctx, 0, 'data');
  const indices = input(ctx, 1, 'indices');
  const axis = normAxis(attrInt(ctx, 'axis', 0), data.shape.length);
  const shape = [...data.shape.slice(0, axis), ...indices.shape, ...data.shape.slice(axis + 1)];
  let values: number[] | undefined;
  if (data.values !== undefined && indices.values !== undefined && data.shape.length === 1) {
    const n = data.shape[0] ?? 0;
    values = indices.values.map((i) => (data.values as number[])[i < 0 ? i + n : i] ?? 0);
  }
  return { outputs: [{ dtype: data.dtype, shape, values }] };
};

const pad: OpHandler = (ctx) => {
  const x = input(ctx, 0);
  const rank = x.shape.length;
  const pads = ctx.opset >= 11 ? optionalValues(ctx, 1, 'pads') : attrInts(ctx, 'pads');
  if (pads === undefined) throw new InferenceError('pads are required');
  const axes = (ctx.opset >= 18 ? optionalValues(ctx, 3, 'axes') : undefined)?.map((a) => normAxis(a, rank)) ?? x.shape.map((_, i) => i);
  if (pads.length !== axes.length * 2) throw new InferenceError(`${pads.length} pads for ${axes.length} axes`);
  const shape = [...x.shape];
  axes.forEach((axis, i) => {
    shape[axis] = (shape[axis] ?? 0) + (pads[i] ?? 0) + (pads[i + axes.length] ?? 0);
  });
  return { outputs: [{ dtype: x.dtype, shape }] };
};

const resize: OpHandler = (ctx) => {
  const x = input(ctx, 0);
  const rank = x.shape.length;
  let scales: number[] | undefined;
  let sizes: number[] | undefined;
  if (ctx.node.opType === 'Upsample' || ctx.opset < 11) {
    scales = ctx.opset >= 9 ? optionalValues(ctx, 1, 'scales') : (attr(ctx, 'scales') as number[] | undefined);
  } else {
    sizes = optionalValues(ctx, 3, 'sizes');
    if (sizes === undefined || sizes.length === 0) scales = optionalValues(ctx, 2, 'scales');
  }
  const axes = attrInts(ctx, 'axes')?.map((a) => normAxis(a, rank)) ?? x.shape.map((_, i) => i);
  const shape = [...x.shape];
  if (sizes !== undefined && sizes.length > 0) {
    axes.forEach((axis, i) => (shape[axis] = sizes[i] ?? shape[axis] ?? 1));
  } else if (scales !== undefined && scales.length > 0) {
    axes.forEach((axis, i) => (shape[axis] = Math.floor((x.shape[axis] ?? 1) * (scales[i] ?? 1))));
  } else {
    throw new InferenceError('neither scales nor sizes is known');
  }
  return { outputs: [{ dtype: x.dtype, shape }] };
};

const shapeOp: OpHandler = (ctx) => {
  const x = input(ctx, 0);
  const rank = x.shape.length;
  const clamp = (v: number): number => Math.min(Math.max(v < 0 ? v + rank : v, 0), rank);
  const start = clamp(attrInt(ctx, 'start', 0));
  const end = clamp(attrInt(ctx, 'end', rank));
  const values = x.shape.slice(start, end);
  return { outputs: [{ dtype: DataType.INT64, shape: [values.length], values }] };
};

const constantOfShape: OpHandler = (ctx) => {
  const dims = optionalValues(ctx, 0, 'shape');
  if (dims === undefined) throw new InferenceError('the shape input is required');
  const value = attr(ctx, 'value');
  const tensor = typeof value === 'object' && !Array.isArray(value) ? value : undefined;
  const fill = tensor?.values?.[0] ?? 0;
  return { outputs: [{ dtype: tensor?.dataType ?? DataType.FLOAT, shape: dims, values: small(dims) ? new Array<number>(prod(dims)).fill(fill) : undefined }] };
};

const expand: OpHandler = (ctx) => {
  const x = input(ctx, 0);
  const dims = optionalValues(ctx, 1, 'shape');
  if (dims === undefined) throw new InferenceError('the shape input is required');
  const shape = broadcastShapes([x.shape, dims]);
  return { outputs: [{ dtype: x.dtype, shape, values: x.values === undefined ? undefined : foldElementwise([x], shape, ([v]) => v ?? 0) }] };
};

const tile: OpHandler = (ctx) => {
  const x = input(ctx, 0);
  const repeats = optionalValues(ctx, 1, 'repeats');
  if (repeats === undefined || repeats.length !== x.shape.length) throw new InferenceError('repeats must give one count per axis');
  return { outputs: [{ dtype: x.dtype, shape: x.shape.map((d, i) => d * (repeats[i] ?? 1)) }] };
};

const reduce: OpHandler = (ctx) => {
  const x = input(ctx, 0);
  const rank = x.shape.length;
  const axesFromInput = ctx.opset >= 18 || (ctx.node.opType === 'ReduceSum' && ctx.opset >= 13);
  const axes = axesFromInput ? optionalValues(ctx, 1, 'axes') : attrInts(ctx, 'axes');
  const keep = attrInt(ctx, 'keepdims', 1) === 1;
  if ((axes === undefined || axes.length === 0) && attrInt(ctx, 'noop_with_empty_axes', 0) === 1) return { outputs: [same(x)] };
  const set = new Set((axes === undefined || axes.length === 0 ? x.shape.map((_, i) => i) : axes).map((a) => normAxis(a, rank)));
  const shape = keep ? x.shape.map((d, i) => (set.has(i) ? 1 : d)) : x.shape.filter((_, i) => !set.has(i));
  return { outputs: [{ dtype: x.dtype, shape }] };
};

const argReduce: OpHandler = (ctx) => {
  const x = input(ctx, 0);
  const axis = normAxis(attrInt(ctx, 'axis', 0), x.shape.length);
  const keep = attrInt(ctx, 'keepdims', 1) === 1;
  return { outputs: [{ dtype: DataType.INT64, shape: keep ? x.shape.map((d, i) => (i === axis ? 1 : d)) : x.shape.filter((_, i) => i !== axis) }] };
};

const topK: OpHandler = (ctx) => {
  const x = input(ctx, 0);
  const k = ctx.opset >= 10 ? optionalValues(ctx, 1, 'K')?.[0] : attrInt(ctx, 'k', 1);
  if (k === undefined) throw new InferenceError('K is required');
  const axis = normAxis(attrInt(ctx, 'axis', -1), x.shape.length);
  const shape = x.shape.map((d, i) => (i === axis ? k : d));
  return {
    outputs: [
      { dtype: x.dtype, shape },
      { dtype: DataType.INT64, shape },
    ],
  };
};

const depthToSpace: OpHandler = (ctx) => {
  const x = input(ctx, 0);
  const b = attrInt(ctx, 'blocksize', 1);
  const [n = 1, c = 1, h = 1, w = 1] = x.shape;
  if (c % (b * b) !== 0) throw new InferenceError(`${c} channels do not divide by blocksize² ${b * b}`);
  return { outputs: [{ dtype: x.dtype, shape: [n, c / (b * b), h * b, w * b] }] };
};

const spaceToDepth: OpHandler = (ctx) => {
  const x = input(ctx, 0);
  const b = attrInt(ctx, 'blocksize', 1);
  const [n = 1, c = 1, h = 1, w = 1] = x.shape;
  return { outputs: [{ dtype: x.dtype, shape: [n, c * b * b, Math.floor(h / b), Math.floor(w / b)] }] };
};

const cast: OpHandler = (ctx) => {
  const x = input(ctx, 0);
  return { outputs: [{ dtype: attrInt(ctx, 'to', x.dtype), shape: [...x.shape], values: x.values }] };
};

const castLike: OpHandler = (ctx) => {
  const x = input(ctx, 0);
  return { outputs: [{ dtype: input(ctx, 1).dtype, shape: [...x.shape], values: x.values }] };
};

const identity: OpHandler = (ctx) => {
  const x = input(ctx, 0);
  return {
    outputs: [
      { dtype: x.dtype, shape: [...x.shape], values: x.values },
      { dtype: DataType.BOOL, shape: [...x.shape] },
    ],
  };
};

const layerNorm: OpHandler = (ctx) => {
  const x = input(ctx, 0);
  const axis = normAxis(attrInt(ctx, 'axis', -1), x.shape.length);
  const stats = x.shape.map((d, i) => (i < axis ? d : 1));
  return { outputs: [same(x), { dtype: DataType.FLOAT, shape: stats }, { dtype: DataType.FLOAT, shape: stats }] };
};

const size: OpHandler = (ctx) => ({ outputs: [{ dtype: DataType.INT64, shape: [], values: [prod(input(ctx, 0).shape)] }] });

const where: OpHandler = (ctx) => {
  const xs = [input(ctx, 0), input(ctx, 1), input(ctx, 2)];
  return { outputs: [{ dtype: (xs[1] as TensorValue).dtype, shape: broadcastShapes(xs.map((x) => x.shape)) }] };
};

const UNARY_OPS = [
  'Relu',
  'LeakyRelu',
  'Clip',
  'Sigmoid',
  'HardSigmoid',
  'HardSwish',
  'Tanh',
  'Elu',
  'Selu',
  'Celu',
  'Softplus',
  'Softsign',
  'Exp',
  'Log',
  'Sqrt',
  'Neg',
  'Abs',
  'Erf',
  'Gelu',
  'Mish',
  'Softmax',
  'LogSoftmax',
  'Hardmax',
  'LRN',
  'BatchNormalization',
  'InstanceNormalization',
  'Reciprocal',
  'Floor',
  'Ceil',
  'Round',
  'Sign',
  'Not',
  'Sin',
  'Cos',
  'ThresholdedRelu',
  'Shrink',
] as const;

const FOLDERS: Record<string, (xs: number[]) => number> = {
  Add: ([a = 0, b = 0]) => a + b,
  Sub: ([a = 0, b = 0]) => a - b,
  Mul: ([a = 0, b = 0]) => a * b,
  Div: ([a = 0, b = 0]) => intDiv(a, b),
  Max: (xs) => Math.max(...xs),
  Min: (xs) => Math.min(...xs),
  Sum: (xs) => xs.reduce((a, b) => a + b, 0),
};

const HANDLERS: Record<string, OpHandler> = {
  ...Object.fromEntries(UNARY_OPS.map((op) => [op, unary])),
  Add: elementwise(FOLDERS.Add),
  Sub: elementwise(FOLDERS.Sub),
  Mul: elementwise(FOLDERS.Mul),
  Div: elementwise(FOLDERS.Div),
  Pow: elementwise(),
  Max: elementwise(FOLDERS.Max),
  Min: elementwise(FOLDERS.Min),
  Sum: elementwise(FOLDERS.Sum),
  Mean: elementwise(),
  Mod: elementwise(),
  PRelu: elementwise(),
  And: elementwise(undefined, DataType.BOOL),
  Or: elementwise(undefined, DataType.BOOL),
  Xor: elementwise(undefined, DataType.BOOL),
  Equal: elementwise(undefined, DataType.BOOL),
  Less: elementwise(undefined, DataType.BOOL),
  Greater: elementwise(undefined, DataType.BOOL),
  LessOrEqual: elementwise(undefined, DataType.BOOL),
  GreaterOrEqual: elementwise(undefined, DataType.BOOL),
  Where: where,
  Conv: conv,
  ConvTranspose: convTranspose,
  MaxPool: pool,
  AveragePool: pool,
  LpPool: pool,
  GlobalAveragePool: globalPool,
  GlobalMaxPool: globalPool,
  GlobalLpPool: globalPool,
  Gemm: gemm,
  MatMul: matmul,
  Flatten: flatten,
  Reshape: reshape,
  Transpose: transpose,
  Squeeze: squeeze,
  Unsqueeze: unsqueeze,
  Concat: concat,
  Split: split,
  Slice: slice,
  Gather: gather,
  Pad: pad,
  Resize: resize,
  Upsample: resize,
  Shape: shapeOp,
  Size: size,
  ConstantOfShape: constantOfShape,
  Expand: expand,
  Tile: tile,
  ReduceMean: reduce,
  ReduceSum: reduce,
  ReduceMax: reduce,
  ReduceMin: reduce,
  ReduceProd: reduce,
  ReduceL2: reduce,
  ArgMax: argReduce,
  ArgMin: argReduce,
  TopK: topK,
  DepthToSpace: depthToSpace,
  SpaceToDepth: spaceToDepth,
  Cast: cast,
  CastLike: castLike,
  Identity: identity,
  Dropout: identity,
  LayerNormalization: layerNorm,
  // QDQ and QLinear* operators ('com.microsoft.X' for onnxruntime's contrib domain)
  ...quantizedHandlers({ conv, gemm, matmul, pool, globalPool, concat }),
};

/** The operators whose shapes the planner infers ('com.microsoft.X' outside the default ONNX domain). */
export const KNOWN_OPERATORS: readonly string[] = Object.keys(HANDLERS).sort();

/** The operator's name as reported: `domain.Op` outside the default ONNX domain. */
export function operatorName(node: GraphNode): string {
  return node.domain === '' || node.domain === 'ai.onnx' ? node.opType : `${node.domain}.${node.opType}`;
}

function constantValue(c: ConstantTensor): TensorValue {
  return { dtype: c.dataType, shape: [...c.dims], values: c.values };
}

/**
 * Infers every tensor's shape from the graph inputs' concrete shapes. Nodes are visited in
 * topological order; a node whose operator is unknown, whose inputs are unknown, or whose
 * shapes do not fit, is reported with its status and leaves its outputs unknown.
 */
export function inferShapes(graph: OnnxGraph, inputShapes: ReadonlyMap<string, readonly number[]>): GraphInference {
  const values = new Map<string, TensorValue>();
  for (const [name, c] of graph.constants) values.set(name, constantValue(c));
  for (const v of graph.inputs) {
    const shape = inputShapes.get(v.name);
    if (shape !== undefined) values.set(v.name, { dtype: v.elemType, shape: [...shape] });
  }
  const results: NodeInference[] = [];
  for (const node of topologicalOrder(graph)) {
    const op = operatorName(node);
    const handler = Object.hasOwn(HANDLERS, op) ? HANDLERS[op] : undefined;
    const outputs = node.outputs.map(() => undefined);
    if (handler === undefined) {
      results.push({ node, status: 'unknown-operator', message: `operator ${op} is not known to the planner`, outputs, macs: 0 });
      continue;
    }
    const inputs = node.inputs.map((name) => (name === '' ? undefined : values.get(name)));
    const missing = node.inputs.find((name, i) => name !== '' && inputs[i] === undefined);
    if (missing !== undefined) {
      results.push({ node, status: 'missing-input', message: `input "${missing}" has an unknown shape`, outputs, macs: 0 });
      continue;
    }
    try {
      const result = handler({ node, opset: graph.opset, inputs });
      const outs = node.outputs.map((name, i) => {
        const t = result.outputs[i];
        if (t !== undefined && name !== '') values.set(name, t.values !== undefined && t.values.length > FOLD_LIMIT ? { ...t, values: undefined } : t);
        return name === '' ? undefined : t;
      });
      results.push({
        node,
        status: 'ok',
        outputs: outs,
        macs: result.macs ?? 0,
        ...(result.macKind === undefined ? {} : { macKind: result.macKind }),
        ...(result.macPrecision === undefined || (result.macs ?? 0) === 0 ? {} : { macPrecision: result.macPrecision }),
      });
    } catch (err) {
      if (!(err instanceof InferenceError)) throw err;
      results.push({ node, status: 'failed', message: err.message, outputs, macs: 0 });
    }
  }
  return { values, nodes: results };
}

/** The graph's nodes in an order where every input is produced first (ONNX requires it; exporters mostly comply). */
export function topologicalOrder(graph: OnnxGraph): GraphNode[] {
  const available = new Set<string>([...graph.constants.keys(), ...graph.inputs.map((v) => v.name), '']);
  const ordered: GraphNode[] = [];
  let pending = [...graph.nodes];
  while (pending.length > 0) {
    const next: GraphNode[] = [];
    for (const node of pending) {
      if (node.inputs.every((i) => available.has(i))) {
        ordered.push(node);
        for (const o of node.outputs) available.add(o);
      } else {
        next.push(node);
      }
    }
    if (next.length === pending.length) {
      // Inputs produced nowhere (or a cycle): keep the file's order for the rest; their nodes report missing inputs.
      ordered.push(...next);
      break;
    }
    pending = next;
  }
  return ordered;
}
