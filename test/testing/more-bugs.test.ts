/**
 * Beyond the three documented bugs: the kit also names a missing clamp, a dequantize that skips the
 * float32 rounding, a fixed-point multiply that rounds once from the exact product instead of
 * TFLite's two roundings, and an int8 multiply whose float form rounds ties with Math.round.
 * Each kernel is written here from the formula with exactly one rule changed.
 */
import { describe, expect, it } from 'vitest';
import { runConformance, formatSuiteResult, type KernelsUnderTest } from '../../src/testing/index.js';

const fround = Math.fround;
type P = { scale: number; zeroPoint: number; qmin: number; qmax: number };
const halfEven = (t: number) => { const f = Math.floor(t); const d = t - f; return d < 0.5 ? f : d > 0.5 ? f + 1 : f % 2 === 0 ? f : f + 1; };

function only(k: KernelsUnderTest, suite: string) {
  const r = runConformance(k, { numRuns: 200, only: [suite] });
  expect(r.suites).toHaveLength(1);
  return r.suites[0];
}

describe('other broken rules', () => {
  it('no clamp: "clamp"', () => {
    const k: KernelsUnderTest = {
      name: 'unclamped', convention: 'pytorch',
      quantize: (x, p) => Array.from(x, (v) => (p as P).zeroPoint + halfEven(fround(v * fround(1 / fround((p as P).scale))))),
    };
    const s = only(k, 'quantize');
    expect(s.counterexample?.kind, formatSuiteResult(s)).toBe('clamp');
  });

  it('dequantize without float32 rounding: "dequantize"', () => {
    const k: KernelsUnderTest = {
      name: 'float64 dequantize', convention: 'pytorch',
      dequantize: (q, p) => Array.from(q, (v) => (v - (p as P).zeroPoint) * fround((p as P).scale)),
    };
    const s = only(k, 'dequantize');
    expect(s.counterexample?.kind, formatSuiteResult(s)).toBe('dequantize');
    expect(s.counterexample?.why).toMatch(/must be rounded to float32/);
  });

  it('MultiplyByQuantizedMultiplier rounded once from the exact product: "fixed-point rounding"', () => {
    const k: KernelsUnderTest = {
      name: 'single rounding', convention: 'tflite',
      multiplyByQuantizedMultiplier: (acc, m, shift) => Array.from(acc, (a) => {
        // round(a * m / 2^(31 - shift)) with ties away from zero, exactly, in BigInt.
        const num = BigInt(a) * BigInt(m);
        const e = BigInt(31 - shift);
        const den = 2n ** e;
        const mag = (num < 0n ? -num : num);
        const q = (mag + den / 2n) / den;
        return Number(num < 0n ? -q : q);
      }),
    };
    const s = only(k, 'multiplyByQuantizedMultiplier');
    expect(s.passed).toBe(false);
    expect(s.counterexample?.kind, formatSuiteResult(s)).toBe('fixed-point rounding');
  });

  it('int8 mul, float form, Math.round: "tie rounding"', () => {
    const k: KernelsUnderTest = {
      name: 'mul with Math.round', convention: 'pytorch',
      int8Mul: {
        mode: 'float',
        run: (qa, a, qb, b, out) => Array.from(qa, (v, i) => {
          const m = (fround(a.scale) * fround(b.scale)) / fround(out.scale);
          const z = Math.round(m * ((v - a.zeroPoint) * (qb[i] - b.zeroPoint))) + out.zeroPoint;
          return Math.min(out.qmax, Math.max(out.qmin, z));
        }),
      },
    };
    const s = only(k, 'int8Mul');
    expect(s.counterexample?.kind, formatSuiteResult(s)).toBe('tie rounding');
  });
});
