/**
 * Affine quantization kernels (PyTorch's fake_quantize_per_{tensor,channel}_affine). Tested, not
 * generated: the formula's one definition is src/quant/numerics/affine.ts;
 * test/quant/kernels-vs-numerics.test.ts and test/tensor/backend-primitives.test.ts check these bit for bit
 * (against the numerics, and against the cpu kernels, ../../cpu/quant.ts). GLSL needs its own
 * tie-exact rounding (./helpers.ts), not ../../rounding.ts:
 *   level = zp + round(fround(x * inv)),  inv = fround(1 / scale) computed on the host,
 *   y = (clamp(level, qmin, qmax) - zp) * scale,  mask = [qmin <= level <= qmax].
 * Why this is exact on every mode: x, inv and scale are float32 and every product is rounded to
 * float32 once (GL and wasm compute in float32; gpu.js's cpu mode computes in float64, hence the
 * explicit Math.fround, and a float64 product of two float32s rounds to the same float32);
 * the rounding helpers test ties exactly (v against floor(v) + 0.5) instead of trusting Math.round,
 * which gpu.js implements as floor(v + 0.5); levels are integers far below 2^24.
 *
 * The tensor is viewed as [outer, channels, inner]; channel c = (i / inner) mod channels. Per
 * channel scale, inv and zero point arrive as small arrays. `halfEven` selects the rounding
 * (1: ties to even, 0: ties away from zero), a uniform branch.
 */
import type { Buf, KernelThis } from './helpers.js';

/** Defined in ./helpers.ts; linked by gpu.js. */
declare function idiv(a: number, b: number): number;
declare function roundHalfEven(v: number): number;
declare function roundHalfAway(v: number): number;

export function quantLevelKernel(
  this: KernelThis, x: Buf, inv: Buf, zp: Buf, channels: number, inner: number, halfEven: number,
): number {
  const oc = idiv(this.thread.x, inner);
  const c = oc - idiv(oc, channels) * channels;
  const v = Math.fround(x[this.thread.x] * inv[c]);
  let r = 0;
  if (halfEven > 0) {
    r = roundHalfEven(v);
  } else {
    r = roundHalfAway(v);
  }
  return zp[c] + r;
}

/** quantize: clamp(level, qmin, qmax), an integer stored as float32. */
export function quantizeKernel(
  this: KernelThis, x: Buf, inv: Buf, zp: Buf, channels: number, inner: number, halfEven: number, qmin: number, qmax: number,
): number {
  const oc = idiv(this.thread.x, inner);
  const c = oc - idiv(oc, channels) * channels;
  const v = Math.fround(x[this.thread.x] * inv[c]);
  let r = 0;
  if (halfEven > 0) {
    r = roundHalfEven(v);
  } else {
    r = roundHalfAway(v);
  }
  const level = zp[c] + r;
  if (level < qmin) {
    return qmin;
  }
  if (level > qmax) {
    return qmax;
  }
  return level;
}

/** fakeQuantize's value: (clamp(level) - zp) * scale, from the levels kernel's output. */
export function fakeQuantValueKernel(
  this: KernelThis, level: Buf, scale: Buf, zp: Buf, channels: number, inner: number, qmin: number, qmax: number,
): number {
  const oc = idiv(this.thread.x, inner);
  const c = oc - idiv(oc, channels) * channels;
  let q = level[this.thread.x];
  if (q < qmin) {
    q = qmin;
  }
  if (q > qmax) {
    q = qmax;
  }
  return (q - zp[c]) * scale[c];
}

/** fakeQuantize's straight-through mask, tested on the rounded, unclamped level (PyTorch). */
export function fakeQuantMaskKernel(this: KernelThis, level: Buf, qmin: number, qmax: number): number {
  const q = level[this.thread.x];
  if (q >= qmin && q <= qmax) {
    return 1;
  }
  return 0;
}

/** dequantize: (q - zp) * scale. */
export function dequantizeKernel(this: KernelThis, q: Buf, scale: Buf, zp: Buf, channels: number, inner: number): number {
  const oc = idiv(this.thread.x, inner);
  const c = oc - idiv(oc, channels) * channels;
  return (q[this.thread.x] - zp[c]) * scale[c];
}
