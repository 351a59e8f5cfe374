import { describe, expect, it } from 'vitest';
import { GraphBuilder, onnx } from '../onnx/graph-builder.js';
import { analyzeGraph, peakActivation } from './analyze.js';
import { readOnnxGraph } from '../onnx/read-graph.js';

const ones = (n: number): Float32Array => new Float32Array(n).fill(0.1);

/**
 * x[N,3,8,8] → Conv(4×3×3×3, bias, pad 1) → BN → Relu → MaxPool 2/2 → Flatten → Gemm(10, transB) → Softmax.
 * Hand-computed: parameters 108+4 (conv) + 4+4 (BN scale, bias) + 640+10 (fc) = 770; BN mean/var: 8 stored values.
 * MACs: conv 4·8·8 outputs × 27 = 6912; fc 64 × 10 = 640 → 7552.
 */
function tinyCnn(): GraphBuilder {
  const g = new GraphBuilder('tiny-cnn');
  const x = g.input('x', ['N', 3, 8, 8]);
  const conv = g.node(
    'Conv',
    [x, g.floatTensor('w', [4, 3, 3, 3], ones(108)), g.floatTensor('b', [4], ones(4))],
    { kernel_shape: [3, 3], pads: [1, 1, 1, 1] },
    'conv',
  );
  const bn = g.node(
    'BatchNormalization',
    [conv, g.floatTensor('scale', [4], ones(4)), g.floatTensor('bias', [4], ones(4)), g.floatTensor('mean', [4], ones(4)), g.floatTensor('var', [4], ones(4))],
    {},
    'bn',
  );
  const relu = g.node('Relu', [bn], {}, 'relu');
  const pool = g.node('MaxPool', [relu], { kernel_shape: [2, 2], strides: [2, 2] }, 'pool');
  const flat = g.node('Flatten', [pool], { axis: 1 }, 'flat');
  const fc = g.node('Gemm', [flat, g.floatTensor('fc.w', [10, 64], ones(640)), g.floatTensor('fc.b', [10], ones(10))], { transB: 1 }, 'fc');
  g.output(g.node('Softmax', [fc], { axis: 1 }, 'prob'), ['N', 10]);
  return g;
}

/**
 * x[N,2,4,4] → c1 = Conv(1×1, 2→2, no bias) → a = Add(c1, bias[2,1,1]) → m = Mul(a, 0.5 scalar) → r = Relu
 * → s = Add(r, c1) (c1 lives until here) → cat = Concat(s, x) [N,4,4,4] → p = Pad(1 on H and W) [N,4,6,6]
 * → AveragePool 3/3 [N,4,2,2] → Resize ×2 [N,4,4,4] → Clip(0, 6) → Transpose NHWC → Sigmoid → Reshape [0,-1]
 * → MatMul(64×3) [N,3].
 * Parameters: conv 4 + Add's bias tensor 2 + MatMul 192 = 198. Stored values besides: Mul scalar 1, pads 8,
 * scales 4, Clip bounds 2, reshape shape 2 → 215 (17 non-parameters). Bytes: 205 floats × 4 + 10 int64 × 8 = 900.
 * MACs: conv 32 outputs × 2 = 64, MatMul 64 × 3 = 192 → 256.
 * Peak per image (bytes), outputs allocated, then tensors past their last use freed:
 *   conv 128 · add 256 · mul 384→256 · relu 384→256 · add 384→128 · concat 384→256 · pad 832 (peak) → 576 · …
 */
function diamond(): GraphBuilder {
  const g = new GraphBuilder('diamond');
  const x = g.input('x', ['N', 2, 4, 4]);
  const c1 = g.node('Conv', [x, g.floatTensor('w1', [2, 2, 1, 1], ones(4))], { kernel_shape: [1, 1] }, 'c1');
  const a = g.node('Add', [c1, g.floatTensor('bias_t', [2, 1, 1], ones(2))], {}, 'a');
  const m = g.node('Mul', [a, g.floatTensor('half', [], Float32Array.of(0.5))], {}, 'm');
  const r = g.node('Relu', [m], {}, 'r');
  const s = g.node('Add', [r, c1], {}, 's');
  const cat = g.node('Concat', [s, x], { axis: 1 }, 'cat');
  const p = g.node('Pad', [cat, g.int64Tensor('pads', [0, 0, 1, 1, 0, 0, 1, 1])], { mode: 'constant' }, 'pad');
  const ap = g.node('AveragePool', [p], { kernel_shape: [3, 3], strides: [3, 3] }, 'ap');
  const up = g.node('Resize', [ap, '', g.floatTensor('scales', [4], Float32Array.of(1, 1, 2, 2))], { mode: 'nearest' }, 'up');
  const cl = g.node('Clip', [up, g.floatTensor('lo', [], Float32Array.of(0)), g.floatTensor('hi', [], Float32Array.of(6))], {}, 'clip');
  const t = g.node('Transpose', [cl], { perm: [0, 2, 3, 1] }, 't');
  const sig = g.node('Sigmoid', [t], {}, 'sig');
  const rs = g.node('Reshape', [sig, g.int64Tensor('shape', [0, -1])], {}, 'rs');
  g.output(g.node('MatMul', [rs, g.floatTensor('wm', [64, 3], ones(192))], {}, 'out'), ['N', 3]);
  return g;
}

describe('analyzeGraph on hand-computed models', () => {
  it('counts parameters, stored values, MACs and per-layer figures of a small CNN', () => {
    const graph = readOnnxGraph(tinyCnn().toBytes());
    const a = analyzeGraph(graph);
    expect(a.complete).toBe(true);
    expect(a.totals).toEqual({
      parameters: 770,
      storedValues: 778,
      nonParameterValues: 8,
      weightBytes: 778 * 4,
      macsPerImage: 7552,
      denseMacsPerImage: 7552,
      groupedMacsPerImage: 0,
      parametersByPrecision: { float32: 770 },
      parameterBytes: 770 * 4,
      macsByPrecision: { float32: 7552 },
      inputBytesPerImage: 3 * 8 * 8 * 4,
      outputBytesPerImage: 40,
      activationBytesPerImage: 1024 * 3 + 256 * 2 + 40 * 2,
    });
    expect(a.layers.map((l) => [l.op, l.outputShape, l.parameters, l.macs, l.activationBytes])).toEqual([
      ['Conv', ['N', 4, 8, 8], 112, 6912, 1024],
      ['BatchNormalization', ['N', 4, 8, 8], 8, 0, 1024],
      ['Relu', ['N', 4, 8, 8], 0, 0, 1024],
      ['MaxPool', ['N', 4, 4, 4], 0, 0, 256],
      ['Flatten', ['N', 64], 0, 0, 256],
      ['Gemm', ['N', 10], 650, 640, 40],
      ['Softmax', ['N', 10], 0, 0, 40],
    ]);
    expect(a.input).toEqual({ name: 'x', shape: ['N', 3, 8, 8], dtype: 'float32', bytesPerImage: 768 });
    // conv: 3/1² × (9 − 1² + 1² + 1) × 3 × 4 = 360; fc as a 1×1 conv: 3 × (1 − 0 + 1 + 1) × 64 × 10 = 5760
    expect(a.seedFormula).toEqual({ values: 6120, ratio: 2, bytesPerValue: 4, bytes: 6120 * 8, layers: 2 });
  });

  it('peak activation of the small CNN: conv and BN outputs live together', () => {
    const graph = readOnnxGraph(tinyCnn().toBytes());
    expect(peakActivation(graph, 1)).toEqual({ batch: 1, bytes: 2048, atNode: 'bn_node' });
    expect(peakActivation(graph, 4).bytes).toBe(8192);
  });

  it('counts a constant tensor operand of Add as a parameter and a scalar or a shape as stored values', () => {
    const a = analyzeGraph(readOnnxGraph(diamond().toBytes()));
    expect(a.complete).toBe(true);
    expect(a.totals.parameters).toBe(198);
    expect(a.totals.storedValues).toBe(215);
    expect(a.totals.nonParameterValues).toBe(17);
    expect(a.totals.weightBytes).toBe(900);
    expect(a.totals.macsPerImage).toBe(256);
    expect(a.layers.map((l) => l.outputShape)).toEqual([
      ['N', 2, 4, 4],
      ['N', 2, 4, 4],
      ['N', 2, 4, 4],
      ['N', 2, 4, 4],
      ['N', 2, 4, 4],
      ['N', 4, 4, 4],
      ['N', 4, 6, 6],
      ['N', 4, 2, 2],
      ['N', 4, 4, 4],
      ['N', 4, 4, 4],
      ['N', 4, 4, 4],
      ['N', 4, 4, 4],
      ['N', 64],
      ['N', 3],
    ]);
    expect(a.layers.map((l) => l.parameters)).toEqual([4, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 192]);
  });

  it('frees a tensor only after its last consumer (the residual input stays alive)', () => {
    const graph = readOnnxGraph(diamond().toBytes());
    expect(peakActivation(graph, 1)).toEqual({ batch: 1, bytes: 832, atNode: 'pad_node' });
    expect(peakActivation(graph, 3).bytes).toBe(3 * 832);
  });

  it('names an operator it does not know, and marks the analysis incomplete', () => {
    const g = new GraphBuilder('unknown');
    const x = g.input('x', ['N', 4]);
    const r = g.node('Relu', [x], {}, 'r');
    const f = g.node('FancyOp', [r], {}, 'fancy');
    const f2 = g.node('FancyOp', [f], {}, 'fancy2');
    g.output(g.node('Relu', [f2], {}, 'y'), ['N', 4]);
    const model = g.toModel();
    const custom = model.graph?.node?.[2];
    if (custom === undefined) throw new Error('no node');
    custom.domain = 'com.example';
    const a = analyzeGraph(readOnnxGraph(onnx.ModelProto.encode(onnx.ModelProto.create(model)).finish()));
    expect(a.complete).toBe(false);
    expect(a.unsupported).toEqual([
      { op: 'FancyOp', count: 1, nodes: ['fancy_node'] },
      { op: 'com.example.FancyOp', count: 1, nodes: ['fancy2_node'] },
    ]);
    expect(a.problems.map((p) => [p.node, p.status])).toEqual([
      ['fancy_node', 'unknown-operator'],
      ['fancy2_node', 'unknown-operator'],
      ['y_node', 'missing-input'],
    ]);
    expect(a.layers.map((l) => l.op)).toEqual(['Relu', 'FancyOp', 'com.example.FancyOp', 'Relu']);
  });

  it('asks for symbolic dims other than the batch', () => {
    const g = new GraphBuilder('dyn');
    const x = g.input('x', ['N', 3, 'H', 'W']);
    g.output(g.node('GlobalAveragePool', [x], {}, 'y'), ['N', 3, 1, 1]);
    const graph = readOnnxGraph(g.toBytes());
    expect(() => analyzeGraph(graph)).toThrow(/--dim H=<n>/);
    expect(analyzeGraph(graph, { dims: { H: 10, W: 20 } }).totals.inputBytesPerImage).toBe(3 * 10 * 20 * 4);
  });
});
