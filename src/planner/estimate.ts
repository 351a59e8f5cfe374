// One worker's memory at batch B, and its speed, from the graph analysis and the calibration
// constants (measured on generated models: calibrate.ts).
//
//   memory = baseline                                 Node + onnxruntime worker process (measured)
//          + max(load peak, weights + arena + queued) whichever is higher: loading, or serving
//   queued   = the worker's two batch input buffers and one output
//   weights  = session + convWeightFactor × non-FC weight bytes + fcWeightFactor × FC weight bytes
//   load peak= session + convWeightFactor × non-FC weight bytes + fcLoadFactor × FC weight bytes
//   arena    = arenaFactor × pages the simulated BFC arena has touched (ort-memory.ts) after
//              the worker's warm-up (batch 1, batch B) and steady runs at batch B
//   seconds per image per thread = dense MACs / denseMacsPerSecond + grouped MACs / groupedMacsPerSecond
import { inferAt, parameterOwners, peakOf, type GraphAnalysis } from './analyze.js';
import type { BatchEstimate, Calibration, MemoryEstimate } from './contract.js';
import { planExecution, simulateWorkerArena, type ExecutionPlan } from './ort-memory.js';
import { operatorName } from './shape-inference.js';

export interface WeightSplit {
  /** Stored bytes of Gemm / MatMul constant operands. */
  fcBytes: number;
  /** All other stored bytes (convolution weights, BN statistics, …). */
  otherBytes: number;
}

export function weightSplit(analysis: GraphAnalysis): WeightSplit {
  const graph = analysis.graph;
  let fcBytes = 0;
  const seen = new Set<string>();
  for (const [name, node] of parameterOwners(graph)) {
    const op = operatorName(node);
    if ((op === 'Gemm' || op === 'MatMul') && !seen.has(name)) {
      seen.add(name);
      fcBytes += graph.constants.get(name)?.byteLength ?? 0;
    }
  }
  return { fcBytes, otherBytes: analysis.totals.weightBytes - fcBytes };
}

export class Estimator {
  private readonly plans = new Map<number, ExecutionPlan>();
  readonly split: WeightSplit;

  constructor(
    readonly analysis: GraphAnalysis,
    readonly calibration: Calibration,
  ) {
    this.split = weightSplit(analysis);
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
    const weightsBytes = c.sessionBytes + c.convWeightFactor * this.split.otherBytes + c.fcWeightFactor * this.split.fcBytes;
    const loadPeakBytes = c.sessionBytes + c.convWeightFactor * this.split.otherBytes + c.fcLoadFactor * this.split.fcBytes;
    const queuedInputBytes = this.queuedBytes(batch);
    const totalBytes = c.baselineBytes + Math.max(loadPeakBytes, weightsBytes + arenaBytes + queuedInputBytes);
    return { baselineBytes: c.baselineBytes, weightsBytes, loadPeakBytes, arenaBytes, queuedInputBytes, totalBytes };
  }

  /** Seconds one intra-op thread spends per image. */
  secondsPerImage(): number {
    const t = this.analysis.totals;
    return t.denseMacsPerImage / this.calibration.denseMacsPerSecond + t.groupedMacsPerImage / this.calibration.groupedMacsPerSecond;
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
