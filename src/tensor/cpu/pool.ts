/**
 * Max and average pooling over [N, C, H, W]. Max pooling records, per output, the flat index
 * (h * W + w) of the winning input in its plane; the backward pass routes each gradient to that
 * index (ties go to the first maximum in window order, as PyTorch's CPU kernel does). Padding
 * positions never win a max (they are -Infinity), and count toward the average's divisor
 * (count_include_pad=True, PyTorch's default).
 */
import type { Pool2dParams } from '../backend.js';
import type { DType, TypedArray } from '../dtype.js';
import { allocTyped } from '../dtype.js';
import { convOutSize } from '../shape.js';

export function poolOutShape(xShape: readonly number[], p: Pool2dParams): [number, number, number, number] {
  const [N, C, H, W] = xShape;
  return [
    N, C,
    convOutSize(H, p.kernel[0], p.stride[0], p.padding[0], p.dilation[0]),
    convOutSize(W, p.kernel[1], p.stride[1], p.padding[1], p.dilation[1]),
  ];
}

export function maxPool2d(x: TypedArray, xShape: readonly number[], p: Pool2dParams, dtype: DType): { out: TypedArray; indices: Int32Array } {
  const [N, C, OH, OW] = poolOutShape(xShape, p);
  const H = xShape[2], W = xShape[3];
  const is2x2 = p.kernel[0] === 2 && p.kernel[1] === 2 && p.stride[0] === 2 && p.stride[1] === 2
    && p.padding[0] === 0 && p.padding[1] === 0 && p.dilation[0] === 1 && p.dilation[1] === 1;
  const out = allocTyped(dtype, N * C * OH * OW);
  const indices = new Int32Array(out.length);
  if (is2x2) {
    maxPool2x2(x, N * C, H, W, OH, OW, out, indices);
    return { out, indices };
  }
  const [kh, kw] = p.kernel, [sh, sw] = p.stride, [ph, pw] = p.padding, [dh, dw] = p.dilation;
  let o = 0;
  for (let nc = 0; nc < N * C; nc++) {
    const plane = nc * H * W;
    for (let oh = 0; oh < OH; oh++) {
      for (let ow = 0; ow < OW; ow++, o++) {
        let best = -Infinity, bestIdx = -1;
        for (let i = 0; i < kh; i++) {
          const ih = oh * sh - ph + i * dh;
          if (ih < 0 || ih >= H) continue;
          for (let j = 0; j < kw; j++) {
            const iw = ow * sw - pw + j * dw;
            if (iw < 0 || iw >= W) continue;
            const v = x[plane + ih * W + iw];
            // The first element seeds the max; a larger one replaces it, and so does every NaN: the
            // last NaN of the window wins, as PyTorch's CPU kernel (`val > maxval || isnan(val)`).
            if (bestIdx < 0 || v > best || v !== v) {
              best = v;
              bestIdx = ih * W + iw;
            }
          }
        }
        out[o] = best;
        indices[o] = bestIdx;
      }
    }
  }
  return { out, indices };
}

/**
 * The common MaxPool2d(2): 2 x 2 windows, stride 2, no padding, so no bounds checks. Same window
 * order, tie and NaN rules as the general loop above (a later element wins if strictly larger,
 * or if it is NaN: the last NaN wins).
 */
function maxPool2x2(x: TypedArray, planes: number, H: number, W: number, OH: number, OW: number, out: TypedArray, indices: Int32Array): void {
  let o = 0;
  for (let nc = 0; nc < planes; nc++) {
    const plane = nc * H * W;
    for (let oh = 0; oh < OH; oh++) {
      const rel0 = 2 * oh * W;
      for (let ow = 0; ow < OW; ow++, o++) {
        const i0 = rel0 + 2 * ow, i2 = i0 + W;
        const a = x[plane + i0], b = x[plane + i0 + 1], c = x[plane + i2], d = x[plane + i2 + 1];
        let best = a, bi = i0;
        if (b > best || b !== b) { best = b; bi = i0 + 1; }
        if (c > best || c !== c) { best = c; bi = i2; }
        if (d > best || d !== d) { best = d; bi = i2 + 1; }
        out[o] = best;
        indices[o] = bi;
      }
    }
  }
}

export function maxPool2dGrad(gy: TypedArray, indices: TypedArray, gyShape: readonly number[], xShape: readonly number[], dtype: DType): TypedArray {
  const [N, C, OH, OW] = gyShape;
  const HW = xShape[2] * xShape[3];
  const gx = allocTyped(dtype, N * C * HW);
  const L = OH * OW;
  for (let nc = 0; nc < N * C; nc++) {
    const base = nc * HW, ob = nc * L;
    for (let t = 0; t < L; t++) {
      const at = indices[ob + t];
      // -1: the window lies entirely in the padding (its output is -Infinity); nothing to route.
      if (at >= 0) gx[base + at] += gy[ob + t];
    }
  }
  return gx;
}

export function avgPool2d(x: TypedArray, xShape: readonly number[], p: Pool2dParams, dtype: DType): TypedArray {
  const [N, C, OH, OW] = poolOutShape(xShape, p);
  const H = xShape[2], W = xShape[3];
  const out = allocTyped(dtype, N * C * OH * OW);
  const [kh, kw] = p.kernel, [sh, sw] = p.stride, [ph, pw] = p.padding, [dh, dw] = p.dilation;
  const div = kh * kw;
  let o = 0;
  for (let nc = 0; nc < N * C; nc++) {
    const plane = nc * H * W;
    for (let oh = 0; oh < OH; oh++) {
      for (let ow = 0; ow < OW; ow++, o++) {
        let s = 0;
        for (let i = 0; i < kh; i++) {
          const ih = oh * sh - ph + i * dh;
          if (ih < 0 || ih >= H) continue;
          for (let j = 0; j < kw; j++) {
            const iw = ow * sw - pw + j * dw;
            if (iw >= 0 && iw < W) s += x[plane + ih * W + iw];
          }
        }
        out[o] = s / div;
      }
    }
  }
  return out;
}

export function avgPool2dGrad(gy: TypedArray, gyShape: readonly number[], xShape: readonly number[], p: Pool2dParams, dtype: DType): TypedArray {
  const [N, C, OH, OW] = gyShape;
  const H = xShape[2], W = xShape[3];
  const gx = allocTyped(dtype, N * C * H * W);
  const [kh, kw] = p.kernel, [sh, sw] = p.stride, [ph, pw] = p.padding, [dh, dw] = p.dilation;
  const div = kh * kw;
  let o = 0;
  for (let nc = 0; nc < N * C; nc++) {
    const plane = nc * H * W;
    for (let oh = 0; oh < OH; oh++) {
      for (let ow = 0; ow < OW; ow++, o++) {
        const g = gy[o] / div;
        for (let i = 0; i < kh; i++) {
          const ih = oh * sh - ph + i * dh;
          if (ih < 0 || ih >= H) continue;
          for (let j = 0; j < kw; j++) {
            const iw = ow * sw - pw + j * dw;
            if (iw >= 0 && iw < W) gx[plane + ih * W + iw] += g;
          }
        }
      }
    }
  }
  return gx;
}
