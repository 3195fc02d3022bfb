/**
 * Integer-only rescaling with a Q31 fixed-point multiplier (gemmlowp / TFLite).
 *
 * Integer inference must multiply int32 accumulators by real factors such as M = s_in * s_w / s_out
 * (Jacob et al. 2018, §2.2, eqs. 3-5). M is stored as an int32 `multiplier` in [2^30, 2^31) and a power-of-two
 * `shift`, M ~= multiplier * 2^(shift - 31), and applied with integer operations only:
 *
 *   multiplyByQuantizedMultiplier(x, multiplier, shift)
 *     = RoundingDivideByPOT(SaturatingRoundingDoublingHighMul(x * 2^max(shift, 0), multiplier), max(-shift, 0))
 *
 * exactly as TFLite's reference MultiplyByQuantizedMultiplier (tensorflow/lite/kernels/internal/common.h)
 * with gemmlowp's fixedpoint.h primitives:
 *   - SaturatingRoundingDoublingHighMul(a, b): the high 32 bits of 2ab, rounded. gemmlowp adds a nudge
 *     of 2^30 (or 1 - 2^30 when ab < 0) and divides by 2^31 truncating toward zero; both cases equal
 *         floor((a*b + 2^30) / 2^31),
 *     i.e. ties toward +Infinity. The single overflow, a = b = -2^31, saturates to 2^31 - 1 (ARM VQRDMULH).
 *   - RoundingDivideByPOT(x, e): x / 2^e rounded to nearest, ties away from zero.
 *   - The left shift wraps modulo 2^32 like the int32 multiplication it is in C++ (overflow there is
 *     undefined behaviour, so callers keep x * 2^shift within int32; requantize and int8 add/mul check).
 *
 * The product a*b needs 62 bits, more than a double's 53, so it is computed exactly by splitting b
 * into 16-bit halves: a * b = a * bHigh * 2^16 + a * bLow, where each partial product fits in 48 bits.
 * fixed-point-bigint.ts holds a BigInt transcription used to test this one.
 */
import { roundHalfAwayFromZero } from './rounding.js';
import { INT32_MAX, INT32_MIN, TWO_30 } from './int-limits.js';

const TWO_15 = 32768;
const TWO_16 = 65536;
const TWO_31 = 2147483648;

export interface QuantizedMultiplier {
  /** Q31 mantissa in [2^30, 2^31), or 0 when the real multiplier is 0 or below 2^-32. */
  multiplier: number;
  /** Power-of-two exponent: real ~= multiplier * 2^(shift - 31). Positive means a left shift. */
  shift: number;
}

/**
 * Decompose a real multiplier m >= 0 into a Q31 int32 and a shift, as TFLite's QuantizeMultiplier
 * (tensorflow/lite/kernels/internal/quantization_util.cc):
 *   m = q * 2^shift with q in [0.5, 1) (frexp), multiplier = round(q * 2^31) (ties away from zero);
 *   if that rounds up to 2^31, halve it and add one to shift; if shift < -31 the result would shift
 *   every bit out, so it is flushed to { multiplier: 0, shift: 0 }.
 * The shift must stay in [-31, 30] (what multiplyByQuantizedMultiplier and the int8 engine
 * accept): m >= 2^30 (shift > 30) is refused. TFLite saturates such a multiplier to
 * (2^31 - 1, 30), a silently different scale; a requantization multiplier s_in·s_w/s_out that
 * large means the scales are wrong, so an error is the useful answer.
 */
export function quantizeMultiplier(m: number): QuantizedMultiplier {
  if (!Number.isFinite(m) || m < 0) {
    throw new Error(`quantizeMultiplier: the real multiplier must be finite and >= 0, got ${m}`);
  }
  // Below 2^-33 the shift ends below -31 even after rounding up, so TFLite flushes to zero; exiting
  // early also keeps 2^-shift finite in the frexp step below.
  if (m < 2 ** -33) return { multiplier: 0, shift: 0 };
  // frexp: find shift with m * 2^-shift in [0.5, 1). Scaling by a power of two is exact in float64;
  // log2 may be off by one next to a power of two, which the two corrections absorb.
  let shift = Math.floor(Math.log2(m)) + 1;
  let q = m * 2 ** -shift;
  if (q >= 1) {
    q /= 2;
    shift += 1;
  } else if (q < 0.5) {
    q *= 2;
    shift -= 1;
  }
  let multiplier = roundHalfAwayFromZero(q * TWO_31); // q * 2^31 is exact
  if (multiplier === TWO_31) {
    multiplier /= 2;
    shift += 1;
  }
  if (shift < -31) return { multiplier: 0, shift: 0 };
  if (shift > 30) {
    throw new Error(`quantizeMultiplier: the real multiplier ${m} needs a shift of ${shift}, above the largest supported, 30 (multipliers must be < 2^30)`);
  }
  return { multiplier, shift };
}

/**
 * gemmlowp's SaturatingRoundingDoublingHighMul for int32 a, b: floor((a*b + 2^30) / 2^31), with
 * a = b = -2^31 saturating to 2^31 - 1. Inputs must be int32 (not checked: this runs per element).
 */
export function saturatingRoundingDoublingHighMul(a: number, b: number): number {
  if (a === INT32_MIN && b === INT32_MIN) return INT32_MAX;
  const bLow = b & 0xffff; // [0, 2^16)
  const bHigh = b >> 16; // [-2^15, 2^15), b = bHigh * 2^16 + bLow
  const high = a * bHigh; // |high| <= 2^46: exact
  const low = a * bLow; // |low| < 2^47: exact
  // a*b + 2^30 = high * 2^16 + low + 2^30. Split high = hq * 2^15 + hr with 0 <= hr < 2^15, so that
  // high * 2^16 = hq * 2^31 + hr * 2^16; what is left, hr * 2^16 + low + 2^30, stays below 2^48 and
  // is exact. Dividing by 2^31 only changes the exponent, so both floors are exact.
  const hq = Math.floor(high / TWO_15);
  const hr = high - hq * TWO_15;
  return (hq + Math.floor((hr * TWO_16 + low + TWO_30) / TWO_31)) | 0;
}

/**
 * gemmlowp's RoundingDivideByPOT: x / 2^exponent rounded to nearest, ties away from zero, for int32 x
 * and 0 <= exponent <= 31 (not checked: this runs per element).
 */
export function roundingDivideByPOT(x: number, exponent: number): number {
  const mask = ~(-1 << exponent); // 2^exponent - 1, also for exponent = 31
  const remainder = x & mask;
  const threshold = (mask >> 1) + (x < 0 ? 1 : 0);
  return (x >> exponent) + (remainder > threshold ? 1 : 0);
}

/**
 * TFLite's MultiplyByQuantizedMultiplier: x * multiplier * 2^(shift - 31), rounded, in integers only.
 * x int32, multiplier in [0, 2^31), shift in [-31, 30]. The left shift wraps like int32 arithmetic.
 */
export function multiplyByQuantizedMultiplier(x: number, multiplier: number, shift: number): number {
  const leftShift = shift > 0 ? shift : 0;
  const rightShift = shift > 0 ? 0 : -shift;
  return roundingDivideByPOT(saturatingRoundingDoublingHighMul(Math.imul(x, 1 << leftShift), multiplier), rightShift);
}

/** Throw unless (multiplier, shift) is a valid TFLite quantized multiplier. */
export function checkQuantizedMultiplier(multiplier: number, shift: number, who: string): void {
  if (!Number.isInteger(multiplier) || multiplier < 0 || multiplier > INT32_MAX) {
    throw new Error(`${who}: multiplier must be an integer in [0, 2^31 - 1], got ${multiplier}`);
  }
  if (!Number.isInteger(shift) || shift < -31 || shift > 30) {
    throw new Error(`${who}: shift must be an integer in [-31, 30], got ${shift}`);
  }
}
