import { describe, expect, it } from 'vitest';
import { GraphBuilder, type AttrValue } from '../onnx/graph-builder.js';
import { readOnnxGraph } from '../onnx/read-graph.js';
import { KNOWN_OPERATORS, broadcastShapes, inferShapes, windowOutput, type GraphInference } from './shape-inference.js';

const zeros = (n: number): Float32Array => new Float32Array(n);

function infer(g: GraphBuilder, shapes: Record<string, number[]>): GraphInference {
  return inferShapes(readOnnxGraph(g.toBytes()), new Map(Object.entries(shapes)));
}

function single(
  op: string,
  inputShape: number[],
  attrs: Record<string, AttrValue> = {},
  extra: (g: GraphBuilder) => string[] = () => [],
): { shape: number[] | undefined; macs: number; kind: string | undefined } {
  const g = new GraphBuilder('t');
  const x = g.input('x', inputShape);
  const y = g.node(op, [x, ...extra(g)], attrs, 'y');
  g.output(y, []);
  const r = infer(g, { x: inputShape });
  const node = r.nodes[0];
  if (node?.status !== 'ok') throw new Error(`${op}: ${node?.message ?? 'no node'}`);
  return { shape: r.values.get('y')?.shape, macs: node.macs, kind: node.macKind };
}

describe('inferShapes', () => {
  it('knows the usual operators of vision models', () => {
    for (const op of [
      'Conv',
      'ConvTranspose',
      'Gemm',
      'MatMul',
      'BatchNormalization',
      'Relu',
      'Clip',
      'Sigmoid',
      'Add',
      'Mul',
      'Concat',
      'MaxPool',
      'AveragePool',
      'GlobalAveragePool',
      'Flatten',
      'Reshape',
      'Transpose',
      'Softmax',
      'Pad',
      'Resize',
    ]) {
      expect(KNOWN_OPERATORS).toContain(op);
    }
  });

  it('Conv: strides, dilations, asymmetric pads, auto_pad, groups (depthwise MACs are "grouped")', () => {
    expect(
      single('Conv', [2, 3, 224, 224], { kernel_shape: [7, 7], strides: [2, 2], pads: [3, 3, 3, 3] }, (g) => [
        g.floatTensor('w', [64, 3, 7, 7], zeros(64 * 147)),
      ]),
    ).toEqual({
      shape: [2, 64, 112, 112],
      macs: 2 * 64 * 112 * 112 * 147,
      kind: 'dense',
    });
    expect(single('Conv', [1, 8, 9, 9], { strides: [2, 2], pads: [0, 0, 1, 1], group: 8 }, (g) => [g.floatTensor('w', [8, 1, 3, 3], zeros(72))])).toEqual({
      shape: [1, 8, 4, 4],
      macs: 8 * 16 * 9,
      kind: 'grouped',
    });
    expect(single('Conv', [1, 4, 10, 10], { dilations: [2, 2] }, (g) => [g.floatTensor('w', [4, 4, 3, 3], zeros(144))]).shape).toEqual([1, 4, 6, 6]);
    expect(single('Conv', [1, 4, 11, 11], { auto_pad: 'SAME_UPPER', strides: [2, 2] }, (g) => [g.floatTensor('w', [4, 4, 3, 3], zeros(144))]).shape).toEqual([
      1, 4, 6, 6,
    ]);
  });

  it('ConvTranspose: output size with stride, pads and output_padding; MACs per input element', () => {
    const r = single('ConvTranspose', [1, 4, 4, 4], { strides: [2, 2], pads: [1, 1, 1, 1], output_padding: [1, 1] }, (g) => [
      g.floatTensor('w', [4, 2, 3, 3], zeros(72)),
    ]);
    // 2·(4−1) + 1 + 3 − 2 = 8
    expect(r).toEqual({ shape: [1, 2, 8, 8], macs: 64 * 2 * 9, kind: 'dense' });
  });

  it('pooling: ceil_mode drops a window that would start in the right padding', () => {
    expect(single('MaxPool', [1, 64, 112, 112], { kernel_shape: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1] }).shape).toEqual([1, 64, 56, 56]);
    expect(single('MaxPool', [1, 1, 6, 6], { kernel_shape: [3, 3], strides: [2, 2], ceil_mode: 1 }).shape).toEqual([1, 1, 3, 3]);
    expect(windowOutput([5], [2], [2], [1], [0, 1], 'NOTSET', true)).toEqual([3]);
    expect(windowOutput([4], [2], [2], [1], [0, 1], 'NOTSET', true)).toEqual([2]);
    expect(single('GlobalAveragePool', [2, 5, 7, 7]).shape).toEqual([2, 5, 1, 1]);
  });

  it('Gemm and MatMul: transposes and batch broadcasting', () => {
    expect(single('Gemm', [6, 3], { transA: 1 }, (g) => [g.floatTensor('b', [6, 5], zeros(30))])).toEqual({ shape: [3, 5], macs: 3 * 5 * 6, kind: 'dense' });
    expect(single('MatMul', [2, 1, 4, 6], {}, (g) => [g.floatTensor('b', [3, 6, 5], zeros(90))])).toEqual({
      shape: [2, 3, 4, 5],
      macs: 6 * 4 * 5 * 6,
      kind: 'dense',
    });
    expect(single('MatMul', [6], {}, (g) => [g.floatTensor('b', [6, 5], zeros(30))]).shape).toEqual([5]);
  });

  it('resolves exported shape arithmetic: Shape → Gather → Unsqueeze → Concat → Reshape', () => {
    const g = new GraphBuilder('flatten-export');
    const x = g.input('x', ['N', 8, 2, 2]);
    const shape = g.node('Shape', [x]);
    const n = g.node('Gather', [shape, g.int64Tensor('zero', [0])], { axis: 0 });
    const target = g.node('Concat', [n, g.int64Tensor('minus1', [-1])], { axis: 0 });
    const y = g.node('Reshape', [x, target], {}, 'y');
    g.output(y, ['N', 32]);
    const r = infer(g, { x: [5, 8, 2, 2] });
    expect(r.nodes.map((n2) => n2.status)).toEqual(['ok', 'ok', 'ok', 'ok']);
    expect(r.values.get(target)?.values).toEqual([5, -1]);
    expect(r.values.get('y')?.shape).toEqual([5, 32]);
  });

  it('Slice, Split, Squeeze/Unsqueeze (opset 13 inputs), Resize by sizes, Transpose, Concat', () => {
    const g = new GraphBuilder('misc');
    const x = g.input('x', ['N', 6, 10, 10]);
    const s = g.node(
      'Slice',
      [x, g.int64Tensor('st', [1, -8]), g.int64Tensor('en', [5, 100]), g.int64Tensor('ax', [1, 3]), g.int64Tensor('sp', [2, 3])],
      {},
      's',
    );
    const [a, b] = g.nodeMulti('Split', [x, g.int64Tensor('split', [2, 4])], 2, { axis: 1 }, 'parts');
    const u = g.node('Unsqueeze', [a ?? '', g.int64Tensor('uax', [0, -1])], {}, 'u');
    const q = g.node('Squeeze', [u, g.int64Tensor('qax', [0])], {}, 'q');
    const z = g.node('Resize', [b ?? '', '', '', g.int64Tensor('sizes', [1, 4, 3, 7])], {}, 'z');
    const t = g.node('Transpose', [z], {}, 't');
    const c = g.node('Concat', [q, q], { axis: -1 }, 'c');
    g.output(c, []);
    g.output(t, []);
    g.output(s, []);
    const r = infer(g, { x: [1, 6, 10, 10] });
    expect(r.nodes.every((n) => n.status === 'ok')).toBe(true);
    expect(r.values.get('s')?.shape).toEqual([1, 2, 10, 3]);
    expect(r.values.get(a ?? '')?.shape).toEqual([1, 2, 10, 10]);
    expect(r.values.get(b ?? '')?.shape).toEqual([1, 4, 10, 10]);
    expect(r.values.get('u')?.shape).toEqual([1, 1, 2, 10, 10, 1]);
    expect(r.values.get('q')?.shape).toEqual([1, 2, 10, 10, 1]);
    expect(r.values.get('z')?.shape).toEqual([1, 4, 3, 7]);
    expect(r.values.get('t')?.shape).toEqual([7, 3, 4, 1]);
    expect(r.values.get('c')?.shape).toEqual([1, 2, 10, 10, 2]);
  });

  it('reports a node whose shapes do not fit, without throwing', () => {
    const g = new GraphBuilder('bad');
    const x = g.input('x', ['N', 3, 8, 8]);
    g.output(g.node('Conv', [x, g.floatTensor('w', [4, 5, 3, 3], zeros(180))], {}, 'y'), []);
    const r = infer(g, { x: [1, 3, 8, 8] });
    expect(r.nodes[0]?.status).toBe('failed');
    expect(r.nodes[0]?.message).toMatch(/3 channels but W expects 5/);
  });

  it('broadcasts like numpy', () => {
    expect(broadcastShapes([[4, 1, 3], [5, 1], []])).toEqual([4, 5, 3]);
    expect(() =>
      broadcastShapes([
        [2, 3],
        [4, 3],
      ]),
    ).toThrow(/do not broadcast/);
  });
});
