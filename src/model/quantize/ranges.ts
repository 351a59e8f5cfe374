// Per-tensor activation statistics accumulated over calibration batches, and the range
// methods that turn them into a quantization range [lo, hi].
export type RangeMethod = 'minmax' | 'percentile' | 'mse';
export const RANGE_METHODS: readonly RangeMethod[] = ['minmax', 'percentile', 'mse'];

const BINS = 2048;

/** Running min/max and a histogram that widens (re-binning) when a batch exceeds its span. */
export class TensorStats {
  min = Infinity;
  max = -Infinity;
  private counts: Float64Array | undefined;
  private lo = 0;
  private hi = 0;

  constructor(private readonly withHistogram: boolean) {}

  add(values: Float32Array): void {
    let min = Infinity;
    let max = -Infinity;
    for (let i = 0; i < values.length; i++) {
      const v = values[i] as number;
      if (v < min) min = v;
      if (v > max) max = v;
    }
    if (!Number.isFinite(min) || !Number.isFinite(max)) return;
    this.min = Math.min(this.min, min);
    this.max = Math.max(this.max, max);
    if (!this.withHistogram) return;
    this.widen(this.min, this.max);
    const counts = this.counts as Float64Array;
    const span = this.hi - this.lo;
    const perBin = span > 0 ? BINS / span : 0;
    for (let i = 0; i < values.length; i++) {
      const bin = Math.min(BINS - 1, Math.floor(((values[i] as number) - this.lo) * perBin));
      counts[bin] = (counts[bin] as number) + 1;
    }
  }

  /** Re-bins the histogram onto a span covering [lo, hi] (counts move to the bin of their old centre). */
  private widen(lo: number, hi: number): void {
    if (this.counts !== undefined && lo >= this.lo && hi <= this.hi) return;
    const next = new Float64Array(BINS);
    const old = this.counts;
    if (old !== undefined) {
      const oldWidth = (this.hi - this.lo) / BINS;
      const perBin = hi > lo ? BINS / (hi - lo) : 0;
      for (let b = 0; b < BINS; b++) {
        const c = old[b] as number;
        if (c === 0) continue;
        const centre = this.lo + (b + 0.5) * oldWidth;
        const nb = Math.min(BINS - 1, Math.max(0, Math.floor((centre - lo) * perBin)));
        next[nb] = (next[nb] as number) + c;
      }
    }
    this.counts = next;
    this.lo = lo;
    this.hi = hi;
  }

  /**
   * The range to quantize to. `percentile` drops the (100 - p)% most extreme values on
   * each side (outliers would otherwise stretch the scale for every other value).
   */
  range(method: RangeMethod, percentile: number): [number, number] {
    if (!Number.isFinite(this.min)) return [0, 0];
    if (method === 'minmax' || this.counts === undefined) return [this.min, this.max];
    if (method === 'mse') return this.mseRange();
    const counts = this.counts;
    let total = 0;
    for (const c of counts) total += c;
    const tail = (total * (100 - percentile)) / 100;
    const width = (this.hi - this.lo) / BINS;
    let acc = 0;
    let loBin = 0;
    while (loBin < BINS - 1 && acc + (counts[loBin] as number) <= tail) acc += counts[loBin++] as number;
    acc = 0;
    let hiBin = BINS - 1;
    while (hiBin > loBin && acc + (counts[hiBin] as number) <= tail) acc += counts[hiBin--] as number;
    return [Math.max(this.min, this.lo + loBin * width), Math.min(this.max, this.lo + (hiBin + 1) * width)];
  }

  /**
   * The range, among [min, max] shrunk towards 0 by 0–70 %, whose uint8 quantization of
   * the histogram has the least mean squared error: clipping error for values outside,
   * Δ²/12 rounding error for values inside.
   */
  private mseRange(): [number, number] {
    const counts = this.counts as Float64Array;
    const width = (this.hi - this.lo) / BINS;
    const low = Math.min(0, this.min);
    const high = Math.max(0, this.max);
    let best: [number, number] = [this.min, this.max];
    let bestError = Infinity;
    for (let step = 0; step <= 70; step++) {
      const t = 1 - step / 100;
      const a = low * t;
      const b = high * t;
      const delta = (b - a) / 255;
      const rounding = (delta * delta) / 12;
      let error = 0;
      for (let bin = 0; bin < BINS; bin++) {
        const c = counts[bin] as number;
        if (c === 0) continue;
        const v = this.lo + (bin + 0.5) * width;
        const clipped = v < a ? a - v : v > b ? v - b : 0;
        error += c * (clipped === 0 ? rounding : clipped * clipped);
      }
      if (error < bestError) {
        bestError = error;
        best = [Math.max(this.min, a), Math.min(this.max, b)];
      }
    }
    return best;
  }
}

/** uint8 scale and zero point for [lo, hi] (widened to hold 0 exactly, as padding and ReLU need). */
export function uint8Params(lo: number, hi: number): { scale: number; zeroPoint: number } {
  const low = Math.min(0, lo);
  const high = Math.max(0, hi);
  if (high - low < 1e-12) return { scale: 1, zeroPoint: 0 };
  const scale = (high - low) / 255;
  return { scale, zeroPoint: Math.max(0, Math.min(255, Math.round(-low / scale))) };
}
