// The schema of models/<name>/config.json. Preprocessing, postprocessing, batching and
// threads are declared here so any exported image classifier serves without code changes.
import { z } from 'zod';

const rgbTriple = z.tuple([z.number(), z.number(), z.number()]);

export const preprocessSchema = z.strictObject({
  /** fill: stretch to size; center-crop: scale the shorter side to `resizeShorterTo` then crop; letterbox: fit inside and pad. */
  resize: z.enum(['fill', 'center-crop', 'letterbox']).default('fill'),
  width: z.int().min(1).max(4096),
  height: z.int().min(1).max(4096),
  /** For center-crop: the shorter side before cropping (torchvision: 256 for 224). Defaults to max(width, height). */
  resizeShorterTo: z.int().min(1).max(8192).optional(),
  /**
   * sharp's (antialiased) kernels, or 'tf-bilinear': TensorFlow's resizeBilinear with
   * alignCorners=true and no antialiasing, from the full-size image — what TF.js models
   * such as nsfwjs were trained and evaluated with (fill only).
   */
  kernel: z.enum(['nearest', 'linear', 'cubic', 'mitchell', 'lanczos2', 'lanczos3', 'tf-bilinear']).default('lanczos3'),
  layout: z.enum(['NCHW', 'NHWC']),
  channelOrder: z.enum(['RGB', 'BGR']).default('RGB'),
  /** value = (pixel * scale - mean[c]) / std[c], pixel in 0..255. */
  scale: z
    .number()
    .positive()
    .default(1 / 255),
  mean: rgbTriple.default([0, 0, 0]),
  std: rgbTriple.default([1, 1, 1]).refine((s) => s.every((v) => v !== 0), 'std values must be non-zero'),
  /** Colour used by letterbox padding, 0..255. */
  padColor: rgbTriple.default([0, 0, 0]),
});

export const preprocessSchemaChecked = preprocessSchema.refine((p) => p.kernel !== 'tf-bilinear' || p.resize === 'fill', {
  message: "kernel 'tf-bilinear' works with resize 'fill' only",
  path: ['kernel'],
});

export const postprocessSchema = z.strictObject({
  /** Apply softmax to the output (false when the graph already ends in softmax). */
  softmax: z.boolean(),
  /** Default number of predictions returned; a request may ask for 1..labelCount. */
  topK: z.int().min(1).default(5),
  labels: z.string().min(1).default('labels.txt'),
});

export const batchingSchema = z.strictObject({
  maxBatchSize: z.int().min(1).max(1024).default(32),
  /** How long the first request of a batch may wait for others to join it. */
  maxQueueDelayMs: z.number().min(0).max(10_000).default(5),
  /** Requests waiting beyond this bound are refused with 503 + Retry-After. */
  queueBound: z.int().min(1).max(1_000_000).default(512),
  /** Default per-request deadline. */
  timeoutMs: z.int().min(1).max(600_000).default(30_000),
  /**
   * A test double's service time: every batch takes at least this long, waited on a timer
   * (no CPU), so a worker's capacity is known (maxBatchSize × 1000 / executeDelayMs jobs/s).
   * For load and autoscaling tests only; Triton's identity backend calls it execute_delay_ms.
   */
  executeDelayMs: z.int().min(0).max(60_000).optional(),
});

export const threadsSchema = z.strictObject({
  intraOp: z.int().min(1).max(256).default(2),
  interOp: z.int().min(1).max(256).default(1),
  /**
   * Let onnxruntime's idle intra-op threads spin-wait for work. Off by default: spinning
   * threads take the cores that decoding and HTTP need in the same process.
   */
  spinning: z.boolean().default(false),
});

export const modelConfigSchema = z.strictObject({
  description: z.string().default(''),
  /** Shown with every prediction of the model (e.g. "untrained weights"). */
  notice: z.string().optional(),
  /** Serve this version when a request names none; default: the highest. */
  defaultVersion: z.string().regex(/^\d+$/).optional(),
  inputName: z.string().optional(),
  outputName: z.string().optional(),
  preprocess: preprocessSchemaChecked,
  postprocess: postprocessSchema,
  batching: batchingSchema.default(batchingSchema.parse({})),
  threads: threadsSchema.default(threadsSchema.parse({})),
});

export type ModelConfig = z.infer<typeof modelConfigSchema>;
export type PreprocessConfig = z.infer<typeof preprocessSchema>;
export type PostprocessConfig = z.infer<typeof postprocessSchema>;
export type BatchingConfig = z.infer<typeof batchingSchema>;
