/**
 * quantizeMultiplier keeps its shift in [-31, 30] (issue 11 item 10): huge real multipliers are
 * refused instead of returning a shift the int8 engine and multiplyByQuantizedMultiplier reject;
 * below that, multiplier · 2^(shift - 31) reconstructs m within half a Q31 unit (docs/quantization.md §5).
 */
import { describe, expect, it } from 'vitest';
import { quantizeMultiplier } from '../../../src/quant/numerics/index.js';

describe('quantizeMultiplier range', () => {
  it.each([1e12, 2 ** 30, 2 ** 30 * (1 - 2 ** -33), 2 ** 40, Number.MAX_VALUE])('refuses %s (shift would exceed 30)', (m) => {
    expect(() => quantizeMultiplier(m)).toThrow(/shift of \d+, above the largest supported, 30/);
  });
  it.each([2 ** 30 * (1 - 2 ** -20), 2 ** 29, 1e6, 1, 0.3, 2 ** -31, 2 ** -32])('accepts %s with shift in [-31, 30] and the exact reconstruction', (m) => {
    const { multiplier, shift } = quantizeMultiplier(m);
    expect(shift).toBeGreaterThanOrEqual(-31);
    expect(shift).toBeLessThanOrEqual(30);
    expect(multiplier).toBeGreaterThanOrEqual(2 ** 30);
    expect(multiplier).toBeLessThan(2 ** 31);
    // |q·2^31 - round(q·2^31)| <= 1/2 with m = q·2^shift
    expect(Math.abs(multiplier * 2 ** (shift - 31) - m)).toBeLessThanOrEqual(2 ** (shift - 32));
  });
});
