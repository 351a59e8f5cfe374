import { describe, expect, it } from 'vitest';
import { predictionsForRow, softmax, topK } from './postprocess.js';

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
