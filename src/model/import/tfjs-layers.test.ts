// Faithfulness of the TF.js-layers -> ONNX importer on hand-built models, and its errors: the
// same artifacts run in TF.js (pure-JS CPU backend, the reference) and, converted, in
// onnxruntime must give the same outputs. The real nsfwjs MobileNetV2: tfjs-layers-nsfwjs.test.ts.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { dequantizeWeights, importTfjsLayers, readTfjsArtifacts, type WeightSpec } from './tfjs-layers.js';
import { createSession, maxAbsDiff, ortPredict, randomValues, saveTfModel, tfPredict, toArrayBuffer, TOLERANCE } from '../../../test/helpers/tfjs.js';

beforeAll(async () => {
  await tf.setBackend('cpu');
  await tf.ready();
});

describe('hand-built TF.js models exercising the other supported layers', () => {
  /** Functional model: odd spatial sizes so TF's asymmetric 'same' padding matters. */
  function buildFunctional(): tf.LayersModel {
    const L = tf.layers;
    const apply = (layer: tf.layers.Layer, x: tf.SymbolicTensor | tf.SymbolicTensor[]): tf.SymbolicTensor => layer.apply(x) as tf.SymbolicTensor;
    const input = tf.input({ shape: [13, 11, 3], name: 'img' });
    const c1 = apply(L.conv2d({ name: 'c1', filters: 8, kernelSize: 3, strides: 2, padding: 'same', activation: 'relu' }), input); // 7x6
    const c2 = apply(L.conv2d({ name: 'c2', filters: 8, kernelSize: [2, 3], strides: [2, 1], padding: 'same', useBias: true }), c1); // 4x6
    const dil = apply(L.conv2d({ name: 'dil', filters: 8, kernelSize: 3, dilationRate: [2, 3], padding: 'same', activation: 'swish' }), c1); // 7x6
    // (tfjs-layers ignores DepthwiseConv2D's dilation_rate: dilated depthwise is checked separately below.)
    const dw = apply(L.depthwiseConv2d({ name: 'dw', kernelSize: 3, depthMultiplier: 2, padding: 'same', useBias: true }), dil); // 7x6x16
    const bn = apply(L.batchNormalization({ name: 'bn', epsilon: 0.01 }), dw);
    const r6 = apply(L.activation({ name: 'r6', activation: 'relu6' }), bn);
    const mp = apply(L.maxPooling2d({ name: 'mp', poolSize: 3, strides: 2, padding: 'same' }), r6); // 4x3
    const ap = apply(L.averagePooling2d({ name: 'ap', poolSize: 2, strides: 2, padding: 'same' }), r6); // 4x3, pad excluded
    const cat = apply(L.concatenate({ name: 'cat' }), [mp, ap]); // 4x3x32
    const zp = apply(
      L.zeroPadding2d({
        name: 'zp',
        padding: [
          [1, 0],
          [0, 2],
        ],
      }),
      cat,
    ); // 5x5
    const sep = apply(L.separableConv2d({ name: 'sep', filters: 6, kernelSize: 2, dilationRate: 2, padding: 'valid', activation: 'tanh' }), zp); // 3x3x6
    const sig = apply(L.activation({ name: 'sig', activation: 'sigmoid' }), sep);
    const add = apply(L.add({ name: 'add' }), [sep, sig]);
    const lr = apply(L.leakyReLU({ name: 'lr', alpha: 0.2 }), add);
    const crop = apply(
      L.cropping2D({
        name: 'crop',
        cropping: [
          [1, 0],
          [0, 1],
        ],
      }),
      c2,
    ); // 3x5x8
    const mpv = apply(L.maxPooling2d({ name: 'mpv', poolSize: [3, 2], strides: [1, 2], padding: 'valid' }), crop); // 1x2x8
    const gap = apply(L.globalAveragePooling2d({ name: 'gap' }), lr); // 6
    const gmp = apply(L.globalMaxPooling2d({ name: 'gmp' }), crop); // 8
    const flat = apply(L.flatten({ name: 'flat' }), lr); // 54
    const flat2 = apply(L.flatten({ name: 'flat2' }), mpv); // 16
    const rs = apply(L.reshape({ name: 'rs', targetShape: [9, 6] }), flat);
    const dseq = apply(L.dense({ name: 'dseq', units: 4, activation: 'elu' }), rs); // 9x4 (MatMul path)
    const sm = apply(L.softmax({ name: 'sm', axis: -1 }), dseq);
    const flat3 = apply(L.flatten({ name: 'flat3' }), sm); // 36
    const mul = apply(L.multiply({ name: 'mul' }), [gap, apply(L.dense({ name: 'gate', units: 6, activation: 'sigmoid' }), gmp)]);
    const feats = apply(L.concatenate({ name: 'feats' }), [mul, flat2, flat3]); // 58
    const d1 = apply(L.dense({ name: 'd1', units: 16, activation: 'relu' }), feats);
    const bn1 = apply(L.batchNormalization({ name: 'bn1' }), d1);
    const drop = apply(L.dropout({ name: 'drop', rate: 0.5 }), bn1);
    const out = apply(L.dense({ name: 'logits', units: 7 }), drop);
    const model = tf.model({ inputs: input, outputs: out, name: 'functional_zoo' });
    randomizeBatchNorm(model);
    return model;
  }

  function buildSequential(): tf.LayersModel {
    const L = tf.layers;
    const model = tf.sequential({
      name: 'seq',
      layers: [
        L.conv2d({ name: 's_c1', inputShape: [9, 9, 2], filters: 4, kernelSize: 3, strides: 2, padding: 'same', activation: 'relu6' }),
        L.batchNormalization({ name: 's_bn' }),
        L.reLU({ name: 's_relu', maxValue: 2.5 }),
        L.averagePooling2d({ name: 's_ap', poolSize: 3, strides: 2, padding: 'same' }),
        L.flatten({ name: 's_flat' }),
        L.dense({ name: 's_out', units: 3, activation: 'softmax' }),
      ],
    });
    randomizeBatchNorm(model);
    return model;
  }

  function randomizeBatchNorm(model: tf.LayersModel): void {
    let seed = 99;
    for (const layer of model.layers) {
      if (layer.getClassName() !== 'BatchNormalization') continue;
      const n = layer.getWeights()[0]?.shape[0] ?? 0;
      layer.setWeights([
        tf.tensor1d(randomValues(n, seed++, 0.5, 1.5)),
        tf.tensor1d(randomValues(n, seed++, -0.5, 0.5)),
        tf.tensor1d(randomValues(n, seed++, -0.3, 0.3)),
        tf.tensor1d(randomValues(n, seed++, 0.2, 2)),
      ]);
    }
  }

  async function compare(model: tf.LayersModel, inputShape: number[]): Promise<number> {
    const artifacts = await saveTfModel(model);
    const imported = importTfjsLayers(artifacts, { inputName: 'x', outputName: 'y' });
    expect(imported.inputShape).toEqual(['N', ...inputShape.slice(1)]);
    const session = await createSession(imported.bytes);
    try {
      const data = randomValues(
        inputShape.reduce((a, b) => a * b, 1),
        7,
        -2,
        2,
      );
      const expected = await tfPredict(model, data, inputShape);
      const actual = await ortPredict(session, imported, data, inputShape);
      expect(actual.length).toBe(expected.length);
      // Not vacuous: outputs vary.
      expect(Math.max(...expected) - Math.min(...expected)).toBeGreaterThan(1e-3);
      return maxAbsDiff(actual, expected);
    } finally {
      await session.release();
    }
  }

  it('functional model: conv/depthwise/separable, same padding with odd sizes, dilation, pools, merges, reshape, dense', async () => {
    const model = buildFunctional();
    const diff = await compare(model, [3, 13, 11, 3]);
    console.log('functional zoo max |onnx - tfjs|:', diff);
    expect(diff).toBeLessThan(TOLERANCE);
    model.dispose();
  });

  it('DepthwiseConv2D with dilation follows Keras semantics (checked against tfjs-core depthwiseConv2d)', async () => {
    // tfjs-layers' DepthwiseConv2D.call drops dilation_rate (a TODO in tfjs), Keras does not:
    // the importer follows Keras, so the reference here is tfjs-core's op with the dilation.
    const model = tf.sequential({
      layers: [
        tf.layers.depthwiseConv2d({
          name: 'ddw',
          inputShape: [9, 8, 3],
          kernelSize: [3, 2],
          depthMultiplier: 2,
          dilationRate: [2, 3],
          padding: 'same',
          useBias: true,
          biasInitializer: 'glorotUniform',
        }),
      ],
    });
    const artifacts = await saveTfModel(model);
    expect(JSON.stringify(artifacts.modelTopology)).toContain('"dilation_rate":[2,3]');
    const imported = importTfjsLayers(artifacts);
    const session = await createSession(imported.bytes);
    const shape = [2, 9, 8, 3];
    const data = randomValues(2 * 9 * 8 * 3, 11, -1, 1);
    const [kernel, bias] = model.getWeights() as [tf.Tensor4D, tf.Tensor1D];
    const ref = tf.tidy(() =>
      tf.add(tf.depthwiseConv2d(tf.tensor4d(data, shape as [number, number, number, number]), kernel, 1, 'same', 'NHWC', [2, 3]), bias),
    );
    const expected = (await ref.data()) as Float32Array;
    ref.dispose();
    const actual = await ortPredict(session, imported, data, shape);
    // The check is not vacuous: tfjs-layers' own (undilated) output is different.
    const layersOut = await tfPredict(model, data, shape);
    expect(maxAbsDiff(actual, layersOut)).toBeGreaterThan(1e-2);
    await session.release();
    model.dispose();
    const diff = maxAbsDiff(actual, expected);
    console.log('dilated depthwise max |onnx - tfjs-core|:', diff);
    expect(diff).toBeLessThan(TOLERANCE);
  });

  it('sequential model', async () => {
    const model = buildSequential();
    const diff = await compare(model, [2, 9, 9, 2]);
    console.log('sequential max |onnx - tfjs|:', diff);
    expect(diff).toBeLessThan(TOLERANCE);
    model.dispose();
  });

  it('reads the standard model.json + shards layout', async () => {
    const model = buildSequential();
    const artifacts = await saveTfModel(model);
    model.dispose();
    const dir = await mkdtemp(join(tmpdir(), 'tfjs-json-'));
    try {
      const cut = Math.floor(artifacts.weightData.byteLength / 2);
      await writeFile(join(dir, 'group1-shard1of2.bin'), artifacts.weightData.subarray(0, cut));
      await writeFile(join(dir, 'group1-shard2of2.bin'), artifacts.weightData.subarray(cut));
      const json = {
        modelTopology: artifacts.modelTopology,
        weightsManifest: [{ paths: ['group1-shard1of2.bin', 'group1-shard2of2.bin'], weights: artifacts.weightSpecs }],
      };
      await writeFile(join(dir, 'model.json'), JSON.stringify(json));
      const read = await readTfjsArtifacts(dir);
      expect(read.weightSpecs).toEqual(artifacts.weightSpecs);
      expect(Buffer.compare(Buffer.from(read.weightData), Buffer.from(artifacts.weightData))).toBe(0);
      expect(read.modelTopology).toEqual(artifacts.modelTopology);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('errors and weight decoding', () => {
  it('names the unsupported layer and its class', () => {
    const modelTopology = {
      model_config: {
        class_name: 'Model',
        config: {
          name: 'tiny',
          layers: [
            { name: 'in', class_name: 'InputLayer', config: { batch_input_shape: [null, 8, 4], dtype: 'float32' }, inbound_nodes: [] },
            { name: 'my_lstm', class_name: 'LSTM', config: { units: 3 }, inbound_nodes: [[['in', 0, 0, {}]]] },
          ],
          input_layers: [['in', 0, 0]],
          output_layers: [['my_lstm', 0, 0]],
        },
      },
    };
    expect(() => importTfjsLayers({ modelTopology, weightSpecs: [], weightData: new Uint8Array(0) })).toThrow(/unsupported layer "my_lstm" of class "LSTM"/);
  });

  it('names the layer when its config is unsupported', () => {
    const modelTopology = {
      class_name: 'Sequential',
      config: {
        name: 'seq',
        layers: [
          { class_name: 'Conv2D', config: { name: 'cf', batch_input_shape: [null, 3, 8, 8], filters: 2, kernel_size: [1, 1], data_format: 'channels_first' } },
        ],
      },
    };
    expect(() => importTfjsLayers({ modelTopology, weightSpecs: [], weightData: new Uint8Array(0) })).toThrow(
      /layer "cf" \(Conv2D\): unsupported data_format "channels_first"/,
    );
  });

  it('rejects a directory without a model', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'tfjs-empty-'));
    try {
      await expect(readTfjsArtifacts(dir)).rejects.toThrow(/not a TF\.js layers model directory/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('decodes uint16 and float16 quantization like tfjs-core', () => {
    const u16 = new Uint16Array([0, 1, 2, 1000, 65535, 31337]);
    const f16 = new Uint16Array([0x0000, 0x8000, 0x3c00, 0xc000, 0x7bff, 0x0001, 0x03ff, 0x0400, 0x3555, 0xfc00, 0x7c00]);
    const f32 = new Float32Array([1.5, -2.25, 3.1415927]);
    const data = new Uint8Array(u16.byteLength + f16.byteLength + f32.byteLength);
    data.set(new Uint8Array(u16.buffer), 0);
    data.set(new Uint8Array(f16.buffer), u16.byteLength);
    data.set(new Uint8Array(f32.buffer), u16.byteLength + f16.byteLength);
    const weightSpecs: WeightSpec[] = [
      { name: 'a/u16', shape: [2, 3], dtype: 'float32', quantization: { dtype: 'uint16', min: -0.7312, scale: 0.0000231 } },
      { name: 'a/f16', shape: [11], dtype: 'float32', quantization: { dtype: 'float16' } },
      { name: 'a/f32', shape: [3], dtype: 'float32' },
    ];
    const ours = dequantizeWeights({ weightSpecs, weightData: data });
    const theirs = tf.io.decodeWeights(toArrayBuffer(data), weightSpecs);
    for (const spec of weightSpecs) {
      const t = theirs[spec.name];
      if (!t) throw new Error(`tfjs decoded no ${spec.name}`);
      expect(Array.from(ours.get(spec.name)?.values ?? [])).toEqual(Array.from(t.dataSync()));
      t.dispose();
    }
    expect(() => dequantizeWeights({ weightSpecs, weightData: data.subarray(0, 20) })).toThrow(/weight a\/f16: needs bytes/);
  });
});
