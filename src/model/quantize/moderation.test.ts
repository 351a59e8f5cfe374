// The real bundled MobileNetV2 (moderation), quantized with the test photos as calibration
// set: its logits stay close to FP32 and the top class agrees on every photo.
import { readdirSync } from 'node:fs';
import { writeFile, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadModel as loadEntry } from '../repository/repository.js';
import type { ModelEntry } from '../repository/contract.js';
import { filesSource, type CalibrationSource } from './calibrate.js';
import { loadModel, type Model } from '../../onnx/proto.js';
import { DEFAULT_QUANTIZE_OPTIONS, quantizeModel, type QuantizeOptions } from './quantize.js';
import { argmax, cosine, runModel } from '../../../test/helpers/quantize-graphs.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const MODEL_DIR = join(ROOT, 'models/moderation');
const IMAGES_DIR = join(ROOT, 'test/fixtures/images');
const PHOTOS = readdirSync(IMAGES_DIR)
  .filter((f) => f.endsWith('.jpg'))
  .sort()
  .map((f) => join(IMAGES_DIR, f));
/** The last Gemm's output, before the softmax: compare logits, not saturated probabilities. */
const LOGITS = 'dense_3/linear';

let entry: ModelEntry;
let photos: CalibrationSource;
let input: Float32Array;
let dims: number[];
let reference: Float32Array;
let dir: string;

beforeAll(async () => {
  entry = await loadEntry('moderation', MODEL_DIR);
  photos = filesSource(PHOTOS, entry.config.preprocess);
  const itemSize = photos.itemDims.reduce((a, b) => a * b, 1);
  input = new Float32Array(PHOTOS.length * itemSize);
  for (let i = 0; i < PHOTOS.length; i++) await photos.fill(i, input, i);
  dims = [PHOTOS.length, ...photos.itemDims];
  reference = await runModel(await fp32(), input, dims, LOGITS);
  dir = await mkdtemp(join(tmpdir(), 'swarmserve-moderation-q-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const fp32 = (): Promise<Model> => loadModel(join(MODEL_DIR, '1', 'model.onnx'));

let defaults: Promise<Float32Array> | undefined;

async function quantizedLogits(source: CalibrationSource, options: Partial<QuantizeOptions> = {}): Promise<Float32Array> {
  // The defaults on the test photos serve three tests: quantized once.
  if (source === photos && Object.keys(options).length === 0) return (defaults ??= quantizedLogitsOnce(source, options));
  return quantizedLogitsOnce(source, options);
}

async function quantizedLogitsOnce(source: CalibrationSource, options: Partial<QuantizeOptions>): Promise<Float32Array> {
  const model = await fp32();
  await quantizeModel(model, source, { ...DEFAULT_QUANTIZE_OPTIONS, ...options });
  return runModel(model, input, dims, LOGITS);
}

function perPhoto(logits: Float32Array): Float32Array[] {
  const k = logits.length / PHOTOS.length;
  return PHOTOS.map((_, i) => logits.subarray(i * k, (i + 1) * k));
}

describe('quantized moderation model (real MobileNetV2)', () => {
  // The defaults (percentile, auto weights) and the plainest choice (min/max, symmetric weights).
  const configurations: [string, Partial<QuantizeOptions>][] = [
    ['defaults', {}],
    ['minmax + symmetric weights', { method: 'minmax', weightZeroPoint: 'symmetric' }],
    ['mse ranges', { method: 'mse' }],
    // onnxruntime quantizes (per tensor) the float weights of a Conv it finds between a
    // DequantizeLinear and a QuantizeLinear: a kept depthwise conv must not sit there.
    ['a depthwise conv kept in FP32', { keep: ['expanded_conv_depthwise_node'] }],
  ];
  for (const [label, options] of configurations) {
    it(`${label}: logits cosine ≥ 0.99 and the same top-1 on every test photo`, async () => {
      const expected = perPhoto(reference);
      const actual = perPhoto(await quantizedLogits(photos, options));
      actual.forEach((logits, i) => {
        const ref = expected[i] as Float32Array;
        expect(cosine(ref, logits), PHOTOS[i]).toBeGreaterThanOrEqual(0.99);
        expect(argmax(logits), PHOTOS[i]).toBe(argmax(ref));
      });
    });
  }

  it('bias correction matters with 7-bit weights: without it the logits are measurably further from FP32', async () => {
    // (On an AMD EPYC, without it the eagle photo's cosine fell to 0.93.)
    const meanError = (logits: Float32Array): number => logits.reduce((s, v, i) => s + Math.abs(v - (reference[i] as number)), 0) / logits.length;
    const corrected = meanError(await quantizedLogits(photos));
    const uncorrected = meanError(await quantizedLogits(photos, { biasCorrection: false }));
    console.log(`moderation INT8 mean |logit error|: ${corrected.toFixed(4)} with bias correction, ${uncorrected.toFixed(4)} without`);
    expect(uncorrected).toBeGreaterThan(1.2 * corrected);
  });

  it('calibrating on one blank image is measurably worse', async () => {
    const blank = join(dir, 'blank.png');
    const { default: sharp } = await import('sharp');
    await writeFile(
      blank,
      await sharp({ create: { width: 224, height: 224, channels: 3, background: '#808080' } })
        .png()
        .toBuffer(),
    );
    const meanError = (logits: Float32Array): number => logits.reduce((s, v, i) => s + Math.abs(v - (reference[i] as number)), 0) / logits.length;
    const good = meanError(await quantizedLogits(photos));
    const bad = meanError(await quantizedLogits(filesSource([blank], entry.config.preprocess)));
    expect(bad).toBeGreaterThan(2 * good);
  });
});
