/**
 * Max and average pooling over [N, C, H, W] as gpu.js kernel functions, following
 * ../../cpu/pool.ts: max pooling records per output the flat index (h W + w) of the first maximum
 * in window order, -1 for a window lying entirely in the padding (its value is -Infinity); padding
 * counts toward the average's divisor. gpu.js kernels have one output, so max pooling is two
 * kernels: the index, then a gather of the value at that index.
 *
 * The gradients are gathers over the windows that contain an input element: (h, w) lies in the
 * window of output (oh, ow) at tap (i, j) when h = oh sh - ph + i dh, so for each tap at most one
 * oh qualifies, and it must be an integer in [0, OH).
 */
import type { Buf, KernelThis } from './helpers.js';

/** Defined in ./helpers.ts; linked by gpu.js. */
declare function idiv(a: number, b: number): number;

export function maxPoolIndexKernel(
  this: KernelThis, x: Buf, H: number, W: number, OH: number, OW: number,
  kh: number, kw: number, sh: number, sw: number, ph: number, pw: number, dh: number, dw: number,
): number {
  const L = OH * OW;
  const nc = idiv(this.thread.x, L);
  const r = this.thread.x - nc * L;
  const oh = idiv(r, OW);
  const ow = r - oh * OW;
  const plane = nc * H * W;
  let best = 0;
  let at = -1;
  for (let i = 0; i < kh; i++) {
    const ih = oh * sh - ph + i * dh;
    if (ih >= 0 && ih < H) {
      for (let j = 0; j < kw; j++) {
        const iw = ow * sw - pw + j * dw;
        if (iw >= 0 && iw < W) {
          const v = x[plane + ih * W + iw];
          // The last NaN wins, as PyTorch (where the platform has NaNs).
          if (at < 0 || v > best || v !== v) {
            best = v;
            at = ih * W + iw;
          }
        }
      }
    }
  }
  return at;
}

/** out[t] = x[plane(t) + idx[t]], or negInf (an argument: GLSL has no Infinity literal) for idx -1. */
export function maxPoolValueKernel(this: KernelThis, x: Buf, idx: Buf, HW: number, L: number, negInf: number): number {
  const at = idx[this.thread.x];
  if (at < 0) {
    return negInf;
  }
  const nc = idiv(this.thread.x, L);
  return x[nc * HW + at];
}

export function maxPoolGradKernel(
  this: KernelThis, gy: Buf, idx: Buf, H: number, W: number, OH: number, OW: number,
  kh: number, kw: number, sh: number, sw: number, ph: number, pw: number, dh: number, dw: number,
): number {
  const HW = H * W;
  const nc = idiv(this.thread.x, HW);
  const r = this.thread.x - nc * HW;
  const h = idiv(r, W);
  const w = r - h * W;
  const outPlane = nc * OH * OW;
  let acc = 0;
  for (let i = 0; i < kh; i++) {
    const th = h + ph - i * dh;
    if (th >= 0) {
      const oh = idiv(th, sh);
      if (oh * sh === th && oh < OH) {
        for (let j = 0; j < kw; j++) {
          const tw = w + pw - j * dw;
          if (tw >= 0) {
            const ow = idiv(tw, sw);
            if (ow * sw === tw && ow < OW) {
              const o = outPlane + oh * OW + ow;
              if (idx[o] === r) {
                acc += gy[o];
              }
            }
          }
        }
      }
    }
  }
  return acc;
}

export function avgPoolKernel(
  this: KernelThis, x: Buf, H: number, W: number, OH: number, OW: number,
  kh: number, kw: number, sh: number, sw: number, ph: number, pw: number, dh: number, dw: number,
): number {
  const L = OH * OW;
  const nc = idiv(this.thread.x, L);
  const r = this.thread.x - nc * L;
  const oh = idiv(r, OW);
  const ow = r - oh * OW;
  const plane = nc * H * W;
  let acc = 0;
  for (let i = 0; i < kh; i++) {
    const ih = oh * sh - ph + i * dh;
    if (ih >= 0 && ih < H) {
      for (let j = 0; j < kw; j++) {
        const iw = ow * sw - pw + j * dw;
        if (iw >= 0 && iw < W) {
          acc += x[plane + ih * W + iw];
        }
      }
    }
  }
  return acc / (kh * kw);
}

export function avgPoolGradKernel(
  this: KernelThis, gy: Buf, H: number, W: number, OH: number, OW: number,
  kh: number, kw: number, sh: number, sw: number, ph: number, pw: number, dh: number, dw: number,
): number {
  const HW = H * W;
  const nc = idiv(this.thread.x, HW);
  const r = this.thread.x - nc * HW;
  const h = idiv(r, W);
  const w = r - h * W;
  const outPlane = nc * OH * OW;
  const div = kh * kw;
  let acc = 0;
  for (let i = 0; i < kh; i++) {
    const th = h + ph - i * dh;
    if (th >= 0) {
      const oh = idiv(th, sh);
      if (oh * sh === th && oh < OH) {
        for (let j = 0; j < kw; j++) {
          const tw = w + pw - j * dw;
          if (tw >= 0) {
            const ow = idiv(tw, sw);
            if (ow * sw === tw && ow < OW) {
              acc += gy[outPlane + oh * OW + ow] / div;
            }
          }
        }
      }
    }
  }
  return acc;
}
