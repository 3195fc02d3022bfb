/**
 * Entropy (KL divergence) calibration, as in TensorRT's INT8 calibrator (Migacz, "8-bit Inference
 * with TensorRT", GTC 2017; also MXNet's and NVIDIA pytorch-quantization's ports).
 *
 * Input: a histogram of |x| over [0, max] with N bins (buildAbsHistogram). For every candidate
 * threshold keeping the first i bins, i = numQuantBins .. N:
 *   P  = counts[0 .. i-1], with everything beyond (the outliers, sum counts[i ..]) added to P[i-1]:
 *        the distribution after clipping at the threshold.
 *   Q  = counts[0 .. i-1] (without the outliers) merged into numQuantBins groups of floor(i / numQuantBins)
 *        consecutive bins (the last group takes the remainder), then expanded back to i bins by sharing
 *        each group's total equally among the bins of the group where P is non-zero:
 *        what the int8 levels can express.
 *   D(i) = KL(P || Q) = sum_k p_k log(p_k / q_k), with p = P / sum P and q = Q / sum Q.
 * The threshold is the right edge of bin i for the i with the smallest D (the largest such i on a tie,
 * clipping less). The range is symmetric: [-threshold, threshold].
 *
 * Choices where the ports differ: Q is built from the bins without the outliers (TensorRT's pseudo-code;
 * building it from P would make D(numQuantBins) = 0 always); no smoothing: a candidate where Q is 0 but
 * P is not has D = +Infinity and is never chosen (pytorch-quantization's scipy entropy behaves so; MXNet
 * smooths with a small epsilon); i = N keeps every value, has no outliers and so is always finite.
 */
import type { FloatRange } from './calibration.js';
import type { Histogram } from './histogram.js';

export interface KlRangeResult extends FloatRange {
  /** max = threshold, min = -threshold. */
  threshold: number;
  /** Number of histogram bins kept below the threshold. */
  keptBins: number;
  /** KL(P || Q) at the chosen threshold. */
  divergence: number;
}

function checkAbsHistogram(hist: Histogram, numQuantBins: number, who: string): void {
  if (!(hist.counts instanceof Float64Array)) throw new Error(`${who}: hist.counts must be a Float64Array`);
  if (hist.min !== 0 || !(hist.max > 0) || !Number.isFinite(hist.max)) {
    throw new Error(`${who}: expects a histogram of |x| over [0, max] (see buildAbsHistogram), got [${hist.min}, ${hist.max}]`);
  }
  if (!Number.isInteger(numQuantBins) || numQuantBins < 1) {
    throw new Error(`${who}: numQuantBins must be a positive integer, got ${numQuantBins}`);
  }
  if (hist.counts.length < numQuantBins) {
    throw new Error(`${who}: the histogram has ${hist.counts.length} bins, fewer than numQuantBins = ${numQuantBins}`);
  }
  let total = 0;
  for (let k = 0; k < hist.counts.length; k++) {
    const c = hist.counts[k];
    if (!(c >= 0) || !Number.isFinite(c)) throw new Error(`${who}: hist.counts[${k}] must be finite and >= 0, got ${c}`);
    total += c;
  }
  if (total === 0) throw new Error(`${who}: the histogram is empty`);
}

/** D(i) for i = numQuantBins .. bins (entry i - numQuantBins); +Infinity where Q misses mass of P. */
export function klDivergences(hist: Histogram, numQuantBins = 128): Float64Array {
  checkAbsHistogram(hist, numQuantBins, 'klDivergences');
  const counts = hist.counts;
  const n = counts.length;
  const suffix = new Float64Array(n + 1); // suffix[i] = sum counts[i ..]
  for (let k = n - 1; k >= 0; k--) suffix[k] = suffix[k + 1] + counts[k];

  const out = new Float64Array(n - numQuantBins + 1);
  const p = new Float64Array(n);
  const groupSum = new Float64Array(numQuantBins);
  const groupNonZero = new Float64Array(numQuantBins);
  for (let i = numQuantBins; i <= n; i++) {
    const groupSize = Math.floor(i / numQuantBins);
    groupSum.fill(0);
    groupNonZero.fill(0);
    let sumP = 0;
    let sumQ = 0;
    for (let k = 0; k < i; k++) {
      p[k] = k === i - 1 ? counts[k] + suffix[i] : counts[k];
      sumP += p[k];
      const g = Math.min(Math.floor(k / groupSize), numQuantBins - 1);
      groupSum[g] += counts[k];
      sumQ += counts[k];
      if (p[k] !== 0) groupNonZero[g] += 1;
    }
    let d = 0;
    for (let k = 0; k < i && d !== Infinity; k++) {
      if (p[k] === 0) continue;
      const g = Math.min(Math.floor(k / groupSize), numQuantBins - 1);
      const q = groupSum[g] / groupNonZero[g];
      if (q === 0) {
        d = Infinity;
        break;
      }
      const pk = p[k] / sumP;
      d += pk * Math.log(pk / (q / sumQ));
    }
    out[i - numQuantBins] = d;
  }
  return out;
}

/** The symmetric clipping range [-t, t] minimising KL(P || Q) (see the file comment). */
export function klRange(hist: Histogram, numQuantBins = 128): KlRangeResult {
  const divergences = klDivergences(hist, numQuantBins);
  let best = 0;
  for (let j = 1; j < divergences.length; j++) if (divergences[j] <= divergences[best]) best = j;
  const keptBins = best + numQuantBins;
  const threshold = (hist.max * keptBins) / hist.counts.length;
  return { min: -threshold, max: threshold, threshold, keptBins, divergence: divergences[best] };
}
