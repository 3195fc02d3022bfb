/**
 * Rounding to an integer with the tie rule named: the one definition of the modes and of the two
 * rounding functions, on the ground floor so that the backends' kernels (src/tensor/*) and the
 * quantization numerics (src/quant/numerics/rounding.ts, which explains the choice of rule) use the
 * same code. JavaScript's Math.round rounds ties toward +Infinity, so it is never used on its own.
 */

/** How a value exactly halfway between two integers is rounded. */
export type Rounding = 'halfEven' | 'halfAwayFromZero';

/** The rounding used when a caller does not name one: PyTorch's. */
export const DEFAULT_ROUNDING: Rounding = 'halfEven';

/**
 * Round to the nearest integer, ties to the even neighbour (std::nearbyint, numpy.rint, torch.round).
 * roundHalfEven(2.5) === 2, roundHalfEven(3.5) === 4, roundHalfEven(-2.5) === -2.
 * Returns +0 rather than -0, so results can be stored and compared as integers.
 */
export function roundHalfEven(x: number): number {
  const r = Math.round(x); // nearest, ties toward +Infinity
  // r - x is exact (both are multiples of x's ulp and differ by at most 1/2), so a tie is detected
  // exactly; on a tie Math.round chose the upper neighbour, which is odd half of the time.
  if (r - x === 0.5 && r % 2 !== 0) return r - 1;
  return r + 0; // + 0 turns -0 into +0
}

/**
 * Round to the nearest integer, ties away from zero (C's std::round, TFLite's TfLiteRound).
 * roundHalfAwayFromZero(2.5) === 3, roundHalfAwayFromZero(-2.5) === -3. Returns +0 rather than -0.
 */
export function roundHalfAwayFromZero(x: number): number {
  return (x < 0 ? -Math.round(-x) : Math.round(x)) + 0;
}

/** The rounding function for a mode, so hot loops can hoist the choice out of the loop. */
export function rounderFor(rounding: Rounding = DEFAULT_ROUNDING): (x: number) => number {
  if (rounding === 'halfEven') return roundHalfEven;
  if (rounding === 'halfAwayFromZero') return roundHalfAwayFromZero;
  throw new Error(`rounding must be 'halfEven' or 'halfAwayFromZero', got ${JSON.stringify(rounding)}`);
}
