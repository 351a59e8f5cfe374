// The capacity planner's public types. The JSON report (`swarmserve plan --format json`) and
// the calibration file (`--calibrate --calibration FILE`) are defined here once, as zod
// schemas: the TypeScript types are inferred from them, tests validate real output against
// them, and `swarmserve plan --json-schema` prints them as JSON Schema (docs/planner.md).
import { z } from 'zod';

export const PLAN_REPORT_SCHEMA_ID = 'swarmserve.plan/2';
export const CALIBRATION_SCHEMA_ID = 'swarmserve.calibration/2';

const count = z.number().int().nonnegative();
const bytes = z.number().nonnegative().describe('bytes');
const dim = z.union([z.number().int(), z.string()]).describe("a size, or 'N' (the batch) / '2N' … for batch-proportional dims");

export const calibrationSchema = z
  .object({
    schema: z.literal(CALIBRATION_SCHEMA_ID),
    source: z.string().describe("'built-in', or the file it was read from"),
    measuredAt: z.string().describe('ISO date of the measurement'),
    machine: z.object({
      cpu: z.string(),
      cores: count,
      nchwcBlock: count.describe("onnxruntime's NCHWc block on that CPU (16 AVX-512, 8 AVX2, 0 none)"),
      node: z.string(),
      onnxruntime: z.string(),
    }),
    baselineBytes: bytes.describe('RSS of a worker process (Node, onnxruntime on a session thread, a one-node model loaded and run) before any real model'),
    mmapThresholdBytes: count.describe("the worker's glibc mmap threshold while loading models (src/runtime/allocator.ts): constants below it are 'small'"),
    sessionBytes: z.number().describe('fixed RSS of one more loaded session'),
    smallTensorFactor: z.number().min(1).describe('resident bytes per stored byte of constants below the mmap threshold, after the load'),
    smallLoadFactor: z.number().min(1).describe('the same during the load (their copies stay on the heap until released)'),
    loadCopies: z.number().min(1).describe('copies of the rewritten (non-FC) weights resident together while onnxruntime optimizes the graph'),
    rewriteCopies: z.number().nonnegative().describe('further transient copies of the largest rewritten tensor (folded, reordered, …)'),
    prepackCopies: z.number().nonnegative().describe('further transient copies of the largest Gemm/MatMul weight while it is prepacked'),
    arenaFactor: z.number().positive().describe('measured activation RSS / simulated BFC-arena pages'),
    denseMacsPerSecond: z.number().positive().describe('one intra-op thread, Conv (1 group) / Gemm / MatMul'),
    groupedMacsPerSecond: z.number().positive().describe('one intra-op thread, grouped and depthwise Conv'),
    int8DenseMacsPerSecond: z
      .number()
      .positive()
      .optional()
      .describe(
        "one intra-op thread, onnxruntime's integer kernels (QLinearConv with one group, QGemm, …); absent in older files: int8 MACs then count at the float rates",
      ),
    int8GroupedMacsPerSecond: z.number().positive().optional().describe('one intra-op thread, depthwise and grouped QLinearConv'),
    parallelEfficiency: z.number().min(0).max(1).describe('speed-up of each thread beyond the first (1 = linear)'),
    warnings: z.array(z.string()).describe('signs that the measurement was disturbed (other load on the machine): re-run'),
    fits: z
      .array(
        z.object({
          model: z.string(),
          batch: count,
          threads: count,
          memoryErrorPct: z.number().describe('(estimate − measurement) / measurement of the worker RSS, after the fit'),
          latencyErrorPct: z.number(),
        }),
      )
      .describe('how well the constants reproduce the calibration measurements'),
  })
  .describe('Constants of the memory and speed estimates, measured on generated models (never on the model being planned)');

export type Calibration = z.infer<typeof calibrationSchema>;

const tensorSummary = z.object({ name: z.string(), shape: z.array(dim), dtype: z.string(), bytesPerImage: bytes });

const layerSchema = z.object({
  name: z.string(),
  op: z.string().describe("operator ('domain.Op' outside the default ONNX domain)"),
  status: z.enum(['ok', 'unknown-operator', 'failed', 'missing-input']),
  message: z.string().optional(),
  outputShape: z.array(dim).nullable(),
  parameters: count,
  macs: count.describe('multiply-accumulates per image'),
  macKind: z.enum(['dense', 'grouped']).nullable(),
  precision: z
    .string()
    .nullable()
    .describe(
      "element type the MACs run in: 'int8' when both operands are 8-bit integers or dequantized from them (a QDQ or QLinear layer), else the float type; null without MACs",
    ),
  parameterBytes: bytes.describe("stored bytes of the layer's parameters (1 per int8 weight)"),
  activationBytes: bytes.describe("the node's outputs for one image"),
});

const memoryEstimateSchema = z.object({
  baselineBytes: bytes,
  weightsBytes: bytes.describe('resident after load: session + weights (+ the heap copies of tensors below the mmap threshold)'),
  loadPeakBytes: bytes.describe('peak while loading (the transient copies onnxruntime makes while optimizing and prepacking)'),
  arenaBytes: bytes.describe('activation arena after warm-up at batch 1 and B and runs at B'),
  queuedInputBytes: bytes.describe("the worker's two batch input buffers and one output"),
  totalBytes: bytes.describe('baseline + max(load peak, weights + arena + queued)'),
});

const batchEstimateSchema = z.object({
  batch: count,
  peakActivationBytes: bytes.describe('graph as written, tensors freed after last use'),
  ortLiveBytes: bytes.describe('onnxruntime execution view (fused), largest live total'),
  ortPatternBytes: bytes.describe("onnxruntime's memory-pattern block"),
  memory: memoryEstimateSchema,
  latencyMs: z.number().nonnegative().describe('one batch, at the recommended threads (or 1)'),
  imagesPerSecond: z.number().nonnegative().describe('one replica at those threads'),
});

export const recommendationSchema = z.object({
  batch: count,
  threadsPerReplica: count,
  replicasPerNode: count,
  limitedBy: z.enum(['cpu', 'memory']),
  memoryLimitBytes: bytes.describe('deploy.resources.limits.memory per replica (estimate + headroom)'),
  memoryReservationBytes: bytes,
  replicaImagesPerSecond: z.number().nonnegative(),
  nodeImagesPerSecond: z.number().nonnegative(),
  p95LatencyMs: z.number().nonnegative().describe('estimated: queue delay + two batch runs'),
  replicas: count,
  nodesNeeded: count,
  nodesAvailable: count.nullable(),
  meetsTarget: z.boolean(),
  notes: z.array(z.string()),
  compose: z.string().describe('deploy.resources + replicas YAML for the stack file'),
});

export type Recommendation = z.infer<typeof recommendationSchema>;

export const measurementSchema = z.object({
  batch: count,
  threads: count,
  runs: count,
  measured: z.object({
    baselineBytes: bytes.describe('the child before loading the model'),
    afterLoadBytes: bytes,
    peakBytes: bytes.describe('peak RSS of the worker-like child (VmHWM on Linux)'),
    latencyMedianMs: z.number(),
    latencyP95Ms: z.number(),
    imagesPerSecond: z.number(),
  }),
  estimated: z.object({ totalBytes: bytes, latencyMs: z.number(), imagesPerSecond: z.number() }),
  memoryErrorPct: z.number().describe('(estimate − measurement) / measurement of peak RSS'),
  modelMemoryErrorPct: z.number().describe('same, without the baseline on either side'),
  latencyErrorPct: z.number(),
  seedFormulaErrorPct: z.number().describe("the Docker Swarm sizing article's estimate against the measurement"),
});

export type Measurement = z.infer<typeof measurementSchema>;

export const planReportSchema = z
  .object({
    schema: z.literal(PLAN_REPORT_SCHEMA_ID),
    model: z.object({
      source: z.string().describe('what was asked: a path or a repository model name'),
      name: z.string().nullable(),
      version: z.string().nullable(),
      file: z.string(),
      fileBytes: bytes,
      graphName: z.string(),
      producer: z.string(),
      opset: count,
    }),
    input: tensorSummary,
    outputs: z.array(tensorSummary),
    complete: z.boolean().describe('false when an operator is unknown or a shape could not be inferred: totals are then lower bounds'),
    unsupportedOperators: z.array(z.object({ op: z.string(), count: count, nodes: z.array(z.string()) })),
    problems: z.array(z.object({ node: z.string(), op: z.string(), status: z.string(), message: z.string() })),
    layers: z.array(layerSchema),
    totals: z.object({
      parameters: count.describe(
        'float weights and biases of Conv, ConvTranspose, Gemm, MatMul, BatchNormalization scale/bias, constant tensor operands of Add/Mul, …',
      ),
      storedValues: count.describe('every stored constant element, parameters included'),
      nonParameterValues: count.describe('BN running statistics, shapes, scalar bounds, …'),
      weightBytes: bytes,
      macsPerImage: count,
      denseMacsPerImage: count,
      groupedMacsPerImage: count,
      parametersByPrecision: z
        .record(z.string(), count)
        .describe("parameters by stored element type: 'float32', 'int8' (quantized weights), 'int32' (quantized biases), …"),
      parameterBytes: bytes.describe('stored bytes of the parameters'),
      macsByPrecision: z.record(z.string(), count).describe("MACs per image by the type they run in: 'int8', 'float32', …"),
      inputBytesPerImage: bytes,
      outputBytesPerImage: bytes,
      activationBytesPerImage: bytes,
    }),
    seedFormula: z.object({
      values: count.describe('Σ A_k over convolution and fully-connected layers'),
      ratio: z.number(),
      bytesPerValue: count,
      bytes: bytes.describe("the Docker Swarm sizing article's container size for this model (any batch)"),
      layers: count,
    }),
    throughput: z.object({
      secondsPerImagePerThread: z.number().nonnegative(),
      imagesPerSecondPerThread: z.number().nonnegative(),
    }),
    batches: z.array(batchEstimateSchema),
    calibration: calibrationSchema,
    recommendation: recommendationSchema.nullable(),
    measurements: z.array(measurementSchema).nullable(),
  })
  .describe('swarmserve plan report');

export type PlanReport = z.infer<typeof planReportSchema>;
export type BatchEstimate = z.infer<typeof batchEstimateSchema>;
export type MemoryEstimate = z.infer<typeof memoryEstimateSchema>;

/** The JSON Schema of the report, for `--json-schema` and the docs. */
export function planReportJsonSchema(): unknown {
  return z.toJSONSchema(planReportSchema, { target: 'draft-2020-12' });
}
