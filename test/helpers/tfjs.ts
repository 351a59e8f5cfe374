// The TF.js-layers importer's tests: run the same model in TF.js (pure-JS CPU backend, the
// reference) and, converted, in onnxruntime, and compare the outputs.
import * as tf from '@tensorflow/tfjs';
import ort from 'onnxruntime-node';
import { expect } from 'vitest';
import type { ImportedModel, TfjsArtifacts } from '../../src/model/import/tfjs-layers.js';

export const TOLERANCE = 1e-4;

export function toArrayBuffer(u8: Uint8Array): ArrayBuffer {
  return new Uint8Array(u8).buffer;
}

export async function tfPredict(model: tf.LayersModel, data: Float32Array, shape: number[]): Promise<Float32Array> {
  const x = tf.tensor(data, shape, 'float32');
  const y = model.predict(x) as tf.Tensor;
  const out = (await y.data()) as Float32Array;
  x.dispose();
  y.dispose();
  return out;
}

export async function ortPredict(session: ort.InferenceSession, imported: ImportedModel, data: Float32Array, shape: number[]): Promise<Float32Array> {
  const result = await session.run({ [imported.inputName]: new ort.Tensor('float32', data, shape) });
  const out = result[imported.outputName];
  if (!out) throw new Error('no output');
  return out.data as Float32Array;
}

export function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs((a[i] as number) - (b[i] as number)));
  return m;
}

/** Deterministic uniform [0, 1) values (mulberry32). */
export function randomValues(n: number, seed: number, lo = 0, hi = 1): Float32Array {
  let s = seed >>> 0;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    out[i] = lo + (hi - lo) * (((t ^ (t >>> 14)) >>> 0) / 4294967296);
  }
  return out;
}

export function createSession(bytes: Uint8Array): Promise<ort.InferenceSession> {
  return ort.InferenceSession.create(bytes, { intraOpNumThreads: 1, interOpNumThreads: 1 });
}

export async function saveTfModel(model: tf.LayersModel): Promise<TfjsArtifacts> {
  let saved: tf.io.ModelArtifacts | undefined;
  await model.save(
    tf.io.withSaveHandler((artifacts) => {
      saved = artifacts;
      return Promise.resolve({ modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } });
    }),
  );
  if (!saved?.weightSpecs || !saved.weightData) throw new Error('model.save produced no weights');
  const parts = Array.isArray(saved.weightData) ? saved.weightData : [saved.weightData];
  const bytes = new Uint8Array(parts.reduce((a, p) => a + p.byteLength, 0));
  let offset = 0;
  for (const p of parts) {
    bytes.set(new Uint8Array(p), offset);
    offset += p.byteLength;
  }
  return { modelTopology: saved.modelTopology, weightSpecs: saved.weightSpecs, weightData: bytes };
}
