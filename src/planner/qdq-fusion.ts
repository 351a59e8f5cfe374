// onnxruntime's view of a QDQ graph, for the activation-memory model (ort-memory.ts). With
// graph optimizations on, onnxruntime's QDQ transformers replace each DequantizeLinear →
// op → QuantizeLinear group by one integer kernel (Conv → QLinearConv, Gemm → QGemm, Add →
// QLinearAdd, GlobalAveragePool → QLinearGlobalAveragePool, …) and drop the Q/DQ pair
// around layout ops (MaxPool, Flatten, Reshape, Transpose, …), so the activations between
// them are uint8, not float; DequantizeLinear of a stored weight disappears into the kernel
// (which prepacks the int8 constant). Then the NHWC transformer runs the quantized
// convolutions and pools channels-last: a Transpose copy where a tensor enters or leaves the
// NHWC region, and an NHWC → NCHW Transpose written in the graph cancels against it.
// QLinearConv also takes per-image scratch memory from the arena while it runs (indirection
// or im2col buffer, int32 accumulators): `tempBytes`, from onnxruntime's qlinearconv.cc.
import type { ConstantTensor, GraphNode, OnnxGraph } from '../onnx/read-graph.js';
import { DataType } from '../onnx/read-graph.js';
import { operatorName, type GraphInference, type NodeInference, type TensorValue } from './shape-inference.js';

const MS = 'com.microsoft';

/** Float op → the integer kernel onnxruntime fuses its QDQ group into; `floatOutput`: also fused without a QuantizeLinear after it. */
const FUSED: Readonly<Record<string, { op: string; domain: string; floatOutput?: boolean }>> = {
  Conv: { op: 'QLinearConv', domain: MS },
  Gemm: { op: 'QGemm', domain: MS, floatOutput: true },
  MatMul: { op: 'QLinearMatMul', domain: '', floatOutput: true },
  Add: { op: 'QLinearAdd', domain: MS },
  Mul: { op: 'QLinearMul', domain: MS },
  GlobalAveragePool: { op: 'QLinearGlobalAveragePool', domain: MS },
  AveragePool: { op: 'QLinearAveragePool', domain: MS },
  Concat: { op: 'QLinearConcat', domain: MS },
  Sigmoid: { op: 'QLinearSigmoid', domain: MS },
  LeakyRelu: { op: 'QLinearLeakyRelu', domain: MS },
};

/** Ops that run on the uint8 tensor itself once the Q/DQ pair around them is dropped. */
const DROP_QDQ = new Set([
  'MaxPool',
  'Reshape',
  'Flatten',
  'Transpose',
  'Squeeze',
  'Unsqueeze',
  'Resize',
  'Gather',
  'Slice',
  'Expand',
  'Identity',
  'DepthToSpace',
  'SpaceToDepth',
]);

/** Kernels that run channels-last after the NHWC transformer, and ops that follow whatever layout their inputs have. */
const NHWC_OPS = new Set([`${MS}.QLinearConv`, `${MS}.QLinearGlobalAveragePool`, `${MS}.QLinearAveragePool`, 'MaxPool']);
const LAYOUT_AGNOSTIC = new Set([`${MS}.QLinearAdd`, `${MS}.QLinearMul`, `${MS}.QLinearSigmoid`, `${MS}.QLinearLeakyRelu`, `${MS}.QLinearConcat`]);

const POINTER_BYTES = 8;

export interface FusedView {
  graph: OnnxGraph;
  inference: GraphInference;
  /** Per-image scratch bytes a kernel takes from the arena while it runs (by node name). */
  tempBytes: ReadonlyMap<string, number>;
}

const isQ = (n: GraphNode): boolean => ['QuantizeLinear', `${MS}.QuantizeLinear`].includes(operatorName(n));
const isDQ = (n: GraphNode): boolean => ['DequantizeLinear', `${MS}.DequantizeLinear`].includes(operatorName(n));

/** The fused view, or undefined when the graph has no DequantizeLinear (nothing to fuse). */
export function fuseQdq(graph: OnnxGraph, inference: GraphInference): FusedView | undefined {
  if (!inference.nodes.some((r) => isDQ(r.node))) return undefined;
  const producer = new Map<string, NodeInference>();
  const consumers = new Map<string, NodeInference[]>();
  for (const r of inference.nodes) {
    for (const o of r.node.outputs) producer.set(o, r);
    for (const i of new Set(r.node.inputs)) consumers.set(i, [...(consumers.get(i) ?? []), r]);
  }
  const graphOutputs = new Set(graph.outputs.map((o) => o.name));

  // DequantizeLinear of a stored constant: the kernel reads the integer constant itself
  const constants = new Map<string, ConstantTensor>(graph.constants);
  const folded = new Set<NodeInference>();
  const zeroPoints = new Map<string, string>();
  for (const r of inference.nodes) {
    const source = graph.constants.get(r.node.inputs[0] ?? '');
    const out = r.node.outputs[0];
    if (isDQ(r.node) && source !== undefined && out !== undefined) {
      constants.set(out, { ...source, name: out });
      zeroPoints.set(out, r.node.inputs[2] ?? '');
      folded.add(r);
    }
  }
  const activationDQ = (name: string): NodeInference | undefined => {
    const p = producer.get(name);
    return p !== undefined && isDQ(p.node) && !folded.has(p) && p.status === 'ok' ? p : undefined;
  };

  // decide the fusions
  const fused = new Map<NodeInference, NodeInference>();
  const absorbedQ = new Set<NodeInference>();
  for (const r of inference.nodes) {
    if (r.status !== 'ok') continue;
    const op = operatorName(r.node);
    const rule = FUSED[op] ?? (DROP_QDQ.has(op) ? { op: r.node.opType, domain: r.node.domain } : undefined);
    if (rule === undefined) continue;
    // an integer kernel needs every operand dequantized (a Conv/Gemm bias may stay float);
    // a layout op only its data input
    const quantizedOperand = (n: string, i: number): boolean =>
      n === '' || activationDQ(n) !== undefined || zeroPoints.has(n) || (i === 2 && (op === 'Conv' || op === 'Gemm'));
    if (
      DROP_QDQ.has(op)
        ? activationDQ(r.node.inputs[0] ?? '') === undefined
        : !r.node.inputs.every(quantizedOperand) || !r.node.inputs.some((n) => activationDQ(n) !== undefined)
    )
      continue;
    const qs = r.node.outputs.map((o) => {
      const cs = consumers.get(o) ?? [];
      const only = cs[0];
      return cs.length === 1 && only !== undefined && isQ(only.node) && only.status === 'ok' && !graphOutputs.has(o) ? only : undefined;
    });
    const quantizedOut = qs.every((q) => q !== undefined);
    const floatOut = 'floatOutput' in rule && rule.floatOutput === true && r.node.outputs.every((o) => !(consumers.get(o) ?? []).some((c) => isQ(c.node)));
    if (!quantizedOut && !floatOut) continue;
    const rename = (n: string): string => activationDQ(n)?.node.inputs[0] ?? n;
    const outputs = quantizedOut ? qs.map((q) => q?.node.outputs[0] ?? '') : r.node.outputs;
    for (const q of qs) if (q !== undefined && quantizedOut) absorbedQ.add(q);
    const node: GraphNode = {
      ...r.node,
      opType: rule.op,
      domain: rule.domain,
      inputs: r.node.inputs.map((n) => (n === '' || constants.has(n) ? n : rename(n))),
      outputs,
    };
    fused.set(r, { ...r, node, outputs: quantizedOut ? qs.map((q) => q?.outputs[0]) : r.outputs });
  }

  // emit: fused kernels in place of their op; Q nodes absorbed; DQ nodes nobody reads any more dropped
  const stillRead = new Set<string>(graphOutputs);
  const kept: NodeInference[] = [];
  for (const r of inference.nodes) {
    if (folded.has(r) || absorbedQ.has(r)) continue;
    kept.push(fused.get(r) ?? r);
  }
  for (const r of kept) for (const i of r.node.inputs) stillRead.add(i);
  const emitted = kept.filter((r) => !isDQ(r.node) || r.node.outputs.some((o) => stillRead.has(o)));
  const view = layoutView(emitted, constants, inference.values);
  const fusedNames = new Set([...fused.values()].map((r) => r.node.name));
  return {
    graph: { ...graph, nodes: view.nodes.map((r) => r.node), constants },
    inference: { values: view.values, nodes: view.nodes },
    tempBytes: tempBytesOf(view.nodes, constants, (r) =>
      fusedNames.has(r.node.name)
        ? { w: r.node.inputs[1] ?? '', zp: zeroPoints.get(r.node.inputs[1] ?? '') ?? '' }
        : { w: r.node.inputs[3] ?? '', zp: r.node.inputs[5] ?? '' },
    ),
  };
}

const samePerm = (node: GraphNode, perm: readonly number[]): boolean => {
  const p = node.attrs.get('perm');
  return Array.isArray(p) && p.length === perm.length && p.every((x, i) => x === perm[i]);
};

/** The NHWC transformer: channels-last kernels, with Transpose copies at the region's edges. */
function layoutView(
  nodes: readonly NodeInference[],
  constants: ReadonlyMap<string, ConstantTensor>,
  known: ReadonlyMap<string, TensorValue>,
): { nodes: NodeInference[]; values: Map<string, TensorValue> } {
  const values = new Map(known);
  const nhwc = new Set<string>();
  const alias = new Map<string, string>();
  const asIs = new Set<string>();
  const copies = new Map<string, string>();
  const readers = new Map<string, string[]>();
  for (const r of nodes) for (const i of r.node.inputs) readers.set(i, [...(readers.get(i) ?? []), operatorName(r.node)]);
  const out: NodeInference[] = [];
  const rank4 = (n: string): boolean => n !== '' && !constants.has(n) && values.get(n)?.shape.length === 4;
  const copy = (name: string, toNhwc: boolean): string => {
    const key = `${name}:${toNhwc ? 'nhwc' : 'nchw'}`;
    const done = copies.get(key);
    if (done !== undefined) return done;
    const t = values.get(name) as TensorValue;
    const value: TensorValue = { dtype: t.dtype, shape: [...t.shape] };
    values.set(key, value);
    out.push({
      node: { name: `Transpose(${key})`, opType: 'Transpose', domain: '', inputs: [name], outputs: [key], attrs: new Map() },
      status: 'ok',
      outputs: [value],
      macs: 0,
    });
    if (toNhwc) nhwc.add(key);
    copies.set(key, key);
    return key;
  };
  for (const r of nodes) {
    const op = operatorName(r.node);
    const inputs = r.node.inputs.map((n) => alias.get(n) ?? n);
    const x = inputs[0] ?? '';
    const outName = r.node.outputs[0] ?? '';
    // a layout change written in the graph that the NHWC region makes a no-op
    if (op === 'Transpose' && rank4(x) && r.status === 'ok') {
      const intoNhwc = (readers.get(outName) ?? []).every((c) => NHWC_OPS.has(c) || LAYOUT_AGNOSTIC.has(c));
      if (!nhwc.has(x) && samePerm(r.node, [0, 3, 1, 2]) && intoNhwc && (readers.get(outName) ?? []).length > 0) {
        alias.set(outName, x);
        nhwc.add(x);
        continue;
      }
      if (nhwc.has(x) && samePerm(r.node, [0, 2, 3, 1])) {
        // the graph wants NHWC here, which the region's tensor already is: readers take it as is
        alias.set(outName, x);
        asIs.add(outName);
        continue;
      }
    }
    let wantNhwc: boolean | undefined;
    if (NHWC_OPS.has(op) && (op !== 'MaxPool' || values.get(x)?.dtype !== DataType.FLOAT)) wantNhwc = true;
    else if (LAYOUT_AGNOSTIC.has(op) && inputs.some((n) => rank4(n) && nhwc.has(n))) wantNhwc = true;
    const rewired = inputs.map((n, i) => {
      if (!rank4(n) || asIs.has(r.node.inputs[i] ?? '')) return n;
      if (wantNhwc === true && !nhwc.has(n)) return copy(n, true);
      if (wantNhwc !== true && nhwc.has(n)) return copy(n, false);
      return n;
    });
    if (wantNhwc === true) for (const o of r.node.outputs) if (values.get(o)?.shape.length === 4) nhwc.add(o);
    out.push({ ...r, node: { ...r.node, inputs: rewired } });
  }
  return { nodes: out, values };
}

/** Per-image scratch of QLinearConv (onnxruntime qlinearconv.cc, Compute): indirection or im2col buffer, int32 accumulators. */
function tempBytesOf(
  nodes: readonly NodeInference[],
  constants: ReadonlyMap<string, ConstantTensor>,
  operands: (r: NodeInference) => { w: string; zp: string },
): Map<string, number> {
  const temps = new Map<string, number>();
  for (const r of nodes) {
    if (operatorName(r.node) !== `${MS}.QLinearConv`) continue;
    // a fused Conv keeps the float op's inputs (x, W, B); a QLinearConv in the file has (x, x_scale, x_zp, W, W_scale, W_zp, …)
    const { w: wName, zp: zpName } = operands(r);
    const w = constants.get(wName);
    const y = r.outputs[0];
    if (w === undefined || y === undefined || w.dims.length < 3) continue;
    const [m = 1, cPerGroup = 1, ...kernel] = w.dims;
    const kernelSize = kernel.reduce((a, b) => a * b, 1);
    const groupAttr = r.node.attrs.get('group');
    const group = typeof groupAttr === 'number' ? groupAttr : 1;
    const depthwise = cPerGroup === 1 && m === group;
    const outImage = y.shape.slice(2).reduce((a, b) => a * b, 1);
    const ints = (name: string): number[] => {
      const v = r.node.attrs.get(name);
      return Array.isArray(v) ? v.map(Number) : [];
    };
    const pointwise = kernelSize === 1 && ints('strides').every((s) => s === 1) && ints('pads').every((p) => p === 0);
    const zeroPoints = constants.get(zpName);
    // the symmetric path (MlasConvSym): signed weights, every weight zero point 0, one group or depthwise
    const symmetric = w.dataType === Number(DataType.INT8) && (zeroPoints?.values ?? [0]).every((z) => z === 0) && (group === 1 || depthwise);
    const indirection = POINTER_BYTES * kernelSize * outImage;
    let bytes: number;
    if (symmetric) bytes = pointwise && !depthwise ? 0 : indirection;
    else bytes = 4 * m * outImage + (depthwise ? indirection : pointwise ? 0 : cPerGroup * kernelSize * outImage * (kernel.length > 2 ? group : 1));
    if (bytes > 0) temps.set(r.node.name, bytes);
  }
  return temps;
}
