/**
 * Observers watch the tensors flowing through a layer and turn what they saw into quantization
 * parameters (PyTorch's torch.ao.quantization.observer; calibration methods of seed document 003):
 *
 *   MinMaxObserver               running global min/max (never shrinks)
 *   MovingAverageMinMaxObserver  min ← min + c·(batch_min − min), same for max (c = 0.01, PyTorch's
 *                                averaging constant): ranges follow the data and forget outliers
 *   PerChannel variants          the same along one axis (output channels of a weight)
 *   HistogramObserver            a histogram of everything seen, calibrated by 'max', 'percentile',
 *                                'mse' (the clipping range minimising expected quantization error)
 *                                or 'kl' (TensorRT's entropy calibration)
 *
 * qparams come from computeQParams (src/quant/numerics), bit-for-bit PyTorch's formula.
 * Rules: an empty tensor is ignored (nothing learned); NaN in the input is an error naming how
 * many values were NaN (a NaN range would silently poison every later batch); ±Infinity likewise;
 * constant input is fine (the range is widened to include 0, and the scale floored at eps).
 */
import * as raw from '../tensor/raw.js';
import { Tensor } from '../tensor/tensor.js';
import { normAxis } from '../tensor/shape.js';
import {
  buildHistogram, computeQParams, computeQParamsPerChannel, klRange, mergeHistograms, mseRange, percentileRange,
  type Histogram, type QScheme, type Rounding,
} from './numerics/index.js';

export interface QuantRange {
  qmin: number;
  qmax: number;
  scheme: QScheme;
  rounding?: Rounding;
}

export interface ObservedQParams {
  scale: Float32Array;
  zeroPoint: Int32Array;
  /** Channel axis, or null for per-tensor parameters. */
  axis: number | null;
}

export abstract class Observer {
  /** Whether anything has been observed yet. */
  abstract get initialized(): boolean;
  abstract observe(x: Tensor): void;
  /** The qparams for what was observed (PyTorch's calculate_qparams). */
  abstract computeQParams(r: QuantRange): ObservedQParams;
  /** @deprecated The old name of computeQParams. */
  calculateQParams(r: QuantRange): ObservedQParams {
    return this.computeQParams(r);
  }
  abstract reset(): void;
  /** The observed float range(s), for display. */
  abstract range(): { min: ArrayLike<number>; max: ArrayLike<number> };
  /** Everything observed so far, as named float64 arrays (fixed names per class), for state dicts. */
  abstract stateArrays(): Record<string, Float64Array>;
  /** Checks arrays from stateArrays() and returns a function that restores them. */
  abstract loadStateArrays(s: Record<string, Float64Array>): () => void;
}

function need(s: Record<string, Float64Array>, key: string, who: string, length?: number): Float64Array {
  const a = s[key];
  if (!(a instanceof Float64Array)) throw new Error(`${who}: state '${key}' is missing`);
  if (length !== undefined && a.length !== length) throw new Error(`${who}: state '${key}' has ${a.length} values, expected ${length}`);
  return a;
}

function checkFinite(x: Tensor, who: string): void {
  // max(|x|) is NaN iff some element is NaN (max propagates NaN), Infinity iff some is infinite.
  const m = raw.reduce('max', raw.unary('abs', x)).item();
  if (Number.isFinite(m)) return;
  const vals = x.toTypedArray();
  let nan = 0, inf = 0;
  for (const v of vals) {
    if (v !== v) nan++;
    else if (!Number.isFinite(v)) inf++;
  }
  throw new Error(`${who}: input contains ${nan} NaN and ${inf} infinite values out of ${vals.length}; refusing to update the range`);
}

function perTensorMinMax(x: Tensor, who: string): [number, number] {
  checkFinite(x, who);
  return [raw.reduce('min', x).item(), raw.reduce('max', x).item()];
}

export class MinMaxObserver extends Observer {
  protected min = Infinity;
  protected max = -Infinity;
  /** An explicit flag, not `min <= max`: a NaN range must not read as "no data observed yet". */
  protected seen = false;
  get initialized(): boolean {
    return this.seen;
  }
  observe(x: Tensor): void {
    if (x.size === 0) return;
    const [lo, hi] = perTensorMinMax(x, this.constructor.name);
    this.update(lo, hi);
    this.seen = true;
  }
  protected update(lo: number, hi: number): void {
    this.min = Math.min(this.min, lo);
    this.max = Math.max(this.max, hi);
  }
  computeQParams(r: QuantRange): ObservedQParams {
    if (!this.initialized) throw new Error(`${this.constructor.name}: no data observed yet; run calibration batches first`);
    const p = computeQParams(this.min, this.max, r);
    return { scale: Float32Array.of(p.scale), zeroPoint: Int32Array.of(p.zeroPoint), axis: null };
  }
  reset(): void {
    this.min = Infinity;
    this.max = -Infinity;
    this.seen = false;
  }
  range() {
    return { min: [this.min], max: [this.max] };
  }
  stateArrays(): Record<string, Float64Array> {
    return { min: Float64Array.of(this.min), max: Float64Array.of(this.max) };
  }
  loadStateArrays(s: Record<string, Float64Array>): () => void {
    const lo = need(s, 'min', this.constructor.name, 1)[0], hi = need(s, 'max', this.constructor.name, 1)[0];
    if (Number.isNaN(lo) || Number.isNaN(hi) || (lo <= hi) !== (Number.isFinite(lo) && Number.isFinite(hi))) {
      throw new Error(`${this.constructor.name}: state min ${lo}, max ${hi} is neither an observed range nor the empty one (Infinity, -Infinity)`);
    }
    return () => {
      this.min = lo;
      this.max = hi;
      this.seen = lo <= hi; // the empty range (Infinity, -Infinity) means nothing observed yet
    };
  }
}

/**
 * The moving average x ← x + c·(new − x) (PyTorch's MovingAverageMinMaxObserver) interpolates
 * only for c in (0, 1]; c > 1 extrapolates past the new value, c <= 0 or NaN never moves.
 */
function checkAveragingConstant(c: unknown, who: string): void {
  if (typeof c !== 'number' || !(c > 0 && c <= 1)) throw new Error(`${who}: averagingConstant must be in (0, 1], got ${String(c)}`);
}

export class MovingAverageMinMaxObserver extends MinMaxObserver {
  constructor(readonly averagingConstant = 0.01) {
    super();
    checkAveragingConstant(averagingConstant, 'MovingAverageMinMaxObserver');
  }
  protected override update(lo: number, hi: number): void {
    if (!this.initialized) {
      this.min = lo;
      this.max = hi;
    } else {
      this.min = this.min + this.averagingConstant * (lo - this.min);
      this.max = this.max + this.averagingConstant * (hi - this.max);
    }
  }
}

export class PerChannelMinMaxObserver extends Observer {
  protected mins: Float64Array | null = null;
  protected maxs: Float64Array | null = null;
  constructor(readonly axis = 0, readonly averagingConstant: number | null = null) {
    super();
    if (averagingConstant !== null) checkAveragingConstant(averagingConstant, this.constructor.name);
  }
  get initialized(): boolean {
    return this.mins !== null;
  }
  observe(x: Tensor): void {
    if (x.size === 0) return;
    checkFinite(x, this.constructor.name);
    const ax = normAxis(this.axis, x.ndim);
    const others = x.shape.map((_, i) => i).filter((i) => i !== ax);
    const lo = raw.reduce('min', x, others).toTypedArray();
    const hi = raw.reduce('max', x, others).toTypedArray();
    if (!this.mins || !this.maxs) {
      this.mins = Float64Array.from(lo);
      this.maxs = Float64Array.from(hi);
      return;
    }
    if (this.mins.length !== lo.length) throw new Error(`${this.constructor.name}: saw ${lo.length} channels, expected ${this.mins.length}`);
    const c = this.averagingConstant;
    for (let i = 0; i < lo.length; i++) {
      if (c === null) {
        this.mins[i] = Math.min(this.mins[i], lo[i]);
        this.maxs[i] = Math.max(this.maxs[i], hi[i]);
      } else {
        this.mins[i] += c * (lo[i] - this.mins[i]);
        this.maxs[i] += c * (hi[i] - this.maxs[i]);
      }
    }
  }
  computeQParams(r: QuantRange): ObservedQParams {
    if (!this.mins || !this.maxs) throw new Error(`${this.constructor.name}: no data observed yet`);
    const p = computeQParamsPerChannel(this.mins, this.maxs, r);
    return { scale: p.scale, zeroPoint: p.zeroPoint, axis: this.axis };
  }
  reset(): void {
    this.mins = this.maxs = null;
  }
  range() {
    return { min: this.mins ?? [], max: this.maxs ?? [] };
  }
  stateArrays(): Record<string, Float64Array> {
    return { mins: this.mins ? this.mins.slice() : new Float64Array(0), maxs: this.maxs ? this.maxs.slice() : new Float64Array(0) };
  }
  loadStateArrays(s: Record<string, Float64Array>): () => void {
    const who = this.constructor.name;
    const lo = need(s, 'mins', who), hi = need(s, 'maxs', who, s.mins?.length);
    for (let i = 0; i < lo.length; i++) if (!(lo[i] <= hi[i])) throw new Error(`${who}: state channel ${i} has min ${lo[i]} > max ${hi[i]}`);
    return () => {
      this.mins = lo.length ? lo.slice() : null;
      this.maxs = hi.length ? hi.slice() : null;
    };
  }
}

export class MovingAveragePerChannelMinMaxObserver extends PerChannelMinMaxObserver {
  constructor(axis = 0, averagingConstant = 0.01) {
    super(axis, averagingConstant);
  }
}

export type CalibrationMethod = 'max' | 'percentile' | 'mse' | 'kl';
/** Every CalibrationMethod, for run-time checks (plain JavaScript callers, command lines). */
export const CALIBRATION_METHODS: readonly CalibrationMethod[] = ['max', 'percentile', 'mse', 'kl'];

export interface HistogramObserverOptions {
  method?: CalibrationMethod;
  bins?: number;
  /** For 'percentile': the kept percentile of |x| mass, e.g. 99.99. */
  percentile?: number;
}

/**
 * Keeps a histogram over a range that grows when new data exceeds it (old counts are re-binned
 * by mergeHistograms), plus the exact min/max, and a bounded reservoir for percentiles.
 */
export class HistogramObserver extends Observer {
  private hist: Histogram | null = null;
  private lo = Infinity;
  private hi = -Infinity;
  private sample: number[] = [];
  private seen = 0;
  readonly method: CalibrationMethod;
  readonly bins: number;
  readonly percentile: number;
  constructor(opts: HistogramObserverOptions = {}) {
    super();
    this.method = opts.method ?? 'mse';
    if (!CALIBRATION_METHODS.includes(this.method)) {
      throw new Error(`HistogramObserver: method must be one of ${CALIBRATION_METHODS.join(', ')}; got ${JSON.stringify(this.method)}`);
    }
    this.bins = opts.bins ?? 2048;
    this.percentile = opts.percentile ?? 99.99;
  }
  get initialized(): boolean {
    return this.hist !== null;
  }
  observe(x: Tensor): void {
    if (x.size === 0) return;
    const data = x.toTypedArray();
    let lo = Infinity, hi = -Infinity, finite = true;
    // One indexed pass for the range and the finiteness check (v − v is 0 exactly when v is
    // finite); for-of over a typed array took ~10x longer here (measured in the QAT phase).
    for (let i = 0, n = data.length; i < n; i++) {
      const v = data[i];
      if (v < lo) lo = v;
      if (v > hi) hi = v;
      if (v - v !== 0) finite = false;
    }
    if (!finite) checkFinite(x, 'HistogramObserver'); // throws, counting the NaN and infinite values
    this.lo = Math.min(this.lo, lo);
    this.hi = Math.max(this.hi, hi);
    // A symmetric range around 0 so that 'kl' (which works on |x|) and the others share one histogram.
    const bound = Math.max(Math.abs(this.lo), Math.abs(this.hi), 1e-12);
    const h = buildHistogram(data, this.bins, -bound, bound);
    this.hist = this.hist ? mergeHistograms(this.hist, h) : h;
    // Reservoir sample (deterministic stride) for percentiles.
    const cap = 200_000;
    const stride = Math.max(1, Math.floor(data.length / 20_000));
    for (let i = 0; i < data.length; i += stride) {
      this.seen++;
      if (this.sample.length < cap) this.sample.push(data[i]);
      else this.sample[this.seen % cap] = data[i];
    }
  }
  /** The clipping range chosen by the calibration method. */
  chooseRange(r: QuantRange): { min: number; max: number } {
    if (!this.hist) throw new Error('HistogramObserver: no data observed yet; run calibration batches first');
    const nonNegative = this.lo >= 0;
    switch (this.method) {
      case 'max':
        return { min: this.lo, max: this.hi };
      case 'percentile': {
        const p = percentileRange(this.sample, this.percentile);
        return { min: nonNegative ? 0 : p.min, max: p.max };
      }
      case 'mse': {
        // Search over the data's own range, not the histogram's symmetric [-bound, bound]: the
        // candidates scale the range's ends, so on non-negative data (ReLU outputs) the symmetric
        // one would score quantizers that spend half their levels below 0, not the [0, max] one used.
        const m = mseRange(trimHistogram(this.hist, this.lo, this.hi), r.qmin, r.qmax, r.scheme);
        return { min: Math.max(m.min, this.lo), max: Math.min(m.max, this.hi) };
      }
      case 'kl': {
        // TensorRT uses 128 bins for int8 (the positive half of a signed range); in general, the
        // number of levels that cover the kept side: all of them for non-negative data.
        const levels = r.qmax - r.qmin + 1;
        const k = klRange(absHistogram(this.hist), Math.max(2, nonNegative ? levels : Math.ceil(levels / 2)));
        return { min: nonNegative ? 0 : Math.max(-k.threshold, this.lo), max: Math.min(k.threshold, this.hi) };
      }
    }
  }
  computeQParams(r: QuantRange): ObservedQParams {
    const { min, max } = this.chooseRange(r);
    const p = computeQParams(min, max, r);
    return { scale: Float32Array.of(p.scale), zeroPoint: Int32Array.of(p.zeroPoint), axis: null };
  }
  reset(): void {
    this.hist = null;
    this.lo = Infinity;
    this.hi = -Infinity;
    this.sample = [];
    this.seen = 0;
  }
  range() {
    return { min: [this.lo], max: [this.hi] };
  }
  stateArrays(): Record<string, Float64Array> {
    return {
      lo: Float64Array.of(this.lo), hi: Float64Array.of(this.hi), seen: Float64Array.of(this.seen),
      hist_range: this.hist ? Float64Array.of(this.hist.min, this.hist.max) : new Float64Array(0),
      counts: this.hist ? this.hist.counts.slice() : new Float64Array(0),
      sample: Float64Array.from(this.sample),
    };
  }
  loadStateArrays(s: Record<string, Float64Array>): () => void {
    const who = 'HistogramObserver';
    const lo = need(s, 'lo', who, 1)[0], hi = need(s, 'hi', who, 1)[0], seen = need(s, 'seen', who, 1)[0];
    const range = need(s, 'hist_range', who), counts = need(s, 'counts', who), sample = need(s, 'sample', who);
    if ((range.length === 0) !== (counts.length === 0) || (range.length !== 0 && range.length !== 2)) throw new Error(`${who}: state hist_range and counts must both be empty or hold a histogram`);
    if (!Number.isSafeInteger(seen) || seen < 0 || sample.length > 200_000) throw new Error(`${who}: state seen ${seen} / sample of ${sample.length} is not a valid reservoir`);
    return () => {
      this.lo = lo;
      this.hi = hi;
      this.seen = seen;
      this.hist = range.length ? { min: range[0], max: range[1], counts: counts.slice() } : null;
      this.sample = Array.from(sample);
    };
  }
}

/**
 * The bins of h from the one holding lo to the one holding hi (the observed data range), with the
 * mass a re-binning merge spread outside them added to the end bins, so totals are kept.
 */
function trimHistogram(h: Histogram, lo: number, hi: number): Histogram {
  const n = h.counts.length;
  const width = (h.max - h.min) / n;
  const first = Math.min(n - 1, Math.max(0, Math.floor((lo - h.min) / width)));
  const last = Math.min(n - 1, Math.max(first, Math.floor((hi - h.min) / width)));
  const counts = h.counts.slice(first, last + 1);
  for (let i = 0; i < first; i++) counts[0] += h.counts[i];
  for (let i = last + 1; i < n; i++) counts[counts.length - 1] += h.counts[i];
  return { min: h.min + first * width, max: last === n - 1 ? h.max : h.min + (last + 1) * width, counts };
}

/** Folds a histogram symmetric around 0 into a histogram of |x| over [0, bound]. */
function absHistogram(h: Histogram): Histogram {
  const n = h.counts.length;
  const half = Math.floor(n / 2);
  const counts = new Float64Array(n - half);
  for (let i = 0; i < n; i++) {
    const j = i < half ? half - 1 - i : i - half;
    counts[Math.min(j, counts.length - 1)] += h.counts[i];
  }
  return { ...h, min: 0, max: h.max, counts } as Histogram;
}
