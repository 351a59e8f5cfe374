// INT8 support: shapes of the QDQ and QLinear operators, parameters and MACs counted in
// their stored types (once), and onnxruntime's fused view of a QDQ graph for the arena.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import ort from 'onnxruntime-node';
import { afterAll, describe, expect, it } from 'vitest';
import { analyzeGraph, inferAt } from './analyze.js';
import { BUILT_IN_CALIBRATION } from './calibration.js';
import { Estimator, weightStats } from './estimate.js';
import { readOnnxGraph, type OnnxGraph } from '../onnx/read-graph.js';
import { planExecution } from './ort-memory.js';
import { fuseQdq } from './qdq-fusion.js';
import { INT32, INT8, QdqBuilder, UINT8, nhwcInputQdq, smallQdqCnn } from '../../test/helpers/qdq-graphs.js';
import { KNOWN_OPERATORS, inferShapes, type GraphInference } from './shape-inference.js';

const graphOf = (b: QdqBuilder): OnnxGraph => readOnnxGraph(b.toBytes());
const infer = (b: QdqBuilder, shapes: Record<string, number[]>): GraphInference => inferShapes(graphOf(b), new Map(Object.entries(shapes)));

function nodeNamed(r: GraphInference, output: string) {
  const n = r.nodes.find((x) => x.node.outputs.includes(output));
  if (n === undefined) throw new Error(`no node writes ${output}`);
  return n;
}

describe('shape inference of quantized operators', () => {
  it('knows QDQ, QLinear* and the integer kernels', () => {
    for (const op of [
      'QuantizeLinear',
      'DequantizeLinear',
      'DynamicQuantizeLinear',
      'QLinearConv',
      'QLinearMatMul',
      'ConvInteger',
      'MatMulInteger',
      'com.microsoft.QGemm',
      'com.microsoft.QLinearAdd',
      'com.microsoft.QLinearGlobalAveragePool',
      'com.microsoft.QLinearConv',
    ]) {
      expect(KNOWN_OPERATORS).toContain(op);
    }
  });

  it('QuantizeLinear / DequantizeLinear: types from the zero point, per-tensor and per-axis scales', () => {
    const b = new QdqBuilder('qdq');
    const x = b.g.input('x', ['N', 4, 5, 5]);
    const q = b.g.node('QuantizeLinear', [x, b.scalar('s', 0.1)], {}, 'q'); // no zero point: uint8
    const qi = b.g.node(
      'QuantizeLinear',
      [x, b.g.floatTensor('s4', [4], new Float32Array(4).fill(0.1)), b.tensor('zp4', INT8, [4], [0, 0, 0, 0])],
      { axis: 1 },
      'qi',
    );
    const dq = b.g.node('DequantizeLinear', [qi, b.g.floatTensor('s4b', [4], new Float32Array(4).fill(0.1))], { axis: 1 }, 'dq');
    const bad = b.g.node('DequantizeLinear', [q, b.g.floatTensor('s3', [3], new Float32Array(3).fill(0.1))], { axis: 1 }, 'bad');
    const [y, ys, yzp] = b.g.nodeMulti('DynamicQuantizeLinear', [x], 3, {}, 'dyn');
    for (const o of [dq, bad, y as string, ys as string, yzp as string]) b.output(o, []);
    const r = infer(b, { x: [2, 4, 5, 5] });
    expect(r.values.get(q)).toMatchObject({ dtype: UINT8, shape: [2, 4, 5, 5] });
    expect(r.values.get(qi)).toMatchObject({ dtype: INT8, shape: [2, 4, 5, 5] });
    expect(r.values.get(dq)).toMatchObject({ dtype: 1, shape: [2, 4, 5, 5], quantized: INT8 });
    expect(nodeNamed(r, bad)).toMatchObject({ status: 'failed', message: 'per-axis scale of 3 values for axis 1 of size 4' });
    expect([y, ys, yzp].map((n) => r.values.get(n ?? '')?.dtype)).toEqual([UINT8, 1, UINT8]);
    expect(r.values.get(ys ?? '')?.shape).toEqual([]);
  });

  it('QLinearConv (NCHW and channels-last), QLinearMatMul, ConvInteger, MatMulInteger, QGemm: shapes, types, int8 MACs', () => {
    const b = new QdqBuilder('qlinear');
    const x = b.g.input('x', ['N', 8, 10, 10]);
    const a = b.g.input('a', ['N', 12]);
    const s = b.scalar('s', 0.1);
    const zp = b.tensor('zp', UINT8, [], [128]);
    const w = b.tensor('w', INT8, [16, 8, 3, 3], new Array<number>(1152).fill(1));
    const wzp = b.tensor('wzp', INT8, [], [0]);
    const bias = b.tensor('bias', INT32, [16], new Array<number>(16).fill(0));
    const conv = b.g.node('QLinearConv', [x, s, zp, w, s, wzp, s, zp, bias], { kernel_shape: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1] }, 'conv');
    const nhwc = b.ms(
      'QLinearConv',
      [b.g.node('Transpose', [x], { perm: [0, 2, 3, 1] }), s, zp, w, s, wzp, s, zp, bias],
      { kernel_shape: [3, 3], pads: [1, 1, 1, 1], channels_last: 1 },
      'nhwc',
    );
    const convInt = b.g.node('ConvInteger', [x, w], { kernel_shape: [3, 3] }, 'convint');
    const fc = b.tensor('fc', INT8, [12, 6], new Array<number>(72).fill(1));
    const mm = b.g.node('QLinearMatMul', [a, s, zp, fc, s, wzp, s, zp], {}, 'mm');
    const mmInt = b.g.node('MatMulInteger', [a, fc], {}, 'mmint');
    const fcT = b.tensor('fcT', INT8, [6, 12], new Array<number>(72).fill(1));
    const gemmFloat = b.ms('QGemm', [a, s, zp, fcT, s, wzp], { transB: 1 }, 'gemmf');
    const gemmQuant = b.ms('QGemm', [a, s, zp, fcT, s, wzp, '', s, zp], { transB: 1 }, 'gemmq');
    for (const o of [conv, nhwc, convInt, mm, mmInt, gemmFloat, gemmQuant]) b.output(o, []);
    const r = infer(b, { x: [2, 8, 10, 10], a: [2, 12] });
    const facts = (o: string) => ({
      dtype: r.values.get(o)?.dtype,
      shape: r.values.get(o)?.shape,
      macs: nodeNamed(r, o).macs,
      precision: nodeNamed(r, o).macPrecision,
    });
    expect(facts(conv)).toEqual({ dtype: UINT8, shape: [2, 16, 5, 5], macs: 2 * 16 * 25 * 72, precision: 'int8' });
    expect(facts(nhwc)).toEqual({ dtype: UINT8, shape: [2, 10, 10, 16], macs: 2 * 16 * 100 * 72, precision: 'int8' });
    expect(facts(convInt)).toEqual({ dtype: INT32, shape: [2, 16, 8, 8], macs: 2 * 16 * 64 * 72, precision: 'int8' });
    expect(facts(mm)).toEqual({ dtype: UINT8, shape: [2, 6], macs: 2 * 6 * 12, precision: 'int8' });
    expect(facts(mmInt)).toMatchObject({ dtype: INT32, shape: [2, 6], precision: 'int8' });
    expect(facts(gemmFloat)).toMatchObject({ dtype: 1, shape: [2, 6], precision: 'int8' });
    expect(facts(gemmQuant)).toMatchObject({ dtype: UINT8, shape: [2, 6] });
  });

  it('com.microsoft QLinearAdd broadcasts, QLinearGlobalAveragePool channels-last, QLinearConcat', () => {
    const b = new QdqBuilder('ms');
    const x = b.g.input('x', ['N', 6, 6, 4]);
    const s = b.scalar('s', 0.1);
    const zp = b.tensor('zp', UINT8, [], [0]);
    const add = b.ms('QLinearAdd', [x, s, zp, b.tensor('c', UINT8, [4], [1, 2, 3, 4]), s, zp, s, zp], {}, 'add');
    const gap = b.ms('QLinearGlobalAveragePool', [add, s, zp, s, zp], { channels_last: 1 }, 'gap');
    const cat = b.ms('QLinearConcat', [s, zp, x, s, zp, add, s, zp], { axis: 3 }, 'cat');
    for (const o of [gap, cat]) b.output(o, []);
    const r = infer(b, { x: [2, 6, 6, 4] });
    expect(r.values.get(add)?.shape).toEqual([2, 6, 6, 4]);
    expect(r.values.get(gap)).toMatchObject({ dtype: UINT8, shape: [2, 1, 1, 4] });
    expect(r.values.get(cat)).toMatchObject({ dtype: UINT8, shape: [2, 6, 6, 8] });
  });
});

describe('analysis of a QDQ graph', () => {
  const analysis = analyzeGraph(graphOf(smallQdqCnn()));

  it('is complete and counts each int8 weight once, in its stored type', () => {
    expect(analysis.complete).toBe(true);
    const t = analysis.totals;
    expect(t.parameters).toBe(1152 + 16 + 160);
    expect(t.parametersByPrecision).toEqual({ int8: 1312, int32: 16 });
    expect(t.parameterBytes).toBe(1312 + 16 * 4);
    // scales and zero points are stored values, not parameters
    expect(t.nonParameterValues).toBe(t.storedValues - t.parameters);
    expect(t.nonParameterValues).toBeGreaterThan(0);
    const owners = analysis.layers.filter((l) => l.parameters > 0).map((l) => [l.name, l.op, l.parameters, l.parameterBytes]);
    expect(owners).toEqual([
      ['conv_node', 'Conv', 1168, 1152 + 64],
      ['fc_node', 'Gemm', 160, 160],
    ]);
  });

  it('counts the MACs of the dequantized Conv and Gemm as int8', () => {
    const t = analysis.totals;
    expect(t.macsPerImage).toBe(16 * 16 * 16 * 72 + 160);
    expect(t.macsByPrecision).toEqual({ int8: 16 * 16 * 16 * 72 + 160 });
    expect(analysis.layers.find((l) => l.name === 'conv_node')?.precision).toBe('int8');
    expect(analysis.layers.find((l) => l.op === 'DequantizeLinear')?.precision).toBeNull();
  });

  it('a weight-only quantized Conv (float input) has int8 parameters but float32 MACs', () => {
    const b = new QdqBuilder('weight-only');
    const x = b.g.input('x', ['N', 8, 4, 4]);
    b.output(b.g.node('Conv', [x, b.weight('w', [4, 8, 1, 1])], { kernel_shape: [1, 1] }, 'conv'), ['N', 4, 4, 4]);
    const a = analyzeGraph(graphOf(b));
    expect(a.totals.parametersByPrecision).toEqual({ int8: 32 });
    expect(a.totals.macsByPrecision).toEqual({ float32: 4 * 16 * 8 });
  });

  it('the float model of the same shape has float32 parameters and MACs', () => {
    const b = new QdqBuilder('float');
    const x = b.g.input('x', ['N', 8, 4, 4]);
    b.output(b.g.node('Conv', [x, b.g.floatTensor('w', [4, 8, 1, 1], new Float32Array(32))], { kernel_shape: [1, 1] }, 'conv'), ['N', 4, 4, 4]);
    const a = analyzeGraph(graphOf(b));
    expect(a.totals.parametersByPrecision).toEqual({ float32: 32 });
    expect(a.totals.parameterBytes).toBe(128);
    expect(a.totals.macsByPrecision).toEqual({ float32: 4 * 16 * 8 });
  });
});

describe("onnxruntime's view of a QDQ graph", () => {
  const graph = graphOf(smallQdqCnn());

  it('fuses each Q/DQ group into an integer kernel on uint8 tensors, NHWC with a Transpose where the tensor enters', () => {
    const view = fuseQdq(graph, inferAt(graph, 2));
    expect(view?.inference.nodes.map((r) => `${r.node.domain === '' ? '' : `${r.node.domain}.`}${r.node.opType}`)).toEqual([
      'QuantizeLinear',
      'Transpose',
      'com.microsoft.QLinearConv',
      'MaxPool',
      'com.microsoft.QLinearGlobalAveragePool',
      'Transpose',
      'Flatten',
      'com.microsoft.QGemm',
    ]);
    expect(view?.inference.nodes.filter((r) => r.node.opType !== 'QGemm').every((r) => r.outputs.every((t) => t?.dtype === UINT8))).toBe(true);
    // symmetric int8 weights, 3×3 kernel: an indirection buffer of one pointer per kernel tap and output pixel
    expect([...(view?.tempBytes ?? new Map<string, number>()).values()]).toEqual([8 * 9 * 16 * 16]);
    const float = new QdqBuilder('float');
    float.output(float.g.node('Relu', [float.g.input('x', ['N', 4])]), ['N', 4]);
    const floatGraph = graphOf(float);
    expect(fuseQdq(floatGraph, inferAt(floatGraph, 1))).toBeUndefined();
  });

  it('Transposes written in the graph to and from NHWC cancel against the NHWC region (no copy)', () => {
    const b = nhwcInputQdq();
    const g = graphOf(b);
    const view = fuseQdq(g, inferAt(g, 1));
    expect(view?.inference.nodes.map((r) => r.node.opType)).toEqual([
      'QuantizeLinear',
      'QLinearConv',
      'QLinearGlobalAveragePool',
      'DequantizeLinear',
      'Flatten',
    ]);
    // the 1×1 stride-1 symmetric convolution reads its input directly: no scratch
    expect(view?.tempBytes.size).toBe(0);
  });

  it('leaves a Conv with a float weight (only its input dequantized) a float kernel', () => {
    const b = new QdqBuilder('float-weight');
    const x = b.g.input('x', ['N', 8, 4, 4]);
    const conv = b.g.node('Conv', [b.qdq(x, 'in'), b.g.floatTensor('w', [4, 8, 1, 1], new Float32Array(32))], { kernel_shape: [1, 1] }, 'conv');
    b.output(b.qdq(conv, 'out'), ['N', 4, 4, 4]);
    const g = graphOf(b);
    expect(fuseQdq(g, inferAt(g, 1))?.inference.nodes.map((r) => r.node.opType)).toEqual([
      'QuantizeLinear',
      'DequantizeLinear',
      'Conv',
      'QuantizeLinear',
      'DequantizeLinear',
    ]);
  });

  it('asymmetric weights take int32 accumulators and an im2col buffer instead', () => {
    const b = new QdqBuilder('asymmetric');
    const x = b.g.input('x', ['N', 8, 16, 16]);
    const conv = b.g.node('Conv', [b.qdq(x, 'in'), b.weight('w', [16, 8, 3, 3], 3)], { kernel_shape: [3, 3], pads: [1, 1, 1, 1] }, 'conv');
    b.output(b.qdq(conv, 'out'), ['N', 16, 16, 16]);
    const g = graphOf(b);
    expect([...(fuseQdq(g, inferAt(g, 1))?.tempBytes.values() ?? [])]).toEqual([4 * 16 * 256 + 72 * 256]);
  });

  it('plans uint8 activations: a quarter of the float graph, plus the layout copy', () => {
    const plan = planExecution(graph, inferAt(graph, 4), { nchwcBlock: 16 });
    // per image: the NHWC copy (2048 B; the quantized input, 2048 B, died making it) and the conv output (4096 B),
    // where the float graph holds 8 KiB of input and 16 KiB of conv output
    expect(plan.liveMaxBytes).toBe(4 * (2048 + 4096));
    expect(plan.events.filter((e) => e.kind === 'temp')).toEqual([{ kind: 'temp', bytes: 8 * 9 * 16 * 16 }]);
  });

  it('counts the int8 weights as prepacked (not rewritten) in the weights model', () => {
    const a = analyzeGraph(graph);
    const w = weightStats(a, BUILT_IN_CALIBRATION.mmapThresholdBytes);
    expect(w.fcBytes).toBe(1152 + 160);
    expect(w.largestFcBytes).toBe(1152);
    const m = new Estimator(a, BUILT_IN_CALIBRATION).memory(4);
    expect(m.totalBytes).toBeGreaterThan(BUILT_IN_CALIBRATION.baselineBytes);
  });
});

describe("against onnxruntime's own optimized graph", () => {
  const dir = mkdtempSync(join(tmpdir(), 'swarmserve-qdq-test-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  /** The graph onnxruntime runs (graphOptimizationLevel 'all', as the worker), saved by onnxruntime itself. */
  async function optimized(bytes: Uint8Array): Promise<OnnxGraph> {
    const file = join(dir, `optimized-${Math.random().toString(36).slice(2)}.onnx`);
    const session = await ort.InferenceSession.create(bytes, { graphOptimizationLevel: 'all', optimizedModelFilePath: file, intraOpNumThreads: 1 });
    await session.release();
    return readOnnxGraph(readFileSync(file));
  }

  it('the fused view has the kernels onnxruntime runs, in order (layout copies, and a written Transpose that cancels)', async () => {
    for (const build of [smallQdqCnn, nhwcInputQdq]) {
      const bytes = build().toBytes();
      const graph = readOnnxGraph(bytes);
      const ours = fuseQdq(graph, inferAt(graph, 1))?.inference.nodes.map((r) => (r.node.opType === 'MaxPool' ? 'NhwcMaxPool' : r.node.opType));
      expect(ours).toEqual((await optimized(bytes)).nodes.map((n) => n.opType));
    }
  });

  it('the QDQ file and the QLinear graph onnxruntime makes of it have the same parameters and MACs', async () => {
    const bytes = smallQdqCnn().toBytes();
    const qdq = analyzeGraph(readOnnxGraph(bytes)).totals;
    const qlinear = analyzeGraph(await optimized(bytes));
    expect(qlinear.complete).toBe(true);
    expect(qlinear.totals.parametersByPrecision).toEqual(qdq.parametersByPrecision);
    expect(qlinear.totals.macsByPrecision).toEqual(qdq.macsByPrecision);
  });
});
