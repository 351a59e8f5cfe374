// The quantizer on small generated graphs: BN folding is exact, the QDQ graph loads and
// onnxruntime fuses it into quantized kernels, outputs stay close, errors name the node.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ServeError } from '../../common/errors.js';
import { foldBatchNorms } from './bn-fold.js';
import { foldPads } from './pad-fold.js';
import { GraphBuilder } from '../../onnx/graph-builder.js';
import { decodeModel, graphOf, loadModel, type Model } from '../../onnx/proto.js';
import { DEFAULT_QUANTIZE_OPTIONS, quantizeModel } from './quantize.js';
import { SMALL_DIMS, cosine, randomFloats, runModel, smallModel, syntheticSource } from '../../../test/helpers/quantize-graphs.js';

const BATCH = 4;
const DIMS = [BATCH, ...SMALL_DIMS];
const INPUT = randomFloats(
  DIMS.reduce((a, b) => a * b, 1),
  99,
  2,
);
const opTypes = (model: Model): string[] => graphOf(model).node.map((n) => n.opType ?? '');

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'swarmserve-quantize-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('BatchNormalization folding', () => {
  it('removes every BN that follows a Conv and keeps the outputs', async () => {
    const model = smallModel();
    const before = await runModel(model, INPUT, DIMS);
    expect(foldBatchNorms(model)).toBe(2);
    expect(opTypes(model)).not.toContain('BatchNormalization');
    const after = await runModel(model, INPUT, DIMS);
    const maxDiff = Math.max(...before.map((v, i) => Math.abs(v - (after[i] as number))));
    expect(maxDiff).toBeLessThan(1e-5);
  });
});

describe('Pad folding', () => {
  it('moves a zero constant Pad into the Conv that reads it, keeping the outputs', async () => {
    const model = smallModel(undefined, true);
    const before = await runModel(model, INPUT, DIMS);
    expect(foldPads(model)).toBe(1);
    expect(opTypes(model)).not.toContain('Pad');
    const conv1 = graphOf(model).node.find((n) => n.name === 'conv1_node');
    expect(conv1?.input?.[0]).toBe('input');
    const after = await runModel(model, INPUT, DIMS);
    expect(Math.max(...before.map((v, i) => Math.abs(v - (after[i] as number))))).toBeLessThan(1e-6);
  });
});

describe('QDQ quantization', () => {
  it('writes a QDQ graph that onnxruntime fuses into QLinearConv, QLinearAdd and QGemm', async () => {
    const fp32 = smallModel();
    const model = smallModel();
    const report = await quantizeModel(model, syntheticSource(16, SMALL_DIMS, 1), { ...DEFAULT_QUANTIZE_OPTIONS });
    expect(report.foldedBatchNorms).toBe(2);
    expect(report.foldedActivations).toBe(2); // the Relu and the Clip(0, 6)
    expect(opTypes(model)).not.toContain('Relu');
    expect(opTypes(model)).not.toContain('Clip');
    expect(opTypes(model)).toContain('QuantizeLinear');
    // Weights are int8 (per output channel), biases int32.
    const types = new Map(graphOf(model).initializer.map((t) => [t.name ?? '', t.dataType]));
    expect(types.get('conv1.w_bnfolded_quantized')).toBe(3 /* INT8 */);
    expect(types.get('fc.b_quantized')).toBe(6 /* INT32 */);

    const optimizedPath = join(dir, 'small-optimized.onnx');
    const quantized = await runModel(model, INPUT, DIMS, undefined, {
      graphOptimizationLevel: 'all',
      optimizedModelFilePath: optimizedPath,
      logSeverityLevel: 3,
    });
    const optimized = opTypes(await loadModel(optimizedPath));
    expect(optimized.filter((t) => t === 'QLinearConv')).toHaveLength(2);
    expect(optimized).toContain('QLinearAdd');
    expect(optimized).toContain('QLinearGlobalAveragePool');
    expect(optimized).toContain('QGemm');
    expect(optimized).not.toContain('Conv');

    const reference = await runModel(fp32, INPUT, DIMS);
    expect(cosine(reference, quantized)).toBeGreaterThan(0.99);
  });

  it('quantizes MatMul with per-column weights (QLinearMatMul, and MatMulIntegerToFloat for an FP32 output)', async () => {
    const build = (): Model => {
      const g = new GraphBuilder('mm');
      const x = g.input('input', ['N', 16]);
      const h = g.node('Relu', [g.node('MatMul', [x, g.floatTensor('w1', [16, 8], randomFloats(128, 1))], {}, 'mm1')], {}, 'relu');
      g.output(g.node('MatMul', [h, g.floatTensor('w2', [8, 4], randomFloats(32, 2))], {}, 'mm2'), ['N', 4]);
      return decodeModel(g.toBytes());
    };
    const model = build();
    await quantizeModel(model, syntheticSource(16, [16], 3), { ...DEFAULT_QUANTIZE_OPTIONS });
    const input = randomFloats(64, 9, 2);
    const optimizedPath = join(dir, 'mm-optimized.onnx');
    const quantized = await runModel(model, input, [4, 16], undefined, { optimizedModelFilePath: optimizedPath, logSeverityLevel: 3 });
    expect(opTypes(await loadModel(optimizedPath))).toEqual(['QuantizeLinear', 'QLinearMatMul', 'MatMulIntegerToFloat']);
    expect(cosine(await runModel(build(), input, [4, 16]), quantized)).toBeGreaterThan(0.99);
  });

  it('min/max ranges and asymmetric weights also stay close to FP32', async () => {
    const reference = await runModel(smallModel(), INPUT, DIMS);
    const model = smallModel();
    await quantizeModel(model, syntheticSource(16, SMALL_DIMS, 1), { ...DEFAULT_QUANTIZE_OPTIONS, method: 'minmax', weightZeroPoint: 'asymmetric' });
    expect(cosine(reference, await runModel(model, INPUT, DIMS))).toBeGreaterThan(0.99);
  });

  it('ranges calibrated on one constant input are measurably worse', async () => {
    const reference = await runModel(smallModel(), INPUT, DIMS);
    const error = async (count: number, constant?: number): Promise<number> => {
      const model = smallModel();
      await quantizeModel(model, syntheticSource(count, SMALL_DIMS, 1, constant), { ...DEFAULT_QUANTIZE_OPTIONS });
      const out = await runModel(model, INPUT, DIMS);
      return out.reduce((s, v, i) => s + Math.abs(v - (reference[i] as number)), 0) / out.length;
    };
    const good = await error(16);
    const bad = await error(1, 0.1);
    expect(bad).toBeGreaterThan(3 * good);
  });

  it('rejects an operator it cannot quantize, naming the node, unless that node is kept in FP32', async () => {
    const source = syntheticSource(2, SMALL_DIMS, 1);
    const rejected = quantizeModel(smallModel('Sigmoid'), source, { ...DEFAULT_QUANTIZE_OPTIONS });
    await expect(rejected).rejects.toBeInstanceOf(ServeError);
    await expect(rejected).rejects.toMatchObject({ code: 'QUANTIZE_UNSUPPORTED', message: expect.stringContaining('"extra_node"') as unknown });

    const fp32 = smallModel('Sigmoid');
    const model = smallModel('Sigmoid');
    const report = await quantizeModel(model, source, { ...DEFAULT_QUANTIZE_OPTIONS, keep: ['extra_node', 'conv1_node'] });
    expect(report.floatNodes).toEqual(expect.arrayContaining(['extra_node', 'conv1_node']));
    const nodes = graphOf(model).node;
    const sigmoid = nodes.find((n) => n.name === 'extra_node');
    expect(sigmoid?.opType).toBe('Sigmoid');
    // The kept conv still reads its FP32 (BN-folded) weight, not a DequantizeLinear output.
    const conv1 = nodes.find((n) => n.name === 'conv1_node');
    const weight = graphOf(model).initializer.find((t) => t.name === conv1?.input?.[1]);
    expect(weight?.dataType).toBe(1 /* FLOAT */);
    expect(cosine(await runModel(fp32, INPUT, DIMS), await runModel(model, INPUT, DIMS))).toBeGreaterThan(0.99);
  });

  it('names an unknown --keep node', async () => {
    await expect(quantizeModel(smallModel(), syntheticSource(1, SMALL_DIMS, 1), { ...DEFAULT_QUANTIZE_OPTIONS, keep: ['nope'] })).rejects.toMatchObject({
      code: 'BAD_PARAMETER',
    });
  });
});
