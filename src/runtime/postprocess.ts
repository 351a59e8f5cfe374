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

/**
 * Offsets (from `start`) of the k largest of `values[start, start+length)`, highest first; ties
 * keep the lower offset first, as a stable sort would. One pass and a k-long list: this runs for
 * every answered image, and sorting all the classes (1,000 for ImageNet) through a comparator
 * boxed a double per comparison — most of the server's garbage.
 */
export function topIndices(values: ArrayLike<number>, k: number, start = 0, length = values.length - start): number[] {
  const keep = Math.min(Math.max(0, Math.floor(k)), length);
  const top: number[] = [];
  if (keep === 0) return top;
  for (let i = 0; i < length; i++) {
    const value = values[start + i] as number;
    if (top.length === keep) {
      // Not above the smallest kept (or NaN): cannot enter.
      if (!(value > (values[start + (top[keep - 1] as number)] as number))) continue;
      top.pop();
    }
    // Shifted in after every kept value it does not beat, so equal values stay in index order.
    let at = top.length;
    top.push(i);
    for (; at > 0 && value > (values[start + (top[at - 1] as number)] as number); at--) top[at] = top[at - 1] as number;
    top[at] = i;
  }
  return top;
}

/** The k highest scores with their labels, highest first. */
export function topK(scores: ArrayLike<number>, labels: readonly string[], k: number): Prediction[] {
  return topIndices(scores, k).map((i) => prediction(labels, i, scores[i] as number));
}

function prediction(labels: readonly string[], index: number, probability: number): Prediction {
  return { label: labels[index] ?? `class_${index}`, probability };
}

/**
 * Post-processes row `row` of a batch output as the model config says. Softmax keeps the order,
 * so the top k are picked on the raw row and only their probabilities computed: no per-row array.
 */
export function predictionsForRow(output: Float32Array, row: number, width: number, labels: readonly string[], applySoftmax: boolean, k: number): Prediction[] {
  const start = row * width;
  const top = topIndices(output, k, start, width);
  if (!applySoftmax) return top.map((i) => prediction(labels, i, output[start + i] as number));
  const { max, sum } = expSum(output, start, width);
  return top.map((i) => prediction(labels, i, Math.exp((output[start + i] as number) - max) / sum));
}

/**
 * The row's maximum and Σ exp(x − max), in a function of their own: loop variables captured by
 * a closure live in a heap context, where every update allocates a boxed double.
 */
function expSum(values: Float32Array, start: number, length: number): { max: number; sum: number } {
  let max = -Infinity;
  for (let i = 0; i < length; i++) max = Math.max(max, values[start + i] as number);
  let sum = 0;
  for (let i = 0; i < length; i++) sum += Math.exp((values[start + i] as number) - max);
  return { max, sum };
}
