// The accuracy report of one model version against another (`swarmserve models evaluate`).
// The JSON (`--json`) is this object; tests and CI scripts read it.

export const EVALUATION_SCHEMA_ID = 'swarmserve.evaluate/1';

/** `agree` of `total`; `ratio` is null when `total` is 0. */
export interface Agreement {
  agree: number;
  total: number;
  ratio: number | null;
}

export interface ClassAgreement extends Agreement {
  /** The reference version's top-1 class the images are grouped by. */
  label: string;
  index: number;
}

export interface Disagreement {
  file: string;
  reference: { label: string; probability: number };
  candidate: { label: string; probability: number };
  /** The reference's top-1 minus top-2 probability. */
  referenceMargin: number;
}

/** A pass/fail bound given on the command line (`--min-top1` …). */
export interface Check {
  name: 'top1' | 'lowMarginTop1' | 'meanAbsProbabilityDiff' | 'meanLogitCosine';
  value: number | null;
  bound: number;
  kind: 'min' | 'max';
  pass: boolean;
}

export interface EvaluationReport {
  schema: typeof EVALUATION_SCHEMA_ID;
  model: string;
  /** The version compared against (usually FP32). */
  reference: { version: string; path: string };
  /** The version judged (usually INT8). */
  candidate: { version: string; path: string };
  images: { dirs: string[]; count: number };
  /** Top-1 agreement over all images. */
  top1: Agreement;
  /** Images whose reference top-two probabilities are within `lowMargin.threshold`. */
  lowMargin: Agreement & { threshold: number };
  /** Grouped by the reference's top-1 class; classes no image fell into are left out. */
  perClass: ClassAgreement[];
  /** |top-k(reference) ∩ top-k(candidate)| / k, over images (k = min(5, classes)). */
  topK: { k: number; meanOverlap: number; minOverlap: number };
  /** |p_ref − p_cand| over every image and class; `meanTop1` over the reference's top class only. */
  probability: { meanAbsDiff: number; maxAbsDiff: number; meanTop1AbsDiff: number };
  /**
   * Cosine of the two versions' logits per image. `tensor` is what was compared: the input
   * of the graph's final Softmax when the model ends in one, else the model output.
   */
  logits: { tensor: string; meanCosine: number; minCosine: number };
  disagreements: Disagreement[];
  checks: Check[];
  /** True when every check passed (true when none was asked for). */
  pass: boolean;
  seconds: number;
}
