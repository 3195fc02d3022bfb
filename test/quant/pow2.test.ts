/**
 * Power-of-two weights (src/quant/pow2.ts): fast-check properties against the definition written
 * out here (levels in {0, ±2^k : k < K}, the largest |w| on the top level, nearest level in the log
 * domain, idempotence on coded weights), the STE mask, and the integer path: a converted model
 * equals the fake-quant one level for level with the code's levels as its weights.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { Conv2d, Flatten, fromArray, Generator, Linear, MaxPool2d, ReLU, Sequential } from '../../src/index.js';
import { sum } from '../../src/autograd/functional.js';
import { pow2Code, Pow2WeightFunction } from '../../src/quant/pow2.js';
import { calibrate, prepareQAT, qconfig, type Conv2dLayer } from '../../src/quant/index.js';
import { compareWithInt8, isolatedLayerDiffs, randomBatches } from './qat/helpers.js';

const weights = fc.integer({ min: 1, max: 4 }).chain((O) =>
  fc.integer({ min: 1, max: 9 }).chain((per) =>
    fc.array(fc.float({ min: -2, max: 2, noNaN: true, noDefaultInfinity: true }), { minLength: O * per, maxLength: O * per }).map((w) => ({ O, per, w: Float32Array.from(w) })),
  ),
);

describe('power-of-two code', () => {
  for (const bits of [2, 3, 4]) {
    it(`${bits} bits: levels in {0, ±2^k}, max|w| on the top level, log-domain nearest, idempotent`, () => {
      const K = 2 ** (bits - 1) - 1, top = 2 ** (K - 1);
      const allowed = new Set([0, ...Array.from({ length: K }, (_, k) => [2 ** k, -(2 ** k)]).flat()]);
      fc.assert(
        fc.property(weights, ({ O, per, w }) => {
          const { levels, alpha } = pow2Code(w, O, bits);
          for (let o = 0; o < O; o++) {
            const c = Array.from(w.subarray(o * per, (o + 1) * per));
            const max = Math.max(...c.map(Math.abs));
            if (max < 1e-6) continue; // α is floored at 1e-8 (an all-but-zero channel); not a case weights reach
            expect(alpha[o]).toBeCloseTo(max / top, 6);
            c.forEach((v, j) => {
              const l = levels[o * per + j];
              expect(allowed.has(l)).toBe(true);
              if (Math.abs(v) === max) expect(Math.abs(l)).toBe(top);
              if (l !== 0) expect(Math.sign(l)).toBe(Math.sign(v));
              // no allowed level (or 0 via the virtual level 2^-1) is nearer in the log domain
              const r = Math.abs(v) / alpha[o];
              const dist = (m: number) => Math.abs(Math.log2(r) - Math.log2(m === 0 ? 0.5 : m));
              if (r > 0) for (const m of allowed) if (m >= 0) expect(dist(Math.abs(l))).toBeLessThanOrEqual(dist(m) + 1e-6);
            });
          }
          const coded = Float32Array.from(levels, (l, k) => l * alpha[Math.floor(k / per)]);
          const again = pow2Code(coded, O, bits);
          for (let o = 0; o < O; o++) {
            if (!w.subarray(o * per, (o + 1) * per).some((v) => Math.abs(v) >= 1e-6)) continue;
            expect(Array.from(again.levels.subarray(o * per, (o + 1) * per))).toEqual(Array.from(levels.subarray(o * per, (o + 1) * per)));
          }
        }),
        { seed: 1403 + bits, numRuns: 100 },
      );
    });
  }

  it('refuses widths whose levels would not fit int8', () => {
    expect(() => pow2Code([1], 1, 5)).toThrow(/bits must be 2, 3 or 4/);
  });

  it('STE: gradient 1 where |w| ≤ 1, else 0', () => {
    const v = Float32Array.of(-1.5, -0.5, 0, 0.25, 1, 2);
    const w = fromArray(v, [2, 3], { requiresGrad: true });
    sum(Pow2WeightFunction.apply(w, 3, 1)).backward();
    expect(Array.from(w.grad!.toTypedArray())).toEqual(Array.from(v, (x) => (Math.abs(x) <= 1 ? 1 : 0)));
  });
});

describe('integer inference of power-of-two weights', () => {
  for (const bits of [3, 4]) {
    it(`${bits} bits: every layer equals the fake-quant one; weights are the code's levels`, () => {
      const g = new Generator(bits);
      const model = new Sequential(
        new Conv2d(1, 6, 3, { generator: g, padding: 1 }), new ReLU(), new MaxPool2d(2),
        new Conv2d(6, 8, 3, { generator: g }), new ReLU(), new MaxPool2d(2), new Flatten(), new Linear(8, 5, { generator: g }),
      );
      const q = prepareQAT(model, { default: qconfig({ bits, weightCode: 'pow2', activationObserver: 'histogram' }), input: qconfig({ bits: 8 }) });
      calibrate(q, randomBatches(3, 16, [1, 10, 10], 81));
      const batch = randomBatches(1, 32, [1, 10, 10], 82)[0];
      const r = compareWithInt8(q, batch, 5);
      for (const d of isolatedLayerDiffs(q, r.spec, batch)) expect(d.mismatches).toBe(0);
      expect(r.predictionAgreement).toBe(1);
      const conv = r.spec.layers[1] as Conv2dLayer;
      const w = (q.at(1) as unknown as { conv: Conv2d }).conv.weight;
      expect(Array.from(conv.weight)).toEqual(Array.from(pow2Code(w.toTypedArray(), w.shape[0], bits).levels));
    });
  }
});
