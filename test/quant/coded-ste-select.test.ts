/**
 * The coded weight quantizers (binary, ternary, power-of-two) share the straight-through
 * estimator's rule with FakeQuantize (issue 11, item 13): the backward selects the upstream
 * gradient where |w| <= clip and gives exactly 0 elsewhere, so an infinite or NaN upstream
 * gradient on a clipped weight cannot become inf * 0 = NaN.
 */
import { describe, expect, it } from 'vitest';
import { fromArray } from '../../src/index.js';
import { BinaryWeightFunction } from '../../src/quant/binary.js';
import { TernaryWeightFunction } from '../../src/quant/ternary.js';
import { Pow2WeightFunction } from '../../src/quant/pow2.js';

// One output channel of four weights: two inside the clip range [-1, 1], two outside.
const W = [0.5, -2, 0.25, 3];
const G = [1, Infinity, NaN, -Infinity];
// Oracle: the gradient passes where |w| <= 1 (indices 0 and 2), 0 where it is clipped.
const EXPECTED = [1, 0, NaN, 0];

describe('coded weight quantizers: the STE backward selects, never multiplies by the mask', () => {
  const cases = [
    ['binary', (w: ReturnType<typeof fromArray>) => BinaryWeightFunction.apply(w)],
    ['ternary', (w: ReturnType<typeof fromArray>) => TernaryWeightFunction.apply(w)],
    ['pow2 (4 bits)', (w: ReturnType<typeof fromArray>) => Pow2WeightFunction.apply(w, 4)],
  ] as const;
  for (const [name, f] of cases) {
    it(`${name}: infinite upstream gradients on clipped weights give 0, not NaN`, () => {
      const w = fromArray(W, [1, 4], { requiresGrad: true });
      const y = f(w);
      y.backward(fromArray(G, [1, 4]));
      const got = Array.from(w.grad!.toTypedArray());
      expect(got[0]).toBe(EXPECTED[0]);
      expect(got[1]).toBe(0);
      expect(Number.isNaN(got[2])).toBe(true); // NaN inside the range passes through, as it should
      expect(got[3]).toBe(0);
    });
  }
});
