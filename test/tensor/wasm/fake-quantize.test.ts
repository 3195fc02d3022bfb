/**
 * The wasm backend's fake-quantize kernel (src/tensor/wasm/quant-kernels.ts) against the cpu
 * reference (fakeQuantizeKernel of src/tensor/cpu/quant.ts, itself checked against
 * src/quant/numerics in test/quant): y and the straight-through mask the same bits on every
 * element (Object.is: -0 and +0 differ), for both tie rules, on inputs built to land exactly on
 * ties (x·inv = k + ½ in float32, both signs), on both clamps and beyond, ±Infinity, ±0, per-tensor
 * and per-channel layouts with outer > 1, lengths that are not a multiple of 4 and channel
 * segments that straddle the staging blocks. Where the kernel must decline (levels whose offset
 * from the zero point is not a float32 integer, a NaN input) the backend still gives the
 * reference's result or its error.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { QuantKernelParams } from '../../../src/tensor/backend.js';
import { fakeQuantizeKernel } from '../../../src/tensor/cpu/quant.js';
import { d } from '../../../src/tensor/cpu/index.js';
import { WasmBackend } from '../../../src/tensor/wasm/index.js';
import { fakeQuantizeWasmApplies } from '../../../src/tensor/wasm/quant-kernels.js';
import { rng } from './util.js';

const backend = new WasmBackend();

function run(x: Float32Array, q: QuantKernelParams): { y: Float32Array; mask: Float32Array } {
  const r = backend.fakeQuantize(backend.upload(x), q);
  return { y: d(r.y) as Float32Array, mask: d(r.mask) as Float32Array };
}

function firstDiff(a: Float32Array, b: Float32Array): number {
  for (let i = 0; i < a.length; i++) if (!Object.is(a[i], b[i])) return i;
  return -1;
}

/** Values around the quantization grid of channel c: exact ties, near-ties, far outside, specials. */
function values(rand: () => number, n: number, q: QuantKernelParams, channelOf: (i: number) => number): Float32Array {
  const x = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const c = channelOf(i), s = q.scale[c];
    const k = Math.floor((rand() * 1.6 - 0.8) * (q.qmax - q.qmin)) - q.zeroPoint[c];
    const pick = rand();
    if (pick < 0.3) x[i] = (k + 0.5) * s; // a tie of x·inv when inv = 1/s exactly (s a power of two)
    else if (pick < 0.4) x[i] = (k + 0.5) * Math.fround(1 / Math.fround(1 / s)); // ties through the reciprocal
    else if (pick < 0.8) x[i] = (k + rand() * 2 - 1) * s;
    else if (pick < 0.85) x[i] = [Infinity, -Infinity, 0, -0][Math.floor(rand() * 4)];
    else if (pick < 0.9) x[i] = (rand() < 0.5 ? -1 : 1) * 1e30;
    else x[i] = (k - 0.49999997) * s;
  }
  return x;
}

function params(rand: () => number, outer: number, channels: number, inner: number, rounding: QuantKernelParams['rounding']): QuantKernelParams {
  const kind = Math.floor(rand() * 3);
  const [qmin, qmax] = kind === 0 ? [0, 255] : kind === 1 ? [-128, 127] : [-1, 1];
  const scale = Float32Array.from({ length: channels }, () => (rand() < 0.5 ? 2 ** -Math.floor(rand() * 10) : Math.fround(0.001 + rand() * 0.2)));
  const zeroPoint = Int32Array.from({ length: channels }, () => (kind === 0 ? Math.floor(rand() * 256) : 0));
  return { scale, zeroPoint, qmin, qmax, outer, channels, inner, rounding };
}

describe('wasm fakeQuantize = the reference kernel, bit for bit', () => {
  it('per-tensor and per-channel, both tie rules, odd lengths, segments across blocks (fast-check)', () => {
    const seed = 2417;
    let ran = 0;
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 6 }), fc.constantFrom(1, 3, 9, 121, 677, 20001), fc.constantFrom('halfEven', 'halfAwayFromZero' as const),
        fc.integer({ min: 1, max: 2 ** 31 - 1 }),
        (outer, channels, inner, rounding, s) => {
          const rand = rng(s);
          const q = params(rand, outer, channels, inner, rounding as QuantKernelParams['rounding']);
          const n = outer * channels * inner;
          const x = values(rand, n, q, (i) => Math.floor(i / inner) % channels);
          const want = fakeQuantizeKernel(x, q);
          const got = run(x, q);
          if (fakeQuantizeWasmApplies(n, q)) ran++;
          expect(firstDiff(got.y, want.y), 'y').toBe(-1);
          expect(firstDiff(got.mask, want.mask), 'mask').toBe(-1);
        },
      ),
      { seed, numRuns: 150 },
    );
    expect(ran).toBeGreaterThan(60); // the rest are under FQ_MIN_ELEMENTS: the reference ran, and must agree too
  });

  it('exact ties go to even or away from zero as the mode says; clamps and infinities', () => {
    const x = Float32Array.from({ length: 300 }, (_, i) => (i % 2 ? -1 : 1) * ((i % 150) / 2 + 0.5 * (i % 3 === 0 ? 1 : 0)));
    x.set([Infinity, -Infinity, 0, -0, 1e30, -1e30, 2.5, -2.5, 3.5, -3.5], 0);
    for (const rounding of ['halfEven', 'halfAwayFromZero'] as const) {
      const q: QuantKernelParams = { scale: Float32Array.of(1), zeroPoint: Int32Array.of(0), qmin: -100, qmax: 100, outer: 1, channels: 1, inner: x.length, rounding };
      expect(fakeQuantizeWasmApplies(x.length, q)).toBe(true);
      const got = run(x, q), want = fakeQuantizeKernel(x, q);
      expect(firstDiff(got.y, want.y)).toBe(-1);
      expect(firstDiff(got.mask, want.mask)).toBe(-1);
      // hand-checked: 2.5 → 2 or 3, -2.5 → -2 or -3; ±Infinity clamp with mask 0
      expect(Array.from(got.y.subarray(6, 10))).toEqual(rounding === 'halfEven' ? [2, -2, 4, -4] : [3, -3, 4, -4]);
      expect([got.y[0], got.y[1], got.mask[0], got.mask[1], got.mask[6]]).toEqual([100, -100, 0, 0, 1]);
    }
  });

  it('declines int32-range levels (the reference runs) and reports a NaN input as the reference does', () => {
    const rand = rng(5);
    const x = Float32Array.from({ length: 1000 }, () => (rand() * 2 - 1) * 1e4);
    const q: QuantKernelParams = { scale: Float32Array.of(0.001), zeroPoint: Int32Array.of(0), qmin: -(2 ** 31), qmax: 2 ** 31 - 1, outer: 1, channels: 1, inner: x.length, rounding: 'halfEven' };
    expect(fakeQuantizeWasmApplies(x.length, q)).toBe(false);
    const got = run(x, q), want = fakeQuantizeKernel(x, q);
    expect(firstDiff(got.y, want.y)).toBe(-1);
    const bad = x.slice();
    bad[777] = NaN;
    const q8 = { ...q, qmin: -128, qmax: 127 };
    expect(fakeQuantizeWasmApplies(bad.length, q8)).toBe(true);
    let refError = '';
    try {
      fakeQuantizeKernel(bad, q8);
    } catch (e) {
      refError = String(e);
    }
    expect(refError).toMatch(/NaN/);
    expect(() => run(bad, q8)).toThrow(refError.replace(/^Error: /, ''));
  });
});
