// Shapes and MACs of the quantized operators: the QDQ pair (QuantizeLinear /
// DequantizeLinear, per tensor or per axis), DynamicQuantizeLinear, the integer kernels of
// the default domain (QLinearConv, QLinearMatMul, ConvInteger, MatMulInteger) and those
// onnxruntime fuses a QDQ graph into (com.microsoft QGemm, QLinearAdd, QLinearMul,
// QLinearGlobalAveragePool, QLinearAveragePool, QLinearConcat, QLinearSigmoid,
// QLinearLeakyRelu, NhwcMaxPool, MatMulIntegerToFloat, DynamicQuantizeMatMul). The integer
// kernels reuse the float handlers on their data operands; their MACs are 'int8'.
// (shape-inference.ts passes the float handlers in: no import cycle.)
import { InferenceError } from './inference-error.js';
import { DataType } from '../onnx/read-graph.js';
import type { OpContext, OpHandler, OpResult, TensorValue } from './op-types.js';

export interface FloatHandlers {
  conv: OpHandler;
  gemm: OpHandler;
  matmul: OpHandler;
  pool: OpHandler;
  globalPool: OpHandler;
  concat: OpHandler;
}

const MS = 'com.microsoft.';

function get(ctx: OpContext, index: number, what: string): TensorValue {
  const t = ctx.inputs[index];
  if (t === undefined) throw new InferenceError(`${what} (input ${index}) is missing or has an unknown shape`);
  return t;
}

function attrInt(ctx: OpContext, name: string, fallback: number): number {
  const v = ctx.node.attrs.get(name);
  return typeof v === 'number' ? v : fallback;
}

/** Runs a float handler on a subset of the inputs (by position; -1 = absent). */
function on(handler: OpHandler, ctx: OpContext, positions: readonly number[]): OpResult {
  const inputs = positions.map((p) => (p < 0 ? undefined : ctx.inputs[p]));
  const names = positions.map((p) => (p < 0 ? '' : (ctx.node.inputs[p] ?? '')));
  // trailing absent inputs are dropped, as an exporter would
  while (names.length > 0 && names[names.length - 1] === '') {
    names.pop();
    inputs.pop();
  }
  return handler({ ...ctx, node: { ...ctx.node, inputs: names }, inputs });
}

/** The type a quantized output has: its zero point's, else the attribute's, else uint8 (the ONNX default). */
function quantizedType(ctx: OpContext, zeroPointIndex: number): number {
  const zp = ctx.inputs[zeroPointIndex];
  if (zp !== undefined) return zp.dtype;
  const attr = attrInt(ctx, 'output_dtype', 0);
  return attr > 0 ? attr : DataType.UINT8;
}

/** Per-axis scales must have one value per slice of the axis; block quantization (opset 21) is not checked. */
function checkScale(ctx: OpContext, x: TensorValue, scale: TensorValue): void {
  const n = scale.shape.reduce((a, b) => a * b, 1);
  if (scale.shape.length === 0 || n === 1 || attrInt(ctx, 'block_size', 0) > 0) return;
  const rank = x.shape.length;
  let axis = attrInt(ctx, 'axis', 1);
  if (axis < 0) axis += rank;
  if (axis < 0 || axis >= rank) throw new InferenceError(`axis ${attrInt(ctx, 'axis', 1)} is out of range for rank ${rank}`);
  if (scale.shape.length !== 1 || n !== x.shape[axis]) throw new InferenceError(`per-axis scale of ${n} values for axis ${axis} of size ${x.shape[axis]}`);
}

function int8(result: OpResult, dtype: number): OpResult {
  const first = result.outputs[0];
  return { ...result, outputs: first === undefined ? [] : [{ dtype, shape: first.shape }], macPrecision: 'int8' };
}

/** NHWC ↔ NCHW for the channels_last variants. */
const toNchw = (s: readonly number[]): number[] => [s[0] ?? 1, s[s.length - 1] ?? 1, ...s.slice(1, -1)];
const toNhwc = (s: readonly number[]): number[] => [s[0] ?? 1, ...s.slice(2), s[1] ?? 1];

function channelsLast(handler: OpHandler, ctx: OpContext, positions: readonly number[], always = false): OpResult {
  if (!always && attrInt(ctx, 'channels_last', 0) !== 1) return on(handler, ctx, positions);
  const x = get(ctx, positions[0] ?? 0, 'X');
  const inputs = [...ctx.inputs];
  inputs[positions[0] ?? 0] = { ...x, shape: toNchw(x.shape) };
  const r = on(handler, { ...ctx, inputs }, positions);
  return { ...r, outputs: r.outputs.map((t) => (t === undefined ? t : { ...t, shape: toNhwc(t.shape) })) };
}

function broadcast(a: readonly number[], b: readonly number[]): number[] {
  const rank = Math.max(a.length, b.length);
  return Array.from({ length: rank }, (_, i) => {
    const x = a[a.length - rank + i] ?? 1;
    const y = b[b.length - rank + i] ?? 1;
    if (x !== 1 && y !== 1 && x !== y) throw new InferenceError(`shapes [${a.join(',')}] and [${b.join(',')}] do not broadcast`);
    return x === 1 ? y : x;
  });
}

export function quantizedHandlers(f: FloatHandlers): Record<string, OpHandler> {
  const quantize: OpHandler = (ctx) => {
    const x = get(ctx, 0, 'x');
    checkScale(ctx, x, get(ctx, 1, 'y_scale'));
    return { outputs: [{ dtype: quantizedType(ctx, 2), shape: [...x.shape] }] };
  };
  const dequantize: OpHandler = (ctx) => {
    const x = get(ctx, 0, 'x');
    const scale = get(ctx, 1, 'x_scale');
    checkScale(ctx, x, scale);
    return { outputs: [{ dtype: scale.dtype, shape: [...x.shape], quantized: x.dtype }] };
  };
  const dynamicQuantize: OpHandler = (ctx) => {
    const x = get(ctx, 0, 'x');
    return {
      outputs: [
        { dtype: DataType.UINT8, shape: [...x.shape] },
        { dtype: DataType.FLOAT, shape: [] },
        { dtype: DataType.UINT8, shape: [] },
      ],
    };
  };
  // QLinearConv: x, x_scale, x_zp, w, w_scale, w_zp, y_scale, y_zp, B
  const qlinearConv: OpHandler = (ctx) => int8(channelsLast(f.conv, ctx, [0, 3, 8]), quantizedType(ctx, 7));
  // QLinearMatMul: a, a_scale, a_zp, b, b_scale, b_zp, y_scale, y_zp
  const qlinearMatMul: OpHandler = (ctx) => int8(on(f.matmul, ctx, [0, 3]), quantizedType(ctx, 7));
  // QGemm: A, a_scale, a_zp, B, b_scale, b_zp, C, y_scale, y_zp — float output without y_scale
  const qgemm: OpHandler = (ctx) => int8(on(f.gemm, ctx, [0, 3]), ctx.inputs[7] === undefined ? DataType.FLOAT : quantizedType(ctx, 8));
  // QLinearAdd / QLinearMul: A, A_scale, A_zp, B, B_scale, B_zp, C_scale, C_zp
  const qlinearBinary: OpHandler = (ctx) => ({ outputs: [{ dtype: quantizedType(ctx, 7), shape: broadcast(get(ctx, 0, 'A').shape, get(ctx, 3, 'B').shape) }] });
  // one-input QLinear ops: X, X_scale, X_zp, Y_scale, Y_zp
  const qlinearUnary: OpHandler = (ctx) => ({ outputs: [{ dtype: quantizedType(ctx, 4), shape: [...get(ctx, 0, 'X').shape] }] });
  const qlinearPool =
    (handler: OpHandler): OpHandler =>
    (ctx) => {
      const r = channelsLast(handler, ctx, [0]);
      return { outputs: r.outputs.slice(0, 1).map((t) => (t === undefined ? t : { dtype: quantizedType(ctx, 4), shape: t.shape })) };
    };
  // QLinearConcat: Y_scale, Y_zp, then (X, X_scale, X_zp) per input
  const qlinearConcat: OpHandler = (ctx) => {
    const positions = ctx.node.inputs.map((_, i) => i).filter((i) => i >= 2 && (i - 2) % 3 === 0);
    const r = on(f.concat, ctx, positions);
    return { outputs: r.outputs.map((t) => (t === undefined ? t : { dtype: quantizedType(ctx, 1), shape: t.shape })) };
  };
  return {
    QuantizeLinear: quantize,
    DequantizeLinear: dequantize,
    DynamicQuantizeLinear: dynamicQuantize,
    QLinearConv: qlinearConv,
    QLinearMatMul: qlinearMatMul,
    ConvInteger: (ctx) => int8(on(f.conv, ctx, [0, 1]), DataType.INT32),
    MatMulInteger: (ctx) => int8(on(f.matmul, ctx, [0, 1]), DataType.INT32),
    [`${MS}QuantizeLinear`]: quantize,
    [`${MS}DequantizeLinear`]: dequantize,
    [`${MS}QLinearConv`]: qlinearConv,
    [`${MS}QGemm`]: qgemm,
    [`${MS}QLinearAdd`]: qlinearBinary,
    [`${MS}QLinearMul`]: qlinearBinary,
    [`${MS}QLinearGlobalAveragePool`]: qlinearPool(f.globalPool),
    [`${MS}QLinearAveragePool`]: qlinearPool(f.pool),
    [`${MS}QLinearConcat`]: qlinearConcat,
    [`${MS}QLinearSigmoid`]: qlinearUnary,
    [`${MS}QLinearLeakyRelu`]: qlinearUnary,
    [`${MS}NhwcMaxPool`]: (ctx) => {
      const r = channelsLast(f.pool, ctx, [0], true);
      return { outputs: r.outputs.slice(0, 1) };
    },
    // A (float, or uint8/int8), B int8: a_scale, b_scale, a_zp, b_zp, bias; float output
    [`${MS}MatMulIntegerToFloat`]: (ctx) => int8(on(f.matmul, ctx, [0, 1]), DataType.FLOAT),
    // A float (quantized on the fly), B int8, b_scale, b_zp, bias; float output
    [`${MS}DynamicQuantizeMatMul`]: (ctx) => int8(on(f.matmul, ctx, [0, 1]), DataType.FLOAT),
  };
}
