/**
 * The bit allocator (src/quant/mixed-precision/allocate.ts) against a brute-force oracle written
 * here: every one of the ∏ k_l per-layer assignments of small random problems is enumerated with
 * a mixed-radix counter, its size and estimated loss summed. Under that additive model:
 *   - allocateBits returns a configuration within the budget whose loss is the least of all
 *     configurations within the budget, and whose reported size and loss are its options' sums;
 *   - the frontier is monotone (size strictly up, loss strictly down), every point of it is
 *     achieved by some configuration, none is dominated, and every configuration is dominated by
 *     (or equal to) a frontier point;
 *   - a budget below the smallest configuration is an error naming that size.
 * Integer losses keep the sums exact; one property uses float losses with a tolerance.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { allocateBits, paretoFrontier, minimumBytes, type LayerChoices } from '../../../src/quant/index.js';
import { runs } from '../../helpers/assert.js';

interface Config { bytes: number; loss: number; bits: Record<string, number> }

/** Every assignment, by counting in mixed radix (digit l ranges over layer l's options). */
function enumerate(layers: readonly LayerChoices[]): Config[] {
  const out: Config[] = [];
  const digit = layers.map(() => 0);
  for (;;) {
    let bytes = 0, loss = 0;
    const bits: Record<string, number> = {};
    layers.forEach((l, i) => {
      const o = l.options[digit[i]];
      bytes += o.bytes;
      loss += o.loss;
      bits[l.name] = o.bits;
    });
    out.push({ bytes, loss, bits });
    let i = 0;
    while (i < layers.length && ++digit[i] === layers[i].options.length) digit[i++] = 0;
    if (i === layers.length) return out;
  }
}

/** Size and loss of an assignment recomputed from the options. */
function priced(layers: readonly LayerChoices[], bits: Record<string, number>): { bytes: number; loss: number } {
  let bytes = 0, loss = 0;
  for (const l of layers) {
    const o = l.options.find((x) => x.bits === bits[l.name]);
    if (!o) throw new Error(`layer ${l.name}: no option with ${bits[l.name]} bits`);
    bytes += o.bytes;
    loss += o.loss;
  }
  return { bytes, loss };
}

const problem = (loss: fc.Arbitrary<number>) =>
  fc.array(
    fc.uniqueArray(fc.integer({ min: 1, max: 8 }), { minLength: 2, maxLength: 4 }).chain((bits) =>
      fc.tuple(...bits.map((b) => fc.record({ bits: fc.constant(b), bytes: fc.integer({ min: 0, max: 60 }), loss })))),
    { minLength: 2, maxLength: 5 },
  ).map((ls): LayerChoices[] => ls.map((options, i) => ({ name: `L${i}`, options })));

const intLoss = fc.integer({ min: -5, max: 30 });

describe('allocateBits', () => {
  it('is within budget and optimal under the additive model (brute force over every assignment)', () => {
    let interior = 0; // budgets where the optimum is neither the smallest nor the largest config
    fc.assert(fc.property(problem(intLoss), fc.integer({ min: 0, max: 1000 }).map((k) => k / 1000), (layers, t) => {
      const all = enumerate(layers);
      const min = Math.min(...all.map((c) => c.bytes)), max = Math.max(...all.map((c) => c.bytes));
      const budget = Math.floor(min + t * (max + 5 - min));
      const got = allocateBits(layers, budget);
      const within = all.filter((c) => c.bytes <= budget);
      const best = Math.min(...within.map((c) => c.loss));
      expect(got.bytes).toBeLessThanOrEqual(budget);
      expect(got.loss).toBe(best);
      expect(priced(layers, got.bits)).toEqual({ bytes: got.bytes, loss: got.loss });
      if (got.bytes > min && got.bytes < max) interior++;
    }), runs(300, 1401));
    expect(interior).toBeGreaterThan(100);
  });

  it('is optimal with float losses too (within rounding of the sums)', () => {
    fc.assert(fc.property(problem(fc.double({ min: -1, max: 5, noNaN: true })), fc.integer({ min: 0, max: 1000 }).map((k) => k / 1000), (layers, t) => {
      const all = enumerate(layers);
      const min = Math.min(...all.map((c) => c.bytes)), max = Math.max(...all.map((c) => c.bytes));
      const budget = min + t * (max - min);
      const got = allocateBits(layers, budget);
      const best = Math.min(...all.filter((c) => c.bytes <= budget).map((c) => c.loss));
      expect(got.bytes).toBeLessThanOrEqual(budget);
      expect(Math.abs(got.loss - best)).toBeLessThan(1e-9);
    }), runs(200, 1402));
  });

  it('names the smallest size when the budget is below it', () => {
    const layers: LayerChoices[] = [
      { name: 'conv', options: [{ bits: 8, bytes: 100, loss: 0 }, { bits: 2, bytes: 40, loss: 3 }] },
      { name: 'fc', options: [{ bits: 4, bytes: 70, loss: 1 }, { bits: 8, bytes: 130, loss: 0 }] },
    ];
    expect(minimumBytes(layers)).toBe(110);
    expect(() => allocateBits(layers, 109)).toThrow(/budget of 109 bytes is below the smallest configuration, 110 bytes/);
    expect(allocateBits(layers, 110)).toEqual({ bytes: 110, loss: 4, bits: { conv: 2, fc: 4 } });
    expect(allocateBits(layers, 169)).toEqual({ bytes: 110, loss: 4, bits: { conv: 2, fc: 4 } });
    expect(allocateBits(layers, 170)).toEqual({ bytes: 170, loss: 1, bits: { conv: 8, fc: 4 } });
    expect(allocateBits(layers, 1e9)).toEqual({ bytes: 230, loss: 0, bits: { conv: 8, fc: 8 } });
    expect(() => allocateBits(layers, Number.NaN)).toThrow(/finite number of bytes/);
    expect(() => allocateBits([], 100)).toThrow(/no layers/);
    expect(() => allocateBits([layers[0], layers[0]], 1000)).toThrow(/'conv' is given twice/);
    expect(() => allocateBits([{ name: 'x', options: [] }], 1000)).toThrow(/'x' has no options/);
    expect(() => allocateBits([{ name: 'x', options: [{ bits: 2, bytes: -1, loss: 0 }] }], 1000)).toThrow(/bytes must be finite and >= 0/);
  });
});

describe('paretoFrontier', () => {
  it('is monotone, achievable, non-dominated and complete (brute force)', () => {
    let multi = 0;
    fc.assert(fc.property(problem(intLoss), (layers) => {
      const all = enumerate(layers);
      const front = paretoFrontier(layers);
      for (let i = 1; i < front.length; i++) {
        expect(front[i].bytes).toBeGreaterThan(front[i - 1].bytes);
        expect(front[i].loss).toBeLessThan(front[i - 1].loss);
      }
      for (const p of front) {
        expect(priced(layers, p.bits)).toEqual({ bytes: p.bytes, loss: p.loss });
        expect(all.some((c) => (c.bytes <= p.bytes && c.loss < p.loss) || (c.bytes < p.bytes && c.loss <= p.loss))).toBe(false);
      }
      for (const c of all) expect(front.some((p) => p.bytes <= c.bytes && p.loss <= c.loss)).toBe(true);
      if (front.length >= 3) multi++;
    }), runs(300, 1403));
    expect(multi).toBeGreaterThan(100);
  });
});
