// Decides what the QDQ pass will do, before calibration (so only the tensors it needs are
// observed): which nodes run quantized, which Relu/Clip fold into their producer's
// range, which activations get a QuantizeLinear→DequantizeLinear pair.
import { ServeError } from '../../common/errors.js';
import { attrFloat, attrInt, attrString, consumersOf, describeNode, floatsOf, graphOf, type Model, type Node, num } from '../../onnx/proto.js';

/** Quantized kernels with an int8 weight (per output channel) and an int32 bias. */
const WEIGHTED = new Set(['Conv', 'Gemm', 'MatMul']);
/** Quantized kernels over activations only (QLinearAdd, QLinearAveragePool, QLinearGlobalAveragePool). */
const PLAIN = new Set(['Add', 'AveragePool', 'GlobalAveragePool']);
/** Data movement: the output takes the input's quantization so onnxruntime drops the Q/DQ around it. */
const PASSTHROUGH = new Set(['MaxPool', 'Flatten', 'Transpose', 'Reshape', 'Squeeze', 'Unsqueeze', 'Identity', 'Pad']);
/** Left in FP32 where they stay (safe: elementwise or the classifier's final softmax). */
const FLOAT_OK = new Set(['Relu', 'Clip', 'Softmax']);

export interface WeightedOp {
  node: Node;
  /** The axis of the weight that indexes output channels. */
  axis: number;
}

export interface QuantizationPlan {
  weighted: WeightedOp[];
  /** Producer node → the Relu/Clip whose output range absorbs it (the activation node is removed). */
  foldedActivations: Map<Node, Node>;
  /** Activations that get a Q→DQ pair; their range comes from calibrating that same tensor... */
  tensors: Set<string>;
  /** ...unless tied: a passthrough output reuses its input's quantization. */
  ties: Map<string, string>;
  /** Ranges the folded Clip imposes on top of calibration (e.g. Relu6: [0, 6]). */
  clamps: Map<string, [number, number]>;
  /** Nodes left in FP32 (kept by request, or FP32-safe). */
  floatNodes: Node[];
  /** The nodes kept in FP32 by request: they read their inputs before quantization. */
  kept: Set<Node>;
}

export function planQuantization(model: Model, keep: ReadonlySet<string>): QuantizationPlan {
  const graph = graphOf(model);
  const opset = num((model.opsetImport ?? []).find((o) => (o.domain ?? '') === '')?.version);
  if (opset < 13) throw new ServeError('QUANTIZE_UNSUPPORTED', `the model uses opset ${opset}; per-channel QDQ needs opset 13 or later`);
  const alreadyQuantized = graph.node.find((n) => /^(QuantizeLinear|DequantizeLinear|QLinear|ConvInteger|MatMulInteger)/.test(n.opType ?? ''));
  if (alreadyQuantized !== undefined)
    throw new ServeError('QUANTIZE_UNSUPPORTED', `${describeNode(alreadyQuantized)}: the model is already quantized; quantize its FP32 version (--version)`);
  const names = new Set(graph.node.map((n) => n.name ?? ''));
  for (const name of keep) if (!names.has(name)) throw new ServeError('BAD_PARAMETER', `--keep: the model has no node named "${name}"`);
  const inits = new Map(graph.initializer.map((t) => [t.name ?? '', t]));
  const isActivation = (name: string): boolean => name !== '' && !inits.has(name);
  const graphOutputs = new Set((graph.output ?? []).map((o) => o.name ?? ''));
  const consumers = consumersOf(graph);

  const plan: QuantizationPlan = {
    weighted: [],
    foldedActivations: new Map(),
    tensors: new Set(),
    ties: new Map(),
    clamps: new Map(),
    floatNodes: [],
    kept: new Set(),
  };
  const quantized = new Set<Node>();
  const passthrough: Node[] = [];
  for (const node of graph.node) {
    const op = node.opType ?? '';
    if (keep.has(node.name ?? '')) {
      plan.floatNodes.push(node);
      plan.kept.add(node);
    } else if (WEIGHTED.has(op)) {
      plan.weighted.push({ node, axis: weightAxis(node, inits.has(node.input?.[1] ?? '')) });
      quantized.add(node);
    } else if (PLAIN.has(op)) {
      // An Add of a constant (a bias the exporter did not fold) stays FP32: safe, and rare.
      if ((node.input ?? []).every(isActivation)) quantized.add(node);
      else plan.floatNodes.push(node);
    } else if (PASSTHROUGH.has(op) && passthroughOk(node, inits)) {
      passthrough.push(node);
    } else if (FLOAT_OK.has(op)) {
      plan.floatNodes.push(node);
    } else {
      throw new ServeError(
        'QUANTIZE_UNSUPPORTED',
        `${describeNode(node)}: the quantizer does not support ${op}${op === 'BatchNormalization' ? ' that does not follow a Conv' : ''}; keep it in FP32 with --keep ${node.name ?? ''}`,
      );
    }
  }

  // Relu / Clip(0, max) after a quantized node: its output range (≥ 0) does the clipping.
  for (const node of quantized) {
    const out = node.output?.[0] ?? '';
    const readers = consumers.get(out) ?? [];
    const act = readers[0];
    if (readers.length !== 1 || act === undefined || graphOutputs.has(out) || keep.has(act.name ?? '')) continue;
    // A kept node reads the FP32 tensor itself (see qdq.ts), so the activation must stay for it.
    if ((consumers.get(act.output?.[0] ?? '') ?? []).some((r) => keep.has(r.name ?? ''))) continue;
    const clip = act.opType === 'Relu' ? ([0, Infinity] as [number, number]) : act.opType === 'Clip' ? clipBounds(act, inits) : undefined;
    if (clip === undefined || clip[0] !== 0) continue;
    plan.foldedActivations.set(node, act);
    plan.floatNodes = plan.floatNodes.filter((n) => n !== act);
    if (Number.isFinite(clip[1])) plan.clamps.set(act.output?.[0] ?? '', clip);
  }
  const outputOf = (node: Node): string => plan.foldedActivations.get(node)?.output?.[0] ?? node.output?.[0] ?? '';

  for (const node of quantized) {
    for (const input of (node.input ?? []).slice(0, node.opType === 'Add' ? 2 : 1)) if (isActivation(input)) plan.tensors.add(input);
  }
  // Passthrough chains: quantize both sides when either is quantized (repeat to a fixpoint).
  for (let changed = true; changed;) {
    changed = false;
    for (const node of passthrough) {
      const input = node.input?.[0] ?? '';
      const out = node.output?.[0] ?? '';
      if ((plan.tensors.has(input) || plan.tensors.has(out)) && !(plan.tensors.has(input) && plan.tensors.has(out))) {
        plan.tensors.add(input);
        plan.tensors.add(out);
        changed = true;
      }
      if (plan.tensors.has(out)) plan.ties.set(out, input);
    }
  }
  for (const node of quantized) {
    const out = outputOf(node);
    // QGemm / MatMulIntegerToFloat can output FP32: skip the output Q/DQ when nothing quantized reads it.
    const floatOutputOk = node.opType === 'Gemm' || node.opType === 'MatMul';
    const feedsQuantized = (consumers.get(out) ?? []).some((r) => quantized.has(r) || plan.tensors.has(r.output?.[0] ?? ''));
    if (!floatOutputOk || feedsQuantized || plan.tensors.has(out)) plan.tensors.add(out);
  }
  return plan;
}

function weightAxis(node: Node, weightIsConstant: boolean): number {
  if (!weightIsConstant) {
    throw new ServeError(
      'QUANTIZE_UNSUPPORTED',
      `${describeNode(node)}: its weight (input 2) is not a constant initializer; keep it in FP32 with --keep ${node.name ?? ''}`,
    );
  }
  if (node.opType === 'Conv') return 0;
  if (node.opType === 'MatMul') return 1;
  if (attrInt(node, 'transA', 0) !== 0 || attrFloat(node, 'alpha', 1) !== 1 || attrFloat(node, 'beta', 1) !== 1) {
    throw new ServeError(
      'QUANTIZE_UNSUPPORTED',
      `${describeNode(node)}: Gemm with transA, alpha or beta is not supported; keep it in FP32 with --keep ${node.name ?? ''}`,
    );
  }
  return attrInt(node, 'transB', 0) === 1 ? 0 : 1;
}

function passthroughOk(node: Node, inits: Map<string, unknown>): boolean {
  if (node.opType !== 'Pad') return true;
  // Constant padding with 0 only: 0 is exact in every range we make.
  const value = node.input?.[2] ?? '';
  return attrString(node, 'mode', 'constant') === 'constant' && (value === '' || !inits.has(value) || isZero(inits.get(value)));
}

function isZero(tensor: unknown): boolean {
  try {
    return floatsOf(tensor as Parameters<typeof floatsOf>[0]).every((v) => v === 0);
  } catch {
    return false;
  }
}

function clipBounds(node: Node, inits: Map<string, Parameters<typeof floatsOf>[0]>): [number, number] | undefined {
  const bound = (index: number, fallback: number): number | undefined => {
    const name = node.input?.[index] ?? '';
    if (name === '') return fallback;
    const t = inits.get(name);
    if (t === undefined) return undefined;
    return floatsOf(t)[0];
  };
  const lo = bound(1, -Infinity);
  const hi = bound(2, Infinity);
  return lo === undefined || hi === undefined ? undefined : [lo, hi];
}
