/**
 * General matrix multiply on typed arrays, the hot path of every MNIST experiment
 * (linear layers directly, convolutions through im2col).
 *
 * C[M,N] (+)= A[M,K] · B[K,N], where A and B are addressed by (offset, rowStride, colStride) so
 * transposed or strided operands need no copy by the caller.
 *
 * The readable definition: pack B into a contiguous row-major Float64Array panel (one conversion
 * from float32, unit stride in the inner loop), then run an i-k-j loop over blocks of 4 rows of A:
 * each loaded B element feeds 4 multiply-adds, and the 4 output rows stay hot in cache.
 * Accumulation is in float64 (JS numbers), rounded to the output's type once at the end.
 * Faster kernels (another backend's) are tested against this one.
 */
import type { TypedArray } from '../dtype.js';

export interface MatOperand {
  data: TypedArray;
  offset: number;
  rowStride: number;
  colStride: number;
}

let panel = new Float64Array(0);
let acc = new Float64Array(0);

/** C[M,N] (+)= A[M,K] · B[K,N] into C at cOffset (added to C's values when `accumulate`). */
export type Gemm = (M: number, N: number, K: number, A: MatOperand, B: MatOperand, C: TypedArray, cOffset: number, accumulate: boolean) => void;

/** The plain TypeScript gemm (float64 accumulation): the reference the fast kernels are tested against. */
export function gemm(
  M: number, N: number, K: number,
  A: MatOperand, B: MatOperand,
  C: TypedArray, cOffset: number, accumulate: boolean,
): void {
  if (M === 0 || N === 0) return;
  // Pack B as a dense K x N panel.
  const kn = K * N;
  if (panel.length < kn) panel = new Float64Array(kn);
  const bp = panel;
  {
    const bd = B.data, rs = B.rowStride, cs = B.colStride;
    let p = 0;
    for (let k = 0; k < K; k++) {
      let q = B.offset + k * rs;
      for (let j = 0; j < N; j++, q += cs) bp[p++] = bd[q];
    }
  }
  if (acc.length < 4 * N) acc = new Float64Array(4 * N);
  const c = acc;
  const ad = A.data, ars = A.rowStride, acs = A.colStride;
  let i = 0;
  for (; i + 4 <= M; i += 4) {
    c.fill(0, 0, 4 * N);
    let a0p = A.offset + i * ars;
    let a1p = a0p + ars, a2p = a1p + ars, a3p = a2p + ars;
    for (let k = 0; k < K; k++) {
      const a0 = ad[a0p], a1 = ad[a1p], a2 = ad[a2p], a3 = ad[a3p];
      a0p += acs; a1p += acs; a2p += acs; a3p += acs;
      const bo = k * N;
      for (let j = 0; j < N; j++) {
        const b = bp[bo + j];
        c[j] += a0 * b;
        c[N + j] += a1 * b;
        c[2 * N + j] += a2 * b;
        c[3 * N + j] += a3 * b;
      }
    }
    writeRows(C, cOffset + i * N, c, 4 * N, accumulate);
  }
  for (; i < M; i++) {
    c.fill(0, 0, N);
    let ap = A.offset + i * ars;
    for (let k = 0; k < K; k++, ap += acs) {
      const a = ad[ap];
      const bo = k * N;
      for (let j = 0; j < N; j++) c[j] += a * bp[bo + j];
    }
    writeRows(C, cOffset + i * N, c, N, accumulate);
  }
}

function writeRows(C: TypedArray, off: number, c: Float64Array, len: number, accumulate: boolean): void {
  if (accumulate) for (let t = 0; t < len; t++) C[off + t] += c[t];
  else for (let t = 0; t < len; t++) C[off + t] = c[t];
}
