/**
 * Independent oracles for the int8 engine, written from the definitions without reusing its code:
 *   - exact integer sums with BigInt and plain nested loops (no im2col, no GEMM, no packing);
 *   - requantization as exact rational arithmetic with BigInt, each rounding step spelled out as
 *     "nearest integer to num/den, with this tie rule" (no masks, nudges or 16-bit splits).
 */

/** floor(num / den) for den > 0. */
function floorDiv(num: bigint, den: bigint): bigint {
  const q = num / den; // truncates toward zero
  return q * den > num ? q - 1n : q;
}

export type Tie = 'up' | 'awayFromZero';

/** The integer nearest to num/den (den > 0); an exact half goes up (toward +inf) or away from zero. */
export function roundRational(num: bigint, den: bigint, tie: Tie): bigint {
  const q = floorDiv(num, den);
  const twiceRemainder = 2n * (num - q * den); // in [0, 2·den)
  if (twiceRemainder > den) return q + 1n;
  if (twiceRemainder < den) return q;
  return tie === 'up' || num > 0n ? q + 1n : q;
}

/**
 * TFLite's MultiplyByQuantizedMultiplier(acc, multiplier, shift), as two exact roundings:
 *   t = acc · 2^max(shift, 0)                          (must stay an int32, as in C++)
 *   u = nearest(t · multiplier / 2^31), ties up         (gemmlowp SaturatingRoundingDoublingHighMul:
 *                                                        its nudge-and-truncate gives floor(x + 1/2))
 *   v = nearest(u / 2^max(-shift, 0)), ties away from 0 (gemmlowp RoundingDivideByPOT)
 * Saturation cannot occur: multiplier >= 0 > -2^31.
 */
export function multiplyByQuantizedMultiplierOracle(acc: bigint, multiplier: number, shift: number): bigint {
  const left = BigInt(Math.max(shift, 0));
  const right = BigInt(Math.max(-shift, 0));
  const t = acc << left;
  if (t < -(2n ** 31n) || t >= 2n ** 31n) throw new Error(`oracle: acc ${acc} << ${left} leaves int32`);
  const u = roundRational(t * BigInt(multiplier), 2n ** 31n, 'up');
  return roundRational(u, 2n ** right, 'awayFromZero');
}

/** The whole output stage: clamp(outZeroPoint + MBQM(acc, m, s), qmin, qmax). */
export function requantizeOracle(acc: bigint, multiplier: number, shift: number, outZeroPoint: number, qmin: number, qmax: number): number {
  const v = Number(multiplyByQuantizedMultiplierOracle(acc, multiplier, shift)) + outZeroPoint;
  return Math.min(qmax, Math.max(qmin, v));
}

export interface ConvOracleParams {
  stride: [number, number];
  padding: [number, number];
  dilation: [number, number];
  groups: number;
}

/**
 * Exact accumulators of an integer conv2d, straight from the definition:
 * acc[n, o, i, j] = bias[o] + Σ_{c, p, q} (x[n, g·Cg + c, i·sh - ph + p·dh, j·sw - pw + q·dw] - xZp) · (w[o, c, p, q] - wZp[o]),
 * where positions outside the image are skipped (a padded input equals the zero point).
 */
export function convAccOracle(
  x: ArrayLike<number>, xShape: readonly number[], xZeroPoint: number,
  w: ArrayLike<number>, wShape: readonly number[], wZeroPoint: ArrayLike<number>,
  bias: ArrayLike<number> | null, p: ConvOracleParams,
): { acc: bigint[]; shape: number[] } {
  const [N, C, H, W] = xShape as [number, number, number, number];
  const [O, Cg, KH, KW] = wShape as [number, number, number, number];
  const [sh, sw] = p.stride, [ph, pw] = p.padding, [dh, dw] = p.dilation;
  const OH = Math.floor((H + 2 * ph - dh * (KH - 1) - 1) / sh) + 1;
  const OW = Math.floor((W + 2 * pw - dw * (KW - 1) - 1) / sw) + 1;
  const Og = O / p.groups;
  const acc: bigint[] = [];
  for (let n = 0; n < N; n++) {
    for (let o = 0; o < O; o++) {
      const g = Math.floor(o / Og);
      for (let i = 0; i < OH; i++) {
        for (let j = 0; j < OW; j++) {
          let s = BigInt(bias ? bias[o]! : 0);
          for (let c = 0; c < Cg; c++) {
            for (let q = 0; q < KH; q++) {
              for (let r = 0; r < KW; r++) {
                const hi = i * sh - ph + q * dh, wi = j * sw - pw + r * dw;
                if (hi < 0 || hi >= H || wi < 0 || wi >= W) continue;
                const xv = x[((n * C + g * Cg + c) * H + hi) * W + wi]! - xZeroPoint;
                const wv = w[((o * Cg + c) * KH + q) * KW + r]! - wZeroPoint[o]!;
                s += BigInt(xv) * BigInt(wv);
              }
            }
          }
          acc.push(s);
        }
      }
    }
  }
  return { acc, shape: [N, O, OH, OW] };
}

/** Exact accumulators of an integer linear layer: acc[n, o] = bias[o] + Σ_i (x[n, i] - xZp) · (w[o, i] - wZp[o]). */
export function linearAccOracle(
  x: ArrayLike<number>, batch: number, xZeroPoint: number,
  w: ArrayLike<number>, O: number, I: number, wZeroPoint: ArrayLike<number>, bias: ArrayLike<number> | null,
): bigint[] {
  const acc: bigint[] = [];
  for (let n = 0; n < batch; n++) {
    for (let o = 0; o < O; o++) {
      let s = BigInt(bias ? bias[o]! : 0);
      for (let i = 0; i < I; i++) s += BigInt(x[n * I + i]! - xZeroPoint) * BigInt(w[o * I + i]! - wZeroPoint[o]!);
      acc.push(s);
    }
  }
  return acc;
}

/** C = A · Bᵀ for A [M, K] and B [N, K], exact, then wrapped to int32 like C's int32 arithmetic. */
export function gemmOracle(M: number, N: number, K: number, A: ArrayLike<number>, B: ArrayLike<number>): number[] {
  const C: number[] = [];
  for (let i = 0; i < M; i++) {
    for (let j = 0; j < N; j++) {
      let s = 0n;
      for (let k = 0; k < K; k++) s += BigInt(A[i * K + k]!) * BigInt(B[j * K + k]!);
      C.push(Number(BigInt.asIntN(32, s)));
    }
  }
  return C;
}
