/**
 * Shared by the kernel tests: a seeded generator, naive float64 references written as the
 * textbook triple loops, and the float32 error bound the fast kernels are held to.
 */
import type { Conv2dParams, Pool2dParams } from '../../../src/tensor/backend.js';
import type { DType, TypedArray } from '../../../src/tensor/dtype.js';
import * as ref from '../../../src/tensor/cpu/conv.js';
import { maxPool2d as maxPool2dReference, poolOutShape } from '../../../src/tensor/cpu/pool.js';
import { readyThreads, setWasmKernelConfig } from '../../../src/tensor/wasm/index.js';
import { conv2dForwardF32, conv2dGradInputF32, conv2dGradWeightF32 } from '../../../src/tensor/wasm/conv.js';
import { maxPool2x2Wasm } from '../../../src/tensor/wasm/runtime.js';
import { mulberry32 } from '../../helpers/rng.js';

export const rng = mulberry32;

export function randomF32(n: number, rand: () => number): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = rand() * 2 - 1;
  return a;
}

export function randomInt(n: number, lo: number, hi: number, rand: () => number): Int32Array {
  const a = new Int32Array(n);
  for (let i = 0; i < n; i++) a[i] = lo + Math.floor(rand() * (hi - lo + 1));
  return a;
}

/** Unit roundoff of float32. */
export const U32 = 2 ** -24;

/**
 * Checks float32 results against float64 sums: |c - exact| <= (K + 2) u * sum|a_k b_k| + tiny,
 * the classical bound for a length-K dot product computed with separately rounded (or fused)
 * float32 multiplies and adds in any order (Higham, Accuracy and Stability, sec. 3.1), plus one
 * rounding of the result. `abs` holds sum|a_k b_k| per entry.
 */
export function expectWithinDotBound(actual: ArrayLike<number>, exact: ArrayLike<number>, abs: ArrayLike<number>, K: number, label: string): void {
  if (actual.length !== exact.length) throw new Error(`${label}: length ${actual.length} vs ${exact.length}`);
  for (let i = 0; i < exact.length; i++) {
    const bound = (K + 2) * U32 * abs[i] * 1.01 + 1e-30;
    const err = Math.abs(actual[i] - exact[i]);
    if (!(err <= bound)) throw new Error(`${label}: entry ${i}: ${actual[i]} vs exact ${exact[i]} (error ${err}, bound ${bound})`);
  }
}

/** Sets the thread count and waits (up to 30 s) until that many threads can take work. */
export async function useThreads(n: number): Promise<void> {
  setWasmKernelConfig({ threads: n });
  const deadline = Date.now() + 30_000;
  while (readyThreads() < n) {
    if (Date.now() > deadline) throw new Error(`worker threads did not start (ready: ${readyThreads()} of ${n})`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

const f32 = (...xs: TypedArray[]) => xs.every((x) => x instanceof Float32Array);

/** The wasm backend's conv2d dispatch at kernel level: the float32 SIMD path, else the reference. */
export function conv2dForward(x: TypedArray, xShape: readonly number[], w: TypedArray, wShape: readonly number[], p: Conv2dParams, dtype: DType): TypedArray {
  return (f32(x, w) ? conv2dForwardF32(x as Float32Array, xShape, w as Float32Array, wShape, p) : null) ?? ref.conv2dForward(x, xShape, w, wShape, p, dtype);
}
export function conv2dGradInput(gy: TypedArray, wShape: readonly number[], w: TypedArray, xShape: readonly number[], p: Conv2dParams, dtype: DType): TypedArray {
  return (f32(gy, w) ? conv2dGradInputF32(gy as Float32Array, wShape, w as Float32Array, xShape, p) : null) ?? ref.conv2dGradInput(gy, wShape, w, xShape, p, dtype);
}
export function conv2dGradWeight(x: TypedArray, xShape: readonly number[], gy: TypedArray, wShape: readonly number[], p: Conv2dParams, dtype: DType): TypedArray {
  return (f32(x, gy) ? conv2dGradWeightF32(x as Float32Array, xShape, gy as Float32Array, wShape, p) : null) ?? ref.conv2dGradWeight(x, xShape, gy, wShape, p, dtype);
}
/** The wasm backend's 2x2 max pool (SIMD where it applies), else the reference. */
export function maxPool2dWasm(x: TypedArray, xShape: readonly number[], p: Pool2dParams, dtype: DType): { out: TypedArray; indices: Int32Array } {
  const [N, C, OH, OW] = poolOutShape(xShape, p);
  return (x instanceof Float32Array ? maxPool2x2Wasm(x, N * C, xShape[2], xShape[3], OH, OW) : null) ?? maxPool2dReference(x, xShape, p, dtype);
}
