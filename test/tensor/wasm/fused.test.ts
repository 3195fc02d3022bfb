/**
 * The wasm backend's fused and copy-free primitives of issue 17 against the plain reference
 * backend (device cpu) and independent oracles:
 *   - reluBackward (one pass, selecting): bit for bit the reference loop, and the closed form
 *     `y <= 0 ? 0 : g` written here, on sizes that take the SIMD path, with ±Infinity, NaN and ±0
 *     in both operands;
 *   - conv2dBias (bias add, and relu, in the convolution's epilogue): bit for bit the wasm
 *     convolution followed by the reference backend's own add and relu loops (same float32
 *     arithmetic), including special values in the bias; and, through F.conv2d / F.conv2dRelu,
 *     values and all three gradients bit for bit the unfused composition on the same device;
 *   - sumOuterInner (the bias gradient summed over N, H, W in place): float32 rows within half an
 *     ulp (plus float64 rounding) of an exactly summed oracle, and bit for bit the reference for
 *     the loop path (int32, short rows);
 *   - the 2 x 2 max-pool backward as a SIMD gather: bit for bit the reference scatter, on even and
 *     odd sizes, with ties, NaN and -0 gradients.
 * Each case runs with 1 and 2 threads where threads apply (results must not depend on them).
 */
import { afterAll, describe, expect, it } from 'vitest';
import '../../../src/tensor/wasm/index.js';
import { F, fromArray, getBackend, Tensor } from '../../../src/index.js';
import type { Conv2dParams, Pool2dParams } from '../../../src/tensor/backend.js';
import type { TypedArray } from '../../../src/tensor/dtype.js';
import { CpuBackend, d } from '../../../src/tensor/cpu/index.js';
import { maxPool2d as maxPoolReference, maxPool2dGrad as maxPoolGradReference } from '../../../src/tensor/cpu/pool.js';
import { setWasmKernelConfig, type WasmBackend } from '../../../src/tensor/wasm/index.js';
import { rng, useThreads } from './util.js';

afterAll(() => setWasmKernelConfig());

const wasm = () => getBackend('wasm') as WasmBackend;
const cpuRef = () => getBackend('cpu') as CpuBackend;

/** Bits of a float32 array, NaN payloads folded to one (the kernels need not preserve them). */
function bits(a: ArrayLike<number>): number[] {
  const f = Float32Array.from(a as ArrayLike<number>), u = new Uint32Array(f.buffer);
  return Array.from(u, (v, i) => (f[i] !== f[i] ? 0x7fc00000 : v));
}
function expectBits(got: ArrayLike<number>, want: ArrayLike<number>, label: string): void {
  expect(got.length, label).toBe(want.length);
  const g = bits(got), w = bits(want);
  for (let i = 0; i < g.length; i++) if (g[i] !== w[i]) throw new Error(`${label}: element ${i}: ${got[i]} vs ${want[i]}`);
}

const SPECIAL = [Infinity, -Infinity, NaN, 0, -0, 1e-45, -1e-45, 3.4e38, -3.4e38];
/** n float32 values in [-1, 1), a tenth of them special (seeded). */
function values(n: number, seed: number, special = true): Float32Array {
  const r = rng(seed), a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = special && r() < 0.1 ? SPECIAL[Math.floor(r() * SPECIAL.length)] : r() * 2 - 1;
  return a;
}

describe('reluBackward: one pass, selecting', () => {
  it('equals the closed form y <= 0 ? 0 : g and the reference loop bit for bit, special values included', () => {
    for (const n of [1024, 4099, 70_001]) {
      const g = values(n, n), y = values(n, n + 1);
      const want = g.map((v, i) => (y[i] <= 0 ? 0 : v));
      const onWasm = wasm().binary('reluBackward', viewOf(wasm().upload(g), [n]), viewOf(wasm().upload(y), [n]), [n], 'float32');
      const onCpu = cpuRef().binary('reluBackward', viewOf(cpuRef().upload(g), [n]), viewOf(cpuRef().upload(y), [n]), [n], 'float32');
      expectBits(d(onWasm), want, `wasm n=${n}`);
      expectBits(d(onCpu), want, `cpu n=${n}`);
      // Coverage: the selection matters where it would differ from a multiply.
      let infMasked = 0;
      for (let i = 0; i < n; i++) if (!Number.isFinite(g[i]) && y[i] <= 0) infMasked++;
      expect(infMasked).toBeGreaterThan(0);
    }
  });

  it('relu backward of an infinite upstream gradient is 0 where relu was inactive (device wasm, SIMD size)', () => {
    const n = 2048;
    const xv = Float32Array.from({ length: n }, (_, i) => (i % 2 ? 1 : -1));
    const x = fromArray(xv, [n], { device: 'wasm', requiresGrad: true });
    F.mul(F.relu(x), fromArray(new Float32Array(n).fill(Infinity), [n], { device: 'wasm' })).sum().backward();
    const gx = x.grad!.toTypedArray();
    for (let i = 0; i < n; i++) expect(gx[i]).toBe(i % 2 ? Infinity : 0);
  });
});

function viewOf(buffer: ReturnType<CpuBackend['upload']>, shape: number[]) {
  const strides = shape.map((_, i) => shape.slice(i + 1).reduce((a, b) => a * b, 1));
  return { buffer, shape, strides, offset: 0 };
}

interface ConvCase { x: [number, number, number, number]; w: [number, number, number, number]; p: Conv2dParams }
const P = (stride = 1, padding = 0, dilation = 1, groups = 1): Conv2dParams => ({ stride: [stride, stride], padding: [padding, padding], dilation: [dilation, dilation], groups });
const CASES: ConvCase[] = [
  { x: [4, 1, 28, 28], w: [8, 1, 3, 3], p: P() }, // the tutorial's first layer, fewer channels
  { x: [3, 6, 11, 11], w: [6, 6, 3, 3], p: P(1, 1) },
  { x: [2, 4, 9, 7], w: [6, 2, 3, 2], p: P(2, 1, 1, 2) }, // groups, stride, odd sizes
  { x: [2, 3, 10, 10], w: [5, 3, 3, 3], p: P(1, 2, 2) }, // dilation
];

describe('conv2dBias: bias (and relu) in the epilogue', () => {
  it('is the wasm convolution followed by the reference add and relu, bit for bit, with 1 and 2 threads', async () => {
    for (const threads of [1, 2]) {
      await useThreads(threads);
      CASES.forEach((c, ci) => {
        const xs = values(c.x.reduce((a, b) => a * b), 10 + ci, false), ws = values(c.w.reduce((a, b) => a * b), 20 + ci, false);
        const bias = values(c.w[0], 30 + ci, false);
        bias[0] = Infinity; if (bias.length > 2) { bias[1] = NaN; bias[2] = -0; }
        const W = wasm(), R = cpuRef();
        const x = W.upload(xs), w = W.upload(ws), b = W.upload(bias);
        const conv = d(W.conv2d(x, c.x, w, c.w, c.p));
        const [N, O] = [c.x[0], c.w[0]], L = conv.length / (N * O);
        const oShape = [N, O, L];
        const biasView = { buffer: R.upload(bias), shape: oShape, strides: [0, 1, 0], offset: 0 };
        const added = R.binary('add', viewOf(R.upload(conv), oShape), biasView, oShape, 'float32');
        const relued = R.unary('relu', viewOf(added, oShape), 'float32');
        for (const relu of [false, true]) {
          const fused = W.conv2dBias(x, c.x, w, c.w, b, c.p, relu);
          expect(fused).not.toBeNull();
          expectBits(d(fused!), d(relu ? relued : added), `case ${ci} relu ${relu} threads ${threads}`);
        }
      });
    }
  });

  it('F.conv2d and F.conv2dRelu: values and the x, w and bias gradients equal the unfused ops bit for bit (wasm and cpu)', () => {
    for (const device of ['wasm', 'cpu'] as const) {
      CASES.forEach((c, ci) => {
        const mk = (shape: number[], seed: number) => fromArray(values(shape.reduce((a, b) => a * b), seed, false), shape, { device, requiresGrad: true });
        const opts = { stride: c.p.stride, padding: c.p.padding, dilation: c.p.dilation, groups: c.p.groups };
        const run = (fused: boolean, relu: boolean) => {
          const x = mk(c.x, 40 + ci), w = mk(c.w, 50 + ci), b = mk([c.w[0]], 60 + ci);
          let y: Tensor;
          if (fused) y = relu ? F.conv2dRelu(x, w, b, opts) : F.conv2d(x, w, b, opts);
          else {
            y = F.add(F.conv2d(x, w, null, opts), F.reshape(b, [1, c.w[0], 1, 1]));
            if (relu) y = F.relu(y);
          }
          const gy = fromArray(values(y.size, 70 + ci, false), y.shape, { device });
          F.mul(y, gy).sum().backward();
          return [y, x.grad!, w.grad!, b.grad!].map((t) => t.toTypedArray());
        };
        for (const relu of [false, true]) {
          const a = run(true, relu), u = run(false, relu);
          ['y', 'gx', 'gw', 'gb'].forEach((name, k) => expectBits(a[k], u[k], `${device} case ${ci} relu ${relu}: ${name}`));
        }
      });
    }
  });

  it('refuses relu without a bias, and a bias of the wrong shape', () => {
    const x = fromArray(new Float32Array(16), [1, 1, 4, 4], { device: 'wasm' }), w = fromArray(new Float32Array(9), [1, 1, 3, 3], { device: 'wasm' });
    expect(() => F.conv2dRelu(x, w, fromArray(new Float32Array(2), [2], { device: 'wasm' }))).toThrow(/bias must have shape \[1\]/);
    expect(() => F.conv2d(x, w, fromArray(new Float32Array(1), [1, 1], { device: 'wasm' }))).toThrow(/bias must have shape/);
  });
});

describe('sumOuterInner: the bias gradient summed in place', () => {
  /** Exact sum of float32 values: float64 partial sums of 2^20 terms of magnitude < 2^k are exact enough here (error <= n * 2^-53 * sum|x|). */
  function oracle(x: ArrayLike<number>, outer: number, mid: number, inner: number): { sum: Float64Array; abs: Float64Array } {
    const sum = new Float64Array(mid), abs = new Float64Array(mid);
    for (let o = 0; o < outer; o++) for (let m = 0; m < mid; m++) for (let i = 0; i < inner; i++) {
      const v = x[(o * mid + m) * inner + i];
      sum[m] += v; abs[m] += Math.abs(v);
    }
    return { sum, abs };
  }

  it('float32: within half an ulp of the exact sum (float64 accumulation, one rounding), on the SIMD path', () => {
    for (const [outer, mid, inner] of [[64, 40, 676], [64, 40, 121], [3, 5, 40_000], [2, 3, 33]]) {
      const n = outer * mid * inner, r = rng(outer + mid + inner), xs = new Float32Array(n);
      // A common offset (as normalised MNIST's background) is where float32 running sums lose most.
      for (let i = 0; i < n; i++) xs[i] = 0.42 + (r() - 0.5) * 1e-3;
      const got = d(wasm().sumOuterInner(wasm().upload(xs), outer, mid, inner));
      const { sum, abs } = oracle(xs, outer, mid, inner);
      for (let m = 0; m < mid; m++) {
        const ulp = 2 ** (Math.floor(Math.log2(Math.abs(sum[m]))) - 23);
        const bound = 0.5 * ulp + 2 * outer * inner * 2 ** -53 * abs[m];
        expect(Math.abs(got[m] - sum[m]), `[${outer},${mid},${inner}] m=${m}`).toBeLessThanOrEqual(bound);
      }
    }
  });

  it('equals the reference reduce (permute, copy, sum) bit for bit on the loop path (int32, float64, short rows)', () => {
    const cases: [TypedArray, number, number, number][] = [
      [Int32Array.from({ length: 2 * 3 * 5 }, (_, i) => (i * 7919) % 101 - 50), 2, 3, 5],
      [Float64Array.from({ length: 64 * 10 }, (_, i) => Math.sin(i) * 1e3), 64, 10, 1],
      [Float32Array.from({ length: 64 * 10 * 3 }, (_, i) => Math.cos(i)), 64, 10, 3],
    ];
    for (const [xs, outer, mid, inner] of cases) {
      const got = d(wasm().sumOuterInner(wasm().upload(xs), outer, mid, inner));
      const t = fromArray(xs, [outer, mid, inner], { device: 'cpu' });
      const want = F.sum(t, [0, 2]).toTypedArray();
      expect(Array.from(got)).toEqual(Array.from(want));
    }
  });

  it('raw reduce takes it for a [N, C, H, W] sum over N, H, W (device wasm agrees with cpu within the rule)', () => {
    const shape = [8, 5, 12, 12], n = shape.reduce((a, b) => a * b);
    const xs = values(n, 99, false);
    const w = F.sum(fromArray(xs, shape, { device: 'wasm' }), [0, 2, 3]).toTypedArray();
    const c = F.sum(fromArray(xs, shape, { device: 'cpu' }), [0, 2, 3]).toTypedArray();
    const { abs } = oracle(xs, 8, 5, 144);
    for (let m = 0; m < 5; m++) expect(Math.abs(w[m] - c[m])).toBeLessThanOrEqual(2 ** -23 * Math.abs(c[m]) + 1e-12 * abs[m]);
  });
});

describe('max-pool 2 x 2 backward as a SIMD gather', () => {
  const pool: Pool2dParams = { kernel: [2, 2], stride: [2, 2], padding: [0, 0], dilation: [1, 1] };
  it('equals the reference scatter bit for bit (even and odd sizes, ties, NaN, -0; 1 and 2 threads)', async () => {
    for (const threads of [1, 2]) {
      await useThreads(threads);
      for (const [N, C, H, W] of [[64, 40, 26, 26], [64, 40, 11, 11], [2, 3, 9, 8], [3, 2, 8, 13], [1, 1, 2, 8]]) {
        const r = rng(N * 1000 + H * 10 + W);
        // Values from a small lattice: many ties within a window, some NaN.
        const xs = Float32Array.from({ length: N * C * H * W }, () => (r() < 0.02 ? NaN : Math.floor(r() * 4) - 1));
        const { out, indices } = maxPoolReference(xs, [N, C, H, W], pool, 'float32');
        const gy = values(out.length, H + W);
        for (let i = 0; i < gy.length; i += 7) gy[i] = -0;
        const want = maxPoolGradReference(gy, indices, [N, C, H >> 1, W >> 1], [N, C, H, W], 'float32');
        const R = wasm();
        const got = R.maxPool2dGrad(R.upload(gy), R.upload(indices), [N, C, H >> 1, W >> 1], [N, C, H, W], pool);
        expectBits(d(got), want, `[${N},${C},${H},${W}] threads ${threads}`);
      }
    }
  });
});

describe('relaxed SIMD (fused multiply-add) in the float32 GEMM', () => {
  it('is on where the engine has it, Node 20 included through its run-time flag, unless QGRAD_RELAXED_SIMD=0', async () => {
    const { getWasmKernelConfig } = await import('../../../src/tensor/wasm/index.js');
    const reachable = typeof (process as { getBuiltinModule?: unknown }).getBuiltinModule === 'function';
    const want = process.env.QGRAD_RELAXED_SIMD === '0' ? false : reachable ? true : getWasmKernelConfig().relaxedSimd;
    expect(getWasmKernelConfig().relaxedSimd).toBe(want);
    // The precision rule is checked with whichever kernel is active by gemm.test.ts,
    // long-reduction.test.ts and training-drift.test.ts; run them with QGRAD_RELAXED_SIMD=0 for the other.
  });
});
