/**
 * Binary (BinaryConnect / XNOR-Net, src/quant/binary.ts) and ternary (TWN, src/quant/ternary.ts)
 * weights: fast-check properties of the codes against formulas written out here (levels in
 * range, α = mean|W| per channel for binary, TWN's Δ = 0.7·mean|W| threshold and α = mean of the
 * kept magnitudes, idempotence on already-coded weights), the clipped STE mask of the autograd
 * Functions, and the integer path: a model prepared with weightCode converts to an Int8Model whose
 * every layer equals the fake-quant layer level for level, with weights sign(w) (binary).
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { Conv2d, Flatten, fromArray, Generator, Linear, MaxPool2d, ReLU, Sequential } from '../../src/index.js';
import { sum } from '../../src/autograd/functional.js';
import { binaryCode, BinaryWeightFunction } from '../../src/quant/binary.js';
import { ternaryCode, TernaryWeightFunction } from '../../src/quant/ternary.js';
import { calibrate, prepareQAT, qconfig, type Conv2dLayer } from '../../src/quant/index.js';
import { compareWithInt8, isolatedLayerDiffs, randomBatches } from './qat/helpers.js';

const weights = fc.integer({ min: 1, max: 4 }).chain((O) =>
  fc.integer({ min: 1, max: 9 }).chain((per) =>
    fc.array(fc.float({ min: -2, max: 2, noNaN: true, noDefaultInfinity: true }), { minLength: O * per, maxLength: O * per }).map((w) => ({ O, per, w: Float32Array.from(w) })),
  ),
);
const chan = (w: Float32Array, per: number, o: number) => Array.from(w.subarray(o * per, (o + 1) * per));

describe('binary code (XNOR-Net α·sign)', () => {
  it('levels are ±1 = sign(w) (0 → +1), α = mean|W_o|, and coding α·levels again is the identity', () => {
    fc.assert(
      fc.property(weights, ({ O, per, w }) => {
        const { levels, alpha } = binaryCode(w, O);
        for (let k = 0; k < w.length; k++) expect(levels[k]).toBe(w[k] >= 0 ? 1 : -1);
        for (let o = 0; o < O; o++) {
          const mean = chan(w, per, o).reduce((a, v) => a + Math.abs(v), 0) / per;
          expect(alpha[o]).toBeCloseTo(Math.max(mean, 1e-8), 5);
        }
        const coded = Float32Array.from(levels, (l, k) => l * alpha[Math.floor(k / per)]);
        const again = binaryCode(coded, O);
        expect(Array.from(again.levels)).toEqual(Array.from(levels));
        for (let o = 0; o < O; o++) expect(again.alpha[o]).toBeCloseTo(alpha[o], 6);
      }),
      { seed: 1401, numRuns: 150 },
    );
  });
});

describe('ternary code (TWN)', () => {
  it('levels in {−1, 0, +1}: nonzero exactly where |w| > 0.7·mean|W_o|, α the mean kept |w|; idempotent', () => {
    fc.assert(
      fc.property(weights, ({ O, per, w }) => {
        const { levels, alpha } = ternaryCode(w, O);
        for (let o = 0; o < O; o++) {
          const c = chan(w, per, o);
          const delta = (0.7 * c.reduce((a, v) => a + Math.abs(v), 0)) / per;
          const kept = c.filter((v) => Math.abs(v) > delta);
          c.forEach((v, j) => expect(levels[o * per + j]).toBe(Math.abs(v) > delta ? Math.sign(v) : 0));
          const want = kept.length ? kept.reduce((a, v) => a + Math.abs(v), 0) / kept.length : 0;
          expect(alpha[o]).toBeCloseTo(Math.max(want, 1e-8), 5);
        }
        const coded = Float32Array.from(levels, (l, k) => l * alpha[Math.floor(k / per)]);
        const again = ternaryCode(coded, O);
        for (let o = 0; o < O; o++) {
          if (!chan(w, per, o).some((v) => v !== 0)) continue; // an all-zero channel has no code to keep
          expect(Array.from(again.levels.subarray(o * per, (o + 1) * per))).toEqual(Array.from(levels.subarray(o * per, (o + 1) * per)));
          expect(again.alpha[o]).toBeCloseTo(alpha[o], 6);
        }
      }),
      { seed: 1402, numRuns: 150 },
    );
  });
});

describe('straight-through estimator with clipping', () => {
  for (const [name, Fn] of [['binary', BinaryWeightFunction], ['ternary', TernaryWeightFunction]] as const) {
    it(`${name}: ∂/∂w Σ f(w) is 1 where |w| ≤ 1, else 0`, () => {
      const v = Float32Array.of(-1.5, -1, -0.3, 0, 0.2, 0.99, 1.01, 3);
      const w = fromArray(v, [2, 4], { requiresGrad: true });
      sum(Fn.apply(w, 1)).backward();
      expect(Array.from(w.grad!.toTypedArray())).toEqual(Array.from(v, (x) => (Math.abs(x) <= 1 ? 1 : 0)));
    });
  }
});

describe('integer inference of coded weights', () => {
  const model = (seed: number) => {
    const g = new Generator(seed);
    return new Sequential(
      new Conv2d(1, 6, 3, { generator: g, padding: 1 }), new ReLU(), new MaxPool2d(2),
      new Conv2d(6, 8, 3, { generator: g }), new ReLU(), new MaxPool2d(2), new Flatten(), new Linear(8, 5, { generator: g }),
    );
  };
  const calib = randomBatches(3, 16, [1, 10, 10], 71);
  const batch = randomBatches(1, 32, [1, 10, 10], 72)[0];
  for (const [code, bits] of [['binary', 1], ['ternary', 2], ['binary', 4]] as const) {
    it(`${code} weights, ${bits}-bit activations: every layer equals the fake-quant one, weights are the code`, () => {
      const q = prepareQAT(model(bits), { default: qconfig({ bits, weightCode: code, activationObserver: 'histogram' }), input: qconfig({ bits: 8 }) });
      calibrate(q, calib);
      const r = compareWithInt8(q, batch, 5);
      const diffs = isolatedLayerDiffs(q, r.spec, batch);
      expect(diffs.length).toBe(3);
      for (const d of diffs) expect(d.mismatches).toBe(0);
      expect(r.predictionAgreement).toBe(1);
      const conv = r.spec.layers[1] as Conv2dLayer;
      expect([conv.weightQmin, conv.weightQmax]).toEqual([-1, 1]);
      const w = (q.at(1) as unknown as { conv: Conv2d }).conv.weight.toTypedArray();
      const levels = Array.from(conv.weight);
      if (code === 'binary') expect(levels).toEqual(Array.from(w, (x) => (x >= 0 ? 1 : -1)));
      else expect(levels.every((l) => l === -1 || l === 0 || l === 1) && levels.includes(0)).toBe(true);
    });
  }
});
