/**
 * The checks every quantization kernel runs before it starts, on every backend, so that the
 * kernels refuse what the reference numerics (src/quant/numerics/affine.ts, qparams.ts) refuse,
 * with the same rules:
 *   - qmin < qmax, integers within the int32 range (levels are stored as int32: a qmax of 2^40
 *     would clamp to values no level can hold). The reference numerics allow only [-2^24, 2^24],
 *     where every level and every (level - zeroPoint) is exact in float32 (PyTorch parity); the
 *     kernels also take the int32 range because QAT simulates int32 biases (src/quant/qat/modules.ts:
 *     zero point 0, levels far below 2^24 in practice). Beyond 2^24 a kernel's dequantized value is
 *     the float64 product (level - zp) * scale rounded once to float32;
 *   - every scale a finite float32 > 0 whose float32 reciprocal is finite and non-zero (the
 *     kernels multiply by float32(1/scale), PyTorch's fake_quantize expression);
 *   - every zero point an integer in [qmin, qmax];
 *   - no NaN input (NaN has no level: the reference throws, PyTorch silently returns qmin).
 * The quantization layer (src/quant) checks the same before it builds the kernel parameters; this
 * file is the ground-floor copy the kernels call, since src/tensor may not import src/quant.
 */
import type { QuantKernelParams } from './backend.js';

/** The int32 range: where the kernels' levels live. */
export const QUANT_LEVEL_MIN = -(2 ** 31);
export const QUANT_LEVEL_MAX = 2 ** 31 - 1;

/** Throws unless the parameters are ones the reference numerics accept. */
export function checkQuantKernelParams(q: QuantKernelParams, who: string): void {
  const { qmin, qmax } = q;
  if (!Number.isInteger(qmin) || !Number.isInteger(qmax) || qmin >= qmax) {
    throw new Error(`${who}: need integers qmin < qmax, got qmin=${qmin}, qmax=${qmax}`);
  }
  if (qmin < QUANT_LEVEL_MIN || qmax > QUANT_LEVEL_MAX) {
    throw new Error(`${who}: qmin and qmax must lie in the int32 range [-2^31, 2^31 - 1] (levels are int32), got ${qmin}..${qmax}`);
  }
  if (q.scale.length !== q.channels || q.zeroPoint.length !== q.channels) {
    throw new Error(`${who}: expected ${q.channels} scales and zero points, got ${q.scale.length} and ${q.zeroPoint.length}`);
  }
  for (let c = 0; c < q.channels; c++) {
    const s = Math.fround(q.scale[c]), inv = Math.fround(1 / s);
    const where = q.channels > 1 ? `${who} (channel ${c})` : who;
    if (!(s > 0) || s === Infinity || !Number.isFinite(inv) || inv === 0) {
      throw new Error(`${where}: scale must be a finite number > 0 whose float32 value and reciprocal are finite and non-zero, got ${q.scale[c]}`);
    }
    const zp = q.zeroPoint[c];
    if (!Number.isInteger(zp) || zp < qmin || zp > qmax) {
      throw new Error(`${where}: zeroPoint must be an integer in [qmin, qmax] = [${qmin}, ${qmax}], got ${zp}`);
    }
  }
}

/** The error for NaN input, worded as the reference's. */
export function nanInputError(who: string, count: number, first: number): Error {
  return new Error(`${who}: input contains ${count} NaN value(s) (first at index ${first}); NaN has no quantization level`);
}

/** Throws nanInputError when x holds a NaN. */
export function checkNoNaN(x: ArrayLike<number>, who: string): void {
  let count = 0, first = -1;
  for (let i = 0; i < x.length; i++) {
    if (x[i] !== x[i]) {
      if (first < 0) first = i;
      count++;
    }
  }
  if (count > 0) throw nanInputError(who, count, first);
}
