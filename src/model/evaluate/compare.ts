// The metrics of the accuracy report, from both versions' outputs per image (pure code,
// unit-tested on hand-made numbers).
import type { Agreement, Check, ClassAgreement, Disagreement, EvaluationReport } from './contract.js';

/** One image's outputs from one version: probabilities (summing to 1) and logits. */
export interface VersionOutput {
  probabilities: Float32Array | Float64Array;
  logits: Float32Array;
}

export interface ImageOutputs {
  file: string;
  reference: VersionOutput;
  candidate: VersionOutput;
}

export type Metrics = Pick<EvaluationReport, 'top1' | 'lowMargin' | 'perClass' | 'topK' | 'probability' | 'logits' | 'disagreements'>;

export const DEFAULT_LOW_MARGIN = 0.1;
const MAX_K = 5;

/** Indices of the `k` largest values, largest first. */
export function topIndices(values: ArrayLike<number>, k: number): number[] {
  const order = Array.from({ length: values.length }, (_, i) => i);
  order.sort((a, b) => (values[b] as number) - (values[a] as number) || a - b);
  return order.slice(0, k);
}

export function cosine(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let dot = 0;
  let na = 0;
  let nb = 0;
  for (let i = 0; i < a.length; i++) {
    const x = a[i] as number;
    const y = b[i] as number;
    dot += x * y;
    na += x * x;
    nb += y * y;
  }
  // Two zero vectors are the same output; one zero vector shares no direction with anything.
  if (na === 0 || nb === 0) return na === nb ? 1 : 0;
  return dot / Math.sqrt(na * nb);
}

function agreement(agree: number, total: number): Agreement {
  return { agree, total, ratio: total === 0 ? null : agree / total };
}

export function compareOutputs(
  images: readonly ImageOutputs[],
  labels: readonly string[],
  lowMarginThreshold = DEFAULT_LOW_MARGIN,
  logitsTensor = 'output',
): Metrics {
  const classes = images[0]?.reference.probabilities.length ?? 0;
  const k = Math.min(MAX_K, classes);
  const label = (i: number): string => labels[i] ?? `class ${i}`;
  const perClass = new Map<number, { agree: number; total: number }>();
  const disagreements: Disagreement[] = [];
  let agree = 0;
  let lowAgree = 0;
  let lowTotal = 0;
  let overlapSum = 0;
  let overlapMin = 1;
  let absSum = 0;
  let absMax = 0;
  let top1AbsSum = 0;
  let cosineSum = 0;
  let cosineMin = 1;
  for (const image of images) {
    const ref = image.reference.probabilities;
    const cand = image.candidate.probabilities;
    const refTop = topIndices(ref, Math.max(k, 2));
    const candTop = topIndices(cand, k);
    const r1 = refTop[0] as number;
    const c1 = candTop[0] as number;
    const same = r1 === c1;
    const margin = (ref[r1] as number) - (classes > 1 ? (ref[refTop[1] as number] as number) : 0);
    if (same) agree++;
    const group = perClass.get(r1) ?? { agree: 0, total: 0 };
    group.total++;
    if (same) group.agree++;
    perClass.set(r1, group);
    if (margin <= lowMarginThreshold) {
      lowTotal++;
      if (same) lowAgree++;
    }
    if (!same) {
      disagreements.push({
        file: image.file,
        reference: { label: label(r1), probability: ref[r1] as number },
        candidate: { label: label(c1), probability: cand[c1] as number },
        referenceMargin: margin,
      });
    }
    const refK = new Set(refTop.slice(0, k));
    const overlap = k === 0 ? 1 : candTop.filter((i) => refK.has(i)).length / k;
    overlapSum += overlap;
    overlapMin = Math.min(overlapMin, overlap);
    for (let c = 0; c < classes; c++) {
      const d = Math.abs((ref[c] as number) - (cand[c] as number));
      absSum += d;
      absMax = Math.max(absMax, d);
    }
    top1AbsSum += Math.abs((ref[r1] as number) - (cand[r1] as number));
    const cos = cosine(image.reference.logits, image.candidate.logits);
    cosineSum += cos;
    cosineMin = Math.min(cosineMin, cos);
  }
  const n = images.length;
  const classRows: ClassAgreement[] = [...perClass]
    .sort(([a], [b]) => a - b)
    .map(([index, g]) => ({ label: label(index), index, ...agreement(g.agree, g.total) }));
  return {
    top1: agreement(agree, n),
    lowMargin: { ...agreement(lowAgree, lowTotal), threshold: lowMarginThreshold },
    perClass: classRows,
    topK: { k, meanOverlap: n === 0 ? 0 : overlapSum / n, minOverlap: n === 0 ? 0 : overlapMin },
    probability: { meanAbsDiff: n === 0 ? 0 : absSum / (n * classes), maxAbsDiff: absMax, meanTop1AbsDiff: n === 0 ? 0 : top1AbsSum / n },
    logits: { tensor: logitsTensor, meanCosine: n === 0 ? 0 : cosineSum / n, minCosine: n === 0 ? 0 : cosineMin },
    disagreements,
  };
}

/** Bounds a caller may require (all optional). */
export interface Bounds {
  minTop1?: number;
  minLowMarginTop1?: number;
  maxMeanAbsDiff?: number;
  minMeanCosine?: number;
}

/** The checks asked for. A low-margin bound with no low-margin image passes (nothing to judge), and says so by value null. */
export function checkBounds(metrics: Metrics, bounds: Bounds): Check[] {
  const checks: Check[] = [];
  const min = (name: Check['name'], value: number | null, bound: number | undefined): void => {
    if (bound !== undefined) checks.push({ name, value, bound, kind: 'min', pass: value === null || value >= bound });
  };
  const max = (name: Check['name'], value: number, bound: number | undefined): void => {
    if (bound !== undefined) checks.push({ name, value, bound, kind: 'max', pass: value <= bound });
  };
  min('top1', metrics.top1.ratio, bounds.minTop1);
  min('lowMarginTop1', metrics.lowMargin.ratio, bounds.minLowMarginTop1);
  max('meanAbsProbabilityDiff', metrics.probability.meanAbsDiff, bounds.maxMeanAbsDiff);
  min('meanLogitCosine', metrics.logits.meanCosine, bounds.minMeanCosine);
  return checks;
}
