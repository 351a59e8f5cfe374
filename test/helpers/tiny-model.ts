// Test doubles: small real ONNX classifiers written into a temporary model repository.
import { mkdtemp, mkdir, writeFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GraphBuilder } from '../../src/onnx/graph-builder.js';

export interface TinyModelSpec {
  name: string;
  classes: number;
  layout?: 'NCHW' | 'NHWC';
  size?: number;
  /** Extra config.json fields (deep-merged shallowly per section). */
  config?: Record<string, unknown>;
  /** Fixed batch dim in the graph instead of a dynamic one. */
  fixedBatch?: number;
}

/** mean over pixels per channel → Gemm to `classes` logits. Weights are deterministic. */
export function tinyClassifierBytes(classes: number, layout: 'NCHW' | 'NHWC', size: number, fixedBatch?: number): Uint8Array {
  const g = new GraphBuilder('tiny');
  const batch = fixedBatch ?? 'N';
  const input = g.input('input', layout === 'NCHW' ? [batch, 3, size, size] : [batch, size, size, 3]);
  const nchw = layout === 'NCHW' ? input : g.node('Transpose', [input], { perm: [0, 3, 1, 2] });
  const pooled = g.node('GlobalAveragePool', [nchw]);
  const flat = g.node('Flatten', [pooled], { axis: 1 });
  const weights = new Float32Array(classes * 3);
  for (let i = 0; i < weights.length; i++) weights[i] = Math.sin(i * 1.7) * 3;
  const bias = Float32Array.from({ length: classes }, (_, i) => Math.cos(i) * 0.1);
  const w = g.floatTensor('w', [classes, 3], weights);
  const b = g.floatTensor('b', [classes], bias);
  const logits = g.node('Gemm', [flat, w, b], { transB: 1 }, 'logits');
  g.output(logits, [batch, classes]);
  return g.toBytes();
}

export async function makeRepository(specs: TinyModelSpec[]): Promise<{ root: string; cleanup: () => Promise<void> }> {
  const root = await mkdtemp(join(tmpdir(), 'swarmserve-repo-'));
  for (const spec of specs) await writeTinyModel(root, spec);
  return { root, cleanup: () => rm(root, { recursive: true, force: true }) };
}

export async function writeTinyModel(root: string, spec: TinyModelSpec): Promise<void> {
  const layout = spec.layout ?? 'NCHW';
  const size = spec.size ?? 32;
  const dir = join(root, spec.name);
  await mkdir(join(dir, '1'), { recursive: true });
  await writeFile(join(dir, '1', 'model.onnx'), tinyClassifierBytes(spec.classes, layout, size, spec.fixedBatch));
  await writeFile(join(dir, 'labels.txt'), Array.from({ length: spec.classes }, (_, i) => `class-${i}`).join('\n') + '\n');
  const extra = spec.config ?? {};
  const config = {
    description: 'tiny test classifier',
    outputName: 'logits',
    ...extra,
    preprocess: { resize: 'fill', width: size, height: size, layout, ...(extra.preprocess as object | undefined) },
    postprocess: { softmax: true, topK: Math.min(3, spec.classes), ...(extra.postprocess as object | undefined) },
    batching: { maxBatchSize: 4, maxQueueDelayMs: 2, queueBound: 64, timeoutMs: 10_000, ...(extra.batching as object | undefined) },
    threads: { intraOp: 1, interOp: 1 },
  };
  await writeFile(join(dir, 'config.json'), JSON.stringify(config, null, 2));
}
