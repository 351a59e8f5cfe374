import { describe, expect, it } from 'vitest';
import { checkBounds, compareOutputs, cosine, topIndices, type ImageOutputs } from './compare.js';

const out = (p: number[], l: number[] = p): { probabilities: Float32Array; logits: Float32Array } => ({
  probabilities: Float32Array.from(p),
  logits: Float32Array.from(l),
});
const LABELS = ['cat', 'dog', 'fox'];

describe('compareOutputs', () => {
  const images: ImageOutputs[] = [
    // agree, margin 0.6
    { file: 'a.jpg', reference: out([0.8, 0.2, 0], [2, 1, 0]), candidate: out([0.7, 0.3, 0], [2, 1.2, 0]) },
    // low margin (0.04), disagree
    { file: 'b.jpg', reference: out([0.5, 0.46, 0.04], [1, 0.9, -1]), candidate: out([0.45, 0.5, 0.05], [0.9, 1, -1]) },
    // low margin (0.06), agree
    { file: 'c.jpg', reference: out([0.1, 0.42, 0.48], [0, 1, 1.2]), candidate: out([0.1, 0.42, 0.48], [0, 1, 1.2]) },
  ];
  const m = compareOutputs(images, LABELS, 0.1, 'logits');

  it('counts top-1 agreement overall, per reference class and on low-margin images', () => {
    expect(m.top1).toEqual({ agree: 2, total: 3, ratio: 2 / 3 });
    expect(m.lowMargin).toMatchObject({ agree: 1, total: 2, ratio: 0.5, threshold: 0.1 });
    expect(m.perClass).toEqual([
      { label: 'cat', index: 0, agree: 1, total: 2, ratio: 0.5 },
      { label: 'fox', index: 2, agree: 1, total: 1, ratio: 1 },
    ]);
    expect(m.disagreements).toEqual([
      {
        file: 'b.jpg',
        reference: { label: 'cat', probability: expect.closeTo(0.5, 6) as number },
        candidate: { label: 'dog', probability: expect.closeTo(0.5, 6) as number },
        referenceMargin: expect.closeTo(0.04, 6) as number,
      },
    ]);
  });

  it('probability differences over every image and class, and on the top class', () => {
    // |Δ| sums: a 0.1+0.1+0, b 0.05+0.04+0.01, c 0 → 0.3 over 9 entries
    expect(m.probability.meanAbsDiff).toBeCloseTo(0.3 / 9, 6);
    expect(m.probability.maxAbsDiff).toBeCloseTo(0.1, 6);
    expect(m.probability.meanTop1AbsDiff).toBeCloseTo((0.1 + 0.05 + 0) / 3, 6);
  });

  it('top-k overlap with k = min(5, classes) and the logits cosine', () => {
    expect(m.topK).toEqual({ k: 3, meanOverlap: 1, minOverlap: 1 });
    const expected = [cosine([2, 1, 0], [2, 1.2, 0]), cosine([1, 0.9, -1], [0.9, 1, -1]), 1];
    expect(m.logits.meanCosine).toBeCloseTo(expected.reduce((a, b) => a + b) / 3, 6);
    expect(m.logits.minCosine).toBeCloseTo(Math.min(...expected), 6);
    expect(m.logits.tensor).toBe('logits');
  });

  it('checks pass or fail against the bounds asked for, and only those', () => {
    expect(checkBounds(m, {})).toEqual([]);
    const checks = checkBounds(m, { minTop1: 0.6, minLowMarginTop1: 0.8, maxMeanAbsDiff: 0.02, minMeanCosine: 0.9 });
    expect(checks.map((c) => [c.name, c.pass])).toEqual([
      ['top1', true],
      ['lowMarginTop1', false],
      ['meanAbsProbabilityDiff', false],
      ['meanLogitCosine', true],
    ]);
  });
});

describe('helpers', () => {
  it('topIndices: largest first, ties by index', () => {
    expect(topIndices([0.1, 0.5, 0.5, 0.2], 3)).toEqual([1, 2, 3]);
  });
  it('cosine: parallel 1, opposite −1, zero vectors', () => {
    expect(cosine([1, 2], [2, 4])).toBeCloseTo(1, 12);
    expect(cosine([1, 2], [-1, -2])).toBeCloseTo(-1, 12);
    expect(cosine([0, 0], [0, 0])).toBe(1);
    expect(cosine([0, 0], [1, 0])).toBe(0);
  });
});
