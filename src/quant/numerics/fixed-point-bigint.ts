/**
 * The fixed-point primitives of fixed-point.ts transcribed with BigInt, so that the 64-bit
 * intermediate values of gemmlowp / TFLite are held exactly and each line can be compared with the
 * C++ it follows (gemmlowp fixedpoint/fixedpoint.h, TFLite kernels/internal/common.h):
 *   - BigInt division truncates toward zero, like C++ integer division.
 *   - BigInt.asIntN(32, v) is the int32 conversion (wrap modulo 2^32).
 * Slow (allocates), and kept as the reference the fast versions are tested against.
 */
import { INT32_MAX as INT32_MAX_NUMBER, INT32_MIN as INT32_MIN_NUMBER } from './int-limits.js';

const INT32_MIN = BigInt(INT32_MIN_NUMBER);
const INT32_MAX = BigInt(INT32_MAX_NUMBER);

function toInt32BigInt(x: number, name: string, who: string): bigint {
  if (!Number.isInteger(x) || x < -2147483648 || x > 2147483647) {
    throw new Error(`${who}: ${name} must be an int32, got ${x}`);
  }
  return BigInt(x);
}

export function saturatingRoundingDoublingHighMulBigInt(a: number, b: number): number {
  const who = 'saturatingRoundingDoublingHighMulBigInt';
  const a64 = toInt32BigInt(a, 'a', who);
  const b64 = toInt32BigInt(b, 'b', who);
  const overflow = a64 === b64 && a64 === INT32_MIN;
  const ab64 = a64 * b64;
  const nudge = ab64 >= 0n ? 1n << 30n : 1n - (1n << 30n);
  const abX2High32 = BigInt.asIntN(32, (ab64 + nudge) / (1n << 31n));
  return Number(overflow ? INT32_MAX : abX2High32);
}

export function roundingDivideByPOTBigInt(x: number, exponent: number): number {
  const who = 'roundingDivideByPOTBigInt';
  const x64 = toInt32BigInt(x, 'x', who);
  if (!Number.isInteger(exponent) || exponent < 0 || exponent > 31) {
    throw new Error(`${who}: exponent must be an integer in [0, 31], got ${exponent}`);
  }
  const e = BigInt(exponent);
  const mask = (1n << e) - 1n;
  const remainder = x64 & mask;
  const threshold = (mask >> 1n) + (x64 < 0n ? 1n : 0n);
  return Number((x64 >> e) + (remainder > threshold ? 1n : 0n));
}

export function multiplyByQuantizedMultiplierBigInt(x: number, multiplier: number, shift: number): number {
  const who = 'multiplyByQuantizedMultiplierBigInt';
  toInt32BigInt(x, 'x', who);
  toInt32BigInt(multiplier, 'multiplier', who);
  if (!Number.isInteger(shift) || shift < -31 || shift > 30) {
    throw new Error(`${who}: shift must be an integer in [-31, 30], got ${shift}`);
  }
  const leftShift = shift > 0 ? shift : 0;
  const rightShift = shift > 0 ? 0 : -shift;
  const shifted = Number(BigInt.asIntN(32, BigInt(x) << BigInt(leftShift)));
  return roundingDivideByPOTBigInt(saturatingRoundingDoublingHighMulBigInt(shifted, multiplier), rightShift);
}
