// The import is faithful end to end: from the same JPEG bytes, our /predict gives the
// same top-1 class as nsfwjs's own classify(), with probabilities within 0.05. This
// checks channel order, scaling and resizing, not just the graph.
import * as tf from '@tensorflow/tfjs';
import { load } from 'nsfwjs';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EmbeddedServer } from '../../src/embedded/embedded-server.js';
import { PHOTOS, photo } from '../helpers/images.js';
import { startServer } from '../helpers/server.js';

/** nsfwjs's ESM typings use extension-less imports that NodeNext cannot resolve: name what we use. */
interface NsfwClassifier {
  classify(image: tf.Tensor3D, topK: number): Promise<Array<{ className: string; probability: number }>>;
  dispose(): void;
}

const loadNsfw = load as unknown as (model: string) => Promise<NsfwClassifier>;
let nsfw: NsfwClassifier;
let server: EmbeddedServer;
let url: string;

beforeAll(async () => {
  await tf.setBackend('cpu');
  nsfw = await loadNsfw('MobileNetV2');
  ({ server, url } = await startServer({ only: 'moderation' }));
});
afterAll(async () => {
  await server.close();
  nsfw.dispose();
});

/** What a nsfwjs user does in Node: decode the JPEG to RGB pixels and classify them. */
async function nsfwjsClassify(jpeg: Buffer): Promise<Map<string, number>> {
  const { data, info } = await sharp(jpeg).removeAlpha().raw().toBuffer({ resolveWithObject: true });
  const pixels = tf.tensor3d(new Int32Array(data), [info.height, info.width, 3], 'int32');
  const classes = await nsfw.classify(pixels, 5);
  pixels.dispose();
  return new Map(classes.map((c) => [c.className, c.probability]));
}

describe('moderation /predict vs nsfwjs classify()', () => {
  it.each(PHOTOS)('%s: same top-1, every probability within 0.05', async (name) => {
    const jpeg = photo(name);
    const reference = await nsfwjsClassify(jpeg);
    const res = await fetch(`${url}/predict?model=moderation&top_k=5`, { method: 'POST', body: jpeg, headers: { 'content-type': 'image/jpeg' } });
    const body = (await res.json()) as { predictions: Array<{ label: string; probability: number }> };
    expect(res.status).toBe(200);
    const [referenceTop] = [...reference.entries()].sort((a, b) => b[1] - a[1]);
    expect(body.predictions[0]!.label).toBe(referenceTop![0]);
    for (const p of body.predictions) {
      expect(Math.abs(p.probability - reference.get(p.label)!), `${name} ${p.label}`).toBeLessThanOrEqual(0.05);
    }
    console.log(name, body.predictions.map((p) => `${p.label} ${p.probability.toFixed(4)} (nsfwjs ${reference.get(p.label)!.toFixed(4)})`).join(', '));
  });
});
