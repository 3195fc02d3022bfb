/**
 * Matrix multiply and direct 2-D convolution (forward and both gradients) as gpu.js kernel
 * functions. gpu.js compiles each function's source text, so these are written in the subset it
 * accepts, and helpers (idiv) are linked by gpu.js by name, not imported: an import would be
 * rewritten by bundlers and test runners into something gpu.js cannot parse.
 *
 * Each thread computes one output element; every size, stride and offset is an argument (a uniform
 * in GL), so one compiled kernel serves all shapes. The gradients are written as gathers (each
 * thread sums what flows into its element) because a GPU kernel cannot scatter-add.
 */
import type { Buf, KernelThis } from './helpers.js';

/** Defined in ./helpers.ts; gpu.js links it into every kernel that calls it. */
declare function idiv(a: number, b: number): number;

/**
 * out[b, m, n] = sum_k A[b, m, k] B[b, k, n] for strided views A (offset ao, strides as0..as2)
 * and B (bo, bs0..bs2), accumulated in float32 in k order.
 */
export function matmulKernel(
  this: KernelThis, a: Buf, b: Buf, M: number, N: number, K: number,
  ao: number, as0: number, as1: number, as2: number, bo: number, bs0: number, bs1: number, bs2: number,
): number {
  const mn = M * N;
  const bi = idiv(this.thread.x, mn);
  const r = this.thread.x - bi * mn;
  const m = idiv(r, N);
  const n = r - m * N;
  let pa = ao + bi * as0 + m * as1;
  let pb = bo + bi * bs0 + n * bs2;
  let acc = 0;
  for (let k = 0; k < K; k++) {
    acc += a[pa] * b[pb];
    pa += as2;
    pb += bs1;
  }
  return acc;
}

/**
 * y[n, o, oh, ow] = sum over c < Cg, kh, kw of x[n, g Cg + c, oh sh - ph + kh dh, ow sw - pw + kw dw]
 * w[o, c, kh, kw], g = o / Og (cross-correlation, as every framework's "convolution").
 */
export function conv2dKernel(
  this: KernelThis, x: Buf, w: Buf, C: number, H: number, W: number, O: number, KH: number, KW: number,
  OH: number, OW: number, Cg: number, Og: number, sh: number, sw: number, ph: number, pw: number, dh: number, dw: number,
): number {
  const L = OH * OW;
  const no = idiv(this.thread.x, L);
  const r = this.thread.x - no * L;
  const n = idiv(no, O);
  const o = no - n * O;
  const oh = idiv(r, OW);
  const ow = r - oh * OW;
  const g = idiv(o, Og);
  let acc = 0;
  for (let c = 0; c < Cg; c++) {
    const xPlane = (n * C + g * Cg + c) * H;
    const wPlane = (o * Cg + c) * KH;
    for (let i = 0; i < KH; i++) {
      const ih = oh * sh - ph + i * dh;
      if (ih >= 0 && ih < H) {
        for (let j = 0; j < KW; j++) {
          const iw = ow * sw - pw + j * dw;
          if (iw >= 0 && iw < W) {
            acc += x[(xPlane + ih) * W + iw] * w[(wPlane + i) * KW + j];
          }
        }
      }
    }
  }
  return acc;
}

/**
 * gx[n, c, ih, iw] = sum over the outputs whose window reads (ih, iw): o in c's group, (i, j) with
 * ih = oh sh - ph + i dh for an integer oh in [0, OH) (same for w), of gy[n, o, oh, ow] w[o, c', i, j].
 */
export function conv2dGradInputKernel(
  this: KernelThis, gy: Buf, w: Buf, C: number, H: number, W: number, O: number, KH: number, KW: number,
  OH: number, OW: number, Cg: number, Og: number, sh: number, sw: number, ph: number, pw: number, dh: number, dw: number,
): number {
  const HW = H * W;
  const nc = idiv(this.thread.x, HW);
  const r = this.thread.x - nc * HW;
  const n = idiv(nc, C);
  const c = nc - n * C;
  const ih = idiv(r, W);
  const iw = r - ih * W;
  const g = idiv(c, Cg);
  const cg = c - g * Cg;
  let acc = 0;
  for (let t = 0; t < Og; t++) {
    const o = g * Og + t;
    const gyPlane = (n * O + o) * OH;
    const wPlane = (o * Cg + cg) * KH;
    for (let i = 0; i < KH; i++) {
      const th = ih + ph - i * dh;
      if (th >= 0) {
        const oh = idiv(th, sh);
        if (oh * sh === th && oh < OH) {
          for (let j = 0; j < KW; j++) {
            const tw = iw + pw - j * dw;
            if (tw >= 0) {
              const ow = idiv(tw, sw);
              if (ow * sw === tw && ow < OW) {
                acc += gy[(gyPlane + oh) * OW + ow] * w[(wPlane + i) * KW + j];
              }
            }
          }
        }
      }
    }
  }
  return acc;
}

/**
 * gw[o, c, i, j] = sum over n, oh, ow of gy[n, o, oh, ow] x[n, g Cg + c, oh sh - ph + i dh, ow sw - pw + j dw].
 */
export function conv2dGradWeightKernel(
  this: KernelThis, x: Buf, gy: Buf, N: number, C: number, H: number, W: number, O: number, KH: number, KW: number,
  OH: number, OW: number, Cg: number, Og: number, sh: number, sw: number, ph: number, pw: number, dh: number, dw: number,
): number {
  const KK = KH * KW;
  const oc = idiv(this.thread.x, KK);
  const r = this.thread.x - oc * KK;
  const o = idiv(oc, Cg);
  const c = oc - o * Cg;
  const i = idiv(r, KW);
  const j = r - i * KW;
  const g = idiv(o, Og);
  let acc = 0;
  for (let n = 0; n < N; n++) {
    const xPlane = (n * C + g * Cg + c) * H;
    const gyPlane = (n * O + o) * OH;
    for (let oh = 0; oh < OH; oh++) {
      const ih = oh * sh - ph + i * dh;
      if (ih >= 0 && ih < H) {
        for (let ow = 0; ow < OW; ow++) {
          const iw = ow * sw - pw + j * dw;
          if (iw >= 0 && iw < W) {
            acc += gy[(gyPlane + oh) * OW + ow] * x[(xPlane + ih) * W + iw];
          }
        }
      }
    }
  }
  return acc;
}
