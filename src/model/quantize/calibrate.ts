// The calibration collector: runs the FP32 model (with the tensors to observe added as
// graph outputs) over preprocessed photos and accumulates per-tensor statistics.
import ort from 'onnxruntime-node';
import { readFile } from 'node:fs/promises';
import { ServeError } from '../../common/errors.js';
import { listImageFiles } from '../image-files.js';
import { ImagePreprocessor } from '../../runtime/preprocess.js';
import type { PreprocessConfig } from '../repository/config-schema.js';
import { DataType, encodeModel, graphOf, type Model } from '../../onnx/proto.js';
import { TensorStats } from './ranges.js';

/** Calibration inputs: `count` items, each written into a batch buffer on demand. */
export interface CalibrationSource {
  count: number;
  /** Item dims without the batch dim (e.g. [224, 224, 3]). */
  itemDims: number[];
  fill(index: number, target: Float32Array, slot: number): Promise<void>;
}

/** The photos of one or more directories, through the model's own preprocessing. */
export async function photoSource(dirs: string | readonly string[], preprocess: PreprocessConfig): Promise<CalibrationSource> {
  const files: string[] = [];
  for (const dir of typeof dirs === 'string' ? [dirs] : dirs) files.push(...(await listImageFiles(dir, 'CALIBRATION_FAILED', 'calibration')));
  return filesSource(files, preprocess);
}

export function filesSource(files: readonly string[], preprocess: PreprocessConfig): CalibrationSource {
  const pre = new ImagePreprocessor(preprocess);
  return {
    count: files.length,
    itemDims: preprocess.layout === 'NCHW' ? [3, preprocess.height, preprocess.width] : [preprocess.height, preprocess.width, 3],
    async fill(index, target, slot) {
      const file = files[index] as string;
      try {
        pre.fill(await pre.decode(await readFile(file)), target, slot);
      } catch (err) {
        throw new ServeError('CALIBRATION_FAILED', `calibration photo ${file}: ${(err as Error).message}`);
      }
    },
  };
}

export interface CollectOptions {
  batchSize: number;
  withHistogram: boolean;
  onProgress?: (done: number, total: number) => void;
}

/** Runs the model over the source; returns statistics for each tensor in `tensors`. */
export async function collectStats(
  model: Model,
  tensors: readonly string[],
  source: CalibrationSource,
  options: CollectOptions,
): Promise<Map<string, TensorStats>> {
  const augmented = withOutputs(model, tensors);
  const inputName = graphOf(augmented).input?.[0]?.name ?? '';
  // Optimizations off: fusions must not remove the tensors we observe.
  const session = await ort.InferenceSession.create(encodeModel(augmented), {
    graphOptimizationLevel: 'disabled',
    enableCpuMemArena: true,
    intraOpNumThreads: 2,
  });
  const stats = new Map(tensors.map((t) => [t, new TensorStats(options.withHistogram)]));
  const observed = tensors.filter((t) => t !== inputName);
  const itemSize = source.itemDims.reduce((a, b) => a * b, 1);
  const batch = Math.max(1, Math.min(options.batchSize, source.count));
  const buffer = new Float32Array(batch * itemSize); // reused for every batch
  try {
    for (let start = 0; start < source.count; start += batch) {
      const n = Math.min(batch, source.count - start);
      for (let i = 0; i < n; i++) await source.fill(start + i, buffer, i);
      const input = new ort.Tensor('float32', n === batch ? buffer : buffer.subarray(0, n * itemSize), [n, ...source.itemDims]);
      const outputs = await session.run({ [inputName]: input }, observed);
      stats.get(inputName)?.add(input.data);
      for (const name of observed) {
        const stat = stats.get(name) as TensorStats;
        const value = outputs[name];
        if (value?.type !== 'float32') throw new ServeError('QUANTIZE_UNSUPPORTED', `tensor "${name}" is not float32 (${value?.type ?? 'missing'})`);
        stat.add(value.data as Float32Array);
        value.dispose();
      }
      options.onProgress?.(start + n, source.count);
    }
  } finally {
    await session.release();
  }
  return stats;
}

/** A copy of the model with each observed float tensor also a graph output. */
export function withOutputs(model: Model, tensors: readonly string[]): Model {
  const graph = graphOf(model);
  const existing = new Set((graph.output ?? []).map((o) => o.name ?? ''));
  const inputs = new Set((graph.input ?? []).map((i) => i.name ?? ''));
  const extra = tensors.filter((t) => !existing.has(t) && !inputs.has(t)).map((name) => ({ name, type: { tensorType: { elemType: DataType.FLOAT } } }));
  return { ...model, graph: { ...graph, output: [...(graph.output ?? []), ...extra] } };
}
