import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  multiplyByQuantizedMultiplierBigInt,
  quantizeMultiplier,
  qrange,
  requantize,
} from '../../../src/quant/numerics/index.js';
import { runs } from '../../helpers/assert.js';

const arbMultiplier = fc
  .double({ min: Math.log(1e-6), max: Math.log(4), noNaN: true })
  .map((l) => quantizeMultiplier(Math.exp(l)));

describe('requantize', () => {
  it('per tensor: clamp(MBQM(acc) + zp) with the BigInt reference, and within 1/2 + 2^(shift-1) of acc * M', () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: -(2 ** 28), max: 2 ** 28 }), { minLength: 1, maxLength: 50 }),
        arbMultiplier,
        fc.integer({ min: 2, max: 16 }),
        fc.boolean(),
        (accs, { multiplier, shift }, bits, signed) => {
          const { qmin, qmax } = qrange(bits, signed);
          const zp = signed ? 0 : qmin + 1;
          const acc = Int32Array.from(accs, (a) => (shift > 0 ? a >> shift : a));
          const out = requantize(acc, multiplier, shift, zp, qmin, qmax);
          const m = multiplier * 2 ** (shift - 31);
          return Array.from(acc).every((a, i) => {
            const ref = multiplyByQuantizedMultiplierBigInt(a, multiplier, shift) + zp;
            const exact = a * m + zp;
            const tol = 0.5 + (shift < 0 ? 2 ** (shift - 1) : 0) + Math.abs(a * m) * 2 ** -40;
            const clampedExact = Math.min(qmax, Math.max(qmin, exact));
            return out[i] === Math.min(qmax, Math.max(qmin, ref)) && Math.abs(out[i] - clampedExact) <= tol;
          });
        },
      ),
      runs(500),
    );
  });

  it('per channel equals per tensor applied to each channel', () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 1, max: 4 }), { minLength: 1, maxLength: 4 }).chain((shape) =>
          fc.record({
            shape: fc.constant(shape),
            axis: fc.integer({ min: 0, max: shape.length - 1 }),
            mults: fc.array(arbMultiplier, { minLength: 4, maxLength: 4 }),
            accs: fc.array(fc.integer({ min: -(2 ** 24), max: 2 ** 24 }), { minLength: 256, maxLength: 256 }),
          }),
        ),
        ({ shape, axis, mults, accs }) => {
          const size = shape.reduce((a, b) => a * b, 1);
          const channels = shape[axis];
          const inner = shape.slice(axis + 1).reduce((a, b) => a * b, 1);
          const ms = mults.slice(0, channels);
          const acc = Int32Array.from(accs.slice(0, size), (a) => a >> 3); // shifts <= 3 here, so no overflow
          const out = requantize(acc, ms.map((m) => m.multiplier), ms.map((m) => m.shift), -3, -128, 127, { shape, axis });
          for (let i = 0; i < size; i++) {
            const c = Math.floor(i / inner) % channels;
            if (out[i] !== requantize(acc.subarray(i, i + 1), ms[c].multiplier, ms[c].shift, -3, -128, 127)[0]) return false;
          }
          return true;
        },
      ),
      runs(200),
    );
  });

  it('rejects missing layouts, bad multipliers and left-shift overflow, naming the values', () => {
    const acc = Int32Array.from([1, 2, 3, 4]);
    expect(() => requantize(acc, [2 ** 30, 2 ** 30], [0, 0], 0, -128, 127)).toThrow(/2 per-channel multipliers need \{ shape, axis \}/);
    expect(() => requantize(acc, [2 ** 30, 2 ** 30], [0, 0], 0, -128, 127, { shape: [4], axis: 0 })).toThrow(/multiplier has length 2 but shape\[0\] = 4/);
    expect(() => requantize(acc, 2 ** 31, 0, 0, -128, 127)).toThrow(/multiplier must be an integer in \[0, 2\^31 - 1\], got 2147483648/);
    expect(() => requantize(acc, 2 ** 30, 31, 0, -128, 127)).toThrow(/shift must be an integer in \[-31, 30\], got 31/);
    expect(() => requantize(acc, 2 ** 30, 0, 300, -128, 127)).toThrow(/outZeroPoint .* got 300/);
    expect(() => requantize(Int32Array.from([2 ** 20]), 2 ** 30, 12, 0, -128, 127)).toThrow(/acc\[0\] = 1048576 shifted left by 12 overflows int32/);
  });

  it('saturates to [qmin, qmax]', () => {
    const { multiplier, shift } = quantizeMultiplier(0.5);
    expect(Array.from(requantize(Int32Array.from([1000, -1000, 3, -3]), multiplier, shift, 10, 0, 255))).toEqual([255, 0, 12, 9]);
  });
});
