// The TF.js-layers -> ONNX importer on the real nsfwjs MobileNetV2 (the bundled moderation
// model's source, in node_modules): its outputs match TF.js's (pure-JS CPU backend) on every test
// photo. It needs no preparation, but TF.js's CPU backend takes tens of seconds on 2 cores, so
// it is in the integration project; the hand-built models stay in tfjs-layers.test.ts (unit).
import { readdirSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs';
import type ort from 'onnxruntime-node';
import sharp from 'sharp';
import { onnx } from '../../onnx/graph-builder.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dequantizeWeights, importTfjsLayers, importTfjsToFile, readTfjsArtifacts, type ImportedModel, type TfjsArtifacts } from './tfjs-layers.js';
import { createSession, maxAbsDiff, ortPredict, randomValues, saveTfModel, tfPredict, toArrayBuffer, TOLERANCE } from '../../../test/helpers/tfjs.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const NSFW_DIR = join(ROOT, 'node_modules/nsfwjs/dist/models/mobilenet_v2');
const IMAGES_DIR = join(ROOT, 'test/fixtures/images');
const IMAGES = readdirSync(IMAGES_DIR)
  .filter((f) => f.endsWith('.jpg'))
  .sort();
const SIZE = 224;

async function loadTfModel(artifacts: TfjsArtifacts): Promise<tf.LayersModel> {
  return tf.loadLayersModel(
    tf.io.fromMemory({
      modelTopology: artifacts.modelTopology as object,
      weightSpecs: artifacts.weightSpecs,
      weightData: toArrayBuffer(artifacts.weightData),
    }),
  );
}

async function loadImage(file: string): Promise<Float32Array> {
  const { data, info } = await sharp(join(IMAGES_DIR, file))
    .resize(SIZE, SIZE, { fit: 'fill' })
    .removeAlpha()
    .toColourspace('srgb')
    .raw()
    .toBuffer({ resolveWithObject: true });
  expect(info.channels).toBe(3);
  const out = new Float32Array(data.length);
  for (let i = 0; i < data.length; i++) out[i] = (data[i] as number) / 255;
  return out;
}

beforeAll(async () => {
  await tf.setBackend('cpu');
  await tf.ready();
});

describe('nsfwjs MobileNetV2 (uint8-quantized) imported to ONNX', () => {
  let artifacts: TfjsArtifacts;
  let imported: ImportedModel;
  let tfModel: tf.LayersModel;
  let session: ort.InferenceSession;
  const images = new Map<string, Float32Array>();
  const tfOutputs = new Map<string, Float32Array>();
  const diffs: Record<string, number> = {};

  /** TF.js reference output of one image (memoized: the CPU backend is slow). */
  async function reference(file: string): Promise<Float32Array> {
    let out = tfOutputs.get(file);
    if (!out) {
      out = await tfPredict(tfModel, await image(file), [1, SIZE, SIZE, 3]);
      tfOutputs.set(file, out);
    }
    return out;
  }

  async function image(file: string): Promise<Float32Array> {
    let data = images.get(file);
    if (!data) {
      data = await loadImage(file);
      images.set(file, data);
    }
    return data;
  }

  beforeAll(async () => {
    artifacts = await readTfjsArtifacts(NSFW_DIR);
    imported = importTfjsLayers(artifacts);
    tfModel = await loadTfModel(artifacts);
    session = await createSession(imported.bytes);
  });

  afterAll(async () => {
    tfModel.dispose();
    await session.release();
    console.log('max |onnx - tfjs| per input:', diffs);
  });

  it('reads the bundle layout and describes the model', () => {
    expect(artifacts.weightSpecs).toHaveLength(266);
    expect(artifacts.weightData.byteLength).toBe(artifacts.weightSpecs.reduce((a, s) => a + s.shape.reduce((x, y) => x * y, 1), 0));
    expect(imported.inputName).toBe('input');
    expect(imported.outputName).toBe('output');
    expect(imported.inputShape).toEqual(['N', 224, 224, 3]);
    expect(imported.outputShape).toEqual(['N', 5]);
    expect(imported.layerCount).toBe(tfModel.layers.length);
    expect(session.inputNames).toEqual(['input']);
    expect(session.outputNames).toEqual(['output']);
    // Layout is NCHW inside: one transpose after the input, one before Flatten.
    const ops = (onnx.ModelProto.decode(imported.bytes).graph?.node ?? []).map((n) => n.opType ?? '');
    const count = (op: string): number => ops.filter((o) => o === op).length;
    expect(count('Transpose')).toBe(2);
    expect(count('Conv')).toBe(52);
    expect(count('Clip')).toBe(35);
    expect(count('Pad')).toBe(5);
  });

  it('dequantizes uint8 weights bit-identically to tfjs-core io.decodeWeights', () => {
    const ours = dequantizeWeights(artifacts);
    const theirs = tf.io.decodeWeights(toArrayBuffer(artifacts.weightData), artifacts.weightSpecs);
    expect(ours.size).toBe(artifacts.weightSpecs.length);
    for (const [name, w] of ours) {
      const t = theirs[name];
      if (!t) throw new Error(`tfjs decoded no ${name}`);
      expect(w.shape).toEqual(t.shape);
      const ref = t.dataSync() as Float32Array;
      expect(Buffer.compare(Buffer.from(w.values.buffer), Buffer.from(ref.buffer, ref.byteOffset, ref.byteLength)), name).toBe(0);
      t.dispose();
    }
  });

  for (const file of IMAGES) {
    it(`matches TF.js on ${file}`, async () => {
      const data = await image(file);
      const expected = await reference(file);
      const actual = await ortPredict(session, imported, data, [1, SIZE, SIZE, 3]);
      expect(actual).toHaveLength(5);
      const diff = maxAbsDiff(actual, expected);
      diffs[file] = diff;
      expect(diff).toBeLessThan(TOLERANCE);
      // Probabilities: a sanity check that the comparison is not vacuous.
      expect(expected.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 4);
    });
  }

  it('matches TF.js on a random tensor', async () => {
    const data = randomValues(SIZE * SIZE * 3, 1234);
    const expected = await tfPredict(tfModel, data, [1, SIZE, SIZE, 3]);
    const actual = await ortPredict(session, imported, data, [1, SIZE, SIZE, 3]);
    const diff = maxAbsDiff(actual, expected);
    diffs['random'] = diff;
    expect(diff).toBeLessThan(TOLERANCE);
  });

  it('matches TF.js on a batch of 2 in one ONNX run', async () => {
    const [a, b] = IMAGES.slice(0, 2) as [string, string];
    const batch = new Float32Array(2 * SIZE * SIZE * 3);
    batch.set(await image(a), 0);
    batch.set(await image(b), SIZE * SIZE * 3);
    const actual = await ortPredict(session, imported, batch, [2, SIZE, SIZE, 3]);
    const expected = new Float32Array(10);
    expected.set(await reference(a), 0);
    expected.set(await reference(b), 5);
    const diff = maxAbsDiff(actual, expected);
    diffs[`batch[${a},${b}]`] = diff;
    expect(diff).toBeLessThan(TOLERANCE);
  });

  it('matches TF.js before the softmax too (128-d dense_2 features of the sub-model)', async () => {
    // Softmax squashes differences; the penultimate features are a stricter check.
    const sub = tf.model({ inputs: tfModel.inputs, outputs: tfModel.getLayer('dense_2').output });
    const subImported = importTfjsLayers(await saveTfModel(sub));
    expect(subImported.outputShape).toEqual(['N', 128]);
    const subSession = await createSession(subImported.bytes);
    const file = IMAGES[0] as string;
    const data = await image(file);
    const expected = await tfPredict(sub, data, [1, SIZE, SIZE, 3]);
    const actual = await ortPredict(subSession, subImported, data, [1, SIZE, SIZE, 3]);
    await subSession.release();
    const diff = maxAbsDiff(actual, expected);
    diffs[`${file} dense_2 features (max |x| ${Math.max(...expected.map(Math.abs)).toFixed(2)})`] = diff;
    expect(diff).toBeLessThan(TOLERANCE);
  });

  it('importTfjsToFile writes a loadable model', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'tfjs-import-'));
    try {
      const out = join(dir, 'sub', 'model.onnx');
      const result = await importTfjsToFile(NSFW_DIR, out);
      const written = new Uint8Array(await readFile(out));
      expect(written.byteLength).toBe(result.bytes.byteLength);
      const s = await createSession(written);
      expect(s.inputNames).toEqual(['input']);
      await s.release();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
