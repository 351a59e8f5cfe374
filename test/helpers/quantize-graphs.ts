// Small graphs and helpers shared by the quantizer's tests (built with the project's graph builder).
import ort from 'onnxruntime-node';
import { GraphBuilder } from '../../src/onnx/graph-builder.js';
import type { CalibrationSource } from '../../src/model/quantize/calibrate.js';
import { decodeModel, encodeModel, graphOf, type Model } from '../../src/onnx/proto.js';

/** Deterministic pseudo-random numbers in [-1, 1). */
export function randomFloats(count: number, seed: number, scale = 1): Float32Array {
  let s = seed >>> 0 || 1;
  return Float32Array.from({ length: count }, () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return (s / 2 ** 31 - 1) * scale;
  });
}

export const SMALL_DIMS = [3, 8, 8];

/**
 * Conv→BN→Relu, depthwise Conv→BN→Clip(0,6), a residual Add, GlobalAveragePool,
 * Flatten, Gemm: the op mix of the bundled models in miniature. `extraOp` inserts a
 * node of that type (named "extra_node") before the pooling; `padFirst` puts a TF-style
 * asymmetric Pad before the first Conv.
 */
export function smallModel(extraOp?: string, padFirst = false): Model {
  const g = new GraphBuilder('small');
  const x = g.input('input', ['N', ...SMALL_DIMS]);
  const bn = (inp: string, c: number, stem: string, seed: number): string =>
    g.node(
      'BatchNormalization',
      [
        inp,
        g.floatTensor(
          `${stem}.gamma`,
          [c],
          randomFloats(c, seed).map((v) => 1 + 0.5 * v),
        ),
        g.floatTensor(`${stem}.beta`, [c], randomFloats(c, seed + 1, 0.2)),
        g.floatTensor(`${stem}.mean`, [c], randomFloats(c, seed + 2, 0.3)),
        g.floatTensor(
          `${stem}.var`,
          [c],
          randomFloats(c, seed + 3).map((v) => 1 + 0.5 * v),
        ),
      ],
      { epsilon: { float: 1e-5 } },
      stem,
    );
  const padded = padFirst ? g.node('Pad', [x, g.int64Tensor('pads', [0, 0, 1, 1, 0, 0, 0, 0])], { mode: 'constant' }, 'pad') : x;
  const c1 = g.node(
    'Conv',
    [padded, g.floatTensor('conv1.w', [4, 3, 3, 3], randomFloats(108, 1, 0.5))],
    { kernel_shape: [3, 3], pads: padFirst ? [0, 0, 1, 1] : [1, 1, 1, 1] },
    'conv1',
  );
  const r1 = g.node('Relu', [bn(c1, 4, 'bn1', 10)], {}, 'relu1');
  const c2 = g.node(
    'Conv',
    [r1, g.floatTensor('dw.w', [4, 1, 3, 3], randomFloats(36, 2, 0.5)), g.floatTensor('dw.b', [4], randomFloats(4, 3, 0.1))],
    { kernel_shape: [3, 3], pads: [1, 1, 1, 1], group: 4 },
    'dw',
  );
  const r2 = g.node('Clip', [bn(c2, 4, 'bn2', 20), g.floatTensor('zero', [], Float32Array.of(0)), g.floatTensor('six', [], Float32Array.of(6))], {}, 'relu6');
  let y = g.node('Add', [r2, r1], {}, 'add');
  if (extraOp !== undefined) y = g.node(extraOp, [y], {}, 'extra');
  const pooled = g.node('Flatten', [g.node('GlobalAveragePool', [y], {}, 'gap')], { axis: 1 }, 'flatten');
  const logits = g.node(
    'Gemm',
    [pooled, g.floatTensor('fc.w', [3, 4], randomFloats(12, 4)), g.floatTensor('fc.b', [3], randomFloats(3, 5, 0.1))],
    { transB: 1 },
    'fc',
  );
  g.output(logits, ['N', 3]);
  return decodeModel(g.toBytes());
}

/** `count` random items (or constant ones) of the given dims. */
export function syntheticSource(count: number, itemDims: number[], seed: number, constant?: number): CalibrationSource {
  const size = itemDims.reduce((a, b) => a * b, 1);
  return {
    count,
    itemDims,
    fill(index, target, slot) {
      target.set(constant === undefined ? randomFloats(size, seed + index * 7919, 2) : new Float32Array(size).fill(constant), slot * size);
      return Promise.resolve();
    },
  };
}

/** Runs a model (optionally exposing extra tensors as outputs); returns the named output. */
export async function runModel(
  model: Model,
  input: Float32Array,
  dims: number[],
  output?: string,
  options: ort.InferenceSession.SessionOptions = {},
): Promise<Float32Array> {
  const graph = graphOf(model);
  const wanted = output ?? graph.output?.[0]?.name ?? '';
  const exposed: Model = (graph.output ?? []).some((o) => o.name === wanted)
    ? model
    : { ...model, graph: { ...graph, output: [...(graph.output ?? []), { name: wanted, type: { tensorType: { elemType: 1 } } }] } };
  const session = await ort.InferenceSession.create(encodeModel(exposed), options);
  try {
    const result = await session.run({ [graph.input?.[0]?.name ?? '']: new ort.Tensor('float32', input, dims) }, [wanted]);
    return result[wanted]?.data as Float32Array;
  } finally {
    await session.release();
  }
}

export function cosine(a: Float32Array, b: Float32Array): number {
  let dot = 0;
  let na = 0;
  let nb = 0;
  for (let i = 0; i < a.length; i++) {
    dot += (a[i] as number) * (b[i] as number);
    na += (a[i] as number) ** 2;
    nb += (b[i] as number) ** 2;
  }
  return dot / Math.sqrt(na * nb);
}

export function argmax(a: Float32Array): number {
  let best = 0;
  for (let i = 1; i < a.length; i++) if ((a[i] as number) > (a[best] as number)) best = i;
  return best;
}
