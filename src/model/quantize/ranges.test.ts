import { describe, expect, it } from 'vitest';
import { quantizeWeight, weightModeFor } from './qdq.js';
import { TensorStats, uint8Params } from './ranges.js';
import { randomFloats } from '../../../test/helpers/quantize-graphs.js';

describe('range methods', () => {
  it('min/max spans every value; percentile drops a rare outlier', () => {
    const stats = new TensorStats(true);
    stats.add(Float32Array.from({ length: 100_000 }, (_, i) => (i % 1000) / 100)); // 0 … 9.99
    stats.add(Float32Array.of(1000)); // one outlier, in a later batch (the histogram widens)
    expect(stats.range('minmax', 99.99)).toEqual([0, 1000]);
    const [lo, hi] = stats.range('percentile', 99.99);
    expect(lo).toBeCloseTo(0, 5);
    expect(hi).toBeGreaterThan(9);
    expect(hi).toBeLessThan(12);
  });

  it('uint8 parameters hold 0 exactly', () => {
    expect(uint8Params(0, 6)).toEqual({ scale: 6 / 255, zeroPoint: 0 });
    const { scale, zeroPoint } = uint8Params(-1, 3);
    expect(scale).toBeCloseTo(4 / 255, 9);
    expect(zeroPoint).toBe(64);
    expect(uint8Params(2, 5).zeroPoint).toBe(0);
  });
});

describe('per-channel int8 weights', () => {
  const dims = [4, 2, 3, 3];
  const w = randomFloats(72, 7).map((v, i) => v * (1 + Math.floor(i / 18)) + (i < 18 ? 0.5 : 0)); // channels of different spans
  const dequant = (q: ReturnType<typeof quantizeWeight>, i: number): number => {
    const c = Math.floor(i / 18);
    return ((q.values[i] as number) - (q.zeroPoints[c] as number)) * (q.scales[c] as number);
  };

  for (const bits of [8, 7] as const) {
    // 7 bits: every stored value (zero point included) stays in [-64, 63], so uint8 × int8 pairs
    // summed in 16 bits (AVX2 without VNNI) cannot saturate: 2 × 255 × 64 = 32,640 ≤ 32,767.
    const [low, high] = bits === 8 ? [-128, 127] : [-64, 63];
    for (const mode of ['symmetric', 'asymmetric'] as const) {
      it(`${mode}, ${bits} bits: one scale per output channel, error within half a step, values in [${low}, ${high}] using the range`, () => {
        const q = quantizeWeight(w, dims, 0, mode, bits);
        expect(q.scales).toHaveLength(4);
        for (let i = 0; i < w.length; i++)
          expect(Math.abs(dequant(q, i) - (w[i] as number))).toBeLessThanOrEqual((q.scales[Math.floor(i / 18)] as number) / 2 + 1e-6);
        expect(Math.min(...q.values, ...q.zeroPoints)).toBeGreaterThanOrEqual(low);
        expect(Math.max(...q.values, ...q.zeroPoints)).toBeLessThanOrEqual(high);
        // The whole range is used: the largest magnitude lands on its end.
        if (mode === 'symmetric') {
          expect([...q.zeroPoints].every((z) => z === 0)).toBe(true);
          expect(Math.max(...q.values.map(Math.abs))).toBe(high);
        } else {
          expect([...q.zeroPoints].some((z) => z !== 0)).toBe(true);
          expect(Math.min(...q.values)).toBe(low);
          expect(Math.max(...q.values)).toBe(high);
        }
      });
    }
  }

  it('axis 1 (a Gemm weight stored K×N) gets one scale per column', () => {
    const q = quantizeWeight(Float32Array.of(1, 100, 2, -100), [2, 2], 1, 'symmetric');
    expect(q.scales[0]).toBeCloseTo(2 / 127, 6);
    expect(q.scales[1]).toBeCloseTo(100 / 127, 6);
    const q7 = quantizeWeight(Float32Array.of(1, 100, 2, -100), [2, 2], 1, 'symmetric', 7);
    expect(q7.scales[1]).toBeCloseTo(100 / 63, 6);
    expect([...q7.values].slice(1)).toEqual([63, 63, -63]);
    expect(Math.abs((q7.values[0] as number) * (q7.scales[0] as number) - 1)).toBeLessThanOrEqual((q7.scales[0] as number) / 2);
  });
});

describe('weight zero point per node', () => {
  const conv = (kernel: number, group: number): Parameters<typeof weightModeFor>[0] => ({
    opType: 'Conv',
    attribute: [
      { name: 'kernel_shape', ints: [kernel, kernel] },
      { name: 'group', i: group },
    ],
  });
  it('depthwise convs stay symmetric in every mode; auto is asymmetric only for convs larger than 1×1', () => {
    for (const mode of ['symmetric', 'asymmetric', 'auto'] as const) expect(weightModeFor(conv(3, 32), mode)).toBe('symmetric');
    expect(weightModeFor(conv(3, 1), 'auto')).toBe('asymmetric');
    expect(weightModeFor(conv(1, 1), 'auto')).toBe('symmetric');
    expect(weightModeFor({ opType: 'Gemm' }, 'auto')).toBe('symmetric');
    expect(weightModeFor(conv(1, 1), 'asymmetric')).toBe('asymmetric');
  });
});

describe('mse range', () => {
  it('clips a few far outliers (less error than min/max) and keeps a uniform range whole', () => {
    const values = new Float32Array(100_000);
    for (let i = 0; i < values.length; i++) values[i] = (i % 1000) / 1000; // uniform on [0, 1)
    values[0] = 40; // one outlier would stretch the min/max step 40×
    const stats = new TensorStats(true);
    stats.add(values);
    const [lo, hi] = stats.range('mse', 99.999);
    expect(lo).toBe(0);
    expect(hi).toBeLessThan(40);
    expect(hi).toBeGreaterThan(12); // 70 % shrink at most: the search range, not a tuned figure
    const uniform = new TensorStats(true);
    uniform.add(values.subarray(1));
    const [, uhi] = uniform.range('mse', 99.999);
    expect(uhi).toBeGreaterThan(0.99);
  });
});
