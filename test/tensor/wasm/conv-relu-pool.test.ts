/**
 * The fused convolution block maxPool2d(relu(conv2d(x, w) + bias), 2) (F.conv2dReluPool, issue 17:
 * the wasm backend pools the product in its own memory and unpools the gradient straight into
 * it):
 *   - forward values and the x and w gradients bit for bit those of the three separate calls
 *     (F.conv2dRelu, then F.maxPool2d) on the same backend, and the bias gradient within one
 *     float32 ulp of theirs (both float64 sums of the same non-zero terms, in another order), on
 *     shapes with odd outputs, stride, padding, dilation, groups, NaN inputs, 1 and 2 threads, and
 *     every requires-grad combination; with the backend's primitive hidden (the Function's own
 *     composition) every bit of the values and the x and w gradients equals the fused path's,
 *     and the bias gradient is within an ulp;
 *   - against an independent float64 loop written here (conv, bias, relu, 2 x 2 pooling and their
 *     textbook gradients), within the float32 dot-product bound;
 *   - on the reference backend in float64 (no primitive: the composition), equal to the separate
 *     calls, and against central finite differences;
 *   - Sequential runs Conv2d, ReLU, MaxPool2d(2) through the primitive and leaves other pools alone;
 *   - F.reluMaxPool2d (relu then 2 x 2 pooling, e.g. after batch norm): bit for bit F.relu then
 *     F.maxPool2d, values and gradient, with -0, NaN and ties, 1 and 2 threads; the composition on
 *     the reference backend; Sequential fuses BatchNorm2d, ReLU, MaxPool2d(2).
 */
import { afterAll, describe, expect, it } from 'vitest';
import '../../../src/tensor/wasm/index.js';
import { F, fromArray, getBackend, type Tensor } from '../../../src/index.js';
import { BatchNorm2d, Conv2d, MaxPool2d, ReLU, Sequential } from '../../../src/nn/index.js';
import type { Conv2dParams } from '../../../src/tensor/backend.js';
import { setWasmKernelConfig, type WasmBackend } from '../../../src/tensor/wasm/index.js';
import { threadedCallCounts } from '../../../src/tensor/wasm/runtime.js';
import { rng, U32, useThreads } from './util.js';

afterAll(() => setWasmKernelConfig());

const wasm = () => getBackend('wasm') as WasmBackend;

function expectSameBits(got: Float32Array, want: Float32Array, label: string): void {
  expect(got.length, label).toBe(want.length);
  const g = new Uint32Array(got.buffer, got.byteOffset, got.length), w = new Uint32Array(want.buffer, want.byteOffset, want.length);
  for (let i = 0; i < g.length; i++) if (g[i] !== w[i]) throw new Error(`${label}: element ${i}: ${got[i]} vs ${want[i]}`);
}

/**
 * Float64 sums of the same float32 terms in two orders, each rounded once to float32: they can
 * differ by the float64 rounding of the orders, so by at most one float32 ulp (NaN where both are).
 */
function expectWithinUlp(got: Float32Array, want: Float32Array, label: string): void {
  expect(got.length, label).toBe(want.length);
  for (let i = 0; i < want.length; i++) {
    if (Number.isNaN(want[i])) expect(got[i], `${label}[${i}]`).toBeNaN();
    else expect(Math.abs(got[i] - want[i]), `${label}[${i}]: ${got[i]} vs ${want[i]}`).toBeLessThanOrEqual(2 * U32 * Math.abs(want[i]) + 1e-38);
  }
}

interface Case { name: string; x: number[]; w: number[]; p: Conv2dParams; fused: boolean }
const P = (stride: number, padding: number, dilation: number, groups: number): Conv2dParams =>
  ({ stride: [stride, stride], padding: [padding, padding], dilation: [dilation, dilation], groups });
const CASES: Case[] = [
  { name: '10 x 10 -> 5 x 5', x: [4, 3, 12, 12], w: [6, 3, 3, 3], p: P(1, 0, 1, 1), fused: true },
  { name: 'odd output 11 x 9 -> 5 x 4 (a row and a column in no window)', x: [3, 2, 13, 11], w: [5, 2, 3, 3], p: P(1, 0, 1, 1), fused: true },
  { name: 'stride 2, padding 1', x: [2, 3, 21, 21], w: [4, 3, 3, 3], p: P(2, 1, 1, 1), fused: true },
  { name: 'groups 2, dilation 2', x: [2, 4, 20, 20], w: [6, 2, 3, 3], p: P(1, 0, 2, 2), fused: true },
  { name: 'conv1 of the tutorial CNN, batch 8', x: [8, 1, 28, 28], w: [5, 1, 3, 3], p: P(1, 0, 1, 1), fused: true },
  { name: 'conv1 of the tutorial CNN at batch 64 (large enough to split the kernels across threads)', x: [64, 1, 28, 28], w: [40, 1, 3, 3], p: P(1, 0, 1, 1), fused: true },
  { name: 'pooled 5 x 6: rows of 30 (the bias sum\'s last vector keeps 2 lanes)', x: [2, 3, 12, 14], w: [4, 3, 3, 3], p: P(1, 0, 1, 1), fused: true },
  { name: 'pooled 7 x 5: rows of 35 (3 lanes)', x: [2, 2, 16, 12], w: [3, 2, 3, 3], p: P(1, 0, 1, 1), fused: true },
  { name: 'pooled width 3 (the primitive declines: the composition)', x: [2, 2, 8, 8], w: [3, 2, 3, 3], p: P(1, 0, 1, 1), fused: false },
];
const optsOf = (p: Conv2dParams) => ({ stride: p.stride, padding: p.padding, dilation: p.dilation, groups: p.groups });
const numel = (s: readonly number[]) => s.reduce((a, b) => a * b, 1);

function convOut(c: Case): number[] {
  const [N, , H, W] = c.x, [O, , KH, KW] = c.w, { stride, padding, dilation } = c.p;
  return [N, O,
    Math.floor((H + 2 * padding[0] - dilation[0] * (KH - 1) - 1) / stride[0]) + 1,
    Math.floor((W + 2 * padding[1] - dilation[1] * (KW - 1) - 1) / stride[1]) + 1];
}

/** Seeded operands; the bias is shifted so that relu zeroes some outputs and keeps others. */
function operands(c: Case, seed: number, nan = false) {
  const r = rng(seed);
  const fill = (n: number, scale: number, shift = 0) => Float32Array.from({ length: n }, () => (r() * 2 - 1) * scale + shift);
  const [N, O, OH, OW] = convOut(c);
  const x = fill(numel(c.x), 1), w = fill(numel(c.w), 0.5), b = fill(c.w[0], 0.3, 0.1);
  const gP = fill(N * O * (OH >> 1) * (OW >> 1), 1);
  if (nan) x[7] = NaN;
  return { x, w, b, gP };
}

/** Runs f (the fused Function or the separate calls) and returns [out, gx, gw, gb]. */
function run(c: Case, o: ReturnType<typeof operands>, fused: boolean, mode = 7, device = 'wasm', dtype: 'float32' | 'float64' = 'float32') {
  const t = (a: Float32Array, shape: number[], grad: boolean) => fromArray(dtype === 'float64' ? Float64Array.from(a) : a, shape, { device, dtype, requiresGrad: grad });
  const x = t(o.x, c.x, !!(mode & 1)), w = t(o.w, c.w, !!(mode & 2)), b = t(o.b, [c.w[0]], !!(mode & 4));
  const out = fused ? F.conv2dReluPool(x, w, b, optsOf(c.p)) : F.maxPool2d(F.conv2dRelu(x, w, b, optsOf(c.p)), 2);
  F.mul(out, t(o.gP, [...out.shape], false)).sum().backward();
  return [out, x.grad, w.grad, b.grad].map((v) => (v ? (v as Tensor).toTypedArray() : null));
}

describe('F.conv2dReluPool on the wasm backend: the separate calls\' bits', () => {
  for (const threads of [1, 2]) {
    it(`forward, gx and gw bit for bit, gb within an ulp, every requires-grad combination (${threads} thread${threads > 1 ? 's' : ''})`, async () => {
      await useThreads(threads);
      const W = wasm();
      let forward = 0, backward = 0;
      const own = W as unknown as { conv2dReluPool?: unknown; conv2dReluPoolBackward?: unknown };
      const [f, bw] = [W.conv2dReluPool.bind(W), W.conv2dReluPoolBackward.bind(W)];
      own.conv2dReluPool = (...a: Parameters<typeof f>) => { const r = f(...a); if (r) forward++; return r; };
      own.conv2dReluPoolBackward = (...a: Parameters<typeof bw>) => { const r = bw(...a); if (r) backward++; return r; };
      try {
        for (const [ci, c] of CASES.entries()) {
          for (const nan of [false, true]) {
            const o = operands(c, 100 + ci, nan);
            for (let mode = 1; mode < 8; mode++) {
              const got = run(c, o, true, mode), want = run(c, o, false, mode);
              ['out', 'gx', 'gw'].forEach((name, k) => {
                const label = `${c.name}, NaN ${nan}, mode ${mode}: ${name}`;
                expect(got[k] === null, label).toBe(want[k] === null);
                if (want[k]) expectSameBits(got[k] as Float32Array, want[k] as Float32Array, label);
              });
              expect(got[3] === null).toBe(want[3] === null);
              if (want[3]) expectWithinUlp(got[3] as Float32Array, want[3] as Float32Array, `${c.name}, NaN ${nan}, mode ${mode}: gb`);
            }
          }
        }
      } finally {
        delete own.conv2dReluPool;
        delete own.conv2dReluPoolBackward;
      }
      // The primitive ran for every case it applies to (all but the last, 2 NaN settings, 7 modes).
      expect(forward).toBe((CASES.length - 1) * 2 * 7);
      expect(backward).toBe((CASES.length - 1) * 2 * 7);
      // With 2 threads, the block's own kernels were split across them (the batch-64 case).
      const split = threadedCallCounts();
      if (threads > 1) for (const op of ['maxpool2x2_bias_relu', 'maxpool2x2_relu_grad']) expect(split[op] ?? 0, op).toBeGreaterThan(0);
    });
  }

  it('with the primitive hidden, the Function\'s own composition gives every bit of the fused path', async () => {
    await useThreads(1);
    const W = wasm() as unknown as { conv2dReluPool?: unknown; conv2dReluPoolBackward?: unknown };
    for (const [ci, c] of CASES.filter((c) => c.fused).entries()) {
      const o = operands(c, 200 + ci);
      const fused = run(c, o, true);
      W.conv2dReluPool = undefined;
      W.conv2dReluPoolBackward = undefined;
      const composed = run(c, o, true);
      delete W.conv2dReluPool;
      delete W.conv2dReluPoolBackward;
      ['out', 'gx', 'gw'].forEach((name, k) => expectSameBits(fused[k] as Float32Array, composed[k] as Float32Array, `${c.name}: ${name}`));
      expectWithinUlp(fused[3] as Float32Array, composed[3] as Float32Array, `${c.name}: gb`);
    }
  });
});

/** The block and its gradients in float64, as textbook loops (independent of the library). */
function oracle(c: Case, o: ReturnType<typeof operands>) {
  const [N, C, H, W] = c.x, [O, Cg, KH, KW] = c.w, [, , OH, OW] = convOut(c);
  const { stride: [sh, sw], padding: [ph, pw], dilation: [dh, dw], groups: G } = c.p;
  const Og = O / G, PH = OH >> 1, PW = OW >> 1;
  const X = (n: number, ch: number, h: number, w: number) => (h < 0 || h >= H || w < 0 || w >= W ? 0 : o.x[((n * C + ch) * H + h) * W + w]);
  const z = new Float64Array(N * O * OH * OW), zAbs = new Float64Array(z.length);
  for (let n = 0; n < N; n++) for (let oc = 0; oc < O; oc++) for (let i = 0; i < OH; i++) for (let j = 0; j < OW; j++) {
    let s = o.b[oc], a = Math.abs(o.b[oc]);
    const g0 = Math.floor(oc / Og) * Cg;
    for (let ci = 0; ci < Cg; ci++) for (let kh = 0; kh < KH; kh++) for (let kw = 0; kw < KW; kw++) {
      const v = X(n, g0 + ci, i * sh - ph + kh * dh, j * sw - pw + kw * dw) * o.w[((oc * Cg + ci) * KH + kh) * KW + kw];
      s += v; a += Math.abs(v);
    }
    z[((n * O + oc) * OH + i) * OW + j] = s; zAbs[((n * O + oc) * OH + i) * OW + j] = a;
  }
  const out = new Float64Array(N * O * PH * PW), outAbs = new Float64Array(out.length), dz = new Float64Array(z.length);
  for (let pl = 0; pl < N * O; pl++) for (let i = 0; i < PH; i++) for (let j = 0; j < PW; j++) {
    let best = -Infinity, at = -1;
    for (const [di, dj] of [[0, 0], [0, 1], [1, 0], [1, 1]]) {
      const q = (pl * OH + 2 * i + di) * OW + 2 * j + dj;
      if (Math.max(z[q], 0) > best) { best = Math.max(z[q], 0); at = q; }
    }
    const k = (pl * PH + i) * PW + j;
    out[k] = best; outAbs[k] = zAbs[at];
    if (z[at] > 0) dz[at] = o.gP[k];
  }
  const gb = new Float64Array(O), gw = new Float64Array(O * Cg * KH * KW), gx = new Float64Array(N * C * H * W);
  for (let n = 0; n < N; n++) for (let oc = 0; oc < O; oc++) for (let i = 0; i < OH; i++) for (let j = 0; j < OW; j++) {
    const g = dz[((n * O + oc) * OH + i) * OW + j];
    if (g === 0) continue;
    gb[oc] += g;
    const g0 = Math.floor(oc / Og) * Cg;
    for (let ci = 0; ci < Cg; ci++) for (let kh = 0; kh < KH; kh++) for (let kw = 0; kw < KW; kw++) {
      const h = i * sh - ph + kh * dh, w = j * sw - pw + kw * dw;
      if (h < 0 || h >= H || w < 0 || w >= W) continue;
      gw[((oc * Cg + ci) * KH + kh) * KW + kw] += g * o.x[((n * C + g0 + ci) * H + h) * W + w];
      gx[((n * C + g0 + ci) * H + h) * W + w] += g * o.w[((oc * Cg + ci) * KH + kh) * KW + kw];
    }
  }
  return { out, outAbs, gb, gw, gx };
}

describe('F.conv2dReluPool against a float64 loop', () => {
  it('pooled values, and the bias, weight and input gradients, within the float32 dot-product bound', async () => {
    await useThreads(1);
    // The batch-64 case is left to the bit-for-bit comparison above (the loops here would take seconds).
    for (const [ci, c] of CASES.filter((c) => c.x[0] < 64).entries()) {
      const o = operands(c, 300 + ci);
      const [out, gx, gw, gb] = run(c, o, true);
      const r = oracle(c, o);
      const K = c.w[1] * c.w[2] * c.w[3] + 1;
      for (let i = 0; i < r.out.length; i++) {
        expect(Math.abs(out![i] - r.out[i]), `${c.name}: out[${i}]`).toBeLessThanOrEqual((K + 2) * U32 * r.outAbs[i] + 1e-30);
      }
      // Gradient terms: a loose bound on their magnitude (|gP| < 1, |x| < 1, |w| < 0.5), times the count.
      const [N, , OH, OW] = convOut(c);
      const terms = N * OH * OW, tol = (terms + 2) * U32 * 4;
      for (const [name, got, want] of [['gb', gb, r.gb], ['gw', gw, r.gw], ['gx', gx, r.gx]] as const) {
        for (let i = 0; i < want.length; i++) expect(Math.abs(got![i] - want[i]), `${c.name}: ${name}[${i}]`).toBeLessThanOrEqual(tol);
      }
      // The oracle's gradient is not all zero (the case exercises the mask both ways).
      expect(r.gw.some((v) => v !== 0) && r.out.some((v) => v === 0) && r.out.some((v) => v > 0), c.name).toBe(true);
    }
  });
});

describe('F.conv2dReluPool on the reference backend (float64): the composition', () => {
  it('equals the separate calls and central finite differences', () => {
    const c = CASES[1], o = operands(c, 400);
    const got = run(c, o, true, 7, 'cpu', 'float64'), want = run(c, o, false, 7, 'cpu', 'float64');
    for (let k = 0; k < 4; k++) for (let i = 0; i < want[k]!.length; i++) expect(Math.abs(got[k]![i] - want[k]![i])).toBeLessThanOrEqual(1e-12);
    // d/dw of sum(gP * out) at a few weights and the bias, by central differences in float64.
    const loss = (w: Float32Array | Float64Array, b: Float32Array | Float64Array) => {
      const x = fromArray(Float64Array.from(o.x), c.x, { device: 'cpu', dtype: 'float64' });
      const out = F.conv2dReluPool(x, fromArray(Float64Array.from(w), c.w, { device: 'cpu', dtype: 'float64' }), fromArray(Float64Array.from(b), [c.w[0]], { device: 'cpu', dtype: 'float64' }));
      return F.mul(out, fromArray(Float64Array.from(o.gP), [...out.shape], { device: 'cpu', dtype: 'float64' })).sum().item();
    };
    const h = 1e-6;
    for (const i of [0, 5, 17, 44]) {
      const wp = Float64Array.from(o.w), wm = Float64Array.from(o.w);
      wp[i] += h; wm[i] -= h;
      expect(got[2]![i]).toBeCloseTo((loss(wp, o.b) - loss(wm, o.b)) / (2 * h), 6);
    }
    for (const i of [0, 3]) {
      const bp = Float64Array.from(o.b), bm = Float64Array.from(o.b);
      bp[i] += h; bm[i] -= h;
      expect(got[3]![i]).toBeCloseTo((loss(o.w, bp) - loss(o.w, bm)) / (2 * h), 6);
    }
  });

  it('a convolution output smaller than 2 x 2 gets the pooling\'s error', () => {
    const x = fromArray(new Float32Array(9), [1, 1, 3, 3], { device: 'wasm' }), w = fromArray(new Float32Array(9), [1, 1, 3, 3], { device: 'wasm' });
    expect(() => F.conv2dReluPool(x, w, fromArray(new Float32Array(1), [1], { device: 'wasm' }))).toThrow(/window \[2, 2\] is larger than the input \[1, 1\]/);
    expect(() => F.conv2dReluPool(x, w, fromArray(new Float32Array(2), [2], { device: 'wasm' }))).toThrow(/conv2dRelu: bias must have shape \[1\], got \[2\]/);
  });
});

describe('Sequential fuses Conv2d, ReLU, MaxPool2d(2)', () => {
  it('runs the primitive for MaxPool2d(2) and not for other pools, with the same values as the layers one by one', () => {
    const W = wasm() as unknown as { conv2dReluPool?: unknown };
    const real = wasm().conv2dReluPool.bind(wasm());
    let calls = 0;
    W.conv2dReluPool = (...a: Parameters<typeof real>) => (calls++, real(...a));
    try {
      const x = fromArray(operands(CASES[0], 500).x, CASES[0].x, { device: 'wasm' });
      for (const [pool, fuses] of [[new MaxPool2d(2), true], [new MaxPool2d([2, 2], { stride: 2 }), true], [new MaxPool2d(2, { stride: 1 }), false], [new MaxPool2d(3), false], [new MaxPool2d(2, { padding: 1 }), false]] as const) {
        const net = new Sequential(new Conv2d(3, 6, 3), new ReLU(), pool);
        net.to('wasm');
        const before = calls;
        const y = net.call(x).toTypedArray() as Float32Array;
        expect(calls - before, `${JSON.stringify([pool.kernelSize, pool.opts])}`).toBe(fuses ? 1 : 0);
        let h = x;
        for (const m of [net.at(0), net.at(1), net.at(2)]) h = m.call(h);
        expectSameBits(y, h.toTypedArray() as Float32Array, 'Sequential vs layers');
      }
    } finally {
      delete W.conv2dReluPool;
    }
  });
});

describe('F.reluMaxPool2d: maxPool2d(relu(x), 2) as one Function', () => {
  const SHAPES = [[2, 3, 12, 10], [3, 2, 13, 11], [64, 40, 26, 26], [2, 2, 6, 6]];
  /** Values of both signs with -0, +0, NaN and ties, seeded. */
  function input(shape: number[], seed: number): Float32Array {
    const r = rng(seed), x = Float32Array.from({ length: numel(shape) }, () => Math.round((r() * 2 - 1) * 8) / 4);
    for (let i = 0; i < x.length; i += 37) x[i] = -0;
    for (let i = 5; i < x.length; i += 101) x[i] = NaN;
    return x;
  }
  for (const threads of [1, 2]) {
    it(`the pooled values, indices and gradient of F.relu then F.maxPool2d, bit for bit (${threads} thread${threads > 1 ? 's' : ''})`, async () => {
      await useThreads(threads);
      const W = wasm() as unknown as { reluMaxPool2d?: unknown; reluMaxPool2dGrad?: unknown };
      const [f, g] = [wasm().reluMaxPool2d.bind(wasm()), wasm().reluMaxPool2dGrad.bind(wasm())];
      let forward = 0, backward = 0;
      W.reluMaxPool2d = (...a: Parameters<typeof f>) => { const r = f(...a); if (r) forward++; return r; };
      W.reluMaxPool2dGrad = (...a: Parameters<typeof g>) => { const r = g(...a); if (r) backward++; return r; };
      try {
        for (const [si, shape] of SHAPES.entries()) {
          const xv = input(shape, 600 + si);
          const run = (fused: boolean) => {
            const x = fromArray(xv, shape, { device: 'wasm', requiresGrad: true });
            const out = fused ? F.reluMaxPool2d(x) : F.maxPool2d(F.relu(x), 2);
            const gP = input([...out.shape], 700 + si);
            F.mul(out, fromArray(gP, [...out.shape], { device: 'wasm' })).sum().backward();
            return [out.toTypedArray() as Float32Array, x.grad!.toTypedArray() as Float32Array];
          };
          const got = run(true), want = run(false);
          expectSameBits(got[0], want[0], `${shape}: out`);
          expectSameBits(got[1], want[1], `${shape}: gx`);
        }
      } finally {
        delete W.reluMaxPool2d;
        delete W.reluMaxPool2dGrad;
      }
      // Every shape but the last (pooled width 3: the composition) ran the primitives.
      expect([forward, backward]).toEqual([SHAPES.length - 1, SHAPES.length - 1]);
      if (threads > 1) expect(threadedCallCounts().maxpool2x2_bias_relu ?? 0).toBeGreaterThan(0);
    });
  }

  it('refuses what maxPool2d refuses, naming the problem', () => {
    expect(() => F.reluMaxPool2d(fromArray(new Float32Array(16), [4, 2, 2], { device: 'wasm' }))).toThrow(/input must be 4-D \[N, C, H, W\], got \[4, 2, 2\]/);
    expect(() => F.reluMaxPool2d(fromArray(new Float32Array(3), [1, 1, 1, 3], { device: 'wasm' }))).toThrow(/window \[2, 2\] is larger than the input \[1, 3\]/);
  });

  it('on the reference backend (the composition) equals F.relu then F.maxPool2d in float64', () => {
    const shape = [2, 3, 9, 8], xv = Float64Array.from(input(shape, 800));
    const run = (fused: boolean) => {
      const x = fromArray(xv, shape, { device: 'cpu', dtype: 'float64', requiresGrad: true });
      const out = fused ? F.reluMaxPool2d(x) : F.maxPool2d(F.relu(x), 2);
      out.mul(out).sum().backward();
      return [Array.from(out.toTypedArray()), Array.from(x.grad!.toTypedArray())];
    };
    expect(run(true)).toEqual(run(false));
  });

  it('Sequential runs BatchNorm2d, ReLU, MaxPool2d(2) through it: the same outputs and gradients as the layers one by one', () => {
    const W = wasm() as unknown as { reluMaxPool2d?: unknown };
    const real = wasm().reluMaxPool2d.bind(wasm());
    let calls = 0;
    W.reluMaxPool2d = (...a: Parameters<typeof real>) => (calls++, real(...a));
    try {
      const net = new Sequential(new Conv2d(3, 6, 3, { bias: false }), new BatchNorm2d(6), new ReLU(), new MaxPool2d(2));
      net.to('wasm');
      const xv = operands(CASES[0], 900).x;
      const grads = (layerByLayer: boolean) => {
        const x = fromArray(xv, CASES[0].x, { device: 'wasm', requiresGrad: true });
        let h = x;
        if (layerByLayer) for (let i = 0; i < net.length; i++) h = net.at(i).call(h);
        else h = net.call(x);
        h.mul(h).sum().backward();
        const r = [h.toTypedArray() as Float32Array, x.grad!.toTypedArray() as Float32Array];
        for (const p of net.parameters()) p.grad = null;
        return r;
      };
      const fused = grads(false);
      expect(calls).toBe(1);
      const plain = grads(true);
      expect(calls).toBe(1);
      expectSameBits(fused[0], plain[0], 'out');
      expectSameBits(fused[1], plain[1], 'gx');
    } finally {
      delete W.reluMaxPool2d;
    }
  });
});
