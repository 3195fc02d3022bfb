/**
 * The integer matrix product of the int8 engine's fast path, `gemmInt8`, with its plain
 * TypeScript definition `gemmInt8Reference` (the oracle the tests hold it to).
 *
 * gemmInt8 runs the wasm backend's int16 SIMD gemm (i32x4.dot_i16x8_s) through the kernel
 * toolkit that src/tensor/wasm/index.ts exports, and falls back to the reference where WebAssembly
 * SIMD is missing or the product does not fit the module's memory. Both are exact (see below), so
 * the choice never changes a result.
 */
import { gemmWorkspace, MR, NR, packPanelsI16, runWorkspace } from '../../../tensor/wasm/index.js';

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
