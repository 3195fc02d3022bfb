/**
 * Observers against independent oracles: running min/max and the closed form of the exponential
 * moving average computed in plain JavaScript, computeQParams / computeQParamsPerChannel and the
 * calibration functions of src/quant/numerics, and the observers' documented rules (empty tensors
 * ignored, NaN/Infinity refused with counts, constant input gives valid qparams).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { fromArray, type Tensor } from '../../src/index.js';
import {
  computeQParams,
  computeQParamsPerChannel,
  fakeQuantize,
  HistogramObserver,
  MinMaxObserver,
  MovingAverageMinMaxObserver,
  MovingAveragePerChannelMinMaxObserver,
  mseRange,
  PerChannelMinMaxObserver,
  type CalibrationMethod,
  type Observer,
  type QuantRange,
} from '../../src/quant/index.js';
import { gaussian, prng } from './helpers.js';
import { runs } from '../helpers/assert.js';

const U8: QuantRange = { qmin: 0, qmax: 255, scheme: 'affine' };
const U4: QuantRange = { qmin: 0, qmax: 15, scheme: 'affine' };
const S8: QuantRange = { qmin: -128, qmax: 127, scheme: 'symmetric' };

const t1 = (xs: ArrayLike<number>): Tensor => fromArray(Float32Array.from(xs), [xs.length]);
const minOf = (xs: ArrayLike<number>) => Array.from(xs).reduce((a, b) => Math.min(a, b), Infinity);
const maxOf = (xs: ArrayLike<number>) => Array.from(xs).reduce((a, b) => Math.max(a, b), -Infinity);

/** Batches of float32 values (non-empty). */
const arbBatches = fc.array(
  fc.array(fc.float({ min: -1000, max: 1000, noNaN: true, noDefaultInfinity: true }), { minLength: 1, maxLength: 20 }),
  { minLength: 1, maxLength: 8 },
);

describe('MinMaxObserver', () => {
  it('tracks the running min/max of everything seen (never shrinks); qparams are computeQParams of it', () => {
    fc.assert(
      fc.property(arbBatches, (batches) => {
        const o = new MinMaxObserver();
        let lo = Infinity, hi = -Infinity;
        for (const b of batches) {
          const prev = o.initialized ? o.range() : null;
          o.observe(t1(b));
          lo = Math.min(lo, minOf(Float32Array.from(b)));
          hi = Math.max(hi, maxOf(Float32Array.from(b)));
          const r = o.range();
          expect(r.min[0]).toBe(lo);
          expect(r.max[0]).toBe(hi);
          if (prev) {
            expect(r.min[0]).toBeLessThanOrEqual(prev.min[0]);
            expect(r.max[0]).toBeGreaterThanOrEqual(prev.max[0]);
          }
        }
        for (const range of [U8, S8, U4]) {
          const p = o.computeQParams(range);
          const want = computeQParams(lo, hi, range);
          expect(p.axis).toBeNull();
          expect([p.scale[0], p.zeroPoint[0]]).toEqual([want.scale, want.zeroPoint]);
        }
      }),
      runs(100),
    );
  });

  it('a narrower later batch does not shrink the range', () => {
    const o = new MinMaxObserver();
    o.observe(t1([-5, 7]));
    o.observe(t1([0.1, 0.2]));
    expect(o.range()).toEqual({ min: [-5], max: [7] });
  });
});

describe('MovingAverageMinMaxObserver', () => {
  it('equals the closed form of the EMA with c = 0.01: m_n = (1-c)^(n-1) b_1 + Σ_k c (1-c)^(n-k) b_k', () => {
    fc.assert(
      fc.property(arbBatches, (batches) => {
        const c = 0.01;
        const o = new MovingAverageMinMaxObserver();
        expect(o.averagingConstant).toBe(c);
        batches.forEach((b) => o.observe(t1(b)));
        const n = batches.length;
        const mins = batches.map((b) => minOf(Float32Array.from(b)));
        const maxs = batches.map((b) => maxOf(Float32Array.from(b)));
        const closed = (v: number[]) => (1 - c) ** (n - 1) * v[0] + v.slice(1).reduce((acc, vk, j) => acc + c * (1 - c) ** (n - (j + 2)) * vk, 0);
        const r = o.range();
        expect(r.min[0]).toBeCloseTo(closed(mins), 9);
        expect(r.max[0]).toBeCloseTo(closed(maxs), 9);
        const want = computeQParams(r.min[0], r.max[0], U8);
        const p = o.computeQParams(U8);
        expect([p.scale[0], p.zeroPoint[0]]).toEqual([want.scale, want.zeroPoint]);
      }),
      runs(100),
    );
  });

  it('forgets an outlier batch at rate c', () => {
    const o = new MovingAverageMinMaxObserver(0.01);
    o.observe(t1([0, 1]));
    o.observe(t1([0, 101]));
    expect(o.range().max[0]).toBeCloseTo(2, 12); // 1 + 0.01 (101 - 1)
    for (let i = 0; i < 100; i++) o.observe(t1([0, 1]));
    expect(o.range().max[0]).toBeCloseTo(1 + 0.99 ** 100, 10);
  });
});

describe('per-channel observers equal the per-tensor observer applied to each channel', () => {
  /** The values of channel c of a row-major tensor along `axis`. */
  function channelSlice(data: Float32Array, shape: number[], axis: number, c: number): number[] {
    const inner = shape.slice(axis + 1).reduce((a, b) => a * b, 1);
    const C = shape[axis];
    return Array.from(data).filter((_, i) => Math.floor(i / inner) % C === c);
  }

  const arbCase = fc
    .record({
      axis: fc.constantFrom(0, 1),
      shape: fc.array(fc.integer({ min: 1, max: 4 }), { minLength: 2, maxLength: 4 }),
      batches: fc.integer({ min: 1, max: 4 }),
      moving: fc.boolean(),
      seed: fc.integer(),
    });

  it('ranges and qparams (computeQParamsPerChannel of the channel min/max), axis 0 and 1, MinMax and MovingAverage', () => {
    fc.assert(
      fc.property(arbCase, ({ axis, shape, batches, moving, seed }) => {
        const C = shape[axis];
        const rand = prng(seed);
        const perCh: Observer = moving ? new MovingAveragePerChannelMinMaxObserver(axis, 0.01) : new PerChannelMinMaxObserver(axis);
        const perTensor = Array.from({ length: C }, () => (moving ? new MovingAverageMinMaxObserver(0.01) : new MinMaxObserver()));
        for (let b = 0; b < batches; b++) {
          const size = shape.reduce((a, d) => a * d, 1);
          const data = Float32Array.from({ length: size }, () => (rand() - 0.3) * 10 * (b + 1));
          perCh.observe(fromArray(data, shape));
          perTensor.forEach((o, c) => o.observe(t1(channelSlice(data, shape, axis, c))));
        }
        const r = perCh.range();
        const mins = perTensor.map((o) => o.range().min[0]);
        const maxs = perTensor.map((o) => o.range().max[0]);
        for (let c = 0; c < C; c++) {
          expect(r.min[c]).toBeCloseTo(mins[c], 10);
          expect(r.max[c]).toBeCloseTo(maxs[c], 10);
        }
        for (const range of [S8, U8]) {
          const p = perCh.computeQParams(range);
          const want = computeQParamsPerChannel(r.min, r.max, range);
          expect(p.axis).toBe(axis);
          expect(Array.from(p.scale)).toEqual(Array.from(want.scale));
          expect(Array.from(p.zeroPoint)).toEqual(Array.from(want.zeroPoint));
          // and each channel's qparams are the per-tensor observer's (exactly, for min/max tracking)
          if (!moving) {
            perTensor.forEach((o, c) => {
              const q = o.computeQParams(range);
              expect([p.scale[c], p.zeroPoint[c]]).toEqual([q.scale[0], q.zeroPoint[0]]);
            });
          }
        }
      }),
      runs(60),
    );
  });

  it('refuses a batch with a different number of channels, naming both', () => {
    const o = new PerChannelMinMaxObserver(0);
    o.observe(fromArray(new Float32Array(6), [3, 2]));
    expect(() => o.observe(fromArray(new Float32Array(8), [4, 2]))).toThrow(/4.*3|3.*4/);
  });
});

/** A seeded heavy-tailed sample: Student's t with 3 degrees of freedom. */
function studentT(n: number, seed: number): Float32Array {
  const g = gaussian(prng(seed));
  return Float32Array.from({ length: n }, () => {
    const chi = g() ** 2 + g() ** 2 + g() ** 2;
    return g() / Math.sqrt(chi / 3);
  });
}

function histogramObserver(method: CalibrationMethod, data: Float32Array, batches = 2, percentile?: number): HistogramObserver {
  const o = new HistogramObserver({ method, percentile });
  const n = data.length / batches;
  for (let b = 0; b < batches; b++) o.observe(t1(data.subarray(b * n, (b + 1) * n)));
  return o;
}

/** Σ (x - fakeQuantize(x))² with the observer's qparams. */
function quantError(data: Float32Array, o: Observer, r: QuantRange): number {
  const p = o.computeQParams(r);
  const y = fakeQuantize(data, { scale: p.scale[0], zeroPoint: p.zeroPoint[0], qmin: r.qmin, qmax: r.qmax }).y;
  let e = 0;
  for (let i = 0; i < data.length; i++) e += (y[i] - data[i]) ** 2;
  return e;
}

describe('HistogramObserver', () => {
  const heavy = studentT(8192, 11);
  const dataMin = minOf(heavy), dataMax = maxOf(heavy);

  it("'max' keeps the whole data range, over several batches", () => {
    const o = histogramObserver('max', heavy, 4);
    expect(o.chooseRange(U8)).toEqual({ min: dataMin, max: dataMax });
    const p = o.computeQParams(U8);
    // the represented range [(qmin - zp) s, (qmax - zp) s] contains the data (up to half a step of rounding of zp)
    expect((U8.qmin - p.zeroPoint[0]) * p.scale[0]).toBeLessThanOrEqual(dataMin + p.scale[0] / 2);
    expect((U8.qmax - p.zeroPoint[0]) * p.scale[0]).toBeGreaterThanOrEqual(dataMax - p.scale[0] / 2);
  });

  it("'percentile' clips a single outlier", () => {
    const g = gaussian(prng(3));
    const data = Float32Array.from({ length: 10000 }, () => g());
    data[1234] = 1000;
    const o = histogramObserver('percentile', data, 2, 99.9);
    const r = o.chooseRange(U8);
    expect(r.max).toBeLessThan(10);
    expect(r.min).toBeGreaterThan(-10);
    expect(histogramObserver('max', data).chooseRange(U8).max).toBe(1000);
  });

  it("'mse' and 'kl' choose a clipping range narrower than 'max' for a heavy-tailed input", () => {
    // 8-bit KL clips a Student t(3) hard; MSE clips at 4 bits, where the rounding error dominates.
    const kl = histogramObserver('kl', heavy).chooseRange(U8);
    expect(kl.max).toBeLessThan(dataMax);
    expect(kl.min).toBeGreaterThan(dataMin);
    expect(kl.max - kl.min).toBeLessThan(0.7 * (dataMax - dataMin));
    const mse = histogramObserver('mse', heavy).chooseRange(U4);
    expect(mse.max - mse.min).toBeLessThan(0.5 * (dataMax - dataMin));
    // and clipping pays: the 4-bit error is well below the error of the full range
    expect(quantError(heavy, histogramObserver('mse', heavy), U4)).toBeLessThan(0.7 * quantError(heavy, histogramObserver('max', heavy), U4));
  });

  it("'mse' is as good as the exact-data MSE search of the numerics (mseRange on the raw values), for signed and non-negative data", () => {
    const relu = heavy.map(Math.abs);
    const skewed = heavy.map((v) => (v < 0 ? 0.1 * v : v));
    for (const [name, data] of [['signed', heavy], ['non-negative', relu], ['skewed', skewed]] as [string, Float32Array][]) {
      for (const r of [U8, U4]) {
        const exact = mseRange(data, r.qmin, r.qmax, r.scheme);
        const p = computeQParams(exact.min, exact.max, r);
        const y = fakeQuantize(data, { scale: p.scale, zeroPoint: p.zeroPoint, qmin: r.qmin, qmax: r.qmax }).y;
        let oracle = 0;
        for (let i = 0; i < data.length; i++) oracle += (y[i] - data[i]) ** 2;
        const observed = quantError(data, histogramObserver('mse', data), r);
        // the histogram (2048 bins, bin centres) approximates the data: allow 3%
        expect(observed, `${name}, ${r.qmax + 1} levels: observer error ${observed} vs exact search ${oracle}`).toBeLessThanOrEqual(1.03 * oracle);
      }
    }
  });

  it('non-negative data gives min 0 (the zero point is qmin) for every method', () => {
    const relu = heavy.map((v) => Math.abs(v) + 0.25);
    for (const method of ['max', 'percentile', 'mse', 'kl'] as CalibrationMethod[]) {
      const o = histogramObserver(method, relu);
      expect(o.chooseRange(U8).min, method).toBeGreaterThanOrEqual(0);
      expect(o.computeQParams(U8).zeroPoint[0], method).toBe(0);
    }
  });
});

describe('observer rules', () => {
  const makers: [string, () => Observer][] = [
    ['MinMaxObserver', () => new MinMaxObserver()],
    ['MovingAverageMinMaxObserver', () => new MovingAverageMinMaxObserver()],
    ['PerChannelMinMaxObserver', () => new PerChannelMinMaxObserver(0)],
    ['MovingAveragePerChannelMinMaxObserver', () => new MovingAveragePerChannelMinMaxObserver(0)],
    ['HistogramObserver(max)', () => new HistogramObserver({ method: 'max' })],
    ['HistogramObserver(percentile)', () => new HistogramObserver({ method: 'percentile' })],
    ['HistogramObserver(mse)', () => new HistogramObserver({ method: 'mse' })],
    ['HistogramObserver(kl)', () => new HistogramObserver({ method: 'kl' })],
  ];

  for (const [name, make] of makers) {
    it(`${name}: an empty tensor is ignored`, () => {
      const o = make();
      o.observe(fromArray(new Float32Array(0), [0, 3]));
      expect(o.initialized).toBe(false);
      expect(() => o.computeQParams(U8)).toThrow(/no data/);
      o.observe(fromArray([-1, 2, 3, 4, 5, 6], [2, 3]));
      const before = JSON.stringify(o.computeQParams(U8));
      o.observe(fromArray(new Float32Array(0), [0, 3]));
      expect(JSON.stringify(o.computeQParams(U8))).toBe(before);
    });

    it(`${name}: NaN / Infinity is an error naming the counts, and the state is unchanged`, () => {
      const o = make();
      o.observe(fromArray([-1, 2, 3, 4, 5, 6], [2, 3]));
      const before = JSON.stringify(o.computeQParams(U8));
      expect(() => o.observe(fromArray([NaN, 1, NaN, Infinity, 2, 3], [2, 3]))).toThrow(/2 NaN and 1 infinite values out of 6/);
      expect(() => o.observe(fromArray([-Infinity, 1, 0, 0, 2, 3], [2, 3]))).toThrow(/0 NaN and 1 infinite/);
      expect(JSON.stringify(o.computeQParams(U8))).toBe(before);
    });

    it(`${name}: constant input (and all zeros) gives valid qparams`, () => {
      for (const v of [0, 3.5, -2]) {
        const o = make();
        o.observe(fromArray(new Float32Array(6).fill(v), [2, 3]));
        for (const r of [U8, S8]) {
          const p = o.computeQParams(r);
          for (let c = 0; c < p.scale.length; c++) {
            expect(p.scale[c] > 0 && Number.isFinite(p.scale[c]), `${v}: scale ${p.scale[c]}`).toBe(true);
            expect(p.zeroPoint[c] >= r.qmin && p.zeroPoint[c] <= r.qmax).toBe(true);
            // the constant is represented within half a step (0 exactly)
            const y = fakeQuantize([v], { scale: p.scale[c], zeroPoint: p.zeroPoint[c], qmin: r.qmin, qmax: r.qmax }).y[0];
            expect(Math.abs(y - v), `${v} -> ${y}`).toBeLessThanOrEqual(p.scale[c] / 2 + 1e-6);
            if (v === 0) expect(y).toBe(0);
          }
        }
      }
    });
  }
});

