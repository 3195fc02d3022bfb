/**
 * Integer inference for power-of-two weights by shifts (Miyashita, Lee & Murmann 2016, §3: with
 * logarithmic weights "the multiplications are replaced by bit-shift operations"; issue 14 item 2).
 *
 * A layer with `weightCode: 'pow2'` (model.ts) has weight levels w ∈ {0, ±2^k} and zero point 0,
 * the scale α_o of pow2.ts sitting in the requantization multiplier. Each weight is held as
 * (sign, exponent k) and each product is a shift of the zero-point-shifted input:
 *
 *   x·w = ±(x << k)            (exact: |x|·2^k is bounded by the layer's validated accumulator bound)
 *   acc[o, p] = Σ_k ±(x[k, p] << k[o, k])   in int32, over the nonzero weights only
 *
 * and the output stage is the uniform layers' (kernels.ts requantizeChannel: TFLite's
 * MultiplyByQuantizedMultiplier), so the result is bit-identical to the int8 GEMM on the same
 * levels; test/quant/int8/pow2-shift.test.ts checks that against a naive oracle. The smallest level
 * is 2^0 = 1, so the common scale of the issue's x << (k − kmin) is already folded in (kmin = 0).
 *
 * The kernel has the engine's GEMM signature (gemm.ts Int32Gemm), bound to one layer's weights:
 * conv2d (through im2col, per group) and linear call it exactly as they call the int8 GEMM.
 */
import type { Int32Gemm } from './gemm.js';

/** The weight codes a conv2d / linear layer may declare (model.ts WeightedLayerFields.weightCode). */
export const WEIGHT_CODES = ['pow2'] as const;
export type Int8WeightCode = (typeof WEIGHT_CODES)[number];

/**
 * Why a layer's declared weight code does not match its weights, or null. Checked once when the
 * model is built (validate.ts), so that the shift kernel can assume its input.
 */
export function weightCodeProblem(code: unknown, weight: ArrayLike<number>, weightZeroPoint: ArrayLike<number>): string | null {
  if (!(WEIGHT_CODES as readonly unknown[]).includes(code)) return `weightCode must be one of ${WEIGHT_CODES.join(', ')} (or absent), got ${JSON.stringify(code)}`;
  for (let o = 0; o < weightZeroPoint.length; o++) {
    if (weightZeroPoint[o] !== 0) return `weightZeroPoint[${o}] = ${weightZeroPoint[o]}, but power-of-two weights (weightCode 'pow2') have zero point 0`;
  }
  for (let i = 0; i < weight.length; i++) {
    const w = weight[i];
    if (w !== 0 && exponentOf(w) < 0) return `weight level ${w} at index ${i} is not 0 or ±2^k, as weightCode 'pow2' declares`;
  }
  return null;
}

/** k with |w| = 2^k, or −1 when |w| is not a power of two. */
function exponentOf(w: number): number {
  const m = Math.abs(w);
  const k = 31 - Math.clz32(m);
  return m === 2 ** k && m <= 2 ** 30 ? k : -1;
}

/**
 * A layer's power-of-two weights as (sign, exponent) taps: row o's nonzero weights are taps
 * [start[o], split[o]) with sign + and [split[o], start[o + 1]) with sign −, each with its
 * column `index` and its `exponent`. Zero weights take no tap (and no work).
 */
export interface Pow2Taps {
  O: number;
  K: number;
  start: Int32Array;
  split: Int32Array;
  index: Int32Array;
  exponent: Uint8Array;
}

/** Encode weights [O, K] (levels 0 or ±2^k, zero point 0, as weightCodeProblem checks). */
export function encodePow2Taps(weight: ArrayLike<number>, O: number, K: number): Pow2Taps {
  if (weight.length !== O * K) throw new Error(`encodePow2Taps: ${weight.length} weights are not [${O}, ${K}]`);
  let nonzero = 0;
  for (let i = 0; i < weight.length; i++) if (weight[i] !== 0) nonzero++;
  const start = new Int32Array(O + 1), split = new Int32Array(O);
  const index = new Int32Array(nonzero), exponent = new Uint8Array(nonzero);
  let t = 0;
  for (let o = 0; o < O; o++) {
    start[o] = t;
    for (const positive of [true, false]) {
      if (!positive) split[o] = t;
      for (let k = 0; k < K; k++) {
        const w = weight[o * K + k];
        if (w === 0 || w > 0 !== positive) continue;
        const e = exponentOf(w);
        if (e < 0) throw new Error(`encodePow2Taps: weight ${w} at [${o}, ${k}] is not 0 or ±2^k`);
        index[t] = k;
        exponent[t++] = e;
      }
    }
  }
  start[O] = t;
  return { O, K, start, split, index, exponent };
}

/**
 * C[i·N + j] = Σ_k w[row0 + i, k] · B[j·K + k] for i < M, j < N, each product a shift:
 * the Int32Gemm contract (NT layout, C overwritten) for rows row0..row0+M of the taps.
 */
export function gemmPow2Shift(taps: Pow2Taps, row0: number, M: number, N: number, B: Int32Array, C: Int32Array): void {
  const { K, start, split, index, exponent } = taps;
  for (let i = 0; i < M; i++) {
    const o = row0 + i;
    const t0 = start[o], t1 = split[o], t2 = start[o + 1];
    const c = i * N;
    for (let j = 0; j < N; j++) {
      const b = j * K;
      let acc = 0;
      for (let t = t0; t < t1; t++) acc = (acc + (B[b + index[t]] << exponent[t])) | 0;
      for (let t = t1; t < t2; t++) acc = (acc - (B[b + index[t]] << exponent[t])) | 0;
      C[c + j] = acc;
    }
  }
}

/**
 * The same product with the weights as the second operand (linear layers: C = X · Wᵀ, kernels.ts
 * linearLevels): C[i·O + o] = Σ_k X[i·K + k] · w[o, k] for i < M, each product a shift of X.
 */
export function gemmPow2ShiftRight(taps: Pow2Taps, M: number, A: Int32Array, C: Int32Array): void {
  const { O, K, start, split, index, exponent } = taps;
  for (let i = 0; i < M; i++) {
    const a = i * K, c = i * O;
    for (let o = 0; o < O; o++) {
      let acc = 0;
      for (let t = start[o], t1 = split[o]; t < t1; t++) acc = (acc + (A[a + index[t]] << exponent[t])) | 0;
      for (let t = split[o], t2 = start[o + 1]; t < t2; t++) acc = (acc - (A[a + index[t]] << exponent[t])) | 0;
      C[c + o] = acc;
    }
  }
}

/**
 * The shift kernel for one layer as the engine's Int32Gemm: the weights [O, K] are encoded once;
 * each call must pass them as one operand: as A (conv2d; for a grouped conv, a view of consecutive
 * rows of them, which tells the kernel which rows to run) or as B (linear). Any other pair of
 * operands is a programming error and throws.
 */
export function pow2ShiftGemm(weight: Int32Array, O: number, K: number): Int32Gemm {
  const taps = encodePow2Taps(weight, O, K);
  const rowOf = (X: Int32Array): number => {
    const offset = (X.byteOffset - weight.byteOffset) / Int32Array.BYTES_PER_ELEMENT;
    return X.buffer === weight.buffer && offset >= 0 && offset % K === 0 ? offset / K : -1;
  };
  const gemm: Int32Gemm = (M, N, KA, A, B, C) => {
    const rowA = rowOf(A), rowB = rowOf(B);
    if (KA === K && rowA >= 0 && rowA + M <= O) gemmPow2Shift(taps, rowA, M, N, B, C);
    else if (KA === K && rowB === 0 && N === O) gemmPow2ShiftRight(taps, M, A, C);
    else throw new Error('pow2ShiftGemm: one operand must be (rows of) the weights the kernel was built for');
  };
  Object.defineProperty(gemm, 'name', { value: 'pow2-shift' });
  return gemm;
}
