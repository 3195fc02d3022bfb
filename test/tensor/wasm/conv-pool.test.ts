/**
 * The fast float32 convolution (whole-batch gemm, im2col fused into wasm packing, col2im in wasm)
 * and the 2 x 2 max-pool path, against naive float64 loops and the reference implementations,
 * over random geometries with stride, padding, dilation and groups.
 */
import { afterAll, describe, expect, it } from 'vitest';
import type { Conv2dParams, Pool2dParams } from '../../../src/tensor/backend.js';
import {
  conv2dForward as conv2dForwardReference, conv2dGradInput as conv2dGradInputReference, conv2dGradWeight as conv2dGradWeightReference,
} from '../../../src/tensor/cpu/conv.js';
import { maxPool2d, maxPool2dGrad } from '../../../src/tensor/cpu/pool.js';
import { convOutSize } from '../../../src/tensor/shape.js';
import { setWasmKernelConfig } from '../../../src/tensor/wasm/index.js';
import { conv2dForward, conv2dGradInput, conv2dGradWeight, expectWithinDotBound, maxPool2dWasm, randomF32, rng } from './util.js';

afterAll(() => setWasmKernelConfig());

interface Case {
  xShape: [number, number, number, number];
  wShape: [number, number, number, number];
  p: Conv2dParams;
}

/** Every product term of the convolution, visited once: (x index, w index, y index). */
function forEachTerm(c: Case, visit: (xi: number, wi: number, yi: number) => void): [number, number] {
  const [N, C, H, W] = c.xShape, [O, Cg, KH, KW] = c.wShape, { stride, padding, dilation, groups } = c.p;
  const OH = convOutSize(H, KH, stride[0], padding[0], dilation[0]), OW = convOutSize(W, KW, stride[1], padding[1], dilation[1]);
  const Og = O / groups;
  for (let n = 0; n < N; n++) for (let o = 0; o < O; o++) for (let oh = 0; oh < OH; oh++) for (let ow = 0; ow < OW; ow++) {
    const gi = Math.floor(o / Og);
    for (let cg = 0; cg < Cg; cg++) for (let kh = 0; kh < KH; kh++) for (let kw = 0; kw < KW; kw++) {
      const h = oh * stride[0] - padding[0] + kh * dilation[0], w = ow * stride[1] - padding[1] + kw * dilation[1];
      if (h < 0 || h >= H || w < 0 || w >= W) continue;
      const ch = gi * Cg + cg;
      visit(((n * C + ch) * H + h) * W + w, ((o * Cg + cg) * KH + kh) * KW + kw, ((n * O + o) * OH + oh) * OW + ow);
    }
  }
  return [OH, OW];
}

function naive(c: Case, x: Float32Array, w: Float32Array, gy: Float32Array) {
  const yE = new Float64Array(gy.length), yA = new Float64Array(gy.length);
  const gxE = new Float64Array(x.length), gxA = new Float64Array(x.length);
  const gwE = new Float64Array(w.length), gwA = new Float64Array(w.length);
  forEachTerm(c, (xi, wi, yi) => {
    yE[yi] += x[xi] * w[wi]; yA[yi] += Math.abs(x[xi] * w[wi]);
    gxE[xi] += gy[yi] * w[wi]; gxA[xi] += Math.abs(gy[yi] * w[wi]);
    gwE[wi] += gy[yi] * x[xi]; gwA[wi] += Math.abs(gy[yi] * x[xi]);
  });
  return { yE, yA, gxE, gxA, gwE, gwA };
}

function randomCase(rand: () => number): Case {
  const pick = (lo: number, hi: number) => lo + Math.floor(rand() * (hi - lo + 1));
  const groups = pick(1, 2), N = pick(1, 3);
  const Cg = pick(1, 3), Og = pick(1, 5);
  const KH = pick(1, 3), KW = pick(1, 3);
  const p: Conv2dParams = { stride: [pick(1, 2), pick(1, 2)], padding: [pick(0, 2), pick(0, 1)], dilation: [pick(1, 2), pick(1, 2)], groups };
  const H = pick(KH * p.dilation[0], 9), W = pick(KW * p.dilation[1], 11);
  return { xShape: [N, Cg * groups, H, W], wShape: [Og * groups, Cg, KH, KW], p };
}

const size = (s: readonly number[]) => s.reduce((a, b) => a * b, 1);

function check(c: Case, rand: () => number, label: string): void {
  const x = randomF32(size(c.xShape), rand), w = randomF32(size(c.wShape), rand);
  const [OH, OW] = forEachTerm(c, () => {});
  const yShape = [c.xShape[0], c.wShape[0], OH, OW];
  const gy = randomF32(size(yShape), rand);
  const ref = naive(c, x, w, gy);
  const CKK = c.wShape[1] * c.wShape[2] * c.wShape[3];
  const y = conv2dForward(x, c.xShape, w, c.wShape, c.p, 'float32');
  expectWithinDotBound(y, ref.yE, ref.yA, CKK, `${label} forward`);
  expectWithinDotBound(conv2dForwardReference(x, c.xShape, w, c.wShape, c.p, 'float32'), ref.yE, ref.yA, CKK, `${label} forward (reference)`);
  const gx = conv2dGradInput(gy, c.wShape, w, c.xShape, c.p, 'float32');
  // Each gx entry sums Og terms per tap, up to CKK * Og terms in all.
  expectWithinDotBound(gx, ref.gxE, ref.gxA, (c.wShape[0] / c.p.groups) * c.wShape[2] * c.wShape[3], `${label} gradInput`);
  expectWithinDotBound(conv2dGradInputReference(gy, c.wShape, w, c.xShape, c.p, 'float32'), ref.gxE, ref.gxA, (c.wShape[0] / c.p.groups) * c.wShape[2] * c.wShape[3], `${label} gradInput (reference)`);
  const gw = conv2dGradWeight(x, c.xShape, gy, c.wShape, c.p, 'float32');
  expectWithinDotBound(gw, ref.gwE, ref.gwA, yShape[0] * OH * OW, `${label} gradWeight`);
  expectWithinDotBound(conv2dGradWeightReference(x, c.xShape, gy, c.wShape, c.p, 'float32'), ref.gwE, ref.gwA, yShape[0] * OH * OW, `${label} gradWeight (reference)`);
}

describe('conv2d fast path (float32, wasm)', () => {
  it('matches naive float64 loops on random geometries (stride, padding, dilation, groups)', () => {
    setWasmKernelConfig({ threads: 1 });
    const rand = rng(11);
    for (let t = 0; t < 60; t++) {
      const c = randomCase(rand);
      check(c, rand, `case ${t} ${JSON.stringify(c)}`);
    }
  });

  it('matches at the tutorial CNN shapes (batch 4)', () => {
    setWasmKernelConfig({ threads: 1 });
    const rand = rng(12);
    const p: Conv2dParams = { stride: [1, 1], padding: [0, 0], dilation: [1, 1], groups: 1 };
    check({ xShape: [4, 1, 28, 28], wShape: [40, 1, 3, 3], p }, rand, 'conv1');
    check({ xShape: [4, 40, 13, 13], wShape: [40, 40, 3, 3], p }, rand, 'conv2');
  });

  it('float64 tensors still take the reference (bit-identical to it)', () => {
    const rand = rng(13);
    const c = randomCase(rand);
    const x = Float64Array.from(randomF32(size(c.xShape), rand)), w = Float64Array.from(randomF32(size(c.wShape), rand));
    const a = conv2dForward(x, c.xShape, w, c.wShape, c.p, 'float64');
    const b = conv2dForwardReference(x, c.xShape, w, c.wShape, c.p, 'float64');
    expect(a).toBeInstanceOf(Float64Array);
    expect(Array.from(a)).toEqual(Array.from(b));
  });
});

describe('maxPool2d 2x2 fast path', () => {
  const fast: Pool2dParams = { kernel: [2, 2], stride: [2, 2], padding: [0, 0], dilation: [1, 1] };

  /** The textbook definition with PyTorch's NaN rule: first maximum in window order wins; every NaN wins, so the last NaN does. */
  function naivePool(x: Float32Array, N: number, C: number, H: number, W: number) {
    const OH = Math.floor(H / 2), OW = Math.floor(W / 2);
    const out: number[] = [], idx: number[] = [];
    for (let nc = 0; nc < N * C; nc++) for (let oh = 0; oh < OH; oh++) for (let ow = 0; ow < OW; ow++) {
      let best = NaN, bi = -1;
      for (const [i, j] of [[0, 0], [0, 1], [1, 0], [1, 1]]) {
        const h = 2 * oh + i, w = 2 * ow + j, v = x[nc * H * W + h * W + w];
        if (bi < 0 || v > best || Number.isNaN(v)) { best = v; bi = h * W + w; }
      }
      out.push(best); idx.push(bi);
    }
    return { out, idx };
  }

  it.each(['wasm', 'js'] as const)('matches the definition, including ties, NaN and odd sizes (%s kernels)', (kernels) => {
    setWasmKernelConfig({ threads: 1 });
    const pool = kernels === 'wasm' ? maxPool2dWasm : maxPool2d;
    const rand = rng(14);
    // Output widths below 4 (a scalar loop), exact multiples of 4, and ragged (an overlapping last step).
    for (const [N, C, H, W] of [[1, 1, 2, 2], [2, 3, 5, 7], [3, 2, 8, 8], [2, 2, 11, 11], [1, 3, 9, 19], [1, 4, 26, 26]]) {
      const x = new Float32Array(N * C * H * W);
      // Few distinct values, so ties are common; a sprinkle of NaN and -Infinity.
      for (let i = 0; i < x.length; i++) {
        const r = rand();
        x[i] = r < 0.05 ? NaN : r < 0.1 ? -Infinity : Math.floor(rand() * 4) - 2;
      }
      const got = pool(x, [N, C, H, W], fast, 'float32');
      const want = naivePool(x, N, C, H, W);
      expect(Array.from(got.out)).toEqual(want.out);
      expect(Array.from(got.indices)).toEqual(want.idx);
      const gy = randomF32(got.out.length, rand);
      const gx = maxPool2dGrad(gy, got.indices, [N, C, Math.floor(H / 2), Math.floor(W / 2)], [N, C, H, W], 'float32');
      const gxWant = new Float32Array(x.length);
      for (let o = 0; o < gy.length; o++) {
        const plane = Math.floor(o / (Math.floor(H / 2) * Math.floor(W / 2)));
        gxWant[plane * H * W + want.idx[o]] += gy[o];
      }
      expect(Array.from(gx)).toEqual(Array.from(gxWant));
    }
  });
});
