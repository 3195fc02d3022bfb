/**
 * MSE calibration: choose the clipping range that minimises the quantization error.
 *
 * A wide range wastes levels on rare outliers (large rounding error for everything else); a narrow
 * one clips the outliers (large clipping error for them). The search tries the candidate ranges
 *     affine:     [k/steps * min, k/steps * max]
 *     symmetric:  [-k/steps * amax, k/steps * amax],   amax = max(|min|, |max|)
 * for k = steps, steps - 1, ..., 1, turns each into qparams with computeQParams (the same code an
 * observer uses), and measures
 *     error = sum over values x of (x - fakeQuantize(x))^2
 * either exactly over the data, or over a histogram as sum_i counts[i] * (c_i - fakeQuantize(c_i))^2
 * with c_i the bin centre (values assumed at their bin centre; finer bins -> closer to the data sum).
 * The smallest error wins; on a tie the wider range is kept (less clipping for the same error).
 */
import { fakeQuantizeValue } from './affine.js';
import { checkCalibrationData, type FloatRange, minMaxRange } from './calibration.js';
import { fround } from './float32.js';
import { binCenter, type Histogram } from './histogram.js';
import { computeQParams, type ComputeQParamsOptions, type QScheme } from './qparams.js';
import { DEFAULT_ROUNDING, type Rounding, rounderFor } from './rounding.js';

export interface MseRangeOptions {
  /** Number of candidate ranges; default 100. */
  steps?: number;
  /** Tie rule for both the zero point and the levels; default 'halfEven'. */
  rounding?: Rounding;
  unsignedSymmetricZeroPoint?: ComputeQParamsOptions['unsignedSymmetricZeroPoint'];
}

export interface MseRangeResult extends FloatRange {
  /** Sum of squared errors at the chosen range (count-weighted for a histogram). */
  error: number;
}

function isHistogram(source: Histogram | ArrayLike<number>): source is Histogram {
  return (source as Histogram).counts instanceof Float64Array;
}

/** The squared error of every candidate range k = 1..steps (index k - 1), for inspection and tests. */
export function mseErrors(
  source: Histogram | ArrayLike<number>,
  qmin: number,
  qmax: number,
  scheme: QScheme,
  options: MseRangeOptions = {},
): { ranges: FloatRange[]; errors: Float64Array } {
  const who = 'mseRange';
  const steps = options.steps ?? 100;
  if (!Number.isInteger(steps) || steps < 1) throw new Error(`${who}: steps must be a positive integer, got ${steps}`);
  const rounding = options.rounding ?? DEFAULT_ROUNDING;
  const round = rounderFor(rounding);

  let values: ArrayLike<number>;
  let weights: ArrayLike<number> | undefined;
  let base: FloatRange;
  if (isHistogram(source)) {
    const n = source.counts.length;
    const centres = new Float64Array(n);
    for (let i = 0; i < n; i++) centres[i] = binCenter(source, i);
    values = centres;
    weights = source.counts;
    base = { min: source.min, max: source.max };
  } else {
    checkCalibrationData(source, who);
    values = source;
    base = minMaxRange(source);
  }

  const ranges: FloatRange[] = [];
  const errors = new Float64Array(steps);
  for (let k = 1; k <= steps; k++) {
    let lo: number;
    let hi: number;
    if (scheme === 'symmetric') {
      const amax = (Math.max(Math.abs(base.min), Math.abs(base.max)) * k) / steps;
      lo = -amax;
      hi = amax;
    } else {
      lo = (base.min * k) / steps;
      hi = (base.max * k) / steps;
    }
    const range = { min: fround(lo), max: fround(hi) };
    const { scale, zeroPoint } = computeQParams(range.min, range.max, {
      qmin,
      qmax,
      scheme,
      rounding,
      unsignedSymmetricZeroPoint: options.unsignedSymmetricZeroPoint,
    });
    const inv = fround(1 / scale);
    let error = 0;
    for (let i = 0; i < values.length; i++) {
      const w = weights === undefined ? 1 : weights[i];
      if (w === 0) continue;
      const x = fround(values[i]);
      const d = x - fakeQuantizeValue(x, scale, inv, zeroPoint, qmin, qmax, round);
      error += w * d * d;
    }
    ranges.push(range);
    errors[k - 1] = error;
  }
  return { ranges, errors };
}

/**
 * The clipping range with the smallest quantization MSE, searched over `steps` shrinking candidates
 * of the data's (or histogram's) range. Feed the result to computeQParams with the same qmin, qmax
 * and scheme.
 */
export function mseRange(
  source: Histogram | ArrayLike<number>,
  qmin: number,
  qmax: number,
  scheme: QScheme,
  options: MseRangeOptions = {},
): MseRangeResult {
  const { ranges, errors } = mseErrors(source, qmin, qmax, scheme, options);
  let best = errors.length - 1;
  for (let k = errors.length - 2; k >= 0; k--) if (errors[k] < errors[best]) best = k;
  return { ...ranges[best], error: errors[best] };
}
