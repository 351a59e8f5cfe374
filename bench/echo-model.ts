// The test-only ECHO model of the distributed benchmark: worker doubles (the `openSession` /
// `openDecoder` seams of src/worker/contract.ts) that skip decoding and inference, so a run
// measures the queue path alone (HTTP gateway → queue → batching worker → answer). Also writes
// the temporary model repository that names it: the gateway lists a version by its
// model.onnx and reads config.json and labels.txt, so a tiny real ONNX file is written even
// though the doubles never load it.
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { GraphBuilder } from '../src/onnx/graph-builder.js';
import type { ModelEntry } from '../src/model/repository/contract.js';
import type { BatchSession, DecoderFactory, ImageDecoder, SessionFactory } from '../src/worker/contract.js';
import type { RunResult } from '../src/worker/model-session.js';
import type { DecodedImage } from '../src/runtime/preprocess.js';

export const ECHO_MODEL = 'echo';
/** Side of the square input the echo config declares: small, so batch buffers cost nothing. */
const ECHO_SIZE = 8;
const ECHO_CLASSES = 2;

/** One shared 1×1 image: decode never looks at the bytes. */
const TINY_IMAGE: DecodedImage = { pixels: new Uint8Array(3), width: 1, height: 1 };

class EchoDecoder implements ImageDecoder {
  decode(): Promise<DecodedImage> {
    return Promise.resolve(TINY_IMAGE);
  }

  fill(): void {
    // Nothing to copy: the session ignores its input.
  }
}

class EchoSession implements BatchSession {
  readonly itemDims: readonly number[];
  readonly itemSize: number;
  readonly outputSize: number;
  readonly maxBatch = Number.MAX_SAFE_INTEGER;

  constructor(entry: ModelEntry) {
    const pre = entry.config.preprocess;
    // The shape the real session would report, so BatchWorker sizes its buffers as usual.
    this.itemDims = pre.layout === 'NCHW' ? [3, pre.height, pre.width] : [pre.height, pre.width, 3];
    this.itemSize = this.itemDims.reduce((a, b) => a * b, 1);
    this.outputSize = entry.labels.length;
  }

  run(input: Float32Array, batchSize: number): Promise<RunResult> {
    // The input is handed straight back (BatchWorker reuses it as its next buffer).
    const owned = input.buffer instanceof ArrayBuffer ? new Float32Array(input.buffer, input.byteOffset, input.length) : Float32Array.from(input);
    return Promise.resolve({ output: new Float32Array(batchSize * this.outputSize), inferenceMs: 0, input: owned });
  }

  warmUp(): Promise<void> {
    return Promise.resolve();
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}

export const openEchoSession: SessionFactory = (entry) => Promise.resolve(new EchoSession(entry));
export const openEchoDecoder: DecoderFactory = () => new EchoDecoder();

/** What WorkerNode.create / EmbeddedServer.create take as `doubles`. */
export function echoDoubles(): { openSession: SessionFactory; openDecoder: DecoderFactory } {
  return { openSession: openEchoSession, openDecoder: openEchoDecoder };
}

/** mean over pixels per channel → Gemm to 2 logits: a valid classifier of the echo config's shape. */
function echoOnnxBytes(): Uint8Array {
  const g = new GraphBuilder(ECHO_MODEL);
  const input = g.input('input', ['N', 3, ECHO_SIZE, ECHO_SIZE]);
  const pooled = g.node('GlobalAveragePool', [input]);
  const flat = g.node('Flatten', [pooled], { axis: 1 });
  const w = g.floatTensor(
    'w',
    [ECHO_CLASSES, 3],
    Float32Array.from({ length: ECHO_CLASSES * 3 }, (_, i) => (i % 3) - 1),
  );
  const b = g.floatTensor('b', [ECHO_CLASSES], new Float32Array(ECHO_CLASSES));
  const logits = g.node('Gemm', [flat, w, b], { transB: 1 }, 'logits');
  g.output(logits, ['N', ECHO_CLASSES]);
  return g.toBytes();
}

export interface EchoBatching {
  maxBatchSize: number;
  maxQueueDelayMs: number;
  /** Waiting jobs beyond this are refused (503): above the client count, so none is. */
  queueBound: number;
}

/** Writes <root>/echo/{config.json,labels.txt,1/model.onnx}. */
export async function writeEchoRepository(root: string, batching: EchoBatching): Promise<void> {
  const dir = join(root, ECHO_MODEL);
  await mkdir(join(dir, '1'), { recursive: true });
  await writeFile(join(dir, '1', 'model.onnx'), echoOnnxBytes());
  await writeFile(join(dir, 'labels.txt'), Array.from({ length: ECHO_CLASSES }, (_, i) => `echo-${i}`).join('\n') + '\n');
  const config = {
    description: 'benchmark-only echo model: the worker runs it with doubles that skip decoding and inference',
    outputName: 'logits',
    preprocess: { resize: 'fill', width: ECHO_SIZE, height: ECHO_SIZE, layout: 'NCHW' },
    postprocess: { softmax: true, topK: ECHO_CLASSES },
    batching: { ...batching, timeoutMs: 30_000 },
    threads: { intraOp: 1, interOp: 1 },
  };
  await writeFile(join(dir, 'config.json'), `${JSON.stringify(config, null, 2)}\n`);
}
