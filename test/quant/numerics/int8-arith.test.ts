/**
 * int8 add / mul in both modes: fixtures (TFLite transcription and the seed formulas in Python),
 * and properties against exact rational arithmetic on the dequantized inputs.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  addFixedPointParams,
  int8Add,
  int8Mul,
  mulFixedPointParams,
  qrange,
  roundHalfEven,
  type QParams,
} from '../../../src/quant/numerics/index.js';
import { f32FromBits, loadFixture } from './helpers.js';
import { runs } from '../../helpers/assert.js';

const fround = Math.fround;

interface ArithCase {
  a: { scale: number; zeroPoint: number; q: number[] };
  b: { scale: number; zeroPoint: number; q: number[] };
  qmin: number;
  qmax: number;
  outZeroPoint: number;
  addOutScale: number;
  mulOutScale: number;
  add: { fixedPoint: number[]; float: number[]; multipliers: Record<'input1' | 'input2' | 'output', [number, number]> };
  mul: { fixedPoint: number[]; float: number[]; multipliers: { output: [number, number] } };
}

describe('against the TFLite transcription and the seed formulas (fixtures)', () => {
  const cases = loadFixture<{ int8: ArithCase[] }>('fixed_point.json').int8;

  it.each(cases.map((c, i) => [i, c] as const))('case %i', (_i, c) => {
    const range = { qmin: c.qmin, qmax: c.qmax };
    const pa: QParams = { scale: f32FromBits(c.a.scale), zeroPoint: c.a.zeroPoint, ...range };
    const pb: QParams = { scale: f32FromBits(c.b.scale), zeroPoint: c.b.zeroPoint, ...range };
    const pAdd: QParams = { scale: f32FromBits(c.addOutScale), zeroPoint: c.outZeroPoint, ...range };
    const pMul: QParams = { scale: f32FromBits(c.mulOutScale), zeroPoint: c.outZeroPoint, ...range };

    const params = addFixedPointParams(pa.scale, pb.scale, pAdd.scale);
    expect([params.input1, params.input2, params.output].map((m) => [m.multiplier, m.shift])).toEqual([
      c.add.multipliers.input1,
      c.add.multipliers.input2,
      c.add.multipliers.output,
    ]);
    const mp = mulFixedPointParams(pa.scale, pb.scale, pMul.scale).output;
    expect([mp.multiplier, mp.shift]).toEqual(c.mul.multipliers.output);

    expect(Array.from(int8Add(c.a.q, pa, c.b.q, pb, pAdd, { mode: 'fixedPoint' }))).toEqual(c.add.fixedPoint);
    expect(Array.from(int8Add(Int8Array.from(c.a.q), pa, Int32Array.from(c.b.q), pb, pAdd, { mode: 'float' }))).toEqual(c.add.float);
    expect(Array.from(int8Mul(c.a.q, pa, c.b.q, pb, pMul, { mode: 'fixedPoint' }))).toEqual(c.mul.fixedPoint);
    expect(Array.from(int8Mul(c.a.q, pa, c.b.q, pb, pMul, { mode: 'float' }))).toEqual(c.mul.float);
  });

  it('include exact ties in mode float (power-of-two scales), settled by the named rounding', () => {
    let ties = 0;
    for (const c of cases) {
      const range = { qmin: c.qmin, qmax: c.qmax };
      const pa: QParams = { scale: f32FromBits(c.a.scale), zeroPoint: c.a.zeroPoint, ...range };
      const pb: QParams = { scale: f32FromBits(c.b.scale), zeroPoint: c.b.zeroPoint, ...range };
      const pMul: QParams = { scale: f32FromBits(c.mulOutScale), zeroPoint: c.outZeroPoint, ...range };
      const away = int8Mul(c.a.q, pa, c.b.q, pb, pMul, { mode: 'float', rounding: 'halfAwayFromZero' });
      c.a.q.forEach((qa, i) => {
        const r = exactLevel('mul', qa, pa, c.b.q[i], pb, pMul) - pMul.zeroPoint;
        const inside = pMul.zeroPoint + r > c.qmin + 1 && pMul.zeroPoint + r < c.qmax - 1;
        if (Math.abs(r - Math.trunc(r)) === 0.5 && inside) {
          ties++;
          expect(away[i] - c.mul.float[i]).toBe(Math.trunc(r) % 2 === 0 ? Math.sign(r) : 0);
        }
      });
    }
    expect(ties).toBeGreaterThan(10);
  });

  it('include saturated outputs', () => {
    const all = cases.flatMap((c) => [...c.add.fixedPoint, ...c.mul.fixedPoint]);
    expect(all.filter((v) => v === -128 || v === 127).length).toBeGreaterThan(50);
  });
});

// ---------------------------------------------------------------------------------------------
// Properties. Generators: int8 (and narrower) ranges, zero points anywhere in the range, scales
// over six decades with output scales both comparable to and far below the inputs' (saturation).
// ---------------------------------------------------------------------------------------------

const arbBits = fc.integer({ min: 2, max: 8 });
const arbScale = fc.double({ min: Math.log(1e-4), max: Math.log(1e2), noNaN: true }).map((l) => fround(Math.exp(l)));

function arbParams(bits: number, signed: boolean): fc.Arbitrary<QParams> {
  const r = qrange(bits, signed);
  return fc.record({
    scale: arbScale,
    zeroPoint: fc.oneof(fc.integer({ min: r.qmin, max: r.qmax }), fc.constantFrom(r.qmin, r.qmax, signed ? 0 : r.qmin)),
    qmin: fc.constant(r.qmin),
    qmax: fc.constant(r.qmax),
  });
}

const arbOp = fc
  .record({ bits: arbBits, signed: fc.boolean(), n: fc.integer({ min: 1, max: 30 }) })
  .chain(({ bits, signed, n }) => {
    const r = qrange(bits, signed);
    const level = fc.oneof(fc.integer({ min: r.qmin, max: r.qmax }), fc.constantFrom(r.qmin, r.qmax));
    return fc.record({
      pa: arbParams(bits, signed),
      pb: arbParams(bits, signed),
      pOut: arbParams(bits, signed),
      qa: fc.array(level, { minLength: n, maxLength: n }),
      qb: fc.array(level, { minLength: n, maxLength: n }),
    });
  });

/** TFLite's ADD needs 2 max(s_a, s_b) / (2^20 s_out) < 1; generators respect it (it holds for any sane scales). */
const addable = (o: { pa: QParams; pb: QParams; pOut: QParams }) =>
  (2 * Math.max(fround(o.pa.scale), fround(o.pb.scale))) / (2 ** 20 * fround(o.pOut.scale)) < 1;

/** Exact output in levels (unrounded, unclamped), from the dequantized inputs in float64. */
function exactLevel(op: 'add' | 'mul', qa: number, pa: QParams, qb: number, pb: QParams, pOut: QParams): number {
  const xa = fround(pa.scale) * (qa - pa.zeroPoint);
  const xb = fround(pb.scale) * (qb - pb.zeroPoint);
  return pOut.zeroPoint + (op === 'add' ? xa + xb : xa * xb) / fround(pOut.scale);
}

/**
 * Error bound (in output levels, beyond the 1/2 of the final rounding) of the fixed-point forms.
 * ADD: each rescaled input carries <= 1 unit of rounding (SRDHM then RoundingDivideByPOT) plus the
 * Q31 error 2^-31 relative; in output levels that is <= 2.001 M_out; the output MBQM adds a relative
 * 2^-31 and 2^(shift_out - 1) from its first rounding. MUL: relative 2^-31 plus 2^(shift - 1) when the
 * shift is negative. A float64 tail of 1e-9 covers the exact-level computation itself.
 */
function slack(op: 'add' | 'mul', exact: number, pa: QParams, pb: QParams, pOut: QParams): number {
  const rel = (Math.abs(exact - pOut.zeroPoint) + 1) * 2 ** -31 + 1e-9;
  if (op === 'add') {
    const p = addFixedPointParams(pa.scale, pb.scale, pOut.scale);
    const mOut = p.output.multiplier * 2 ** (p.output.shift - 31);
    return 2.001 * mOut + rel + 2 ** (p.output.shift - 1);
  }
  const { shift } = mulFixedPointParams(pa.scale, pb.scale, pOut.scale).output;
  return rel + (shift < 0 ? 2 ** (shift - 1) : 0);
}

describe.each(['add', 'mul'] as const)('int8 %s properties', (op) => {
  const f = op === 'add' ? int8Add : int8Mul;
  const arb = op === 'add' ? arbOp.filter(addable) : arbOp;

  it('is within half a level of the exact result where not saturated, and saturates beyond the ends', () => {
    fc.assert(
      fc.property(arb, fc.constantFrom('float' as const, 'fixedPoint' as const), ({ pa, pb, pOut, qa, qb }, mode) => {
        let z: Int32Array;
        try {
          z = f(qa, pa, qb, pb, pOut, { mode });
        } catch (e) {
          // Only mode 'fixedPoint' may refuse, and only for an int32 overflow of (x-zp)(y-zp) 2^shift.
          return mode === 'fixedPoint' && op === 'mul' && /overflows int32|left shift/.test((e as Error).message);
        }
        return qa.every((_, i) => {
          const r = exactLevel(op, qa[i], pa, qb[i], pb, pOut);
          const tol = 0.5 + (mode === 'float' ? 1e-9 * (Math.abs(r) + 1) : slack(op, r, pa, pb, pOut));
          if (r > pOut.qmax + tol) return z[i] === pOut.qmax;
          if (r < pOut.qmin - tol) return z[i] === pOut.qmin;
          const clampedR = Math.min(pOut.qmax, Math.max(pOut.qmin, r));
          return Math.abs(z[i] - clampedR) <= tol;
        });
      }),
      runs(400),
    );
  });

  it('is commutative in both modes', () => {
    fc.assert(
      fc.property(arb, fc.constantFrom('float' as const, 'fixedPoint' as const), ({ pa, pb, pOut, qa, qb }, mode) => {
        try {
          const ab = f(qa, pa, qb, pb, pOut, { mode });
          const ba = f(qb, pb, qa, pa, pOut, { mode });
          return ab.every((v, i) => v === ba[i]);
        } catch {
          return mode === 'fixedPoint';
        }
      }),
      runs(300),
    );
  });

  it('integer-only (fixedPoint) agrees with the real-multiplier (float) path within one level', () => {
    fc.assert(
      fc.property(arb, ({ pa, pb, pOut, qa, qb }) => {
        let fixed: Int32Array;
        try {
          fixed = f(qa, pa, qb, pb, pOut, { mode: 'fixedPoint' });
        } catch {
          return op === 'mul';
        }
        const float = f(qa, pa, qb, pb, pOut, { mode: 'float' });
        return fixed.every((v, i) => Math.abs(v - float[i]) <= 1);
      }),
      runs(400),
    );
  });
});

describe('int8Add specifics', () => {
  it('adding a zero (q = zero point) returns the other input requantized to the output scale', () => {
    fc.assert(
      fc.property(arbOp.filter(addable), ({ pa, pb, pOut, qa }) => {
        const zeros = qa.map(() => pb.zeroPoint);
        const float = int8Add(qa, pa, zeros, pb, pOut, { mode: 'float' });
        const fixed = int8Add(qa, pa, zeros, pb, pOut, { mode: 'fixedPoint' });
        const clamp = (v: number) => Math.min(pOut.qmax, Math.max(pOut.qmin, v));
        return qa.every((q, i) => {
          // Requantization from the definition: round(s_a (q - zp_a) / s_out) + zp_out, clamped.
          const r = pOut.zeroPoint + (fround(pa.scale) * (q - pa.zeroPoint)) / fround(pOut.scale);
          const want = clamp(roundHalfEven(r));
          const fromTie = Math.abs(Math.abs(r - Math.floor(r)) - 0.5);
          // Equal, except that within rounding distance of a tie either neighbour is correct.
          const floatOk = fromTie < 1e-9 ? Math.abs(float[i] - want) <= 1 : float[i] === want;
          const fixedOk = fromTie <= slack('add', r, pa, pb, pOut) ? Math.abs(fixed[i] - want) <= 1 : fixed[i] === want;
          return floatOk && fixedOk;
        });
      }),
      runs(400),
    );
  });

  it('saturates at both ends for extreme inputs and a small output scale', () => {
    const p = { scale: 0.5, zeroPoint: 0, qmin: -128, qmax: 127 };
    const out = { scale: 0.01, zeroPoint: 0, qmin: -128, qmax: 127 };
    for (const mode of ['float', 'fixedPoint'] as const) {
      expect(Array.from(int8Add([127, -128, 1], p, [127, -128, -1], p, out, { mode }))).toEqual([127, -128, 0]);
      expect(Array.from(int8Mul([127, -128, 127], p, [127, 127, -128], p, out, { mode }))).toEqual([127, -128, -128]);
    }
  });

  it('worked example from docs/quantization.md', () => {
    const pa = { scale: 0.02, zeroPoint: -10, qmin: -128, qmax: 127 };
    const pb = { scale: 0.05, zeroPoint: 5, qmin: -128, qmax: 127 };
    const po = { scale: 0.1, zeroPoint: 0, qmin: -128, qmax: 127 };
    expect(Array.from(int8Add([40], pa, [25], pb, po, { mode: 'float' }))).toEqual([20]);
    expect(Array.from(int8Add([40], pa, [25], pb, po, { mode: 'fixedPoint' }))).toEqual([20]);
    expect(Array.from(int8Mul([40], pa, [25], pb, po, { mode: 'float' }))).toEqual([10]);
    expect(Array.from(int8Mul([40], pa, [25], pb, po, { mode: 'fixedPoint' }))).toEqual([10]);
  });
});

describe('validation', () => {
  const p = { scale: 0.1, zeroPoint: 0, qmin: -128, qmax: 127 };
  it('rejects bad modes, lengths, levels and rounding in fixedPoint mode', () => {
    expect(() => int8Add([1], p, [1, 2], p, p, { mode: 'float' })).toThrow(/equal length, got 1 and 2/);
    expect(() => int8Add([1], p, [1], p, p, { mode: 'other' as never })).toThrow(/mode must be/);
    expect(() => int8Mul([200], p, [1], p, p, { mode: 'float' })).toThrow(/qa\[0\] must be an integer level in \[-128, 127\], got 200/);
    expect(() => int8Mul([1], p, [1.5], p, p, { mode: 'float' })).toThrow(/qb\[0\] .* got 1.5/);
    expect(() => int8Add([1], p, [1], p, p, { mode: 'fixedPoint', rounding: 'halfEven' })).toThrow(/applies only to mode 'float'/);
    expect(() => int8Add([1], { ...p, scale: -1 }, [1], p, p, { mode: 'float' })).toThrow(/input a.*scale .* got -1/);
  });

  it("enforces TFLite's ADD preconditions: output multiplier < 1, offsets that fit a 20-bit left shift", () => {
    expect(() => int8Add([1], p, [1], p, { ...p, scale: 1e-9 }, { mode: 'fixedPoint' })).toThrow(/output real multiplier must lie in \(0, 1\)/);
    const wide = { scale: 0.1, zeroPoint: 0, ...qrange(16, true) };
    expect(() => int8Add([1], wide, [1], wide, p, { mode: 'fixedPoint' })).toThrow(/at most 2047/);
    const u16 = { scale: 0.1, zeroPoint: 0, ...qrange(16, false) };
    expect(() => int8Mul([1], u16, [1], u16, p, { mode: 'fixedPoint' })).toThrow(/can reach 4294836225, which overflows int32/);
    expect(() => int8Mul([1], p, [1], p, { ...p, scale: 1e-8 }, { mode: 'fixedPoint' })).toThrow(/shifted left by 20/);
  });
});
