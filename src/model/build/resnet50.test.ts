import { createHash } from 'node:crypto';

import onnxProto from 'onnx-proto';
import * as ort from 'onnxruntime-node';
import { beforeAll, describe, expect, it } from 'vitest';

import { RESNET50_PARAMETER_COUNT, buildResnet50, type Resnet50Model } from './resnet50.js';

const { onnx } = onnxProto;
type Graph = onnxProto.onnx.IGraphProto;
type Node = onnxProto.onnx.INodeProto;

const sha256 = (bytes: Uint8Array): string => createHash('sha256').update(bytes).digest('hex');
/** int64 fields decode as number or Long depending on protobufjs' setup. */
function toNumber(v: unknown): number {
  if (typeof v === 'number') return v;
  if (typeof v === 'object' && v !== null && 'toNumber' in v && typeof v.toNumber === 'function') {
    return Number((v as { toNumber(): unknown }).toNumber());
  }
  throw new Error(`not an integer: ${String(v)}`);
}

// Built once for the whole file (~1 s, ~100 MB).
let model: Resnet50Model;
let graph: Graph;
let nodes: Node[];

beforeAll(() => {
  model = buildResnet50({ seed: 50 });
  const decoded = onnx.ModelProto.decode(model.bytes);
  if (!decoded.graph) throw new Error('model has no graph');
  graph = decoded.graph;
  nodes = graph.node ?? [];
});

function intsAttr(node: Node, name: string): number[] | undefined {
  const attr = (node.attribute ?? []).find((a) => a.name === name);
  return attr?.ints?.map(toNumber);
}

/** The Conv node whose weight initializer is `weightName`. */
function convByWeight(weightName: string): Node {
  const node = nodes.find((n) => n.opType === 'Conv' && n.input?.[1] === weightName);
  if (!node) throw new Error(`no Conv consumes ${weightName}`);
  return node;
}

describe('buildResnet50: graph structure', () => {
  it('has exactly torchvision resnet50 parameters (BN running stats excluded)', () => {
    const sizes = new Map<string, number>();
    for (const init of graph.initializer ?? []) {
      if (init.dataType !== onnx.TensorProto.DataType.FLOAT || !init.name) continue;
      sizes.set(
        init.name,
        (init.dims ?? []).map(toNumber).reduce((a, b) => a * b, 1),
      );
    }
    const trainableSlots: Record<string, number[]> = { Conv: [1, 2], Gemm: [1, 2], BatchNormalization: [1, 2] };
    const counted = new Set<string>();
    let total = 0;
    for (const node of nodes) {
      for (const slot of trainableSlots[node.opType ?? ''] ?? []) {
        const name = node.input?.[slot];
        if (name === undefined || counted.has(name)) continue;
        const size = sizes.get(name);
        if (size === undefined) continue;
        counted.add(name);
        total += size;
      }
    }
    expect(total).toBe(25_557_032);
    expect(model.parameterCount).toBe(RESNET50_PARAMETER_COUNT);

    // Running mean/var are real initializers, just not parameters.
    const bns = nodes.filter((n) => n.opType === 'BatchNormalization');
    for (const bn of bns) {
      expect(bn.input).toHaveLength(5);
      for (const slot of [3, 4]) expect(sizes.has(bn.input?.[slot] ?? '')).toBe(true);
    }
  });

  it('keeps 53 Conv and 53 BatchNormalization nodes, no conv bias, Gemm fc [1000, 2048] + bias', () => {
    const convs = nodes.filter((n) => n.opType === 'Conv');
    expect(convs).toHaveLength(53);
    expect(nodes.filter((n) => n.opType === 'BatchNormalization')).toHaveLength(53);
    for (const conv of convs) expect(conv.input).toHaveLength(2);

    const gemms = nodes.filter((n) => n.opType === 'Gemm');
    expect(gemms).toHaveLength(1);
    const gemm = gemms[0] as Node;
    const dimsOf = (name: string | undefined): number[] | undefined => graph.initializer?.find((i) => i.name === name)?.dims?.map(toNumber);
    expect(dimsOf(gemm.input?.[1])).toEqual([1000, 2048]);
    expect(dimsOf(gemm.input?.[2])).toEqual([1000]);
    const transB = (gemm.attribute ?? []).find((a) => a.name === 'transB');
    expect(transB?.type).toBe(onnx.AttributeProto.AttributeType.INT);
    expect(toNumber(transB?.i ?? 0)).toBe(1);
    expect(gemm.output).toEqual(['logits']);
  });

  it('declares input [N, 3, 224, 224] and output [N, 1000] with a dynamic batch dim', () => {
    const shape = (v: onnxProto.onnx.IValueInfoProto | undefined): (number | string)[] =>
      (v?.type?.tensorType?.shape?.dim ?? []).map((d) => (d.dimParam ? d.dimParam : toNumber(d.dimValue ?? 0)));
    expect(graph.input?.map((i) => i.name)).toEqual([model.inputName]);
    expect(shape(graph.input?.[0])).toEqual(['N', 3, 224, 224]);
    expect(graph.output?.map((o) => o.name)).toEqual([model.outputName]);
    expect(shape(graph.output?.[0])).toEqual(['N', 1000]);
    expect(model.inputName).toBe('input');
    expect(model.outputName).toBe('logits');
    expect(onnx.ModelProto.decode(model.bytes).docString).toMatch(/deterministic random.*untrained/i);
  });

  it('is v1.5: stride 2 on the 3×3 conv of the first block of layers 2-4', () => {
    for (const layer of [2, 3, 4]) {
      const conv1 = convByWeight(`layer${layer}.0.conv1.weight`);
      const conv2 = convByWeight(`layer${layer}.0.conv2.weight`);
      const conv3 = convByWeight(`layer${layer}.0.conv3.weight`);
      const down = convByWeight(`layer${layer}.0.downsample.0.weight`);
      expect(intsAttr(conv1, 'kernel_shape')).toEqual([1, 1]);
      expect(intsAttr(conv1, 'strides')).toEqual([1, 1]);
      expect(intsAttr(conv2, 'kernel_shape')).toEqual([3, 3]);
      expect(intsAttr(conv2, 'strides')).toEqual([2, 2]);
      expect(intsAttr(conv2, 'pads')).toEqual([1, 1, 1, 1]);
      expect(intsAttr(conv3, 'strides')).toEqual([1, 1]);
      expect(intsAttr(down, 'kernel_shape')).toEqual([1, 1]);
      expect(intsAttr(down, 'strides')).toEqual([2, 2]);
    }
    expect(intsAttr(convByWeight('layer1.0.conv2.weight'), 'strides')).toEqual([1, 1]);

    // Independently of names: the stride-2 convs are the 7×7 stem, three 3×3 and three 1×1 downsamples.
    const strided = nodes
      .filter((n) => n.opType === 'Conv' && intsAttr(n, 'strides')?.[0] === 2)
      .map((n) => intsAttr(n, 'kernel_shape')?.[0])
      .sort();
    expect(strided).toEqual([1, 1, 1, 3, 3, 3, 7]);
  });
});

describe('buildResnet50: determinism', () => {
  it('same seed gives identical bytes, another seed different ones', () => {
    const reference = sha256(model.bytes);
    expect(sha256(buildResnet50({ seed: 50 }).bytes)).toBe(reference);
    const other = buildResnet50({ seed: 51 });
    expect(other.bytes.length).toBe(model.bytes.length);
    expect(sha256(other.bytes)).not.toBe(reference);
  });

  it('rejects bad options', () => {
    expect(() => buildResnet50({ seed: -1 })).toThrow(RangeError);
    expect(() => buildResnet50({ numClasses: 0 })).toThrow(RangeError);
    expect(() => buildResnet50({ imageSize: 16 })).toThrow(RangeError);
  });
});

describe('buildResnet50: onnxruntime', () => {
  it('runs a batch of 2 and gives finite, distinct logits', async () => {
    const session = await ort.InferenceSession.create(model.bytes, { intraOpNumThreads: 2, interOpNumThreads: 1 });
    try {
      const perImage = 3 * 224 * 224;
      const data = new Float32Array(2 * perImage);
      let s = 12345;
      for (let i = 0; i < data.length; i++) {
        s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
        data[i] = (s / 4294967296) * 4 - 2; // roughly the range of ImageNet-normalized pixels
      }
      const out = await session.run({ [model.inputName]: new ort.Tensor('float32', data, [2, 3, 224, 224]) });
      const logits = out[model.outputName];
      if (!logits) throw new Error('no logits output');
      expect(logits.dims).toEqual([2, 1000]);
      const values = logits.data as Float32Array;
      expect(values.every((v) => Number.isFinite(v))).toBe(true);
      const row0 = values.subarray(0, 1000);
      const row1 = values.subarray(1000, 2000);
      let maxDiff = 0;
      for (let i = 0; i < 1000; i++) maxDiff = Math.max(maxDiff, Math.abs((row0[i] as number) - (row1[i] as number)));
      expect(maxDiff).toBeGreaterThan(1e-3);
      // Not degenerate: logits spread over classes rather than constant.
      const spread = Math.max(...row0) - Math.min(...row0);
      expect(spread).toBeGreaterThan(0.1);
      expect(spread).toBeLessThan(1e3);
    } finally {
      await session.release();
    }
  });
});
