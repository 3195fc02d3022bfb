/**
 * Weight-only layers of the int8 engine (src/quant/int8/weight-only.ts) against oracles written
 * here: weights dequantized by this file's own loop ((q - zeroPoint[o, g]) · scale[o, g] of each
 * element's group) and a float64 matmul / a naive 7-loop convolution; and quantizeWeightOnly on a
 * float model against that model's own float forward with the dequantized weights loaded into it.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Conv2d, Flatten, Linear, MaxPool2d, ReLU, Sequential, fromArray, noGrad } from '../../../src/index.js';
import { Int8Model, quantizeWeightOnly, type Int8ModelSpec } from '../../../src/quant/index.js';
import type { WeightOnlyConv2dLayer, WeightOnlyLinearLayer } from '../../../src/quant/int8/weight-only.js';
import { runs } from '../../helpers/assert.js';
import { mulberry32 } from '../../helpers/rng.js';
import { uniform } from './build.js';

/** Random levels and group parameters for an [O, K] weight (levels in [qmin, qmax], zero points too). */
function randomFields(seed: number, O: number, K: number, groupSize: number, bits: 4 | 8, symmetric: boolean) {
  const rnd = mulberry32(seed);
  const half = 2 ** (bits - 1);
  const qmin = symmetric ? -(half - 1) : -half, qmax = half - 1;
  const G = Math.ceil(K / groupSize);
  const level = () => qmin + Math.floor(rnd() * (qmax - qmin + 1));
  return {
    weight: Int8Array.from({ length: O * K }, level),
    weightQmin: qmin, weightQmax: qmax, groupSize,
    weightScale: Float32Array.from({ length: O * G }, () => 0.001 + rnd() * 0.05),
    weightZeroPoint: Int32Array.from({ length: O * G }, () => (symmetric ? 0 : level())),
    bias: Float32Array.from({ length: O }, () => rnd() - 0.5),
  };
}

/** This file's dequantization: float64 (q - zp) · scale of each element's group. */
function dequantized(f: { weight: ArrayLike<number>; weightScale: ArrayLike<number>; weightZeroPoint: ArrayLike<number>; groupSize: number }, O: number, K: number): Float64Array {
  const G = Math.ceil(K / f.groupSize);
  return Float64Array.from({ length: O * K }, (_, i) => {
    const o = Math.floor(i / K), g = Math.floor((i % K) / f.groupSize);
    return (f.weight[i] - f.weightZeroPoint[o * G + g]) * f.weightScale[o * G + g];
  });
}

describe('weightOnlyLinear', () => {
  it('equals x · dequantized(W) + b up to float32 rounding, per channel and per (ragged) group, int8 and int4 (property)', () => {
    let ragged = 0;
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 2 ** 30 }), fc.integer({ min: 1, max: 6 }), fc.integer({ min: 1, max: 90 }), fc.integer({ min: 1, max: 90 }),
        fc.constantFrom(4 as const, 8 as const), fc.boolean(),
        (seed, O, K, g, bits, symmetric) => {
          const groupSize = Math.min(g, K);
          if (K % groupSize !== 0) ragged++;
          const f = randomFields(seed, O, K, groupSize, bits, symmetric);
          const layer: WeightOnlyLinearLayer = { kind: 'weightOnlyLinear', weightShape: [O, K], ...f };
          const N = 3;
          const x = Float32Array.from(uniform(seed + 1, N * K, -2, 2));
          const y = new Int8Model({ inputShape: [K], layers: [layer] }).forward(x, N);
          const w = dequantized(f, O, K);
          for (let n = 0; n < N; n++) {
            for (let o = 0; o < O; o++) {
              let s = f.bias[o], mag = Math.abs(f.bias[o]);
              for (let k = 0; k < K; k++) {
                s += x[n * K + k] * w[o * K + k];
                mag += Math.abs(x[n * K + k] * w[o * K + k]);
              }
              expect(Math.abs(y[n * O + o] - s)).toBeLessThanOrEqual(2 ** -22 * mag + 1e-30);
            }
          }
        },
      ),
      runs(150, 14201),
    );
    expect(ragged).toBeGreaterThan(30);
  });
});

/** Naive convolution, float64, PyTorch semantics (zero padding, dilation, groups). */
function naiveConv(x: Float32Array, N: number, C: number, H: number, W: number, w: Float64Array, bias: Float32Array, l: WeightOnlyConv2dLayer): { y: Float64Array; mag: Float64Array; OH: number; OW: number } {
  const [O, Cg, KH, KW] = l.weightShape;
  const OH = Math.floor((H + 2 * l.padding[0] - l.dilation[0] * (KH - 1) - 1) / l.stride[0]) + 1;
  const OW = Math.floor((W + 2 * l.padding[1] - l.dilation[1] * (KW - 1) - 1) / l.stride[1]) + 1;
  const y = new Float64Array(N * O * OH * OW), mag = new Float64Array(y.length);
  const Og = O / l.groups;
  for (let n = 0; n < N; n++) for (let o = 0; o < O; o++) for (let oh = 0; oh < OH; oh++) for (let ow = 0; ow < OW; ow++) {
    let s = bias[o], m = Math.abs(bias[o]);
    const grp = Math.floor(o / Og);
    for (let c = 0; c < Cg; c++) for (let i = 0; i < KH; i++) for (let j = 0; j < KW; j++) {
      const ih = oh * l.stride[0] - l.padding[0] + i * l.dilation[0], iw = ow * l.stride[1] - l.padding[1] + j * l.dilation[1];
      if (ih < 0 || ih >= H || iw < 0 || iw >= W) continue;
      const p = x[((n * C + grp * Cg + c) * H + ih) * W + iw] * w[((o * Cg + c) * KH + i) * KW + j];
      s += p;
      m += Math.abs(p);
    }
    const at = ((n * O + o) * OH + oh) * OW + ow;
    y[at] = s;
    mag[at] = m;
  }
  return { y, mag, OH, OW };
}

describe('weightOnlyConv2d', () => {
  it('equals a naive convolution with the dequantized weights: stride, padding, dilation, channel groups, quantization groups (property)', () => {
    const seen = { padded: 0, grouped: 0, strided: 0, fourPlus: 0 };
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 2 ** 30 }),
        fc.record({
          groups: fc.constantFrom(1, 2), og: fc.integer({ min: 1, max: 5 }), cg: fc.integer({ min: 1, max: 3 }), k: fc.integer({ min: 1, max: 3 }),
          stride: fc.integer({ min: 1, max: 2 }), pad: fc.integer({ min: 0, max: 2 }), dil: fc.integer({ min: 1, max: 2 }), gs: fc.integer({ min: 1, max: 20 }),
          bits: fc.constantFrom(4 as const, 8 as const), symmetric: fc.boolean(),
        }),
        (seed, r) => {
          const O = r.og * r.groups, C = r.cg * r.groups, H = 7, W = 6, N = 2, K = r.cg * r.k * r.k;
          const f = randomFields(seed, O, K, Math.min(r.gs, K), r.bits, r.symmetric);
          const layer: WeightOnlyConv2dLayer = {
            kind: 'weightOnlyConv2d', weightShape: [O, r.cg, r.k, r.k], ...f,
            stride: [r.stride, r.stride], padding: [r.pad, r.pad], dilation: [r.dil, r.dil], groups: r.groups,
          };
          if ((r.k - 1) * r.dil + 1 > H + 2 * r.pad) return; // the kernel does not fit
          if (r.pad > 0) seen.padded++;
          if (r.groups > 1) seen.grouped++;
          if (r.stride > 1) seen.strided++;
          if (r.og >= 4) seen.fourPlus++;
          const x = Float32Array.from(uniform(seed + 3, N * C * H * W, -1, 1));
          const y = new Int8Model({ inputShape: [C, H, W], layers: [layer] }).forward(x, N);
          const ref = naiveConv(x, N, C, H, W, dequantized(f, O, K), f.bias, layer);
          expect(y.length).toBe(ref.y.length);
          for (let i = 0; i < y.length; i++) expect(Math.abs(y[i] - ref.y[i])).toBeLessThanOrEqual(2 ** -22 * ref.mag[i] + 1e-30);
        },
      ),
      runs(150, 14202),
    );
    expect(Object.values(seen).every((c) => c > 15)).toBe(true);
  });
});

describe('quantizeWeightOnly', () => {
  const floatModel = () => {
    const m = new Sequential(new Conv2d(2, 6, 3, { padding: 1 }), new ReLU(), new MaxPool2d(2), new Conv2d(6, 4, 3), new ReLU(), new Flatten(), new Linear(4 * 2 * 2, 5));
    m.eval();
    return m;
  };
  const input = Float32Array.from(uniform(21, 3 * 2 * 8 * 8, -1, 1));
  const floatForward = (m: Sequential) => noGrad(() => m.forward(fromArray(Array.from(input), [3, 2, 8, 8]))).toTypedArray();

  for (const opts of [{ bits: 8 as const }, { bits: 4 as const }, { bits: 4 as const, groupSize: 16 }, { bits: 4 as const, groupSize: 32, symmetric: false }]) {
    it(`runs like the float model with its weights dequantized (${JSON.stringify(opts)})`, () => {
      const m = floatModel();
      const spec = quantizeWeightOnly(m, { inputShape: [2, 8, 8], ...opts });
      const y = new Int8Model(spec).forward(input, 3);
      // The oracle: the same float model, each weight replaced by this file's dequantization of the spec's levels.
      const twin = floatModel();
      twin.loadStateDict(m.stateDict());
      const weighted = spec.layers.filter((l): l is WeightOnlyConv2dLayer | WeightOnlyLinearLayer => l.kind === 'weightOnlyConv2d' || l.kind === 'weightOnlyLinear');
      const modules = twin.namedChildren().map(([, c]) => c).filter((c): c is Conv2d | Linear => c instanceof Conv2d || c instanceof Linear);
      expect(weighted.length).toBe(modules.length);
      weighted.forEach((l, i) => {
        const O = l.weightShape[0], K = l.weight.length / O;
        expect(l.weightQmin).toBe(opts.symmetric === false ? -(2 ** (opts.bits - 1)) : -(2 ** (opts.bits - 1) - 1));
        expect(l.groupSize).toBe(Math.min(opts.groupSize ?? K, K));
        modules[i].weight.assign_(fromArray(Array.from(dequantized(l, O, K)), modules[i].weight.shape));
      });
      const ref = floatForward(twin);
      for (let i = 0; i < y.length; i++) expect(Math.abs(y[i] - ref[i])).toBeLessThanOrEqual(1e-5 * (1 + Math.abs(ref[i])));
      // And close to the float model itself: int8 much closer than int4.
      const orig = floatForward(m);
      const err = Math.max(...Array.from(y, (v, i) => Math.abs(v - orig[i])));
      expect(err).toBeLessThan(opts.bits === 8 ? 0.01 : 0.2);
    });
  }

  it('refuses bad options and layers it cannot map', () => {
    const m = floatModel();
    expect(() => quantizeWeightOnly(m, { inputShape: [2, 8, 8], bits: 3 as never })).toThrow(/bits must be 8 or 4, got 3/);
    expect(() => quantizeWeightOnly(m, { inputShape: [2, 8, 8], bits: 4, groupSize: 0 })).toThrow(/groupSize must be a positive integer/);
    expect(() => quantizeWeightOnly(m, { inputShape: [2, 8, 8], bits: 4, groupSize: 32, perChannel: true })).toThrow(/exclude each other/);
    expect(() => quantizeWeightOnly(new Sequential(new Linear(3, 3), new Sequential()), { inputShape: [3], bits: 8 })).toThrow(/layer '1' \(Sequential\) has no weight-only counterpart/);
  });

  it('refuses bad layers naming the field', () => {
    const f = randomFields(1, 2, 10, 4, 4, true);
    const ok: WeightOnlyLinearLayer = { kind: 'weightOnlyLinear', weightShape: [2, 10], ...f };
    const err = (edit: Partial<WeightOnlyLinearLayer>) => {
      try {
        new Int8Model({ inputShape: [10], layers: [{ ...ok, ...edit }] } as Int8ModelSpec);
      } catch (e) {
        return (e as Error).message;
      }
      return 'accepted';
    };
    expect(err({})).toBe('accepted');
    expect(err({ groupSize: 11 })).toMatch(/layer 0 \(weightOnlyLinear\): groupSize must be an integer in \[1, 10\]/);
    expect(err({ groupSize: 5 })).toMatch(/weightScale has 6 elements, expected 4/);
    expect(err({ weightQmax: 200 })).toMatch(/weightQmin and weightQmax must be integers with -128 <= weightQmin < weightQmax <= 127/);
    expect(err({ weight: new Uint8Array(20) as unknown as Int8Array })).toMatch(/weight must be an Int8Array \(int8 storage of the levels\), got Uint8Array/);
    expect(err({ weight: Int8Array.from(f.weight, (v, i) => (i === 13 ? 7 : Math.min(v, 6))), weightQmax: 6 })).toMatch(/weight level 7 at index 13 \(output channel 1\) is outside the declared range \[-7, 6\]/);
    expect(err({ weightZeroPoint: Int32Array.from([0, 0, 0, 9, 0, 0]) })).toMatch(/weightZeroPoint\[3\] = 9 is outside the weight range \[-7, 7\]/);
  });
});
