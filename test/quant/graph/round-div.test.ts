import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { roundDiv, roundWith } from '../../../src/quant/index.js';

describe('roundDiv: exact integer rounding division of the integer average pools', () => {
  it('equals the named rounding of n / d (exact in float64 for these sizes)', () => {
    const seed = 1207;
    fc.assert(
      fc.property(fc.integer({ min: -(2 ** 24), max: 2 ** 24 }), fc.integer({ min: 1, max: 4096 }), fc.constantFrom('halfEven' as const, 'halfAwayFromZero' as const), (n, d, mode) => {
        // A quotient that is not a tie lies at least 1/(2d) from one, far beyond float64 error, so rounding it is exact.
        expect(roundDiv(n, d, mode)).toBe(roundWith(n / d, mode));
      }),
      { seed, numRuns: 2000 },
    );
  });
  it('breaks ties as named', () => {
    expect([roundDiv(5, 2), roundDiv(7, 2), roundDiv(-5, 2), roundDiv(-7, 2)]).toEqual([2, 4, -2, -4]);
    expect([roundDiv(5, 2, 'halfAwayFromZero'), roundDiv(-5, 2, 'halfAwayFromZero'), roundDiv(-3, 4, 'halfAwayFromZero')]).toEqual([3, -3, -1]);
  });
});
