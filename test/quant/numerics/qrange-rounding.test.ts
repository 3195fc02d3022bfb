import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  computeQParams,
  qrange,
  roundHalfAwayFromZero,
  roundHalfEven,
  roundWith,
} from '../../../src/quant/numerics/index.js';
import { runs } from '../../helpers/assert.js';

describe('qrange', () => {
  it('gives the signed, unsigned and narrow ranges for every width 1..16', () => {
    for (let bits = 1; bits <= 16; bits++) {
      expect(qrange(bits, true)).toEqual({ qmin: -(2 ** (bits - 1)), qmax: 2 ** (bits - 1) - 1 });
      expect(qrange(bits, false)).toEqual({ qmin: 0, qmax: 2 ** bits - 1 });
      if (bits >= 2) {
        expect(qrange(bits, true, { narrow: true })).toEqual({ qmin: -(2 ** (bits - 1)) + 1, qmax: 2 ** (bits - 1) - 1 });
        expect(qrange(bits, false, { narrow: true })).toEqual({ qmin: 1, qmax: 2 ** bits - 1 });
      }
    }
    expect(qrange(1, true)).toEqual({ qmin: -1, qmax: 0 });
    expect(qrange(8, true, { narrow: true })).toEqual({ qmin: -127, qmax: 127 });
  });

  it('rejects bad widths and narrow ranges with fewer than two levels, naming the value', () => {
    for (const bits of [0, 17, 2.5, NaN, -1]) expect(() => qrange(bits, true)).toThrow(`got ${bits}`);
    expect(() => qrange(1, true, { narrow: true })).toThrow(/narrow 1-bit signed range would be 0..0/);
    expect(() => qrange(1, false, { narrow: true })).toThrow(/narrow 1-bit unsigned range would be 1..1/);
  });
});

/** Oracle from the definition: the nearest integer, and on an exact tie the even / farther one. */
function nearest(x: number, tie: 'even' | 'away'): number {
  const f = Math.floor(x);
  const d = x - f; // exact for |x| < 2^52
  if (d < 0.5) return f;
  if (d > 0.5) return f + 1;
  if (tie === 'even') return f % 2 === 0 ? f : f + 1;
  return x > 0 ? f + 1 : f;
}

describe('rounding', () => {
  const arbX = fc.oneof(
    fc.double({ min: -1e6, max: 1e6, noNaN: true }),
    fc.integer({ min: -1e6, max: 1e6 }).map((k) => k + 0.5),
    fc.integer({ min: -1e6, max: 1e6 }).map((k) => k + 0.49999999999999994),
    fc.float({ noNaN: true, noDefaultInfinity: true, min: -1e7, max: 1e7 }),
  );

  it('halfEven is nearest-integer with ties to even (std::nearbyint)', () => {
    fc.assert(fc.property(arbX, (x) => roundHalfEven(x) === nearest(x, 'even')), runs(2000));
    expect([0.5, 1.5, 2.5, -0.5, -1.5, -2.5, 0.49999999999999994].map(roundHalfEven)).toEqual([0, 2, 2, 0, -2, -2, 0]);
  });

  it('halfAwayFromZero is nearest-integer with ties away from zero (std::round)', () => {
    fc.assert(fc.property(arbX, (x) => roundHalfAwayFromZero(x) === nearest(x, 'away')), runs(2000));
    expect([0.5, 1.5, 2.5, -0.5, -1.5, -2.5].map(roundHalfAwayFromZero)).toEqual([1, 2, 3, -1, -2, -3]);
  });

  it('never returns -0, and passes integers and infinities through', () => {
    for (const f of [roundHalfEven, roundHalfAwayFromZero]) {
      expect(Object.is(f(-0.3), 0)).toBe(true);
      expect(Object.is(f(-0), 0)).toBe(true);
      expect(f(2 ** 60)).toBe(2 ** 60);
      expect(f(-Infinity)).toBe(-Infinity);
    }
  });

  it('roundWith dispatches on the mode and defaults to halfEven', () => {
    expect(roundWith(2.5)).toBe(2);
    expect(roundWith(2.5, 'halfEven')).toBe(2);
    expect(roundWith(2.5, 'halfAwayFromZero')).toBe(3);
  });
});

describe('computeQParams', () => {
  it('widens the range to include 0 and floors the scale at float32 eps for constant input', () => {
    expect(computeQParams(0, 0, { qmin: 0, qmax: 255, scheme: 'affine' })).toEqual({ scale: 2 ** -23, zeroPoint: 0 });
    expect(computeQParams(3, 3, { qmin: -128, qmax: 127, scheme: 'affine' })).toEqual({ scale: Math.fround(3 / 255), zeroPoint: -128 });
    expect(computeQParams(-2, -2, { qmin: -128, qmax: 127, scheme: 'affine' })).toEqual({ scale: Math.fround(2 / 255), zeroPoint: 127 });
    expect(computeQParams(0, 0, { qmin: -128, qmax: 127, scheme: 'symmetric' })).toEqual({ scale: 2 ** -23, zeroPoint: 0 });
  });

  it('uses the floor midpoint for unsigned symmetric ranges, or ceil on request (default quint8 observer: 128)', () => {
    expect(computeQParams(-1, 1, { qmin: 0, qmax: 255, scheme: 'symmetric' }).zeroPoint).toBe(127);
    expect(computeQParams(-1, 1, { qmin: 0, qmax: 255, scheme: 'symmetric', unsignedSymmetricZeroPoint: 'ceilMidpoint' }).zeroPoint).toBe(128);
    expect(computeQParams(-1, 1, { qmin: 0, qmax: 15, scheme: 'symmetric' }).zeroPoint).toBe(7);
  });

  it('rejects NaN, infinite or inverted bounds and bad ranges with clear messages', () => {
    const o = { qmin: 0, qmax: 255, scheme: 'affine' as const };
    expect(() => computeQParams(NaN, 1, o)).toThrow('computeQParams: min is NaN');
    expect(() => computeQParams(0, NaN, o)).toThrow('computeQParams: max is NaN');
    expect(() => computeQParams(-Infinity, 1, o)).toThrow(/min must be finite in float32, got -Infinity/);
    expect(() => computeQParams(0, 1e39, o)).toThrow(/max must be finite in float32, got 1e\+39/);
    expect(() => computeQParams(2, 1, o)).toThrow('min must be <= max, got min=2, max=1');
    expect(() => computeQParams(0, 1, { ...o, qmin: 3, qmax: 3 })).toThrow(/qmin must be < qmax/);
    expect(() => computeQParams(0, 1, { ...o, scheme: 'other' as never })).toThrow(/scheme must be/);
    expect(() => computeQParams(-3e38, 3e38, o)).toThrow(/too wide for a float32 scale/);
  });

  it('yields qparams that put both ends of the observed range within half a step of a level', () => {
    fc.assert(
      fc.property(
        fc.float({ noNaN: true, min: -1e6, max: 1e6 }),
        fc.float({ noNaN: true, min: -1e6, max: 1e6 }),
        fc.integer({ min: 1, max: 16 }),
        fc.boolean(),
        (a, b, bits, signed) => {
          const [min, max] = a <= b ? [a, b] : [b, a];
          const { qmin, qmax } = qrange(bits, signed);
          const { scale, zeroPoint } = computeQParams(min, max, { qmin, qmax, scheme: 'affine' });
          const lo = (qmin - zeroPoint) * scale;
          const hi = (qmax - zeroPoint) * scale;
          const tol = scale * (0.5 + 1e-3) + (Math.abs(min) + Math.abs(max)) * 2 ** -20;
          return zeroPoint >= qmin && zeroPoint <= qmax && lo <= Math.min(min, 0) + tol && hi >= Math.max(max, 0) - tol;
        },
      ),
      runs(500),
    );
  });
});
