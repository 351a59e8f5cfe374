// A user drops in an exported image classifier (here: the signature of an ONNX-zoo
// ResNet50, NCHW float input "data" and 1000 logits) by writing a config. No code changes.
import { mkdir, writeFile } from 'node:fs/promises';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import ort from 'onnxruntime-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EmbeddedServer } from '../../src/embedded/embedded-server.js';
import { GraphBuilder } from '../../src/onnx/graph-builder.js';
import { loadRepository } from '../../src/model/repository/repository.js';
import { softmax } from '../../src/runtime/postprocess.js';
import { ImagePreprocessor } from '../../src/runtime/preprocess.js';
import { PHOTOS, photo } from '../helpers/images.js';
import { startServer } from '../helpers/server.js';

const CLASSES = 1000;

/** data[N,3,224,224] → conv 3×3 stride 4 → relu → global pool → gemm → 1000 logits. */
function zooLikeClassifier(): Uint8Array {
  const g = new GraphBuilder('zoo_like_resnet');
  const data = g.input('data', ['N', 3, 224, 224]);
  const kernel = Float32Array.from({ length: 16 * 3 * 3 * 3 }, (_, i) => Math.sin(i * 0.37) * 0.5);
  const conv = g.node('Conv', [data, g.floatTensor('conv_w', [16, 3, 3, 3], kernel)], { kernel_shape: [3, 3], strides: [4, 4], pads: [1, 1, 1, 1] });
  const pooled = g.node('GlobalAveragePool', [g.node('Relu', [conv])]);
  const flat = g.node('Flatten', [pooled], { axis: 1 });
  const w = Float32Array.from({ length: CLASSES * 16 }, (_, i) => Math.cos(i * 0.11) * 2);
  const logits = g.node(
    'Gemm',
    [flat, g.floatTensor('fc_w', [CLASSES, 16], w), g.floatTensor('fc_b', [CLASSES], new Float32Array(CLASSES))],
    { transB: 1 },
    'resnetv17_dense0_fwd',
  );
  g.output(logits, ['N', CLASSES]);
  return g.toBytes();
}

let root: string;
let server: EmbeddedServer;
let url: string;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'swarmserve-dropin-'));
  const dir = join(root, 'my-resnet');
  await mkdir(join(dir, '3'), { recursive: true });
  await writeFile(join(dir, '3', 'model.onnx'), zooLikeClassifier());
  await writeFile(join(dir, 'labels.txt'), Array.from({ length: CLASSES }, (_, i) => `imagenet-${i}`).join('\n'));
  // What a user writes: torchvision-style preprocessing, softmax over logits.
  const config = {
    description: 'an exported ResNet50-signature classifier',
    preprocess: {
      resize: 'center-crop',
      resizeShorterTo: 256,
      width: 224,
      height: 224,
      layout: 'NCHW',
      channelOrder: 'RGB',
      scale: 1 / 255,
      mean: [0.485, 0.456, 0.406],
      std: [0.229, 0.224, 0.225],
    },
    postprocess: { softmax: true, topK: 5 },
    batching: { maxBatchSize: 8, maxQueueDelayMs: 3 },
    threads: { intraOp: 1 },
  };
  await writeFile(join(dir, 'config.json'), JSON.stringify(config, null, 2));
  ({ server, url } = await startServer({ models: root, defaultModel: 'my-resnet' }));
});
afterAll(async () => {
  await server.close();
  await rm(root, { recursive: true, force: true });
});

describe('drop-in classifier', () => {
  it('serves with default input/output names found from the graph, and matches onnxruntime directly', async () => {
    const entry = (await loadRepository(root)).models.get('my-resnet')!;
    const session = await ort.InferenceSession.create(entry.versions[0]!.onnxPath);
    for (const name of PHOTOS) {
      const res = await fetch(`${url}/predict?top_k=1000`, { method: 'POST', body: photo(name), headers: { 'content-type': 'image/jpeg' } });
      expect(res.status).toBe(200);
      const body = (await res.json()) as { model: string; version: string; predictions: Array<{ label: string; probability: number }> };
      expect(body.model).toBe('my-resnet');
      expect(body.version).toBe('3');
      expect(body.predictions).toHaveLength(CLASSES);
      expect(Math.abs(body.predictions.reduce((a, p) => a + p.probability, 0) - 1)).toBeLessThan(1e-3);

      const input = await new ImagePreprocessor(entry.config.preprocess).toTensorData(photo(name));
      const out = await session.run({ data: new ort.Tensor('float32', input, [1, 3, 224, 224]) });
      const probabilities = softmax(out.resnetv17_dense0_fwd!.data as Float32Array);
      for (const p of body.predictions.slice(0, 5)) {
        expect(p.probability).toBeCloseTo(probabilities[Number(p.label.split('-')[1])]!, 5);
      }
    }
    await session.release();
  });

  it('a config that does not fit the graph fails at start-up, naming file and shapes', async () => {
    const bad = await mkdtemp(join(tmpdir(), 'swarmserve-bad-'));
    await mkdir(join(bad, 'm', '1'), { recursive: true });
    await writeFile(join(bad, 'm', '1', 'model.onnx'), zooLikeClassifier());
    await writeFile(join(bad, 'm', 'labels.txt'), Array.from({ length: CLASSES }, (_, i) => `c${i}`).join('\n'));
    await writeFile(join(bad, 'm', 'config.json'), JSON.stringify({ preprocess: { width: 299, height: 299, layout: 'NHWC' }, postprocess: { softmax: true } }));
    await expect(startServer({ models: bad })).rejects.toThrow(/model "m" version 1 .*input "data" has shape \[N, 3, 224, 224\].*\[N, 299, 299, 3\]/);
    await writeFile(join(bad, 'm', 'labels.txt'), 'just\ntwo\n');
    await writeFile(
      join(bad, 'm', 'config.json'),
      JSON.stringify({ preprocess: { width: 224, height: 224, layout: 'NCHW' }, postprocess: { softmax: true, topK: 2 } }),
    );
    await expect(startServer({ models: bad })).rejects.toThrow(/lists 2 labels \(expected \[N, 2\]\)/);
    await rm(bad, { recursive: true, force: true });
  });
});
