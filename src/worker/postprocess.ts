import type { Prediction } from '../queue/contract.js';

/** Numerically stable softmax of `values[start, start+length)`, written into a new array. */
export function softmax(values: Float32Array, start = 0, length = values.length - start): Float64Array {
  let max = -Infinity;
  for (let i = 0; i < length; i++) max = Math.max(max, values[start + i] as number);
  const out = new Float64Array(length);
  let sum = 0;
  for (let i = 0; i < length; i++) {
    const e = Math.exp((values[start + i] as number) - max);
    out[i] = e;
    sum += e;
  }
  for (let i = 0; i < length; i++) out[i] = (out[i] as number) / sum;
  return out;
}

/** The k highest scores with their labels, highest first. */
export function topK(scores: ArrayLike<number>, labels: readonly string[], k: number): Prediction[] {
  const order = Array.from({ length: scores.length }, (_, i) => i).sort((a, b) => (scores[b] as number) - (scores[a] as number));
  return order.slice(0, k).map((i) => ({ label: labels[i] ?? `class_${i}`, probability: scores[i] as number }));
}

/** Post-processes row `row` of a batch output as the model config says. */
export function predictionsForRow(output: Float32Array, row: number, width: number, labels: readonly string[], applySoftmax: boolean, k: number): Prediction[] {
  const start = row * width;
  const scores = applySoftmax ? softmax(output, start, width) : output.subarray(start, start + width);
  return topK(scores, labels, k);
}
