import { describe, expect, it } from 'vitest';
import { GraphBuilder } from '../onnx/graph-builder.js';
import { analyzeGraph } from './analyze.js';
import { BUILT_IN_CALIBRATION } from './calibration.js';
import { weightMemory, weightStats } from './estimate.js';
import { readOnnxGraph } from '../onnx/read-graph.js';

// Conv 4→64 3×3 (9,216 B) + BN (4 × 256 B), GlobalAveragePool, Gemm 64→10000 (2,560,000 B
// weight, 40,000 B bias). Threshold 128 KiB: only the Gemm weight is large.
function model(): ReturnType<typeof analyzeGraph> {
  const g = new GraphBuilder('weights');
  const x = g.input('x', ['N', 4, 8, 8]);
  const conv = g.node('Conv', [x, g.floatTensor('w', [64, 4, 3, 3], new Float32Array(2304).fill(0.01))], { kernel_shape: [3, 3], pads: [1, 1, 1, 1] });
  const ones = new Float32Array(64).fill(1);
  const bn = g.node(
    'BatchNormalization',
    [conv, g.floatTensor('s', [64], ones), g.floatTensor('b', [64], ones), g.floatTensor('m', [64], ones), g.floatTensor('v', [64], ones)],
    { epsilon: 1e-5 },
  );
  const flat = g.node('Flatten', [g.node('GlobalAveragePool', [bn])], { axis: 1 });
  const fc = g.node(
    'Gemm',
    [flat, g.floatTensor('fw', [10000, 64], new Float32Array(640000).fill(0.01)), g.floatTensor('fb', [10000], new Float32Array(10000))],
    { transB: 1 },
  );
  g.output(fc, ['N', 10000]);
  return analyzeGraph(readOnnxGraph(g.toBytes()));
}

describe('weight memory model', () => {
  it('splits the constants into rewritten / fully-connected and small / large (hand-computed)', () => {
    expect(weightStats(model(), 131072)).toEqual({
      totalBytes: 2_610_240,
      fcBytes: 2_600_000,
      largestFcBytes: 2_560_000,
      rewrittenBytes: 10_240,
      largestRewrittenBytes: 9_216,
      smallBytes: 50_240,
    });
    expect(weightStats(model(), 16).smallBytes).toBe(0);
  });

  it('resident weights and the load peak (hand-computed)', () => {
    const c = { ...BUILT_IN_CALIBRATION, sessionBytes: 1_048_576, smallTensorFactor: 4, smallLoadFactor: 4, loadCopies: 2, rewriteCopies: 3, prepackCopies: 1 };
    const w = weightStats(model(), 131072);
    // resident: session + W + 3 × small; load: session + 3 × small + max(2 × 10,240 + 3 × 9,216 + 2,600,000, W + 2,560,000)
    expect(weightMemory(w, c)).toEqual({ weightsBytes: 1_048_576 + 2_610_240 + 150_720, loadPeakBytes: 1_048_576 + 150_720 + 5_170_240 });
    // a conv-heavy model peaks while rewriting
    const conv = { ...w, fcBytes: 0, largestFcBytes: 0, rewrittenBytes: 2_610_240, largestRewrittenBytes: 2_560_000 };
    expect(weightMemory(conv, c).loadPeakBytes).toBe(1_048_576 + 150_720 + 2 * 2_610_240 + 3 * 2_560_000);
  });
});
