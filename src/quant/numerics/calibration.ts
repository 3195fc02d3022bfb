/**
 * Calibration picks the float range [min, max] that computeQParams turns into a scale and zero point
 * (post-training quantization; seed document 003 lists global max, percentile, MSE and KL divergence).
 * This file holds the two order-statistic methods; histogram.ts, mse-range.ts and kl-range.ts the rest.
 *
 * Rules shared by every calibration function:
 *   - empty input throws;
 *   - NaN or +-Infinity in the data throws, naming how many there are (a range cannot include NaN, and
 *     silently skipping them would hide an upstream bug);
 *   - a constant input yields min === max; computeQParams widens the range to include 0 and floors the
 *     scale at float32 eps, so a constant (even all-zero) tensor still gets valid qparams.
 */

export interface FloatRange {
  min: number;
  max: number;
}

/** Throw unless `data` is non-empty and finite. */
export function checkCalibrationData(data: ArrayLike<number>, who: string): void {
  if (data.length === 0) throw new Error(`${who}: data is empty; calibration needs at least one value`);
  let nan = 0;
  let inf = 0;
  for (let i = 0; i < data.length; i++) {
    const v = data[i];
    if (v !== v) nan++;
    else if (v === Infinity || v === -Infinity) inf++;
  }
  if (nan > 0 || inf > 0) {
    throw new Error(`${who}: data contains ${nan} NaN and ${inf} infinite value(s) out of ${data.length}; calibration needs finite values`);
  }
}

/** The global min and max ("global max" calibration; what MinMaxObserver records). */
export function minMaxRange(data: ArrayLike<number>): FloatRange {
  checkCalibrationData(data, 'minMaxRange');
  let min = data[0];
  let max = data[0];
  for (let i = 1; i < data.length; i++) {
    const v = data[i];
    if (v < min) min = v;
    if (v > max) max = v;
  }
  return { min, max };
}

/**
 * Quantile q in [0, 1] of sorted values with linear interpolation between order statistics:
 * h = (n - 1) q, value = s[floor h] + (h - floor h)(s[floor h + 1] - s[floor h]) (numpy's default
 * 'linear' method, Hyndman & Fan type 7).
 */
function quantileOfSorted(sorted: Float64Array, q: number): number {
  const h = (sorted.length - 1) * q;
  const lo = Math.floor(h);
  const hi = Math.min(lo + 1, sorted.length - 1);
  return sorted[lo] + (h - lo) * (sorted[hi] - sorted[lo]);
}

/**
 * Clip the tails: min = the (100 - pct)th percentile, max = the pct-th percentile, with pct in [50, 100]
 * (pct = 100 is minMaxRange). Percentiles interpolate linearly between order statistics (numpy's
 * default). Sorting makes this O(n log n).
 */
export function percentileRange(data: ArrayLike<number>, pct: number): FloatRange {
  const who = 'percentileRange';
  if (!(pct >= 50 && pct <= 100)) throw new Error(`${who}: pct must be a number in [50, 100], got ${pct}`);
  checkCalibrationData(data, who);
  const sorted = Float64Array.from(data).sort();
  return { min: quantileOfSorted(sorted, (100 - pct) / 100), max: quantileOfSorted(sorted, pct / 100) };
}
