/**
 * The fixed-point primitives against (1) a line-by-line transcription of TFLite / gemmlowp in exact
 * Python integers (fixtures), (2) the BigInt transcription, and (3) exact rational arithmetic written
 * here from the definitions, independent of either.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  multiplyByQuantizedMultiplier,
  multiplyByQuantizedMultiplierBigInt,
  quantizeMultiplier,
  roundingDivideByPOT,
  roundingDivideByPOTBigInt,
  saturatingRoundingDoublingHighMul,
  saturatingRoundingDoublingHighMulBigInt,
} from '../../../src/quant/numerics/index.js';
import { loadFixture } from './helpers.js';
import { runs } from '../../helpers/assert.js';

interface FixedPointFixture {
  quantizeMultiplier: { m: number; multiplier: number; shift: number }[];
  srdhm: { a: number; b: number; r: number }[];
  roundingDivideByPOT: { x: number; e: number; r: number }[];
  multiplyByQuantizedMultiplier: { x: number; multiplier: number; shift: number; r: number }[];
}

const INT32_MIN = -(2 ** 31);
const INT32_MAX = 2 ** 31 - 1;
const fx = loadFixture<FixedPointFixture>('fixed_point.json');

const arbInt32 = fc.oneof(
  fc.integer({ min: INT32_MIN, max: INT32_MAX }),
  fc.constantFrom(INT32_MIN, INT32_MIN + 1, -(2 ** 30), -1, 0, 1, 2 ** 30, 2 ** 30 - 1, INT32_MAX - 1, INT32_MAX),
  fc.integer({ min: -1000, max: 1000 }),
);
const arbMultiplier = fc.oneof(fc.integer({ min: 2 ** 30, max: INT32_MAX }), fc.constantFrom(0, 2 ** 30, INT32_MAX));

/** floor(n / d) for BigInt (BigInt division truncates). */
function floorDiv(n: bigint, d: bigint): bigint {
  const q = n / d;
  return (n % d !== 0n && (n < 0n) !== (d < 0n)) ? q - 1n : q;
}

/** n / 2^e rounded to nearest, ties away from zero, from the definition. */
function roundHalfAwayPow2(n: bigint, e: number): bigint {
  const d = 1n << BigInt(e);
  const mag = n < 0n ? -n : n;
  const r = (2n * mag + d) / (2n * d); // floor(|n|/d + 1/2)
  return n < 0n ? -r : r;
}

describe('against the TFLite transcription (fixtures)', () => {
  it('quantizeMultiplier', () => {
    for (const c of fx.quantizeMultiplier) expect(quantizeMultiplier(c.m), `m=${c.m}`).toEqual({ multiplier: c.multiplier, shift: c.shift });
  });
  it('saturatingRoundingDoublingHighMul (fast and BigInt)', () => {
    for (const c of fx.srdhm) {
      expect(saturatingRoundingDoublingHighMul(c.a, c.b), `${c.a}*${c.b}`).toBe(c.r);
      expect(saturatingRoundingDoublingHighMulBigInt(c.a, c.b)).toBe(c.r);
    }
  });
  it('roundingDivideByPOT (fast and BigInt)', () => {
    for (const c of fx.roundingDivideByPOT) {
      expect(roundingDivideByPOT(c.x, c.e), `${c.x}>>${c.e}`).toBe(c.r);
      expect(roundingDivideByPOTBigInt(c.x, c.e)).toBe(c.r);
    }
  });
  it('multiplyByQuantizedMultiplier (fast and BigInt)', () => {
    for (const c of fx.multiplyByQuantizedMultiplier) {
      expect(multiplyByQuantizedMultiplier(c.x, c.multiplier, c.shift), JSON.stringify(c)).toBe(c.r);
      expect(multiplyByQuantizedMultiplierBigInt(c.x, c.multiplier, c.shift)).toBe(c.r);
    }
  });
});

describe('saturatingRoundingDoublingHighMul', () => {
  it('fast (16-bit split) = BigInt transcription for all int32 pairs', () => {
    fc.assert(
      fc.property(arbInt32, arbInt32, (a, b) => saturatingRoundingDoublingHighMul(a, b) === saturatingRoundingDoublingHighMulBigInt(a, b)),
      runs(5000),
    );
  });

  it('= floor((a*b + 2^30) / 2^31) exactly, saturating only at a = b = -2^31', () => {
    fc.assert(
      fc.property(arbInt32, arbInt32, (a, b) => {
        const r = saturatingRoundingDoublingHighMul(a, b);
        if (a === INT32_MIN && b === INT32_MIN) return r === INT32_MAX;
        return BigInt(r) === floorDiv(BigInt(a) * BigInt(b) + (1n << 30n), 1n << 31n);
      }),
      runs(5000),
    );
  });
});

describe('roundingDivideByPOT', () => {
  it('= x / 2^e rounded half away from zero, and fast = BigInt', () => {
    fc.assert(
      fc.property(arbInt32, fc.integer({ min: 0, max: 31 }), (x, e) => {
        const r = roundingDivideByPOT(x, e);
        return r === roundingDivideByPOTBigInt(x, e) && BigInt(r) === roundHalfAwayPow2(BigInt(x), e);
      }),
      runs(5000),
    );
  });

  it('rounds ties away from zero', () => {
    expect([5, -5, 6, -6, 7, -7].map((x) => roundingDivideByPOT(x, 1))).toEqual([3, -3, 3, -3, 4, -4]);
    expect(roundingDivideByPOT(-1, 31)).toBe(0);
    expect(roundingDivideByPOT(INT32_MIN, 31)).toBe(-1);
  });
});

describe('multiplyByQuantizedMultiplier', () => {
  const arbShift = fc.integer({ min: -31, max: 30 });

  it('fast = BigInt transcription, including left shifts that wrap like int32', () => {
    fc.assert(
      fc.property(arbInt32, arbMultiplier, arbShift, (x, m, s) => multiplyByQuantizedMultiplier(x, m, s) === multiplyByQuantizedMultiplierBigInt(x, m, s)),
      runs(5000),
    );
  });

  it('is within 1/2 + 2^(shift-1) of the exact x * m * 2^(shift-31) when nothing overflows', () => {
    // SRDHM rounds x' m / 2^31 (error <= 1/2), RoundingDivideByPOT then divides by 2^r and rounds
    // again (error <= 1/2): |result - exact| <= 1/2 + 2^-(r+1) with r = max(-shift, 0). In integers:
    // |result * 2^(31+r) - x 2^l m| <= 2^(30+r) + 2^30, with l = max(shift, 0).
    fc.assert(
      fc.property(arbInt32, arbMultiplier, arbShift, (x0, m, s) => {
        const l = Math.max(s, 0);
        const r = Math.max(-s, 0);
        const x = Math.trunc(x0 / 2 ** l); // keep x * 2^l within int32
        const exactNum = BigInt(x) * (1n << BigInt(l)) * BigInt(m);
        const res = BigInt(multiplyByQuantizedMultiplier(x, m, s));
        const err = res * (1n << BigInt(31 + r)) - exactNum;
        const bound = (1n << BigInt(30 + r)) + (r > 0 ? 1n << 30n : 0n);
        return (err < 0n ? -err : err) <= bound;
      }),
      runs(5000),
    );
  });

  it('runs a million multiplies in well under a second (no BigInt in the hot path)', () => {
    const t0 = performance.now();
    let acc = 0;
    for (let i = 0; i < 1_000_000; i++) acc ^= multiplyByQuantizedMultiplier((i * 2654435761) | 0, 1518500250, -7);
    const ms = performance.now() - t0;
    expect(acc).not.toBeNaN();
    expect(ms).toBeLessThan(1000);
  });
});

describe('quantizeMultiplier', () => {
  it('gives a Q31 mantissa in [2^30, 2^31) within half a unit of m, or 0 below 2^-32', () => {
    fc.assert(
      fc.property(fc.double({ min: 2 ** -40, max: 2 ** 20, noNaN: true }), (m) => {
        const { multiplier, shift } = quantizeMultiplier(m);
        if (multiplier === 0) return shift === 0 && m < 2 ** -31;
        const approx = multiplier * 2 ** (shift - 31);
        return multiplier >= 2 ** 30 && multiplier < 2 ** 31 && Math.abs(approx - m) <= 2 ** (shift - 32);
      }),
      runs(3000),
    );
  });

  it('handles the round-up to 2^31, ties, zero, tiny values, and rejects negatives', () => {
    expect(quantizeMultiplier(1 - 2 ** -40)).toEqual({ multiplier: 2 ** 30, shift: 1 });
    expect(quantizeMultiplier(0.5)).toEqual({ multiplier: 2 ** 30, shift: 0 });
    expect(quantizeMultiplier(1)).toEqual({ multiplier: 2 ** 30, shift: 1 });
    expect(quantizeMultiplier((2 ** 30 + 0.5) / 2 ** 31)).toEqual({ multiplier: 2 ** 30 + 1, shift: 0 });
    expect(quantizeMultiplier(0)).toEqual({ multiplier: 0, shift: 0 });
    expect(quantizeMultiplier(2 ** -33)).toEqual({ multiplier: 0, shift: 0 });
    expect(quantizeMultiplier(2 ** -32)).toEqual({ multiplier: 2 ** 30, shift: -31 });
    expect(() => quantizeMultiplier(-0.5)).toThrow(/got -0.5/);
    expect(() => quantizeMultiplier(NaN)).toThrow(/got NaN/);
  });

  it('makes multiplyByQuantizedMultiplier approximate x * m to within one unit plus relative 2^-31', () => {
    fc.assert(
      fc.property(fc.double({ min: 1e-6, max: 100, noNaN: true }), fc.integer({ min: -(2 ** 20), max: 2 ** 20 }), (m, x) => {
        const { multiplier, shift } = quantizeMultiplier(m);
        return Math.abs(multiplyByQuantizedMultiplier(x, multiplier, shift) - x * m) <= 1 + Math.abs(x * m) * 2 ** -30;
      }),
      runs(3000),
    );
  });
});
