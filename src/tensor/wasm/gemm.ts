/**
 * The wasm backend's float32 matrix multiply: the same contract as the reference gemm of
 * src/tensor/cpu/gemm.ts, C[M,N] (+)= A[M,K] · B[K,N], run by the WebAssembly SIMD kernel of
 * ./kernels.ts: packed panels, a 4x8 register tile, float32 accumulation, optionally split across
 * threads (QGRAD_THREADS). Float32 accumulation changes results by a few float32 ulps times sqrt(K)
 * relative to the reference's float64; operands that are not all float32, or a product too large
 * for the module's memory, take the reference.
 */
import type { TypedArray } from '../dtype.js';
import { gemm as gemmReference, type Gemm } from '../cpu/gemm.js';
import { MR, NR } from './kernels.js';
import { gemmWorkspace, packPanelsF32, runWorkspace, type Workspace } from './runtime.js';

export const gemmF32: Gemm = (M, N, K, A, B, C, cOffset, accumulate) => {
  if (M === 0 || N === 0) return;
  if (C instanceof Float32Array && A.data instanceof Float32Array && B.data instanceof Float32Array) {
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
};

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
