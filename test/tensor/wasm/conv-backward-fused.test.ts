/**
 * The wasm backend's fused convolution backward (Backend.conv2dBackward, issue 17: the output
 * gradient staged once for relu's mask, the bias gradient and both convolution products):
 *   - bit for bit the unfused sequence on the same backend (binary 'reluBackward', then
 *     conv2dGradInput, conv2dGradWeight and sumOuterInner of the masked array), for every
 *     combination of needed gradients, with and without relu, on shapes with groups, stride,
 *     padding, dilation, batch 1 and larger, rows longer than a staging block, and with 1 and 2
 *     threads; NaN and ±Infinity in g and ±0, negatives and NaN in y;
 *   - within the float32 dot-product bound of an independent float64 loop written here (the
 *     masked gradient, the bias sum, the weight and input gradients as textbook loops), including
 *     where g is infinite or NaN exactly where y <= 0 (relu's mask selects: those must vanish);
 *   - through autograd (F.conv2d / F.conv2dRelu): the x, w and bias gradients equal those of the
 *     same Function with the primitive hidden (Conv2d.backward's unfused fallback), bit for bit,
 *     for every requires-grad combination.
 */
import { afterAll, describe, expect, it } from 'vitest';
import '../../../src/tensor/wasm/index.js';
import { F, fromArray, getBackend } from '../../../src/index.js';
import type { Conv2dParams, DeviceBuffer } from '../../../src/tensor/backend.js';
import { d } from '../../../src/tensor/cpu/index.js';
import { setWasmKernelConfig, type WasmBackend } from '../../../src/tensor/wasm/index.js';
import { wasmBinaryInto, wasmBinarySumInto, wasmSumOuterInner } from '../../../src/tensor/wasm/elementwise.js';
import { rng, U32, useThreads } from './util.js';

afterAll(() => setWasmKernelConfig());

const wasm = () => getBackend('wasm') as WasmBackend;

/** Exact bits (NaN payloads included): the fused path runs the same kernels on the same values. */
function expectSameBits(got: Float32Array, want: Float32Array, label: string): void {
  expect(got.length, label).toBe(want.length);
  const g = new Uint32Array(got.buffer, got.byteOffset, got.length), w = new Uint32Array(want.buffer, want.byteOffset, want.length);
  for (let i = 0; i < g.length; i++) if (g[i] !== w[i]) throw new Error(`${label}: element ${i}: ${got[i]} vs ${want[i]} (bits ${g[i].toString(16)} vs ${w[i].toString(16)})`);
}

interface Case { name: string; x: number[]; w: number[]; p: Conv2dParams }
const P = (stride: number, padding: number, dilation: number, groups: number): Conv2dParams =>
  ({ stride: [stride, stride], padding: [padding, padding], dilation: [dilation, dilation], groups });
const CASES: Case[] = [
  { name: 'conv1-like, batch 8, rows of 676', x: [8, 1, 28, 28], w: [5, 1, 3, 3], p: P(1, 0, 1, 1) },
  { name: 'padding 1', x: [2, 3, 12, 12], w: [4, 3, 3, 3], p: P(1, 1, 1, 1) },
  { name: 'batch 1, groups 2, stride 2, odd kernel', x: [1, 4, 30, 29], w: [6, 2, 3, 2], p: P(2, 1, 1, 2) },
  { name: 'dilation 2, padding 2', x: [3, 2, 16, 16], w: [8, 2, 3, 3], p: P(1, 2, 2, 1) },
  { name: 'batch 1, rows longer than a staging block (16,900 > 16,384)', x: [1, 1, 132, 132], w: [2, 1, 3, 3], p: P(1, 0, 1, 1) },
  // 26 rows of 625 fill a staging block to 16,250, not a multiple of 8: the flush moves the lanes.
  { name: 'batch 30: a channel\'s rows fill more than one staging block (30 x 625 > 16,384)', x: [30, 1, 27, 27], w: [2, 1, 3, 3], p: P(1, 0, 1, 1) },
  { name: 'rows of 25 (the bias sum runs its loop)', x: [4, 3, 7, 7], w: [40, 3, 3, 3], p: P(1, 0, 1, 1) },
];

const numel = (s: readonly number[]) => s.reduce((a, b) => a * b, 1);
function outShape(c: Case): number[] {
  const [N, , H, W] = c.x, [O, , KH, KW] = c.w, { stride, padding, dilation } = c.p;
  const OH = Math.floor((H + 2 * padding[0] - dilation[0] * (KH - 1) - 1) / stride[0]) + 1;
  const OW = Math.floor((W + 2 * padding[1] - dilation[1] * (KW - 1) - 1) / stride[1]) + 1;
  return [N, O, OH, OW];
}

/** Seeded values in [-1, 1); with `special`, NaN and ±Infinity in g where y <= 0 only, or anywhere. */
function operands(c: Case, seed: number) {
  const r = rng(seed);
  const uni = (n: number) => Float32Array.from({ length: n }, () => r() * 2 - 1);
  const ys = outShape(c), n = numel(ys);
  const y = uni(n);
  // relu outputs: about half exactly 0, some -0, some negative (never a relu output, but the mask's
  // definition covers it), and a few NaN (NaN <= 0 is false: the gradient passes).
  for (let i = 0; i < n; i++) {
    const u = r();
    if (u < 0.4) y[i] = 0;
    else if (u < 0.45) y[i] = -0;
    else if (u < 0.5) y[i] = -y[i] * y[i];
    else if (u < 0.51) y[i] = NaN;
    else y[i] = Math.abs(y[i]);
  }
  return { g: uni(n), y, x: uni(numel(c.x)), w: uni(numel(c.w)), ys };
}

/** Puts NaN and ±Infinity into g, only where y <= 0 when `maskedOnly`. Returns how many. */
function poison(g: Float32Array, y: Float32Array, seed: number, maskedOnly: boolean): number {
  const r = rng(seed), SPECIAL = [NaN, Infinity, -Infinity];
  let k = 0;
  for (let i = 0; i < g.length; i++) {
    if (r() < 0.05 && (!maskedOnly || y[i] <= 0)) {
      g[i] = SPECIAL[k++ % 3];
    }
  }
  return k;
}

/** The unfused sequence on the wasm backend, as Conv2d.backward composes it without the primitive. */
function unfused(c: Case, g: DeviceBuffer, y: DeviceBuffer | null, x: DeviceBuffer, w: DeviceBuffer, needs: { input: boolean; weight: boolean; bias: boolean }) {
  const W = wasm(), ys = outShape(c), n = numel(ys);
  const strides = ys.map((_, i) => numel(ys.slice(i + 1)));
  const gc = y ? W.binary('reluBackward', { buffer: g, shape: ys, strides, offset: 0 }, { buffer: y, shape: ys, strides, offset: 0 }, ys, 'float32') : g;
  expect(gc.size).toBe(n);
  return {
    gx: needs.input ? d(W.conv2dGradInput(gc, ys, w, c.w, c.x, c.p)) as Float32Array : null,
    gw: needs.weight ? d(W.conv2dGradWeight(x, c.x, gc, ys, c.w, c.p)) as Float32Array : null,
    gb: needs.bias ? d(W.sumOuterInner(gc, ys[0], ys[1], ys[2] * ys[3])) as Float32Array : null,
  };
}

/**
 * Float64 oracle, textbook loops: gc = y <= 0 ? 0 : g (selecting), gb[o] = Σ gc, gw[o, c, kh, kw] =
 * Σ gc[n, o, oh, ow] x[n, gi·Cg + c, ih, iw], gx the transpose; with Σ|terms| per entry for the bound.
 */
function oracle(c: Case, g: Float32Array, y: Float32Array | null, x: Float32Array, w: Float32Array) {
  const [N, C, H, W] = c.x, [O, Cg, KH, KW] = c.w, [, , OH, OW] = outShape(c);
  const G = c.p.groups, Og = O / G;
  const [sh, sw] = c.p.stride, [ph, pw] = c.p.padding, [dh, dw] = c.p.dilation;
  const gc = Float64Array.from(g, (v, i) => (y && y[i] <= 0 ? 0 : v));
  const gb = new Float64Array(O), gbAbs = new Float64Array(O);
  const gw = new Float64Array(O * Cg * KH * KW), gwAbs = new Float64Array(gw.length);
  const gx = new Float64Array(N * C * H * W), gxAbs = new Float64Array(gx.length);
  for (let n = 0; n < N; n++) for (let o = 0; o < O; o++) for (let oh = 0; oh < OH; oh++) for (let ow = 0; ow < OW; ow++) {
    const gv = gc[((n * O + o) * OH + oh) * OW + ow];
    gb[o] += gv;
    gbAbs[o] += Math.abs(gv);
    const ci0 = Math.floor(o / Og) * Cg;
    for (let ci = 0; ci < Cg; ci++) for (let kh = 0; kh < KH; kh++) for (let kw = 0; kw < KW; kw++) {
      const ih = oh * sh - ph + kh * dh, iw = ow * sw - pw + kw * dw;
      if (ih < 0 || ih >= H || iw < 0 || iw >= W) continue;
      const xi = ((n * C + ci0 + ci) * H + ih) * W + iw, wi = ((o * Cg + ci) * KH + kh) * KW + kw;
      gw[wi] += gv * x[xi];
      gwAbs[wi] += Math.abs(gv * x[xi]);
      gx[xi] += gv * w[wi];
      gxAbs[xi] += Math.abs(gv * w[wi]);
    }
  }
  return { gb, gbAbs, gw, gwAbs, gx, gxAbs, K: { gb: N * OH * OW, gw: N * OH * OW, gx: Og * KH * KW } };
}

/** |got - exact| <= (K + 2) u Σ|terms| (Higham §3.1), non-finite entries equal. */
function expectNear(got: Float32Array, exact: Float64Array, abs: Float64Array, K: number, label: string): void {
  expect(got.length, label).toBe(exact.length);
  for (let i = 0; i < got.length; i++) {
    if (!Number.isFinite(exact[i])) {
      expect(Object.is(got[i], exact[i]) || (Number.isNaN(got[i]) && Number.isNaN(exact[i])), `${label}[${i}]: ${got[i]} vs ${exact[i]}`).toBe(true);
      continue;
    }
    const bound = (K + 2) * U32 * abs[i] * 1.01 + 1e-30;
    if (!(Math.abs(got[i] - exact[i]) <= bound)) throw new Error(`${label}[${i}]: ${got[i]} vs exact ${exact[i]} (bound ${bound})`);
  }
}

const NEEDS = [1, 2, 3, 4, 5, 6, 7].map((m) => ({ input: !!(m & 1), weight: !!(m & 2), bias: !!(m & 4) }));

describe('conv2dBackward (wasm): one staged copy of g, the same bits as the separate ops', () => {
  it('equals the unfused sequence bit for bit: every needs combination, relu or not, NaN/Infinity in g, 1 and 2 threads', async () => {
    let fusedRuns = 0, specialsMasked = 0, specialsPassed = 0;
    for (const threads of [1, 2]) {
      await useThreads(threads);
      for (const [ci, c] of CASES.entries()) {
        const o = operands(c, 100 + ci);
        const k = poison(o.g, o.y, 200 + ci, false);
        for (let i = 0; i < o.g.length; i++) if (!Number.isFinite(o.g[i])) (o.y[i] <= 0 ? specialsMasked++ : specialsPassed++);
        expect(k).toBeGreaterThan(0);
        const W = wasm();
        const g = W.upload(o.g), y = W.upload(o.y), x = W.upload(o.x), w = W.upload(o.w);
        for (const relu of [false, true]) {
          for (const needs of NEEDS) {
            const label = `${c.name}, relu ${relu}, needs ${JSON.stringify(needs)}, threads ${threads}`;
            const fused = W.conv2dBackward(g, relu ? y : null, x, c.x, w, c.w, c.p, needs);
            expect(fused, label).not.toBeNull();
            fusedRuns++;
            const want = unfused(c, g, relu ? y : null, x, w, needs);
            for (const key of ['gx', 'gw', 'gb'] as const) {
              if (!want[key]) expect(fused![key], `${label}: ${key} not asked for`).toBeNull();
              else expectSameBits(d(fused![key]!) as Float32Array, want[key]!, `${label}: ${key}`);
            }
          }
        }
      }
    }
    expect(fusedRuns).toBe(2 * CASES.length * 2 * NEEDS.length);
    // Coverage: special gradients both where the mask removes them and where it lets them through.
    expect(specialsMasked).toBeGreaterThan(50);
    expect(specialsPassed).toBeGreaterThan(50);
  });

  it('is within the float32 bound of a float64 loop; infinite and NaN gradients where y <= 0 vanish', async () => {
    await useThreads(1);
    for (const [ci, c] of CASES.entries()) {
      const o = operands(c, 300 + ci);
      expect(poison(o.g, o.y, 400 + ci, true)).toBeGreaterThan(0);
      const W = wasm();
      const r = W.conv2dBackward(W.upload(o.g), W.upload(o.y), W.upload(o.x), c.x, W.upload(o.w), c.w, c.p, { input: true, weight: true, bias: true });
      expect(r).not.toBeNull();
      const ex = oracle(c, o.g, o.y, o.x, o.w);
      const [gx, gw, gb] = [r!.gx!, r!.gw!, r!.gb!].map((b) => d(b) as Float32Array);
      for (const a of [gx, gw, gb]) expect(a.every(Number.isFinite), `${c.name}: masked specials leaked`).toBe(true);
      expectNear(gb, ex.gb, ex.gbAbs, ex.K.gb, `${c.name} gb`);
      expectNear(gw, ex.gw, ex.gwAbs, ex.K.gw, `${c.name} gw`);
      expectNear(gx, ex.gx, ex.gxAbs, ex.K.gx, `${c.name} gx`);
      // Without relu, the same infinite values reach the gradients.
      const plain = W.conv2dBackward(W.upload(o.g), null, W.upload(o.x), c.x, W.upload(o.w), c.w, c.p, { input: false, weight: false, bias: true });
      const pb = d(plain!.gb!) as Float32Array;
      const exPlain = oracle(c, o.g, null, o.x, o.w);
      expectNear(pb, exPlain.gb, exPlain.gbAbs, exPlain.K.gb, `${c.name} gb without relu`);
      expect(pb.some((v) => !Number.isFinite(v)), `${c.name}: specials without a mask`).toBe(true);
    }
  });

  it('declines (null) a relu mask too small for the SIMD kernel, where the unfused mask would run JavaScript', () => {
    const c: Case = { name: 'small', x: [1, 2, 6, 6], w: [3, 2, 3, 3], p: P(1, 0, 1, 1) };
    const o = operands(c, 7), W = wasm();
    const args = [W.upload(o.x), c.x, W.upload(o.w), c.w, c.p, { input: true, weight: true, bias: true }] as const;
    expect(W.conv2dBackward(W.upload(o.g), W.upload(o.y), ...args)).toBeNull();
    // Without relu there is no mask: the small problem is fused, and equals the loop oracle.
    const r = W.conv2dBackward(W.upload(o.g), null, ...args)!;
    const ex = oracle(c, o.g, null, o.x, o.w);
    expectNear(d(r.gb!) as Float32Array, ex.gb, ex.gbAbs, ex.K.gb, 'small gb');
    expectNear(d(r.gw!) as Float32Array, ex.gw, ex.gwAbs, ex.K.gw, 'small gw');
    expectNear(d(r.gx!) as Float32Array, ex.gx, ex.gxAbs, ex.K.gx, 'small gx');
  });
});

describe('wasmBinarySumInto: the mask (or copy) and the bias sum in one pass', () => {
  /**
   * Values over 20 binades, and ±2^40 at the start of every run of `inner`: a float64 lane that
   * holds 2^40 rounds what is added to it to 2^-12, so which lane each element lands in shows in
   * the float32 sum (a summation order other than the reference's would be seen).
   */
  function spread(n: number, seed: number, inner = n): Float32Array {
    const r = rng(seed);
    const a = Float32Array.from({ length: n }, () => (r() - 0.5) * 2 ** Math.floor(r() * 20 - 10));
    for (let i = 0; i + 2 < n; i += inner) { a[i] = 2 ** 40; a[i + 2] = -(2 ** 40); }
    return a;
  }
  /** The sum with the lanes of a naive fusion (lane = offset within the row mod 8): what the test must tell apart. */
  function naiveLanes(x: Float32Array, outer: number, mid: number, inner: number): Float32Array {
    const out = new Float32Array(mid);
    for (let m = 0; m < mid; m++) {
      const l = new Float64Array(8);
      for (let o = 0; o < outer; o++) for (let i = 0; i < inner; i++) l[i & 7] += x[(o * mid + m) * inner + i];
      out[m] = ((l[0] + l[1]) + (l[2] + l[3])) + ((l[4] + l[5]) + (l[6] + l[7]));
    }
    return out;
  }

  it('writes the same bits as wasmBinaryInto and sums them as wasmSumOuterInner does (flushes, rows across blocks)', () => {
    const SHAPES: [number, number, number][] = [
      [30, 2, 601], // a channel's rows flush after 27 rows (16,227 words: the lanes move); rows straddle blocks
      [30, 2, 676], // 676 is not a multiple of 8 (but 24 rows are: the flush keeps the lanes)
      [64, 3, 121], // several rows of one channel in each block
      [9, 7, 33],
      [3, 1, 16_384], // rows of exactly one block: every row flushes
      [1, 4, 300], // batch 1
    ];
    let orderSensitive = 0;
    for (const [si, [outer, mid, inner]] of SHAPES.entries()) {
      const n = outer * mid * inner, a = spread(n, 600 + si, inner), b = spread(n, 700 + si).map(Math.abs);
      for (let i = 3; i < n; i += 97) b[i] = i % 3 === 0 ? 0 : i % 3 === 1 ? -0 : NaN; // masked, masked, passed
      for (const op of ['reluBackward', null] as const) {
        const label = `[${outer}, ${mid}, ${inner}] ${op ?? 'copy'}`;
        const dst = new Float32Array(n + 5), sums = new Float32Array(mid);
        expect(wasmBinarySumInto(op, dst, 5, a, op ? b : null, outer, mid, inner, sums), label).toBe(true);
        const want = new Float32Array(n + 5);
        if (op) expect(wasmBinaryInto(op, want, 5, a, b)).toBe(true);
        else want.set(a, 5);
        expectSameBits(dst, want, `${label}: written`);
        const wantSums = new Float32Array(mid);
        expect(wasmSumOuterInner(want.subarray(5), outer, mid, inner, wantSums)).toBe(true);
        expectSameBits(sums, wantSums, `${label}: sums`);
        const naive = naiveLanes(want.subarray(5), outer, mid, inner);
        if (naive.some((v, m) => !Object.is(v, wantSums[m]))) orderSensitive++;
      }
    }
    // Coverage: on some shapes a plain per-row lane order would have given other bits.
    expect(orderSensitive).toBeGreaterThan(0);
  });

  it('declines rows longer than a block, short rows, and a mask below the SIMD size (nothing written)', () => {
    for (const [op, outer, mid, inner] of [[null, 2, 1, 16_385], [null, 64, 3, 25], ['reluBackward', 1, 3, 300]] as const) {
      const n = outer * mid * inner, dst = new Float32Array(n);
      expect(wasmBinarySumInto(op, dst, 0, spread(n, 1), op ? spread(n, 2) : null, outer, mid, inner, new Float32Array(mid))).toBe(false);
      expect(dst.every((v) => Object.is(v, 0))).toBe(true);
    }
  });
});

describe('Conv2d.backward through autograd: fused and fallback give the same bits', () => {
  it('F.conv2d / F.conv2dRelu gradients of x, w and bias, for every requires-grad combination (wasm, 2 threads)', async () => {
    await useThreads(2);
    const W = wasm();
    const own = W as unknown as { conv2dBackward?: unknown };
    let calls = 0;
    const real = W.conv2dBackward.bind(W);
    for (const [ci, c] of CASES.slice(0, 4).entries()) {
      const o = operands(c, 500 + ci);
      const opts = { stride: c.p.stride, padding: c.p.padding, dilation: c.p.dilation, groups: c.p.groups };
      const run = (mode: number, relu: boolean, bias: boolean) => {
        const x = fromArray(o.x, c.x, { device: 'wasm', requiresGrad: !!(mode & 1) });
        const w = fromArray(o.w, c.w, { device: 'wasm', requiresGrad: !!(mode & 2) });
        const b = bias ? fromArray(o.w.slice(0, c.w[0]), [c.w[0]], { device: 'wasm', requiresGrad: !!(mode & 4) }) : null;
        const out = relu ? F.conv2dRelu(x, w, b!, opts) : F.conv2d(x, w, b, opts);
        F.mul(out, fromArray(o.g, out.shape, { device: 'wasm' })).sum().backward();
        return [x, w, b].map((t) => (t?.grad ? t.grad.toTypedArray() as Float32Array : null));
      };
      for (const [relu, bias] of [[true, true], [false, true], [false, false]] as const) {
        for (let mode = 1; mode < 8; mode++) {
          if (!bias && mode & 4) continue;
          const counted = (...a: Parameters<typeof real>) => (calls++, real(...a));
          own.conv2dBackward = counted;
          const fused = run(mode, relu, bias);
          own.conv2dBackward = undefined; // hides the prototype's method: Conv2d.backward composes the separate ops
          const plain = run(mode, relu, bias);
          delete own.conv2dBackward;
          ['gx', 'gw', 'gb'].forEach((name, k) => {
            const label = `${c.name}, relu ${relu}, bias ${bias}, mode ${mode}: ${name}`;
            expect(fused[k] === null, label).toBe(plain[k] === null);
            if (plain[k]) expectSameBits(fused[k]!, plain[k]!, label);
          });
        }
      }
    }
    // Every backward went through the primitive (F.mul's backward is not a convolution).
    expect(calls).toBe(4 * (7 + 7 + 3));
  });
});
