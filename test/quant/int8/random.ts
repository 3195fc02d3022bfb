/** Random generators shared by the int8 layer tests (not a test file). */
export type Rnd = () => number;
export const int = (rnd: Rnd, lo: number, hi: number): number => lo + Math.floor(rnd() * (hi - lo + 1));
export const randomInts = (rnd: Rnd, n: number, lo: number, hi: number): Int32Array => Int32Array.from({ length: n }, () => int(rnd, lo, hi));

export interface Range {
  zeroPoint: number;
  qmin: number;
  qmax: number;
}

/** A random 8-bit activation range: uint8 or int8, any zero point inside it. */
export function randomRange(rnd: Rnd): Range {
  const [qmin, qmax] = rnd() < 0.5 ? [0, 255] : [-128, 127];
  return { zeroPoint: int(rnd, qmin, qmax), qmin, qmax };
}
