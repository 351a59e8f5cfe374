// Rewrites a (BN-folded) FP32 graph into QDQ form: uint8 QuantizeLinear→DequantizeLinear
// pairs on activations, int8 per-channel weights and int32 biases behind
// DequantizeLinear. onnxruntime's graph optimizer fuses DQ→Conv→Q into QLinearConv,
// DQ→Gemm into QGemm, DQ→Add→Q into QLinearAdd, and so on.
import { ServeError } from '../../common/errors.js';
import {
  onnx,
  attrInt,
  num,
  describeNode,
  dimsOf,
  floatTensor,
  floatsOf,
  graphOf,
  int32Tensor,
  int8Tensor,
  type Model,
  type Node,
  type Tensor,
  uint8Tensor,
} from '../../onnx/proto.js';
import type { QuantizationPlan } from './plan.js';
import { uint8Params } from './ranges.js';

/**
 * `symmetric`: int8 weights in [-127, 127] (7 bits: [-63, 63]) with zero point 0.
 * `asymmetric`: per channel [min, max] → [-128, 127] (7 bits: [-64, 63]) with a non-zero zero point; on
 * onnxruntime 1.30 this takes another kernel path (see docs/quantization.md).
 * `auto` (default): per node, see weightModeFor.
 */
export type WeightMode = 'symmetric' | 'asymmetric' | 'auto';
export const WEIGHT_MODES: readonly WeightMode[] = ['symmetric', 'asymmetric', 'auto'];

/**
 * The range int8 weights use. 7: [-64, 63], the "reduced range" onnxruntime recommends for
 * x86: on AVX2 CPUs without VNNI its u8×s8 kernels (VPMADDUBSW) add two uint8 × int8
 * products in 16 bits, which saturates with 8-bit weights (255 × 128 × 2 > 32,767) and cost
 * ResNet50 a logits cosine of 0.90 on an AMD EPYC (0.994 with 7 bits). 8: [-128, 127], exact
 * only where VNNI or AMX sum in 32 bits — a model built there is wrong on an AVX2-only node.
 */
export type WeightBits = 7 | 8;
export const WEIGHT_BITS: readonly WeightBits[] = [7, 8];

export interface QdqOptions {
  /** Calibrated [lo, hi] per planned tensor (not needed for tied ones). */
  ranges: ReadonlyMap<string, [number, number]>;
  weightZeroPoint: WeightMode;
  weightBits: WeightBits;
}

export function insertQdq(model: Model, plan: QuantizationPlan, options: QdqOptions): void {
  const graph = graphOf(model);
  const inits = new Map(graph.initializer.map((t) => [t.name ?? '', t]));
  const newInits: Tensor[] = [];

  // 1. Folded activations: the producer writes the Relu/Clip output name; the Relu/Clip goes.
  for (const [producer, act] of plan.foldedActivations) producer.output = [act.output?.[0] ?? ''];
  const removed = new Set(plan.foldedActivations.values());

  // 2. Activation parameters (a tied tensor takes its root's).
  const params = new Map<string, { scale: number; zeroPoint: number }>();
  const rootOf = (t: string): string => {
    let root = t;
    for (let guard = 0; plan.ties.has(root) && guard < 10_000; guard++) root = plan.ties.get(root) as string;
    return root;
  };
  for (const tensor of plan.tensors) {
    const root = rootOf(tensor);
    const range = options.ranges.get(root);
    if (range === undefined) throw new Error(`no calibrated range for tensor "${root}"`);
    let [lo, hi] = range;
    const clamp = plan.clamps.get(root);
    if (clamp !== undefined) [lo, hi] = [Math.max(lo, clamp[0]), Math.min(hi, clamp[1])];
    params.set(tensor, uint8Params(lo, hi));
  }

  // 3. One Q→DQ pair per tensor; the DQ output replaces the tensor for every reader.
  const qdqNodes = new Map<string, Node[]>();
  const dqName = new Map<string, string>();
  for (const [tensor, p] of params) {
    const s = `${tensor}_scale`;
    const z = `${tensor}_zero_point`;
    newInits.push(floatTensor(s, [], Float32Array.of(p.scale)), uint8Tensor(z, [], Uint8Array.of(p.zeroPoint)));
    const q = `${tensor}_quantized`;
    const dq = `${tensor}_dequantized`;
    dqName.set(tensor, dq);
    qdqNodes.set(tensor, [
      { opType: 'QuantizeLinear', name: `${tensor}_QuantizeLinear`, input: [tensor, s, z], output: [q] },
      { opType: 'DequantizeLinear', name: `${tensor}_DequantizeLinear`, input: [q, s, z], output: [dq] },
    ]);
  }
  // 4. Weights and biases of the weighted nodes.
  const weightDq = new Map<Node, Node[]>();
  for (const { node, axis } of plan.weighted) {
    const [x = '', wName = '', bName = ''] = node.input ?? [];
    const w = inits.get(wName) as Tensor;
    const q = quantizeWeight(floatsOf(w), dimsOf(w), axis, weightModeFor(node, options.weightZeroPoint), options.weightBits);
    const base = node.name ?? wName;
    const wq = `${wName}_quantized`;
    newInits.push(
      int8Tensor(wq, dimsOf(w), q.values),
      floatTensor(`${wq}_scale`, [q.scales.length], q.scales),
      int8Tensor(`${wq}_zero_point`, [q.scales.length], q.zeroPoints),
    );
    const nodes: Node[] = [dequantize(`${base}_weight`, wq, `${wq}_scale`, `${wq}_zero_point`, `${wName}_dequantized`, axis)];
    const inputs = [x, `${wName}_dequantized`];
    if (bName !== '') {
      const b = inits.get(bName);
      if (b === undefined) throw new ServeError('QUANTIZE_UNSUPPORTED', `${describeNode(node)}: its bias is not a constant initializer`);
      const xScale = params.get(x)?.scale;
      if (xScale === undefined) throw new Error(`input of ${describeNode(node)} is not quantized`);
      const bias = floatsOf(b);
      const scales = new Float32Array(bias.length);
      const values = new Int32Array(bias.length);
      for (let c = 0; c < bias.length; c++) {
        const s = xScale * (q.scales[q.scales.length === 1 ? 0 : c] as number);
        scales[c] = s;
        values[c] = Math.max(-2147483647, Math.min(2147483647, Math.round((bias[c] as number) / s)));
      }
      const bq = `${bName}_quantized`;
      newInits.push(
        int32Tensor(bq, [bias.length], values),
        floatTensor(`${bq}_scale`, [bias.length], scales),
        int32Tensor(`${bq}_zero_point`, [bias.length], new Int32Array(bias.length)),
      );
      nodes.push(dequantize(`${base}_bias`, bq, `${bq}_scale`, `${bq}_zero_point`, `${bName}_dequantized`, 0));
      inputs.push(`${bName}_dequantized`);
    }
    node.input = inputs;
    weightDq.set(node, nodes);
  }

  // Readers of a quantized tensor read its DequantizeLinear output instead, except nodes
  // kept in FP32: onnxruntime (1.30, basic level and up) quantizes the FP32 weights of a
  // Conv between a DequantizeLinear and a QuantizeLinear itself, per tensor, which wrecked
  // a kept depthwise conv (MobileNetV2: top-1 agreement 65 %). Reading the FP32 tensor
  // leaves the pattern unmatched and the kept node truly FP32.
  for (const node of graph.node) if (!plan.kept.has(node)) node.input = (node.input ?? []).map((i) => dqName.get(i) ?? i);

  // 5. New node order: graph-input pairs first, weight DQs before their node, pairs after their producer.
  const ordered: Node[] = [];
  for (const input of graph.input ?? []) ordered.push(...(qdqNodes.get(input.name ?? '') ?? []));
  for (const node of graph.node) {
    if (removed.has(node)) continue;
    ordered.push(...(weightDq.get(node) ?? []), node);
    for (const out of node.output ?? []) ordered.push(...(qdqNodes.get(out) ?? []));
  }
  graph.node = ordered;
  const used = new Set(ordered.flatMap((n) => n.input ?? []));
  graph.initializer = [...graph.initializer.filter((t) => used.has(t.name ?? '')), ...newInits];
}

/**
 * The weight mode one node gets. Depthwise (grouped) convs keep symmetric weights whatever
 * was asked: with a non-zero weight zero point onnxruntime 1.30 ran them ~20× slower
 * (MobileNetV2). `auto`: asymmetric only for ungrouped convs with a kernel larger than
 * 1×1, where the non-zero zero point's path was faster (see docs/quantization.md).
 */
export function weightModeFor(node: Node, mode: WeightMode): 'symmetric' | 'asymmetric' {
  if (node.opType === 'Conv' && attrInt(node, 'group', 1) > 1) return 'symmetric';
  if (mode !== 'auto') return mode;
  const kernel = node.attribute?.find((a) => a.name === 'kernel_shape')?.ints?.map((k) => num(k)) ?? [];
  return node.opType === 'Conv' && kernel.some((k) => k > 1) ? 'asymmetric' : 'symmetric';
}

function dequantize(stem: string, x: string, scale: string, zeroPoint: string, out: string, axis: number): Node {
  return {
    opType: 'DequantizeLinear',
    name: `${stem}_DequantizeLinear`,
    input: [x, scale, zeroPoint],
    output: [out],
    attribute: [{ name: 'axis', type: onnx.AttributeProto.AttributeType.INT, i: axis }],
  };
}

/** Per-channel int8 weights along `axis`, in the range of `bits` (symmetric: ±(2^(bits−1) − 1)). */
export function quantizeWeight(
  w: Float32Array,
  dims: number[],
  axis: number,
  mode: 'symmetric' | 'asymmetric',
  bits: WeightBits = 8,
): { values: Int8Array; scales: Float32Array; zeroPoints: Int8Array } {
  const qMax = 2 ** (bits - 1) - 1;
  const qLow = -(2 ** (bits - 1));
  const channels = dims[axis] ?? 1;
  const inner = dims.slice(axis + 1).reduce((a, b) => a * b, 1);
  const channelOf = (i: number): number => Math.floor(i / inner) % channels;
  const lo = new Float64Array(channels);
  const hi = new Float64Array(channels);
  for (let i = 0; i < w.length; i++) {
    const c = channelOf(i);
    const v = w[i] as number;
    if (v < (lo[c] as number)) lo[c] = v;
    if (v > (hi[c] as number)) hi[c] = v;
  }
  const scales = new Float32Array(channels);
  const zeroPoints = new Int8Array(channels);
  for (let c = 0; c < channels; c++) {
    const l = lo[c] as number;
    const h = hi[c] as number;
    if (mode === 'symmetric') {
      const s = Math.max(Math.abs(l), Math.abs(h)) / qMax;
      scales[c] = s > 0 ? s : 1; // an all-zero channel: any scale is exact
    } else {
      const s = (h - l) / (qMax - qLow);
      scales[c] = s > 0 ? s : 1;
      zeroPoints[c] = s > 0 ? Math.max(qLow, Math.min(qMax, Math.round(qLow - l / s))) : 0;
    }
  }
  const values = new Int8Array(w.length);
  const qMin = mode === 'symmetric' ? -qMax : qLow;
  for (let i = 0; i < w.length; i++) {
    const c = channelOf(i);
    values[i] = Math.max(qMin, Math.min(qMax, Math.round((w[i] as number) / (scales[c] as number)) + (zeroPoints[c] as number)));
  }
  return { values, scales, zeroPoints };
}
