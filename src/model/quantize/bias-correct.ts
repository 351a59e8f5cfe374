// Bias correction of weight rounding: rounding int8 weights shifts each output channel's
// mean by ΔW · E[x] (ΔW = float weight − dequantized weight), a systematic error that
// adds up through the layers. The input means come from running the QDQ model (Q/DQ
// simulated in float, optimizations off) on the calibration data; each layer's own shift
// goes back into its int32 bias, so corrections never double count an upstream error.
import ort from 'onnxruntime-node';
import { ServeError } from '../../common/errors.js';
import { withOutputs, type CalibrationSource } from './calibrate.js';
import { attrInt, DataType, dimsOf, encodeModel, floatsOf, graphOf, type Model, type Node, type Tensor } from '../../onnx/proto.js';

export interface CorrectedNode {
  node: Node;
  /** The node's output tensor in the FP32 model (before the QDQ rewrite). */
  fp32Output?: string;
}

/** Per-channel mean of each tensor over the source (channel = axis 1). */
async function channelMeans(model: Model, tensors: readonly string[], source: CalibrationSource, batchSize: number): Promise<Map<string, Float64Array>> {
  const exposed = withOutputs(model, tensors);
  const inputName = graphOf(model).input?.[0]?.name ?? '';
  const session = await ort.InferenceSession.create(encodeModel(exposed), {
    graphOptimizationLevel: 'disabled',
    enableCpuMemArena: true,
    intraOpNumThreads: 2,
  });
  const sums = new Map<string, Float64Array>();
  const counts = new Map<string, number>();
  const itemSize = source.itemDims.reduce((a, b) => a * b, 1);
  const batch = Math.max(1, Math.min(batchSize, source.count));
  const buffer = new Float32Array(batch * itemSize);
  try {
    for (let start = 0; start < source.count; start += batch) {
      const n = Math.min(batch, source.count - start);
      for (let i = 0; i < n; i++) await source.fill(start + i, buffer, i);
      const input = new ort.Tensor('float32', n === batch ? buffer : buffer.subarray(0, n * itemSize), [n, ...source.itemDims]);
      const outputs = await session.run({ [inputName]: input }, [...tensors]);
      for (const name of tensors) {
        const value = outputs[name];
        if (value === undefined) continue;
        const data = value.data as Float32Array;
        const channels = value.dims[1] ?? 1;
        const inner = value.dims.slice(2).reduce((a, b) => a * b, 1);
        const sum = sums.get(name) ?? new Float64Array(channels);
        for (let item = 0; item < n; item++) {
          for (let c = 0; c < channels; c++) {
            let s = 0;
            const base = (item * channels + c) * inner;
            for (let k = 0; k < inner; k++) s += data[base + k] as number;
            sum[c] = (sum[c] as number) + s;
          }
        }
        sums.set(name, sum);
        counts.set(name, (counts.get(name) ?? 0) + n * inner);
        value.dispose();
      }
    }
  } finally {
    await session.release();
  }
  for (const [name, sum] of sums) {
    const count = counts.get(name) ?? 1;
    for (let c = 0; c < sum.length; c++) sum[c] = (sum[c] as number) / count;
  }
  return sums;
}

/** A node's bias path (input 2 ← DequantizeLinear(int32 values, scales)) and weight path (input 1 ← DequantizeLinear(int8, scales, zero points)). */
interface BiasTarget {
  node: Node;
  input: string;
  values: Tensor;
  biasScales: Tensor;
  wq: Tensor;
  wScales: Tensor;
  wZero: Tensor;
}

function biasTargets(quantized: Model, nodes: readonly CorrectedNode[]): BiasTarget[] {
  const graph = graphOf(quantized);
  const inits = new Map(graph.initializer.map((t) => [t.name ?? '', t]));
  const producers = new Map(graph.node.flatMap((n) => (n.output ?? []).map((o) => [o, n] as const)));
  return nodes.flatMap(({ node }) => {
    const biasDq = producers.get(node.input?.[2] ?? '');
    const weightDq = producers.get(node.input?.[1] ?? '');
    const values = inits.get(biasDq?.input?.[0] ?? '');
    const biasScales = inits.get(biasDq?.input?.[1] ?? '');
    const wq = inits.get(weightDq?.input?.[0] ?? '');
    const wScales = inits.get(weightDq?.input?.[1] ?? '');
    const wZero = inits.get(weightDq?.input?.[2] ?? '');
    if (values?.dataType !== DataType.INT32 || biasScales === undefined || wq === undefined || wScales === undefined || wZero === undefined) return [];
    return [{ node, input: node.input?.[0] ?? '', values, biasScales, wq, wScales, wZero }];
  });
}

/**
 * Measures the bias correction of `nodes` in the QDQ model `quantized`: per node (by name),
 * per output channel, the int32 amount its bias moves by. `fp32` is the BN-folded float
 * model the rewrite started from (for the float weights). `quantized` is not changed.
 */
export async function measureBiasCorrections(
  fp32: Model,
  quantized: Model,
  nodes: readonly CorrectedNode[],
  source: CalibrationSource,
  batchSize: number,
): Promise<Map<string, number[]>> {
  const floatInits = new Map(graphOf(fp32).initializer.map((t) => [t.name ?? '', t]));
  const floatNodes = new Map(graphOf(fp32).node.map((n) => [n.name ?? '', n]));
  const targets = biasTargets(quantized, nodes).flatMap((t) => {
    const w = floatInits.get(floatNodes.get(t.node.name ?? '')?.input?.[1] ?? '');
    return w === undefined ? [] : [{ ...t, w }];
  });
  const corrections = new Map<string, number[]>();
  if (targets.length === 0) return corrections;
  const means = await channelMeans(quantized, [...new Set(targets.map((t) => t.input))], source, batchSize);
  for (const t of targets) {
    const mean = means.get(t.input);
    if (mean === undefined) continue;
    const shift = weightErrorShift(t.node, floatsOf(t.w), dimsOf(t.w), int8Of(t.wq), floatsOf(t.wScales), int8Of(t.wZero), mean);
    if (shift === undefined) continue;
    const scales = floatsOf(t.biasScales);
    corrections.set(
      t.node.name ?? '',
      Array.from(shift, (s, c) => Math.round(s / (scales[c] as number))),
    );
  }
  return corrections;
}

/**
 * Adds `corrections` (from measureBiasCorrections, or a calibration file) to the int32
 * biases of `nodes` in the QDQ model. Returns how many nodes were corrected; a correction
 * whose node has no int32 bias, or whose channel count differs, is an error.
 */
export function applyBiasCorrections(quantized: Model, nodes: readonly CorrectedNode[], corrections: ReadonlyMap<string, ArrayLike<number>>): number {
  const targets = new Map(biasTargets(quantized, nodes).map((t) => [t.node.name ?? '', t]));
  let corrected = 0;
  for (const [name, delta] of corrections) {
    const t = targets.get(name);
    if (t === undefined) throw new ServeError('QUANTIZE_UNSUPPORTED', `bias correction for node "${name}", which has no quantized bias in this model`);
    const values = int32Of(t.values);
    if (values.length !== delta.length)
      throw new ServeError('QUANTIZE_UNSUPPORTED', `bias correction for node "${name}": ${delta.length} channels, its bias has ${values.length}`);
    for (let c = 0; c < values.length; c++) values[c] = Math.max(-2147483647, Math.min(2147483647, (values[c] as number) + (delta[c] as number)));
    t.values.rawData = new Uint8Array(values.buffer);
    t.values.int32Data = [];
    corrected++;
  }
  return corrected;
}

/**
 * ΔW · E[x] per output channel, ΔW = W − dequantized(W_q): what the weight rounding takes
 * off each output's mean (the bias gets it back). Conv: input channel means (padding
 * ignored); Gemm/MatMul: feature means.
 */
export function weightErrorShift(
  node: Node,
  w: Float32Array,
  dims: number[],
  q: Int8Array,
  scales: Float32Array,
  zeroPoints: Int8Array,
  mean: Float64Array,
): Float64Array | undefined {
  const op = node.opType ?? '';
  const delta = (i: number, channel: number): number =>
    (w[i] as number) -
    ((q[i] as number) - (zeroPoints[zeroPoints.length === 1 ? 0 : channel] as number)) * (scales[scales.length === 1 ? 0 : channel] as number);
  if (op === 'Conv') {
    const [cout = 0, cinPerGroup = 0] = dims;
    const kernel = dims.slice(2).reduce((a, b) => a * b, 1);
    const group = attrInt(node, 'group', 1);
    const outPerGroup = cout / group;
    const shift = new Float64Array(cout);
    for (let c = 0; c < cout; c++) {
      const g = Math.floor(c / outPerGroup);
      let s = 0;
      for (let i = 0; i < cinPerGroup; i++) {
        const m = mean[g * cinPerGroup + i] ?? 0;
        const base = (c * cinPerGroup + i) * kernel;
        let d = 0;
        for (let k = 0; k < kernel; k++) d += delta(base + k, c);
        s += d * m;
      }
      shift[c] = s;
    }
    return shift;
  }
  // Gemm transB = 1: W [out, in]; Gemm transB = 0 and MatMul: W [in, out].
  const outFirst = op === 'Gemm' && attrInt(node, 'transB', 0) === 1;
  const [d0 = 0, d1 = 0] = dims;
  const outs = outFirst ? d0 : d1;
  const ins = outFirst ? d1 : d0;
  if (mean.length !== ins) return undefined;
  const shift = new Float64Array(outs);
  for (let c = 0; c < outs; c++) {
    let s = 0;
    for (let k = 0; k < ins; k++) {
      const i = outFirst ? c * ins + k : k * outs + c;
      s += delta(i, c) * (mean[k] as number);
    }
    shift[c] = s;
  }
  return shift;
}

function int8Of(t: Tensor): Int8Array {
  const raw = t.rawData;
  if (raw !== null && raw !== undefined && raw.length > 0) return Int8Array.from(new Int8Array(new Uint8Array(raw).buffer));
  return Int8Array.from(t.int32Data ?? []);
}

function int32Of(t: Tensor): Int32Array {
  const raw = t.rawData;
  if (raw !== null && raw !== undefined && raw.length > 0) return new Int32Array(new Uint8Array(raw).buffer);
  return Int32Array.from(t.int32Data ?? []);
}
