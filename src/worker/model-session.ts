// One onnxruntime session per model version, on its own thread (see session-thread.cjs):
// created with the config's threads, checked against the config's declared signature,
// warmed up at load.
import { ServeError } from '../common/errors.js';
import type { ModelEntry, ModelVersion } from '../model/repository/contract.js';
import { SessionThread } from '../runtime/session-thread.js';

export interface SessionOptions {
  intraOpThreads: number;
  interOpThreads: number;
}

export interface RunResult {
  /** batchSize × outputSize floats. */
  output: Float32Array;
  inferenceMs: number;
  /** The input, usable again (the original array was transferred to the session thread). */
  input: Float32Array<ArrayBuffer>;
}

export class ModelSession {
  private constructor(
    private readonly thread: SessionThread,
    readonly inputName: string,
    readonly outputName: string,
    /** Input dims of one item, without the batch dim (e.g. [3,224,224]). */
    readonly itemDims: readonly number[],
    readonly itemSize: number,
    readonly outputSize: number,
    /** Largest batch the model accepts (the batch dim may be fixed in the graph). */
    readonly maxBatch: number,
  ) {}

  static async create(entry: ModelEntry, version: ModelVersion, options?: Partial<SessionOptions>): Promise<ModelSession> {
    const where = `model "${entry.name}" version ${version.version} (${version.onnxPath})`;
    const thread = new SessionThread();
    try {
      return await ModelSession.open(thread, entry, version, where, options);
    } catch (err) {
      await thread.close();
      throw err;
    }
  }

  private static async open(
    thread: SessionThread,
    entry: ModelEntry,
    version: ModelVersion,
    where: string,
    options?: Partial<SessionOptions>,
  ): Promise<ModelSession> {
    const loaded = await thread
      .load(version.onnxPath, {
        intraOpNumThreads: options?.intraOpThreads ?? entry.config.threads.intraOp,
        interOpNumThreads: options?.interOpThreads ?? entry.config.threads.interOp,
        executionMode: 'sequential',
        graphOptimizationLevel: 'all',
        // The arena keeps activation memory between runs: freeing and re-allocating it on
        // every batch is slow on VMs that hand freed memory back to the host.
        enableCpuMemArena: true,
        enableMemPattern: true,
        extra: { session: { intra_op: { allow_spinning: entry.config.threads.spinning ? '1' : '0' } } },
      })
      .catch((err: unknown) => {
        throw new ServeError('CONFIG_INVALID', `${where}: onnxruntime cannot load it: ${(err as Error).message}`);
      });
    const inputName = entry.config.inputName ?? loaded.inputNames[0];
    const outputName = entry.config.outputName ?? loaded.outputNames[0];
    if (inputName === undefined || !loaded.inputNames.includes(inputName)) {
      throw new ServeError('CONFIG_INVALID', `${where}: inputName "${inputName}" is not an input (inputs: ${loaded.inputNames.join(', ')})`);
    }
    if (outputName === undefined || !loaded.outputNames.includes(outputName)) {
      throw new ServeError('CONFIG_INVALID', `${where}: outputName "${outputName}" is not an output (outputs: ${loaded.outputNames.join(', ')})`);
    }
    const pre = entry.config.preprocess;
    const itemDims = pre.layout === 'NCHW' ? [3, pre.height, pre.width] : [pre.height, pre.width, 3];
    const inputMeta = loaded.inputMetadata.find((m) => m.name === inputName);
    let maxBatch = Number.MAX_SAFE_INTEGER;
    if (inputMeta?.isTensor === true && inputMeta.shape.length > 0) {
      const [batchDim, ...rest] = inputMeta.shape;
      const mismatch = rest.length !== itemDims.length || rest.some((d, i) => typeof d === 'number' && d > 0 && d !== itemDims[i]);
      if (mismatch) {
        throw new ServeError(
          'CONFIG_INVALID',
          `${where}: input "${inputName}" has shape [${inputMeta.shape.join(', ')}] but the config's preprocess gives [N, ${itemDims.join(', ')}] (${pre.layout}, ${pre.width}×${pre.height})`,
        );
      }
      if (typeof batchDim === 'number' && batchDim > 0) maxBatch = batchDim;
    }
    const itemSize = itemDims.reduce((a, b) => a * b, 1);
    const model = new ModelSession(thread, inputName, outputName, itemDims, itemSize, entry.labels.length, maxBatch);
    const probe = await model.runRaw(new Float32Array(itemSize), 1);
    if (probe.dims.length !== 2 || probe.output.length !== entry.labels.length) {
      throw new ServeError(
        'CONFIG_INVALID',
        `${where}: output "${outputName}" has shape [${probe.dims.join(', ')}] but ${entry.config.postprocess.labels} lists ${entry.labels.length} labels (expected [N, ${entry.labels.length}])`,
      );
    }
    return model;
  }

  /**
   * Runs the first `batchSize` items of `input`. `input` is transferred to the session
   * thread (it is detached afterwards): use the `input` of the result instead.
   */
  async run(input: Float32Array, batchSize: number): Promise<RunResult> {
    const reply = await this.runRaw(input, batchSize).catch((err: unknown) => {
      throw new ServeError('INFERENCE_FAILED', `inference failed: ${(err as Error).message}`, { cause: err });
    });
    if (reply.output.length !== batchSize * this.outputSize) {
      throw new ServeError('INFERENCE_FAILED', `output "${this.outputName}" has ${reply.output.length} values for a batch of ${batchSize}`);
    }
    return { output: reply.output, inferenceMs: reply.inferenceMs, input: new Float32Array(reply.buffer) };
  }

  private runRaw(input: Float32Array, batchSize: number): ReturnType<SessionThread['run']> {
    if (input.byteOffset !== 0 || !(input.buffer instanceof ArrayBuffer)) throw new Error('session input must own a whole ArrayBuffer');
    return this.thread.run(input.buffer, batchSize * this.itemSize, [batchSize, ...this.itemDims], this.inputName, this.outputName);
  }

  /** Runs a zero batch of each given size so the arena is sized before traffic arrives. */
  async warmUp(batchSizes: readonly number[]): Promise<void> {
    let buffer = new Float32Array(Math.max(...batchSizes) * this.itemSize);
    for (const size of batchSizes) buffer = (await this.run(buffer, size)).input;
  }

  async close(): Promise<void> {
    await this.thread.close();
  }
}
