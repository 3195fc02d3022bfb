/**
 * General matrix multiply on typed arrays, the hot path of every MNIST experiment
 * (linear layers directly, convolutions through im2col).
 *
 * C[M,N] (+)= A[M,K] · B[K,N], where A and B are addressed by (offset, rowStride, colStride) so
 * transposed or strided operands need no copy by the caller.
 *
 * Two implementations:
 * - `gemmReference`, plain TypeScript and the readable definition: it packs B into a contiguous
 *   row-major Float64Array panel (one conversion from float32, unit stride in the inner loop),
 *   then runs an i-k-j loop over blocks of 4 rows of A: each loaded B element feeds 4
 *   multiply-adds, and the 4 output rows stay hot in cache. Accumulation is in float64 (JS
 *   numbers), rounded to the output's type once at the end.
 * - the WebAssembly SIMD kernel (./wasm), used when A, B and C are all float32 and wasm is on
 *   (QGRAD_CPU_KERNELS=js turns it off): packed panels, a 4x8 register tile, float32
 *   accumulation, optionally split across threads (QGRAD_THREADS). Float32 accumulation changes
 *   results by a few float32 ulps times sqrt(K) relative to the float64 path; float64 and int32
 *   tensors always take the reference.
 *
 * `gemmInt8` is the integer product for int8 inference: exact int32 sums (see its comment).
 */
import type { TypedArray } from '../dtype.js';
import { gemmWorkspace, MR, NR, packPanelsF32, packPanelsI16, runWorkspace, wasmEnabled } from './wasm/index.js';
import type { Workspace } from './wasm/index.js';

export interface MatOperand {
  data: TypedArray;
  offset: number;
  rowStride: number;
  colStride: number;
}

let panel = new Float64Array(0);
let acc = new Float64Array(0);

export function gemm(
  M: number, N: number, K: number,
  A: MatOperand, B: MatOperand,
  C: TypedArray, cOffset: number, accumulate: boolean,
): void {
  if (M === 0 || N === 0) return;
  if (C instanceof Float32Array && A.data instanceof Float32Array && B.data instanceof Float32Array && wasmEnabled()) {
    const ws = gemmWorkspace('f32', M, N, K);
    if (ws) {
      packPanelsF32(A, A.rowStride, A.colStride, M, K, MR, ws.f32, ws.a);
      packPanelsF32(B, B.colStride, B.rowStride, N, K, NR, ws.f32, ws.b);
      runWorkspace(ws);
      readC(ws, C, cOffset, accumulate);
      return;
    }
  }
  gemmReference(M, N, K, A, B, C, cOffset, accumulate);
}

/** Copies (or adds) the M x N result of a workspace into C at cOffset, row-major. */
function readC(ws: Workspace, C: TypedArray, cOffset: number, accumulate: boolean): void {
  const { M, N, ldc } = ws;
  const src = ws.kind === 'f32' ? ws.f32 : ws.i32;
  for (let i = 0; i < M; i++) {
    const s = ws.c + i * ldc, d = cOffset + i * N;
    if (accumulate) for (let j = 0; j < N; j++) C[d + j] += src[s + j];
    else C.set(src.subarray(s, s + N), d);
  }
}

/** The plain TypeScript gemm (float64 accumulation): the reference the fast kernels are tested against. */
export function gemmReference(
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

// ---- integer gemm -------------------------------------------------------------------------------

/** An integer operand: values must lie in int16 range (int8 levels minus zero points do). */
export interface IntOperand {
  data: Int8Array | Int16Array | Int32Array;
  offset: number;
  rowStride: number;
  colStride: number;
}

/**
 * Integer matrix multiply for integer-only int8 inference: C[M,N] (+)= A[M,K] · B[K,N] with
 * every product and sum in int32 two's-complement arithmetic, i.e. C[i,j] is the exact
 * sum over k of A[i,k]·B[k,j] reduced modulo 2^32 to int32 (so exact whenever the true sum fits
 * in int32, e.g. always for |A|, |B| <= 255 and K <= 33025). The result does not depend on the
 * kernel, thread count or summation order.
 *
 * Operands are typically int8 levels minus their zero points, values in [-255, 255]; any value
 * in int16 range [-32768, 32767] is accepted, anything else throws a RangeError (the wasm kernel
 * multiplies int16 pairs with i32x4.dot_i16x8_s).
 */
export function gemmInt8(
  M: number, N: number, K: number,
  A: IntOperand, B: IntOperand,
  C: Int32Array, cOffset = 0, accumulate = false,
): void {
  if (M === 0 || N === 0) return;
  if (wasmEnabled()) {
    const ws = gemmWorkspace('i16', M, N, K);
    if (ws) {
      packPanelsI16(A, A.rowStride, A.colStride, M, K, MR, ws.i16, ws.a);
      packPanelsI16(B, B.colStride, B.rowStride, N, K, NR, ws.i16, ws.b);
      runWorkspace(ws);
      const { ldc } = ws;
      for (let i = 0; i < M; i++) {
        const s = ws.c + i * ldc, d = cOffset + i * N;
        if (accumulate) for (let j = 0; j < N; j++) C[d + j] = (C[d + j] + ws.i32[s + j]) | 0;
        else C.set(ws.i32.subarray(s, s + N), d);
      }
      return;
    }
  }
  gemmInt8Reference(M, N, K, A, B, C, cOffset, accumulate);
}

/** The plain TypeScript definition of gemmInt8 (Math.imul and |0: int32 wrapping arithmetic). */
export function gemmInt8Reference(
  M: number, N: number, K: number,
  A: IntOperand, B: IntOperand,
  C: Int32Array, cOffset = 0, accumulate = false,
): void {
  const ad = A.data, bd = B.data;
  for (let i = 0; i < M; i++) {
    for (let j = 0; j < N; j++) {
      let s = accumulate ? C[cOffset + i * N + j] : 0;
      let ap = A.offset + i * A.rowStride, bp = B.offset + j * B.colStride;
      for (let k = 0; k < K; k++, ap += A.colStride, bp += B.rowStride) {
        const a = ad[ap], b = bd[bp];
        if (a !== (a << 16) >> 16 || b !== (b << 16) >> 16) throw new RangeError(`gemmInt8: operand value ${a !== (a << 16) >> 16 ? a : b} does not fit in int16`);
        s = (s + Math.imul(a, b)) | 0;
      }
      C[cOffset + i * N + j] = s;
    }
  }
}
