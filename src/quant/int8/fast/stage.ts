/**
 * The output stage of a conv2d / linear layer on the fast path, 4 channels per i32x4: which of its
 * two forms a layer gets, and the constants each form reads (the code is requantCode in
 * ./kernels.ts). Both are bit-exact with multiplyByQuantizedMultiplier of src/quant/numerics
 * (TFLite's MultiplyByQuantizedMultiplier, Jacob et al. 2018 §2.2) followed by the clamp:
 *
 *   r = RDBP(SRDHM(X, m), e),   X = (acc + bias) · 2^ls,   y = clamp(r, lo, hi)
 *   SRDHM(X, m) = h = floor((X·m + 2^30) / 2^31)
 *   RDBP(h, e)      = floor((h + 2^(e-1) - [h < 0]) / 2^e)   (e >= 1; RDBP(h, 0) = h)
 *
 * with ls = max(shift, 0), e = max(-shift, 0), lo = clamp bound minus the zero point.
 *
 * 'perLane' (any layer the fast path takes): as written, two 64-bit products per lane, the
 * per-lane 2^-e done as a multiply by 2^(30-e) and a shift by 30 (20 operations per 4 channels).
 *
 * 'oneShift' (lo >= 0, i.e. a ReLU or a zero point at qmin, which the CNN's layers are): 9 to 11
 * operations. Two facts make one 64-bit product and one shift enough:
 *   1. When h < 0 the reference gives r <= 0 and so y = lo; without the [h < 0] term the formula
 *      floor((h + 2^(e-1)) / 2^e) is still <= 0 (h + 2^(e-1) <= 2^(e-1) - 1 < 2^e), so y = lo as
 *      well: the sign correction can be left out.
 *   2. Nested floors of integers merge, floor((floor(A / 2^31) + c) / 2^e) = floor((A + c·2^31) /
 *      2^(31+e)), so r = floor((X·m + 2^30 + [e >= 1]·2^(30+e)) / 2^(31+e)); scaling the fraction
 *      by 2^(E-e), E the layer's largest e, gives every channel the same divisor 2^(31+E):
 *        r = floor((x'·m + K) / 2^(31+E)),  x' = (acc + bias)·2^(ls+E-e),  K = (2^30 + [e >= 1]·2^(30+e))·2^(E-e).
 *      The division is a 64-bit shift by 31, whose low 32 bits are floor(P / 2^31) while |P| < 2^62,
 *      and an arithmetic int32 shift by E. Taken when E <= 30 and |x'| < 2^30 (accBound·2^(ls+E-e)
 *      < 2^30 for every channel): then |x'·m| < 2^61 and 0 <= K <= 2^61, so |P| < 2^62.
 */
import { TWO_30 } from '../../numerics/int-limits.js';

/** Bytes of one half's output-stage constants (8 v128), both forms. */
export const STAGE_HALF_BYTES = 128;

export type RequantSpec =
  | { kind: 'perLane'; leftShift: boolean }
  /** shift: E; scale: whether some channel has ls + E - e > 0 (else the multiply is left out). */
  | { kind: 'oneShift'; shift: number; scale: boolean };

export interface StageInput {
  bias: Int32Array;
  multiplier: Int32Array;
  shift: Int32Array;
  lo: number;
  hi: number;
  /** The validated bound on |acc + bias| over the layer's channels. */
  accBound: number;
}

/** The form of a layer's output stage (see the file comment for the conditions). */
export function requantSpec(stage: StageInput): RequantSpec {
  const { shift } = stage;
  let E = 0, maxLeft = 0;
  for (let o = 0; o < shift.length; o++) {
    E = Math.max(E, -shift[o]);
    maxLeft = Math.max(maxLeft, shift[o]);
  }
  if (stage.lo < 0 || E > 30) return { kind: 'perLane', leftShift: maxLeft > 0 };
  let scale = false;
  for (let o = 0; o < shift.length; o++) {
    const s = shift[o], f = 2 ** ((s > 0 ? s : 0) + E - (s > 0 ? 0 : -s));
    if (stage.accBound * f >= TWO_30) return { kind: 'perLane', leftShift: maxLeft > 0 };
    if (f > 1) scale = true;
  }
  return { kind: 'oneShift', shift: E, scale };
}

/**
 * The constants of channels [o0, o0 + 8) as two halves of 8 v128 at dst[at..]; channels past O get
 * multiplier 0 and produce max(0, lo), in both forms.
 *   perLane:  bias, 2^ls, multiplier, 2^(e-1), sign mask, 2^(30-e), lo, hi
 *   oneShift: bias, f = 2^(ls+E-e), multiplier, K of lanes 0-1 and of lanes 2-3 (i64x2), -, lo, hi
 */
export function stageConstants(o0: number, O: number, stage: StageInput, spec: RequantSpec, dst: Int32Array, at: number): void {
  const { bias, multiplier, shift, lo, hi } = stage;
  for (let half = 0; half < 2; half++) {
    for (let i = 0; i < 4; i++) {
      const o = o0 + 4 * half + i;
      const base = at + half * (STAGE_HALF_BYTES >> 2);
      const lane = (vec: number, value: number) => (dst[base + 4 * vec + i] = value);
      if (spec.kind === 'perLane') {
        if (o < O) {
          const s = shift[o], e = s > 0 ? 0 : -s;
          lane(0, bias[o]);
          lane(1, 2 ** (s > 0 ? s : 0));
          lane(2, multiplier[o]);
          lane(3, e >= 1 && e <= 30 ? 2 ** (e - 1) : 0);
          lane(4, e >= 1 && e <= 30 ? -1 : 0);
          lane(5, e <= 30 ? 2 ** (30 - e) : 0);
        } else {
          lane(0, 0); lane(1, 1); lane(2, 0); lane(3, 0); lane(4, 0); lane(5, TWO_30);
        }
      } else {
        // K as a little-endian 64-bit lane: vector 3 holds lanes 0-1, vector 4 lanes 2-3.
        const k64 = (value: bigint) => {
          const w = base + 4 * (3 + (i >> 1)) + 2 * (i & 1);
          dst[w] = Number(BigInt.asIntN(32, value));
          dst[w + 1] = Number(BigInt.asIntN(32, value >> 32n));
        };
        if (o < O) {
          const s = shift[o], ls = s > 0 ? s : 0, e = s > 0 ? 0 : -s, up = ls + spec.shift - e;
          lane(0, bias[o]);
          lane(1, 2 ** up);
          lane(2, multiplier[o]);
          k64((1n << BigInt(30 + spec.shift - e)) + (e >= 1 ? 1n << BigInt(30 + spec.shift) : 0n));
        } else {
          lane(0, 0); lane(1, 1); lane(2, 0);
          k64(0n);
        }
        lane(5, 0);
      }
      lane(6, lo);
      lane(7, hi);
    }
  }
}
