import { describe, expect, it } from 'vitest';
import { predictionsForRow, softmax, topIndices, topK } from './postprocess.js';

describe('postprocess', () => {
  it('softmax is stable for large logits and sums to 1', () => {
    const p = softmax(new Float32Array([1000, 1001, 1002]));
    expect(p.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 12);
    expect(p[2]).toBeCloseTo(Math.exp(2) / (1 + Math.E + Math.exp(2)), 6);
  });

  it('topK orders by score and names labels', () => {
    expect(topK([0.1, 0.7, 0.2], ['a', 'b', 'c'], 2)).toEqual([
      { label: 'b', probability: 0.7 },
      { label: 'c', probability: 0.2 },
    ]);
  });

  it('takes the requested row of a batch output', () => {
    const out = new Float32Array([5, 0, 0, 0, 0, 9]);
    expect(predictionsForRow(out, 1, 3, ['a', 'b', 'c'], false, 1)).toEqual([{ label: 'c', probability: 9 }]);
    const [top] = predictionsForRow(out, 0, 3, ['a', 'b', 'c'], true, 1);
    expect(top?.label).toBe('a');
    expect(top?.probability).toBeCloseTo(Math.exp(5) / (Math.exp(5) + 2), 6);
  });
});

describe('topIndices and predictionsForRow against the full softmax and a stable sort', () => {
  // Deterministic pseudo-random rows with deliberate ties.
  function row(seed: number, width: number): Float32Array {
    let s = seed;
    return Float32Array.from({ length: width }, () => {
      s = (s * 1103515245 + 12345) % 2147483648;
      return Math.round((s / 2147483648) * 40 - 20) / 4;
    });
  }
  const sortedOrder = (values: ArrayLike<number>): number[] =>
    Array.from({ length: values.length }, (_, i) => i).sort((a, b) => (values[b] as number) - (values[a] as number));

  it('picks what a stable sort picks, ties in index order, for every k', () => {
    for (let seed = 1; seed <= 20; seed++) {
      const values = row(seed, 50);
      for (const k of [0, 1, 3, 5, 50, 60]) expect(topIndices(values, k)).toEqual(sortedOrder(values).slice(0, k));
    }
  });

  it('reads a row of a batch in place', () => {
    const batch = new Float32Array([9, 9, 9, 1, 3, 2, 0, 0, 0]);
    expect(topIndices(batch, 2, 3, 3)).toEqual([1, 2]);
  });

  it('gives the probabilities of the full softmax, row by row', () => {
    const width = 1000;
    const batch = new Float32Array(3 * width);
    for (let r = 0; r < 3; r++) batch.set(row(r + 7, width), r * width);
    const labels = Array.from({ length: width }, (_, i) => `c${i}`);
    for (let r = 0; r < 3; r++) {
      const full = softmax(batch, r * width, width);
      const expected = sortedOrder(full)
        .slice(0, 5)
        .map((i) => ({ label: `c${i}`, probability: full[i] }));
      expect(predictionsForRow(batch, r, width, labels, true, 5)).toEqual(expected);
    }
  });
});
