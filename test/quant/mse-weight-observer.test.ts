/**
 * Per-channel MSE weight ranges (src/quant/mse-weight-observer.ts): the search against a brute
 * force written out here (its own ties-to-even rounding and error sum over the same candidate
 * scales), the guarantee that it is never worse than the min/max scale, closed-form cases, and the
 * observer inside FakeQuantize: per-channel scales, zero points 0, the forward on those levels,
 * any channel axis, the state dict, and the errors for configurations it cannot serve.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { fromArray } from '../../src/index.js';
import { FakeQuantize, qconfig } from '../../src/quant/index.js';
import { mseWeightScale, PerChannelMseWeightObserver } from '../../src/quant/mse-weight-observer.js';
import { runs } from '../helpers/assert.js';
import { mulberry32 } from '../helpers/rng.js';

/** Ties to even, written independently of src/quant/numerics/rounding.ts. */
function roundEven(x: number): number {
  const f = Math.floor(x), d = x - f;
  if (d < 0.5) return f;
  if (d > 0.5) return f + 1;
  return f % 2 === 0 ? f : f + 1;
}

/** Ties away from zero (TFLite's std::round). */
function roundAway(x: number): number {
  return Math.sign(x) * Math.floor(Math.abs(x) + 0.5);
}

function sqError(w: ArrayLike<number>, s: number, qmin: number, qmax: number, round = roundEven): number {
  let e = 0;
  for (let i = 0; i < w.length; i++) {
    const q = Math.min(qmax, Math.max(qmin, round(w[i] / s)));
    const d = w[i] - q * s;
    e += d * d;
  }
  return e;
}

/** The least error over the candidates the module documents: min/max's scale and k/K·max|w|/min(−qmin, qmax). */
function bruteForce(w: ArrayLike<number>, qmin: number, qmax: number, round = roundEven, K = 128): number {
  return bruteForceArgmin(w, qmin, qmax, round, K).err;
}

/** The first least-error candidate in the documented order (min/max's scale, then k = 1..K). */
function bruteForceArgmin(w: ArrayLike<number>, qmin: number, qmax: number, round = roundEven, K = 128): { s: number; err: number } {
  const amax = Math.max(...Array.from(w, Math.abs));
  const top = amax / Math.min(-qmin, qmax);
  let s = amax / ((qmax - qmin) / 2), err = sqError(w, s, qmin, qmax, round);
  for (let k = 1; k <= K; k++) {
    const c = (top * k) / K, e = sqError(w, c, qmin, qmax, round);
    if (e < err) {
      s = c;
      err = e;
    }
  }
  return { s, err };
}

const signedRange = (bits: number) => ({ qmin: -(2 ** (bits - 1)), qmax: 2 ** (bits - 1) - 1 });
const weightVec = fc.array(fc.float({ min: -3, max: 3, noNaN: true, noDefaultInfinity: true }), { minLength: 1, maxLength: 40 });

describe('mseWeightScale', () => {
  for (const bits of [2, 3, 4, 8]) {
    it(`${bits} bits: reaches the brute-force least error and is never worse than min/max`, () => {
      const { qmin, qmax } = signedRange(bits);
      fc.assert(
        fc.property(weightVec, (w) => {
          const amax = Math.max(...w.map(Math.abs));
          const s = mseWeightScale(w, { qmin, qmax });
          if (amax === 0) return expect(s).toBe(0);
          const err = sqError(w, s, qmin, qmax);
          const tol = 1e-12 * (1 + w.reduce((a, v) => a + v * v, 0));
          expect(err).toBeLessThanOrEqual(bruteForce(w, qmin, qmax) + tol);
          expect(err).toBeLessThanOrEqual(sqError(w, amax / ((qmax - qmin) / 2), qmin, qmax) + tol);
          expect(s).toBeGreaterThan(0);
          expect(s).toBeLessThanOrEqual(amax / Math.min(-qmin, qmax) + 1e-12);
        }),
        runs(150, 14_001 + bits),
      );
    });
  }

  it('2 bits: the same candidate as the brute force, whose error is the same under either tie rule (halves make ties)', () => {
    const { qmin, qmax } = signedRange(2);
    // weights on a grid of halves make w/s land on exact ties for many candidate scales
    const halves = fc.array(fc.integer({ min: -6, max: 6 }).map((k) => k / 2), { minLength: 1, maxLength: 12 });
    fc.assert(
      fc.property(halves, (w) => {
        if (w.every((v) => v === 0)) return;
        // the same arithmetic in the same order, so the very same candidate must win
        const s = mseWeightScale(w, { qmin, qmax });
        expect(s).toBe(bruteForceArgmin(w, qmin, qmax).s);
        expect(s).toBe(bruteForceArgmin(w, qmin, qmax, roundAway).s);
      }),
      runs(200, 14_100),
    );
  });

  it('channels of 9, 360 and 1000 Gaussian weights: exactly the brute force\'s candidate (the early exit changes no choice)', () => {
    // The search stops summing a candidate once it reaches the best error so far; the brute force
    // always sums everything, so any difference in the choice would show here.
    const rand = mulberry32(14_200);
    const gauss = () => Math.sqrt(-2 * Math.log(1 - rand())) * Math.cos(2 * Math.PI * rand());
    let cases = 0;
    for (const n of [9, 360, 1000]) {
      for (const bits of [2, 3, 4, 8]) {
        const { qmin, qmax } = signedRange(bits);
        for (let c = 0; c < 4; c++) {
          const w = Float32Array.from({ length: n }, () => 0.1 * gauss());
          expect(mseWeightScale(w, { qmin, qmax })).toBe(bruteForceArgmin(w, qmin, qmax, Math.round).s);
          cases++;
        }
      }
    }
    expect(cases).toBe(48);
  });

  it('closed forms: ±a puts a on level ±1 at 2 bits (error 0); one weight c sits on level 1; all zeros give 0', () => {
    const { qmin, qmax } = signedRange(2);
    expect(mseWeightScale([0.5, -0.5, 0.5, -0.5], { qmin, qmax })).toBeCloseTo(0.5, 12);
    // min/max would use c/1.5: c/s = 1.5 rounds to 2, clamped to 1, so q(c) = c/1.5 ≠ c
    expect(mseWeightScale([0, 0, 0, 0.9], { qmin, qmax })).toBeCloseTo(0.9, 12);
    expect(mseWeightScale([0, 0, 0], { qmin, qmax })).toBe(0);
  });

  it('on Gaussian weights at 2 bits it zeroes far fewer weights than min/max and has a smaller error', () => {
    const rnd = mulberry32(1414);
    const w = Array.from({ length: 400 }, () => Math.sqrt(-2 * Math.log(1 - rnd())) * Math.cos(2 * Math.PI * rnd()));
    const { qmin, qmax } = signedRange(2);
    const amax = Math.max(...w.map(Math.abs));
    const sMse = mseWeightScale(w, { qmin, qmax }), sMax = amax / 1.5;
    const zeros = (s: number) => w.filter((v) => roundEven(v / s) === 0).length;
    expect(sMse).toBeLessThan(sMax);
    expect(sqError(w, sMse, qmin, qmax)).toBeLessThan(0.6 * sqError(w, sMax, qmin, qmax));
    expect(zeros(sMse)).toBeLessThan(0.6 * zeros(sMax));
  });

  it('refuses unsigned ranges and a bad step count', () => {
    expect(() => mseWeightScale([1], { qmin: 0, qmax: 3 })).toThrow(/signed range/);
    expect(() => mseWeightScale([1], { qmin: -2, qmax: 1, steps: 0 })).toThrow(/steps/);
    expect(() => new PerChannelMseWeightObserver(0, { qmin: 0, qmax: 3 })).toThrow(/signed range/);
  });
});

describe("FakeQuantize with rangeMethod 'mse'", () => {
  const rnd = mulberry32(77);
  const O = 3, per = 12;
  const data = Float32Array.from({ length: O * per }, () => (rnd() - 0.5) * 2 * (1 + rnd()));

  it('qconfig({ weightRange }) gives per-channel scales of the search, zero point 0, and the forward on those levels', () => {
    const cfg = qconfig({ bits: 2, weightRange: 'mse' }).weight;
    const fq = new FakeQuantize(cfg);
    expect(fq.observer).toBeInstanceOf(PerChannelMseWeightObserver);
    const y = fq.call(fromArray(data, [O, per])).toTypedArray();
    const p = fq.computeQParams();
    expect(p.axis).toBe(0);
    for (let o = 0; o < O; o++) {
      const chan = data.subarray(o * per, (o + 1) * per);
      const s = mseWeightScale(chan, { qmin: -2, qmax: 1 });
      expect(p.zeroPoint[o]).toBe(0);
      expect(Math.abs(p.scale[o] - s) / s).toBeLessThan(1e-6);
      for (let j = 0; j < per; j++) {
        const level = Math.min(1, Math.max(-2, roundEven(chan[j] * Math.fround(1 / p.scale[o]))));
        expect(y[o * per + j]).toBeCloseTo(level * p.scale[o], 6);
      }
    }
  });

  it('channels along axis 1 are searched the same way', () => {
    const fq = new FakeQuantize({ ...qconfig({ bits: 2, weightRange: 'mse' }).weight, channelAxis: 1 });
    // [per, O] with column o = channel o
    const t = new Float32Array(O * per);
    for (let o = 0; o < O; o++) for (let j = 0; j < per; j++) t[j * O + o] = data[o * per + j];
    fq.call(fromArray(t, [per, O]));
    const p = fq.computeQParams();
    for (let o = 0; o < O; o++) {
      const s = mseWeightScale(data.subarray(o * per, (o + 1) * per), { qmin: -2, qmax: 1 });
      expect(Math.abs(p.scale[o] - s) / s).toBeLessThan(1e-6);
    }
  });

  it('the chosen ranges survive a state-dict round trip', () => {
    const cfg = qconfig({ bits: 2, weightRange: 'mse' }).weight;
    const a = new FakeQuantize(cfg);
    a.call(fromArray(data, [O, per]));
    const b = new FakeQuantize(cfg);
    b.loadStateDict(a.stateDict());
    expect(Array.from(b.computeQParams().scale)).toEqual(Array.from(a.computeQParams().scale));
  });

  it('is refused for activations and per-tensor ranges, and unknown methods are named', () => {
    const w = qconfig({ bits: 2 }).weight, act = qconfig({ bits: 2 }).activation;
    expect(() => new FakeQuantize({ ...act, rangeMethod: 'mse' })).toThrow(/per-channel signed/);
    expect(() => new FakeQuantize({ ...w, channelAxis: null, rangeMethod: 'mse' })).toThrow(/per-channel signed/);
    expect(() => new FakeQuantize({ ...w, rangeMethod: 'bogus' as 'mse' })).toThrow(/rangeMethod must be 'minmax' or 'mse'/);
    expect(() => qconfig({ weightRange: 'bogus' as 'mse' })).toThrow(/weightRange must be one of minmax, mse/);
    // the default stays min/max, so other callers' configs are unchanged
    expect('rangeMethod' in qconfig({ bits: 2 }).weight).toBe(false);
  });
});
