/**
 * The integer GEMM of the int8 engine, C = A·Bᵀ in exact int32, and the choice of kernel.
 *
 * conv2d (through im2col) and linear both reduce to this one signature, `Int32Gemm`; the
 * engine asks `selectGemm` for a kernel per layer, knowing the exact operand bounds from model
 * validation. Swapping in another kernel (e.g. a WebAssembly SIMD int8 GEMM with the same
 * contract) is a change to `selectGemm`, or the `gemm` option of Int8Model for one model.
 *
 * Two plain-TypeScript kernels:
 *   - gemmInt32: int32 arithmetic (Math.imul, `| 0`), any int32 operands; the reference.
 *   - gemmTwoLane: for operands within ±255 (differences of 8-bit levels), two rows per float64
 *     multiply, about twice as fast in V8 and bit-identical (the file explains why it is exact).
 * Both assume, as the engine proves per layer, that no partial sum leaves int32.
 * And the WebAssembly SIMD int16 GEMM of the fast path (./fast/gemm-int8.ts), chosen when the
 * default device is 'wasm' (src/tensor/devices.ts decides; QGRAD_DEVICE=cpu turns it off).
 */
import { getDefaultDevice } from '../../tensor/index.js';
import { gemmInt8 } from './fast/gemm-int8.js';
import { INT16_MAX } from '../numerics/int-limits.js';

/**
 * C[i·N + j] = Σ_k A[i·K + k] · B[j·K + k]  for i < M, j < N, in int32.
 *
 * Both operands are K-contiguous ("NT" layout, as gemmlowp and ruy pack them): A is M rows of K
 * (conv weights [O, Cg·KH·KW] as stored), B is N rows of K (one im2col patch per output pixel).
 * C is overwritten (not accumulated into).
 */
export type Int32Gemm = (M: number, N: number, K: number, A: Int32Array, B: Int32Array, C: Int32Array) => void;

/**
 * Portable int32 GEMM, any int32 operands: Math.imul products and `| 0` sums are C's wrapping
 * int32 arithmetic, exact whenever the true sums fit in int32. Tiles of 2 rows × 4 columns keep
 * 8 accumulators in registers; each loaded element feeds 2 or 4 multiply-adds.
 */
export function gemmInt32(M: number, N: number, K: number, A: Int32Array, B: Int32Array, C: Int32Array): void {
  let i = 0;
  for (; i + 2 <= M; i += 2) {
    const a0 = i * K, a1 = a0 + K;
    const c0 = i * N, c1 = c0 + N;
    let j = 0;
    for (; j + 4 <= N; j += 4) {
      const b0 = j * K, b1 = b0 + K, b2 = b1 + K, b3 = b2 + K;
      let s00 = 0, s01 = 0, s02 = 0, s03 = 0, s10 = 0, s11 = 0, s12 = 0, s13 = 0;
      for (let k = 0; k < K; k++) {
        const w0 = A[a0 + k], w1 = A[a1 + k];
        const x0 = B[b0 + k], x1 = B[b1 + k], x2 = B[b2 + k], x3 = B[b3 + k];
        s00 = (s00 + Math.imul(w0, x0)) | 0; s01 = (s01 + Math.imul(w0, x1)) | 0;
        s02 = (s02 + Math.imul(w0, x2)) | 0; s03 = (s03 + Math.imul(w0, x3)) | 0;
        s10 = (s10 + Math.imul(w1, x0)) | 0; s11 = (s11 + Math.imul(w1, x1)) | 0;
        s12 = (s12 + Math.imul(w1, x2)) | 0; s13 = (s13 + Math.imul(w1, x3)) | 0;
      }
      C[c0 + j] = s00; C[c0 + j + 1] = s01; C[c0 + j + 2] = s02; C[c0 + j + 3] = s03;
      C[c1 + j] = s10; C[c1 + j + 1] = s11; C[c1 + j + 2] = s12; C[c1 + j + 3] = s13;
    }
    for (; j < N; j++) {
      C[c0 + j] = dotInt32(A, a0, B, j * K, K);
      C[c1 + j] = dotInt32(A, a1, B, j * K, K);
    }
  }
  if (i < M) {
    for (let j = 0; j < N; j++) C[i * N + j] = dotInt32(A, i * K, B, j * K, K);
  }
}

function dotInt32(A: Int32Array, a: number, B: Int32Array, b: number, K: number): number {
  let s = 0;
  for (let k = 0; k < K; k++) s = (s + Math.imul(A[a + k], B[b + k])) | 0;
  return s;
}

/** Largest |operand| gemmTwoLane accepts: the difference of two 8-bit levels (uint8 255 - 0). */
export const TWO_LANE_MAX_OPERAND = 255;

const LANE = 2 ** 26;
const INV_LANE = 2 ** -26;
/** Products summed per lane before unpacking: 512 · 255² = 33,292,800 < 2^25. */
const TWO_LANE_CHUNK = 512;

let packedRows = new Float64Array(0);

/**
 * The same GEMM for operands with |A|, |B| ≤ 255, about twice as fast as gemmInt32 in V8:
 * two rows of A share one float64 multiply ("SIMD within a register").
 *
 * Row pairs are packed as u = A[2r, k] + A[2r+1, k] · 2^26. Then u · x = a·x + b·x · 2^26, and a
 * sum of such products over a chunk of at most 512 k's is s = S_a + S_b · 2^26 with
 * |S_a|, |S_b| ≤ 512 · 255² < 2^25. Every intermediate is an integer below 2^52 in magnitude,
 * so the float64 arithmetic is exact (no rounding ever happens), and the lanes separate exactly:
 * S_b = round(s / 2^26) because |S_a / 2^26| < 1/2, and S_a = s - S_b · 2^26. Chunk results are
 * then summed in int32, as in gemmInt32. The result is bit-identical to gemmInt32; operands
 * outside ±255 would break the lane bound and must use gemmInt32 (selectGemm decides).
 */
export function gemmTwoLane(M: number, N: number, K: number, A: Int32Array, B: Int32Array, C: Int32Array): void {
  if (K === 0) {
    C.fill(0, 0, M * N);
    return;
  }
  const pairs = M >> 1;
  if (packedRows.length < pairs * K) packedRows = new Float64Array(pairs * K);
  const P = packedRows;
  for (let r = 0; r < pairs; r++) {
    const lo = 2 * r * K, hi = lo + K, p = r * K;
    for (let k = 0; k < K; k++) P[p + k] = A[lo + k] + A[hi + k] * LANE;
  }

  for (let k0 = 0; k0 < K; k0 += TWO_LANE_CHUNK) {
    const k1 = Math.min(K, k0 + TWO_LANE_CHUNK);
    const first = k0 === 0;
    let r = 0;
    // Main tiles: 2 packed rows (4 rows of C) × 4 columns, 8 float64 accumulators.
    for (; r + 2 <= pairs; r += 2) {
      const p0 = r * K, p1 = p0 + K;
      const c0 = 2 * r * N, c1 = c0 + 2 * N; // rows 2r (lo lane of p0) and 2r + 2 (lo lane of p1)
      let j = 0;
      for (; j + 4 <= N; j += 4) {
        const b0 = j * K, b1 = b0 + K, b2 = b1 + K, b3 = b2 + K;
        let s00 = 0, s01 = 0, s02 = 0, s03 = 0, s10 = 0, s11 = 0, s12 = 0, s13 = 0;
        for (let k = k0; k < k1; k++) {
          const u0 = P[p0 + k], u1 = P[p1 + k];
          const x0 = B[b0 + k], x1 = B[b1 + k], x2 = B[b2 + k], x3 = B[b3 + k];
          s00 += u0 * x0; s01 += u0 * x1; s02 += u0 * x2; s03 += u0 * x3;
          s10 += u1 * x0; s11 += u1 * x1; s12 += u1 * x2; s13 += u1 * x3;
        }
        storeLanes(C, c0 + j, N, s00, first); storeLanes(C, c0 + j + 1, N, s01, first);
        storeLanes(C, c0 + j + 2, N, s02, first); storeLanes(C, c0 + j + 3, N, s03, first);
        storeLanes(C, c1 + j, N, s10, first); storeLanes(C, c1 + j + 1, N, s11, first);
        storeLanes(C, c1 + j + 2, N, s12, first); storeLanes(C, c1 + j + 3, N, s13, first);
      }
      for (; j < N; j++) {
        storeLanes(C, c0 + j, N, dotPacked(P, p0, B, j * K, k0, k1), first);
        storeLanes(C, c1 + j, N, dotPacked(P, p1, B, j * K, k0, k1), first);
      }
    }
    if (r < pairs) {
      for (let j = 0; j < N; j++) storeLanes(C, 2 * r * N + j, N, dotPacked(P, r * K, B, j * K, k0, k1), first);
    }
    if (M % 2 === 1) {
      const i = M - 1;
      for (let j = 0; j < N; j++) {
        let s = 0;
        for (let k = k0; k < k1; k++) s = (s + Math.imul(A[i * K + k], B[j * K + k])) | 0;
        C[i * N + j] = first ? s : (C[i * N + j] + s) | 0;
      }
    }
  }
}

function dotPacked(P: Float64Array, p: number, B: Int32Array, b: number, k0: number, k1: number): number {
  let s = 0;
  for (let k = k0; k < k1; k++) s += P[p + k] * B[b + k];
  return s;
}

/** Split a two-lane sum s = lo + hi · 2^26 into C[at] (row 2r) and C[at + N] (row 2r + 1). */
function storeLanes(C: Int32Array, at: number, N: number, s: number, first: boolean): void {
  const hi = Math.round(s * INV_LANE); // never a tie: |lo| < 2^25
  const lo = s - hi * LANE;
  if (first) {
    C[at] = lo;
    C[at + N] = hi;
  } else {
    C[at] = (C[at] + lo) | 0;
    C[at + N] = (C[at + N] + hi) | 0;
  }
}

/**
 * The GEMM the engine uses for a layer whose operands are bounded by maxAbsA and maxAbsB (known
 * exactly when the model is built). The one place to plug in a faster kernel.
 */
export function selectGemm(maxAbsA: number, maxAbsB: number, K = Infinity): Int32Gemm {
  // The WebAssembly SIMD kernel multiplies int16 pairs: exact for these operands,
  // and 3-6x faster than the TypeScript kernels once K is past the size of a first conv layer.
  if (maxAbsA <= INT16_MAX && maxAbsB <= INT16_MAX && K >= 32 && int8KernelsWasm()) return gemmWasmNT;
  return maxAbsA <= TWO_LANE_MAX_OPERAND && maxAbsB <= TWO_LANE_MAX_OPERAND ? gemmTwoLane : gemmInt32;
}


/** The int8 engine follows the device choice: SIMD kernels where the default device is 'wasm'. */
export function int8KernelsWasm(): boolean {
  return getDefaultDevice() === 'wasm';
}

/** gemmInt8 of ./fast/gemm-int8.ts in this file's NT layout: A is M×K, B is N×K (read transposed). */
export const gemmWasmNT: Int32Gemm = (M, N, K, A, B, C) =>
  gemmInt8(M, N, K, { data: A, offset: 0, rowStride: K, colStride: 1 }, { data: B, offset: 0, rowStride: 1, colStride: K }, C);
