/**
 * 2-D convolution on the cpu backend by im2col + gemm (the classic Caffe lowering):
 * for each image and group, the input windows are unrolled into a matrix
 * cols[C/g * KH * KW, OH * OW], so the convolution becomes W_g[O/g, C/g*KH*KW] · cols.
 * The backward passes are the same two matrix products transposed, plus col2im (scatter-add of
 * the unrolled gradient back to the input, where overlapping windows sum).
 * Cross-correlation, as every deep-learning framework defines "convolution".
 *
 * This file does exactly the above, one image at a time, with float64 accumulation (cols is a
 * Float64Array, so every product runs the reference gemm).
 */
import type { Conv2dParams } from '../backend.js';
import type { DType, TypedArray } from '../dtype.js';
import { allocTyped } from '../dtype.js';
import { convOutSize } from '../shape.js';
import { gemm } from './gemm.js';

/** The sizes of one convolution; L = OH * OW output positions per image, CKK = Cg * KH * KW taps. */
export interface Geometry {
  N: number; C: number; H: number; W: number;
  O: number; KH: number; KW: number; OH: number; OW: number;
  G: number; Cg: number; Og: number; CKK: number; L: number;
}

export function geometry(xShape: readonly number[], wShape: readonly number[], p: Conv2dParams): Geometry {
  const [N, C, H, W] = xShape;
  const [O, Cg, KH, KW] = wShape;
  const OH = convOutSize(H, KH, p.stride[0], p.padding[0], p.dilation[0]);
  const OW = convOutSize(W, KW, p.stride[1], p.padding[1], p.dilation[1]);
  const G = p.groups;
  return { N, C, H, W, O, KH, KW, OH, OW, G, Cg, Og: O / G, CKK: Cg * KH * KW, L: OH * OW };
}

let colsBuf = new Float64Array(0);
function colsScratch(n: number): Float64Array {
  if (colsBuf.length < n) colsBuf = new Float64Array(n);
  return colsBuf;
}

/** Unrolls the windows of channels [c0, c0 + Cg) of image n into cols[CKK, L]. */
function im2col(x: TypedArray, g: Geometry, p: Conv2dParams, n: number, c0: number, cols: Float64Array): void {
  const { C, H, W, KH, KW, OH, OW, Cg, L } = g;
  const [sh, sw] = p.stride, [ph, pw] = p.padding, [dh, dw] = p.dilation;
  let row = 0;
  for (let c = 0; c < Cg; c++) {
    const plane = (n * C + c0 + c) * H * W;
    for (let kh = 0; kh < KH; kh++) {
      for (let kw = 0; kw < KW; kw++, row++) {
        let o = row * L;
        for (let oh = 0; oh < OH; oh++) {
          const ih = oh * sh - ph + kh * dh;
          if (ih < 0 || ih >= H) {
            cols.fill(0, o, o + OW);
            o += OW;
            continue;
          }
          const base = plane + ih * W;
          let iw = -pw + kw * dw;
          for (let ow = 0; ow < OW; ow++, iw += sw) cols[o++] = iw >= 0 && iw < W ? x[base + iw] : 0;
        }
      }
    }
  }
}

/** The adjoint of im2col: adds cols[CKK, L] back into the input gradient. */
function col2im(cols: Float64Array, g: Geometry, p: Conv2dParams, n: number, c0: number, gx: TypedArray): void {
  const { C, H, W, KH, KW, OH, OW, Cg, L } = g;
  const [sh, sw] = p.stride, [ph, pw] = p.padding, [dh, dw] = p.dilation;
  let row = 0;
  for (let c = 0; c < Cg; c++) {
    const plane = (n * C + c0 + c) * H * W;
    for (let kh = 0; kh < KH; kh++) {
      for (let kw = 0; kw < KW; kw++, row++) {
        let o = row * L;
        for (let oh = 0; oh < OH; oh++) {
          const ih = oh * sh - ph + kh * dh;
          if (ih < 0 || ih >= H) {
            o += OW;
            continue;
          }
          const base = plane + ih * W;
          let iw = -pw + kw * dw;
          for (let ow = 0; ow < OW; ow++, iw += sw, o++) if (iw >= 0 && iw < W) gx[base + iw] += cols[o];
        }
      }
    }
  }
}

export function conv2dForward(x: TypedArray, xShape: readonly number[], w: TypedArray, wShape: readonly number[], p: Conv2dParams, dtype: DType): TypedArray {
  const g = geometry(xShape, wShape, p);
  const y = allocTyped(dtype, g.N * g.O * g.L);
  const cols = colsScratch(g.CKK * g.L);
  for (let n = 0; n < g.N; n++) {
    for (let gi = 0; gi < g.G; gi++) {
      im2col(x, g, p, n, gi * g.Cg, cols);
      gemm(
        g.Og, g.L, g.CKK,
        { data: w, offset: gi * g.Og * g.CKK, rowStride: g.CKK, colStride: 1 },
        { data: cols, offset: 0, rowStride: g.L, colStride: 1 },
        y, (n * g.O + gi * g.Og) * g.L, false,
      );
    }
  }
  return y;
}

export function conv2dGradInput(gy: TypedArray, wShape: readonly number[], w: TypedArray, xShape: readonly number[], p: Conv2dParams, dtype: DType): TypedArray {
  const g = geometry(xShape, wShape, p);
  const gx = allocTyped(dtype, g.N * g.C * g.H * g.W);
  const cols = colsScratch(g.CKK * g.L);
  for (let n = 0; n < g.N; n++) {
    for (let gi = 0; gi < g.G; gi++) {
      // cols = W_g^T [CKK, Og] · gy[n, g] [Og, L]
      gemm(
        g.CKK, g.L, g.Og,
        { data: w, offset: gi * g.Og * g.CKK, rowStride: 1, colStride: g.CKK },
        { data: gy, offset: (n * g.O + gi * g.Og) * g.L, rowStride: g.L, colStride: 1 },
        cols, 0, false,
      );
      col2im(cols, g, p, n, gi * g.Cg, gx);
    }
  }
  return gx;
}

export function conv2dGradWeight(x: TypedArray, xShape: readonly number[], gy: TypedArray, wShape: readonly number[], p: Conv2dParams, dtype: DType): TypedArray {
  const g = geometry(xShape, wShape, p);
  const gw = allocTyped(dtype, g.O * g.CKK);
  // Accumulate in float64 across the batch, round once.
  const acc = new Float64Array(g.O * g.CKK);
  const cols = colsScratch(g.CKK * g.L);
  for (let n = 0; n < g.N; n++) {
    for (let gi = 0; gi < g.G; gi++) {
      im2col(x, g, p, n, gi * g.Cg, cols);
      // gW_g [Og, CKK] += gy[n, g] [Og, L] · cols^T [L, CKK]
      gemm(
        g.Og, g.CKK, g.L,
        { data: gy, offset: (n * g.O + gi * g.Og) * g.L, rowStride: g.L, colStride: 1 },
        { data: cols, offset: 0, rowStride: 1, colStride: g.L },
        acc, gi * g.Og * g.CKK, true,
      );
    }
  }
  gw.set(acc);
  return gw;
}
