// The weight-rounding shift ΔW·E[x] against a brute-force sum, for each weight layout.
import { describe, expect, it } from 'vitest';
import { onnx, type Node } from '../../onnx/proto.js';
import { weightErrorShift } from './bias-correct.js';
import { quantizeWeight } from './qdq.js';
import { randomFloats } from '../../../test/helpers/quantize-graphs.js';

const INT = onnx.AttributeProto.AttributeType.INT;
const node = (opType: string, attrs: Record<string, number> = {}): Node => ({
  opType,
  attribute: Object.entries(attrs).map(([name, i]) => ({ name, type: INT, i })),
});

/** Σ over the weights feeding output `c` of (w − dequantized) · mean of the input they read. */
function bruteForce(
  w: Float32Array,
  q: ReturnType<typeof quantizeWeight>,
  outputs: number,
  inputOf: (i: number) => number,
  outputOf: (i: number) => number,
  mean: Float64Array,
): number[] {
  const shift = new Array<number>(outputs).fill(0);
  for (let i = 0; i < w.length; i++) {
    const c = outputOf(i);
    const dq = ((q.values[i] as number) - (q.zeroPoints[c] as number)) * (q.scales[c] as number);
    shift[c] = (shift[c] as number) + ((w[i] as number) - dq) * (mean[inputOf(i)] as number);
  }
  return shift;
}

describe('weightErrorShift', () => {
  const mean = Float64Array.from(randomFloats(6, 9, 2));

  it('Conv, grouped (2 groups of 3 input channels, 4 outputs, 3×3 kernel), asymmetric weights', () => {
    const dims = [4, 3, 3, 3];
    const w = randomFloats(4 * 3 * 9, 1, 0.7);
    const q = quantizeWeight(w, dims, 0, 'asymmetric');
    const got = weightErrorShift(node('Conv', { group: 2 }), w, dims, q.values, q.scales, q.zeroPoints, mean);
    const expected = bruteForce(
      w,
      q,
      4,
      (i) => Math.floor(Math.floor(i / 27) / 2) * 3 + (Math.floor(i / 9) % 3),
      (i) => Math.floor(i / 27),
      mean,
    );
    expect([...(got ?? [])].map((v) => v.toFixed(9))).toEqual(expected.map((v) => v.toFixed(9)));
    expect(expected.some((v) => Math.abs(v) > 1e-6)).toBe(true); // rounding did shift something
  });

  it('Gemm with transB = 1 (W [out, in]) and MatMul (W [in, out])', () => {
    const w = randomFloats(5 * 6, 2);
    const qOutFirst = quantizeWeight(w, [5, 6], 0, 'symmetric');
    const gemm = weightErrorShift(node('Gemm', { transB: 1 }), w, [5, 6], qOutFirst.values, qOutFirst.scales, qOutFirst.zeroPoints, mean);
    expect([...(gemm ?? [])].map((v) => v.toFixed(9))).toEqual(
      bruteForce(
        w,
        qOutFirst,
        5,
        (i) => i % 6,
        (i) => Math.floor(i / 6),
        mean,
      ).map((v) => v.toFixed(9)),
    );
    const qInFirst = quantizeWeight(w, [6, 5], 1, 'symmetric');
    const matmul = weightErrorShift(node('MatMul'), w, [6, 5], qInFirst.values, qInFirst.scales, qInFirst.zeroPoints, mean);
    expect([...(matmul ?? [])].map((v) => v.toFixed(9))).toEqual(
      bruteForce(
        w,
        qInFirst,
        5,
        (i) => Math.floor(i / 5),
        (i) => i % 5,
        mean,
      ).map((v) => v.toFixed(9)),
    );
  });
});
