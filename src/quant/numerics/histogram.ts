/**
 * Equal-width histograms for calibration, built batch by batch.
 *
 * A histogram has `bins = counts.length` bins of width w = (max - min) / bins; bin i counts the values
 * in [min + i w, min + (i + 1) w), the last bin also takes x = max. When the caller fixes [min, max],
 * values outside it are counted in the first or last bin (they will be clipped to that edge when
 * quantized, so the MSE search must still see them).
 *
 * Streaming: calibrate over many batches by merging per-batch histograms.
 *   - Histograms on the same grid (same min, max, bins) merge exactly: counts add. Fix the range up
 *     front (e.g. from a min/max pass) to make streaming exact and order-independent.
 *   - Otherwise mergeHistograms re-bins both onto the union range with the larger bin count, spreading
 *     each source bin's count over the target bins it overlaps in proportion to the overlap, i.e.
 *     assuming values are uniform within a bin (the assumption PyTorch's HistogramObserver makes when
 *     it combines histograms). Totals are preserved; counts may become fractional.
 */
import { checkCalibrationData } from './calibration.js';
import { FLOAT32_EPS } from './float32.js';

export interface Histogram {
  /** Left edge of the first bin. */
  min: number;
  /** Right edge of the last bin. */
  max: number;
  /** Count (or weight, after a re-binning merge) per bin. */
  counts: Float64Array;
}

/** A zero-width range becomes [v, v + delta] so every bin has positive width. */
function widen(min: number, max: number): [number, number] {
  if (max > min) return [min, max];
  return [min, min + Math.max(Math.abs(min), 1) * FLOAT32_EPS];
}

function checkBins(bins: number, who: string): void {
  if (!Number.isInteger(bins) || bins < 1 || bins > 1 << 24) {
    throw new Error(`${who}: bins must be an integer in [1, 2^24], got ${bins}`);
  }
}

function addValues(h: Histogram, values: ArrayLike<number>, transform: (v: number) => number): void {
  const bins = h.counts.length;
  const perUnit = bins / (h.max - h.min);
  for (let i = 0; i < values.length; i++) {
    let b = Math.floor((transform(values[i]) - h.min) * perUnit);
    if (b < 0) b = 0;
    else if (b >= bins) b = bins - 1;
    h.counts[b] += 1;
  }
}

/**
 * Histogram of `data` with `bins` equal-width bins over [min, max] (default: the data's own range).
 * Data must be non-empty and finite (see calibration.ts).
 */
export function buildHistogram(data: ArrayLike<number>, bins: number, min?: number, max?: number): Histogram {
  const who = 'buildHistogram';
  checkBins(bins, who);
  checkCalibrationData(data, who);
  let lo = min;
  let hi = max;
  if (lo === undefined || hi === undefined) {
    let dmin = data[0];
    let dmax = data[0];
    for (let i = 1; i < data.length; i++) {
      if (data[i] < dmin) dmin = data[i];
      if (data[i] > dmax) dmax = data[i];
    }
    lo ??= dmin;
    hi ??= dmax;
  }
  if (!Number.isFinite(lo) || !Number.isFinite(hi) || lo > hi) {
    throw new Error(`${who}: min and max must be finite with min <= max, got min=${lo}, max=${hi}`);
  }
  const [wlo, whi] = widen(lo, hi);
  const h: Histogram = { min: wlo, max: whi, counts: new Float64Array(bins) };
  addValues(h, data, (v) => v);
  return h;
}

/**
 * Histogram of |data| over [0, max] (default max = max |x|): the input of entropy (KL) calibration,
 * which looks for a symmetric threshold.
 */
export function buildAbsHistogram(data: ArrayLike<number>, bins: number, max?: number): Histogram {
  const who = 'buildAbsHistogram';
  checkBins(bins, who);
  checkCalibrationData(data, who);
  let hi = max;
  if (hi === undefined) {
    hi = 0;
    for (let i = 0; i < data.length; i++) hi = Math.max(hi, Math.abs(data[i]));
  }
  if (!Number.isFinite(hi) || hi < 0) throw new Error(`${who}: max must be finite and >= 0, got ${hi}`);
  const [lo, whi] = widen(0, hi);
  const h: Histogram = { min: lo, max: whi, counts: new Float64Array(bins) };
  addValues(h, data, Math.abs);
  return h;
}

/** Centre of bin i. */
export function binCenter(h: Histogram, i: number): number {
  return h.min + ((i + 0.5) * (h.max - h.min)) / h.counts.length;
}

function checkHistogram(h: Histogram, name: string, who: string): void {
  if (!(h.counts instanceof Float64Array) || h.counts.length === 0) {
    throw new Error(`${who}: ${name}.counts must be a non-empty Float64Array`);
  }
  if (!Number.isFinite(h.min) || !Number.isFinite(h.max) || !(h.max > h.min)) {
    throw new Error(`${who}: ${name} must have finite min < max, got min=${h.min}, max=${h.max}`);
  }
}

/**
 * Combine two histograms (e.g. of consecutive batches). Exact when both share min, max and bin count;
 * otherwise re-binned onto the union range (see the file comment).
 */
export function mergeHistograms(a: Histogram, b: Histogram): Histogram {
  const who = 'mergeHistograms';
  checkHistogram(a, 'a', who);
  checkHistogram(b, 'b', who);
  if (a.min === b.min && a.max === b.max && a.counts.length === b.counts.length) {
    const counts = new Float64Array(a.counts.length);
    for (let i = 0; i < counts.length; i++) counts[i] = a.counts[i] + b.counts[i];
    return { min: a.min, max: a.max, counts };
  }
  const target: Histogram = {
    min: Math.min(a.min, b.min),
    max: Math.max(a.max, b.max),
    counts: new Float64Array(Math.max(a.counts.length, b.counts.length)),
  };
  spreadInto(target, a);
  spreadInto(target, b);
  return target;
}

/** Add each bin of `source` to the overlapping bins of `target`, in proportion to the overlap. */
function spreadInto(target: Histogram, source: Histogram): void {
  const tBins = target.counts.length;
  const tWidth = (target.max - target.min) / tBins;
  const sBins = source.counts.length;
  const sWidth = (source.max - source.min) / sBins;
  for (let i = 0; i < sBins; i++) {
    const count = source.counts[i];
    if (count === 0) continue;
    const left = source.min + i * sWidth;
    const right = i === sBins - 1 ? source.max : source.min + (i + 1) * sWidth;
    let first = Math.floor((left - target.min) / tWidth);
    let last = Math.floor((right - target.min) / tWidth);
    first = Math.min(Math.max(first, 0), tBins - 1);
    last = Math.min(Math.max(last, 0), tBins - 1);
    if (first === last) {
      target.counts[first] += count;
      continue;
    }
    // Overlap of [left, right) with each target bin; the pieces are renormalised so that rounding in
    // the edges cannot create or lose mass.
    let total = 0;
    const pieces = new Float64Array(last - first + 1);
    for (let t = first; t <= last; t++) {
      const tLeft = t === 0 ? target.min : target.min + t * tWidth;
      const tRight = t === tBins - 1 ? target.max : target.min + (t + 1) * tWidth;
      const overlap = Math.max(0, Math.min(right, tRight) - Math.max(left, tLeft));
      pieces[t - first] = overlap;
      total += overlap;
    }
    if (total === 0) {
      target.counts[first] += count;
      continue;
    }
    for (let t = first; t <= last; t++) target.counts[t] += (count * pieces[t - first]) / total;
  }
}
