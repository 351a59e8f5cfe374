// One worker's memory at batch B, and its speed, from the graph analysis and the calibration
// constants (measured on generated models: calibrate.ts).
//
//   memory   = baseline                                 Node + onnxruntime worker process (measured)
//            + max(load peak, weights + arena + queued) whichever is higher: loading, or serving
//   weights  = session + W + (smallTensorFactor − 1) × S       after the load, freed memory released
//   load peak= session + (smallLoadFactor − 1) × S
//            + max(loadCopies × R + rewriteCopies × largest R tensor + F,   while rewriting (BN folding, NCHWc)
//                  W + prepackCopies × largest F tensor)                     while prepacking FC weights
//   queued   = the worker's two batch input buffers and one output
//   arena    = arenaFactor × pages the simulated BFC arena has touched (ort-memory.ts) after
//              the worker's warm-up (batch 1, batch B) and steady runs at batch B
//   W = stored bytes of all constants, F = of fully-connected (Gemm/MatMul) weights and of
//   8-bit quantized weights (both prepacked by their kernel, not rewritten), R = W − F,
//   S = of tensors below the worker's mmap threshold while loading (src/runtime/allocator.ts):
//   glibc returns freed blocks above it at once; the copies of small tensors stay on the heap
//   until the worker releases free memory after the load.
//
//   seconds per image per thread = dense MACs / denseMacsPerSecond + grouped MACs / groupedMacsPerSecond
//                                  (int8 MACs at int8DenseMacsPerSecond / int8GroupedMacsPerSecond)
import { inferAt, parameterOwners, peakOf, type GraphAnalysis } from './analyze.js';
import type { BatchEstimate, Calibration, MemoryEstimate } from './contract.js';
import { planExecution, simulateWorkerArena, type ExecutionPlan } from './ort-memory.js';
import { DataType } from '../onnx/read-graph.js';
import { operatorName } from './shape-inference.js';

const EIGHT_BIT: ReadonlySet<number> = new Set([DataType.INT8, DataType.UINT8]);

/** What the weight-memory model needs to know about a graph's constants. */
export interface WeightStats {
  /** Stored bytes of every constant (initializers and Constant nodes). */
  totalBytes: number;
  /** Of Gemm / MatMul weight operands and of 8-bit (quantized) weights: prepacked, not rewritten. */
  fcBytes: number;
  largestFcBytes: number;
  /** Of all other constants (rewritten by the optimizers: BN folding, NCHWc reordering, …). */
  rewrittenBytes: number;
  largestRewrittenBytes: number;
  /** Of constants smaller than the mmap threshold. */
  smallBytes: number;
}

export function weightStats(analysis: GraphAnalysis, mmapThresholdBytes: number): WeightStats {
  const graph = analysis.graph;
  const fc = new Set<string>();
  for (const [name, node] of parameterOwners(graph)) {
    const op = operatorName(node);
    // 8-bit weights are read by onnxruntime's integer kernels (QLinearConv, QGemm, …), which
    // prepack them and release the stored tensor, as Gemm does with float weights; nothing rewrites them
    const c = graph.constants.get(name);
    const quantized = c !== undefined && EIGHT_BIT.has(c.dataType) && c.dims.length >= 2;
    if (op === 'Gemm' || op === 'MatMul' || quantized) fc.add(name);
  }
  const s: WeightStats = { totalBytes: 0, fcBytes: 0, largestFcBytes: 0, rewrittenBytes: 0, largestRewrittenBytes: 0, smallBytes: 0 };
  for (const [name, c] of graph.constants) {
    const b = c.byteLength;
    s.totalBytes += b;
    if (b < mmapThresholdBytes) s.smallBytes += b;
    if (fc.has(name)) {
      s.fcBytes += b;
      s.largestFcBytes = Math.max(s.largestFcBytes, b);
    } else {
      s.rewrittenBytes += b;
      s.largestRewrittenBytes = Math.max(s.largestRewrittenBytes, b);
    }
  }
  return s;
}

/** Resident weights after load, and the load peak, both above the baseline. */
export function weightMemory(w: WeightStats, c: Calibration): { weightsBytes: number; loadPeakBytes: number } {
  const rewriting = c.loadCopies * w.rewrittenBytes + c.rewriteCopies * w.largestRewrittenBytes + w.fcBytes;
  const prepacking = w.totalBytes + c.prepackCopies * w.largestFcBytes;
  return {
    weightsBytes: c.sessionBytes + w.totalBytes + (c.smallTensorFactor - 1) * w.smallBytes,
    loadPeakBytes: c.sessionBytes + (c.smallLoadFactor - 1) * w.smallBytes + Math.max(rewriting, prepacking),
  };
}

/** MACs per image by speed class: float dense / grouped, and int8 (onnxruntime's integer kernels) dense / grouped. */
export function macSplit(analysis: GraphAnalysis): { dense: number; grouped: number; int8Dense: number; int8Grouped: number } {
  const s = { dense: 0, grouped: 0, int8Dense: 0, int8Grouped: 0 };
  for (const l of analysis.layers) {
    if (l.macs === 0 || l.macKind === null) continue;
    const int8 = l.precision === 'int8';
    if (l.macKind === 'dense') s[int8 ? 'int8Dense' : 'dense'] += l.macs;
    else s[int8 ? 'int8Grouped' : 'grouped'] += l.macs;
  }
  return s;
}

export class Estimator {
  private readonly plans = new Map<number, ExecutionPlan>();
  readonly weights: WeightStats;

  constructor(
    readonly analysis: GraphAnalysis,
    readonly calibration: Calibration,
  ) {
    this.weights = weightStats(analysis, calibration.mmapThresholdBytes);
  }

  private plan(batch: number): ExecutionPlan {
    let p = this.plans.get(batch);
    if (p === undefined) {
      p = planExecution(this.analysis.graph, inferAt(this.analysis.graph, batch, this.analysis.dims), { nchwcBlock: this.calibration.machine.nchwcBlock });
      this.plans.set(batch, p);
    }
    return p;
  }

  /** Bytes of the worker's batch buffers: two inputs of `batch` images (reused) and one output. */
  queuedBytes(batch: number): number {
    return batch * (2 * this.analysis.totals.inputBytesPerImage + this.analysis.totals.outputBytesPerImage);
  }

  memory(batch: number): MemoryEstimate {
    const c = this.calibration;
    const serving = this.plan(batch);
    const warmUp = batch === 1 ? [serving] : [this.plan(1), serving];
    const arena = simulateWorkerArena({ warmUp, serving });
    const arenaBytes = c.arenaFactor * arena.touchedBytes;
    const { weightsBytes, loadPeakBytes } = weightMemory(this.weights, c);
    const queuedInputBytes = this.queuedBytes(batch);
    const totalBytes = c.baselineBytes + Math.max(loadPeakBytes, weightsBytes + arenaBytes + queuedInputBytes);
    return { baselineBytes: c.baselineBytes, weightsBytes, loadPeakBytes, arenaBytes, queuedInputBytes, totalBytes };
  }

  /** Seconds one intra-op thread spends per image. */
  secondsPerImage(): number {
    const c = this.calibration;
    const m = macSplit(this.analysis);
    return (
      m.dense / c.denseMacsPerSecond +
      m.grouped / c.groupedMacsPerSecond +
      m.int8Dense / (c.int8DenseMacsPerSecond ?? c.denseMacsPerSecond) +
      m.int8Grouped / (c.int8GroupedMacsPerSecond ?? c.groupedMacsPerSecond)
    );
  }

  speedup(threads: number): number {
    return 1 + (threads - 1) * this.calibration.parallelEfficiency;
  }

  latencyMs(batch: number, threads: number): number {
    return (batch * this.secondsPerImage() * 1000) / this.speedup(threads);
  }

  batchEstimate(batch: number, threads: number): BatchEstimate {
    const serving = this.plan(batch);
    const latencyMs = this.latencyMs(batch, threads);
    return {
      batch,
      peakActivationBytes: peakOf(inferAt(this.analysis.graph, batch, this.analysis.dims), this.analysis.graph, batch).bytes,
      ortLiveBytes: serving.liveMaxBytes,
      ortPatternBytes: serving.patternBytes,
      memory: this.memory(batch),
      latencyMs,
      imagesPerSecond: latencyMs > 0 ? (batch * 1000) / latencyMs : 0,
    };
  }
}
