/**
 * The wasm backend's float32 matrix multiply: the same contract as the reference gemm of
 * src/tensor/cpu/gemm.ts, C[M,N] (+)= A[M,K] · B[K,N], run by the WebAssembly SIMD kernel of
 * ./kernels.ts: packed panels, a 4x8 register tile, float32 accumulation, optionally split across
 * threads (QGRAD_THREADS). Float32 accumulation changes results by a few float32 ulps times sqrt(K)
 * relative to the reference's float64; operands that are not all float32, or a product too large
 * for the module's memory, take the reference.
 */
import type { TypedArray } from '../dtype.js';
import { gemm as gemmReference, type Gemm, type MatOperand } from '../cpu/gemm.js';
import { MR, NR } from './kernels.js';
import { gemmWorkspace, packGatherWasm, packPanelsF32, runWorkspace, type Workspace } from './runtime.js';

export const gemmF32: Gemm = (M, N, K, A, B, C, cOffset, accumulate) => {
  if (M === 0 || N === 0) return;
  if (C instanceof Float32Array && A.data instanceof Float32Array && B.data instanceof Float32Array) {
    // A packs as M rows of K, B as N rows (its columns) of K.
    const a = staging(A, A.rowStride, A.colStride, M, K), b = staging(B, B.colStride, B.rowStride, N, K);
    const ws = gemmWorkspace('f32', M, N, K, a.words + b.words);
    if (ws) {
      pack(ws, A, A.rowStride, A.colStride, M, K, MR, ws.a, a, ws.extra);
      pack(ws, B, B.colStride, B.rowStride, N, K, NR, ws.b, b, ws.extra + a.words);
      runWorkspace(ws);
      readC(ws, C, cOffset, accumulate);
      return;
    }
  }
  gemmReference(M, N, K, A, B, C, cOffset, accumulate);
};

/** Operands this many floats or larger are packed in wasm (below, the JavaScript packer is as quick). */
const WASM_PACK_MIN = 4096;

/**
 * Where an operand X(p, k) = data[offset + p * pStride + k * kStride] is packed: by the wasm
 * gather-packer (kernels.ts pack_gather) from a copy of the span of data it covers and two
 * offset tables (a native copy, then vector loads wherever a stride is 1), when it is large
 * enough and its strides are not negative; else in JavaScript (packPanelsF32). `words`: the
 * wasm memory the first way needs (the span, then the P + K table entries). A copy either way,
 * so the same packed bits.
 */
function staging(X: MatOperand, pStride: number, kStride: number, P: number, K: number): { span: number; words: number } {
  if (P * K < WASM_PACK_MIN || pStride < 0 || kStride < 0 || K === 0) return { span: 0, words: 0 };
  const span = (P - 1) * pStride + (K - 1) * kStride + 1;
  return { span, words: Math.ceil(span / 16) * 16 + P + K };
}

function pack(ws: Workspace, X: MatOperand, pStride: number, kStride: number, P: number, K: number, R: number, dst: number, s: { span: number; words: number }, at: number): void {
  if (s.words === 0) {
    packPanelsF32(X, pStride, kStride, P, K, R, ws.f32, dst);
    return;
  }
  ws.f32.set(X.data.subarray(X.offset, X.offset + s.span), at);
  const pOff = at + Math.ceil(s.span / 16) * 16, kOff = pOff + P, t = ws.i32;
  for (let p = 0; p < P; p++) t[pOff + p] = 4 * p * pStride;
  for (let k = 0; k < K; k++) t[kOff + k] = 4 * k * kStride;
  packGatherWasm(at, pOff, P, kOff, K, R, dst);
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
