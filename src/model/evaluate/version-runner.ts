// Runs one model version the way the server does (onnxruntime, all graph optimizations,
// arena on) and returns per image the probabilities the server would rank and the logits
// behind them.
import ort from 'onnxruntime-node';
import { ServeError } from '../../common/errors.js';
import { softmax } from '../../runtime/postprocess.js';
import type { ModelEntry, ModelVersion } from '../repository/contract.js';
import { withOutputs } from '../quantize/calibrate.js';
import { encodeModel, graphOf, loadModel } from '../../onnx/proto.js';
import type { VersionOutput } from './compare.js';

export class VersionRunner {
  private constructor(
    private readonly session: ort.InferenceSession,
    private readonly inputName: string,
    private readonly outputName: string,
    /** The logits tensor when the graph ends in a Softmax (its input), else undefined. */
    private readonly softmaxInput: string | undefined,
    private readonly applySoftmax: boolean,
  ) {}

  get logitsTensor(): string {
    return this.softmaxInput ?? this.outputName;
  }

  static async create(entry: ModelEntry, version: ModelVersion, threads: number): Promise<VersionRunner> {
    const model = await loadModel(version.onnxPath).catch((err: unknown) => {
      throw new ServeError('EVALUATION_FAILED', `cannot read ${version.onnxPath}: ${(err as Error).message}`);
    });
    const graph = graphOf(model);
    const inputName = graph.input?.[0]?.name ?? entry.config.inputName ?? '';
    const outputName = entry.config.outputName ?? graph.output?.[0]?.name ?? '';
    const producerOf = (tensor: string): (typeof graph.node)[number] | undefined => graph.node.find((n) => n.output?.includes(tensor) === true);
    // Importers often end the graph with Identity renames after the Softmax.
    let producer = producerOf(outputName);
    while (producer?.opType === 'Identity') producer = producerOf(producer.input?.[0] ?? '');
    const softmaxInput = producer?.opType === 'Softmax' ? (producer.input?.[0] ?? undefined) : undefined;

    const options: ort.InferenceSession.SessionOptions = {
      graphOptimizationLevel: 'all',
      enableCpuMemArena: true,
      intraOpNumThreads: threads,
      interOpNumThreads: 1,
    };
    const session = await (
      softmaxInput === undefined
        ? ort.InferenceSession.create(version.onnxPath, options)
        : /* the Softmax's input is inner: exposed for this session only */ ort.InferenceSession.create(
            encodeModel(withOutputs(model, [softmaxInput])),
            options,
          )
    ).catch((err: unknown) => {
      throw new ServeError('EVALUATION_FAILED', `onnxruntime cannot load ${version.onnxPath}: ${(err as Error).message}`);
    });
    return new VersionRunner(session, inputName, outputName, softmaxInput, entry.config.postprocess.softmax);
  }

  /** Runs `count` items of `input` (item dims `itemDims`); one output per item. */
  async run(input: Float32Array, count: number, itemDims: readonly number[]): Promise<VersionOutput[]> {
    const itemSize = itemDims.reduce((a, b) => a * b, 1);
    const data = input.length === count * itemSize ? input : input.subarray(0, count * itemSize);
    const tensor = new ort.Tensor('float32', data, [count, ...itemDims]);
    const wanted = this.softmaxInput === undefined ? [this.outputName] : [this.outputName, this.softmaxInput];
    const outputs = await this.session.run({ [this.inputName]: tensor }, wanted);
    try {
      const output = outputs[this.outputName];
      const logits = this.softmaxInput === undefined ? output : outputs[this.softmaxInput];
      if (output?.type !== 'float32' || logits?.type !== 'float32') throw new ServeError('EVALUATION_FAILED', `output "${this.outputName}" is not float32`);
      const width = output.data.length / count;
      const logitsWidth = logits.data.length / count;
      const result: VersionOutput[] = [];
      for (let i = 0; i < count; i++) {
        const row = (output.data as Float32Array).slice(i * width, (i + 1) * width);
        result.push({
          probabilities: this.applySoftmax ? softmax(row) : row,
          logits: (logits.data as Float32Array).slice(i * logitsWidth, (i + 1) * logitsWidth),
        });
      }
      return result;
    } finally {
      for (const value of Object.values(outputs)) value.dispose();
    }
  }

  async close(): Promise<void> {
    await this.session.release();
  }
}
