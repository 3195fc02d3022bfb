/**
 * Property-based tests of quantize / dequantize / fakeQuantize (fast-check). Each property is checked
 * against an oracle that does not share the code under test, over bit widths 1..16, tiny (1e-8) and
 * huge (1e4) scales, exact ties, range edges and values beyond the range.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  computeQParams,
  dequantize,
  fakeQuantize,
  quantize,
  qrange,
  type QParams,
  type QParamsPerChannel,
} from '../../../src/quant/numerics/index.js';
import { arbInput, arbLevel, arbQParams, arbRange, arbRounding, arbScale, tieInput } from './helpers.js';
import { runs } from '../../helpers/assert.js';

const fround = Math.fround;
const RUNS = runs(300);

/** qparams plus a batch of inputs for them. */
const arbCase = arbQParams.chain((p) => fc.record({ p: fc.constant(p), xs: fc.array(arbInput(p), { minLength: 1, maxLength: 40 }) }));

describe('quantize', () => {
  it('returns integer levels in [qmin, qmax] for every float32 input, including +-Infinity', () => {
    fc.assert(
      fc.property(arbQParams, fc.array(fc.float({ noNaN: true }), { maxLength: 40 }), (p, wild) => {
        const q = quantize(wild, p);
        return q.every((v) => Number.isInteger(v) && v >= p.qmin && v <= p.qmax);
      }),
      RUNS,
    );
    fc.assert(
      fc.property(arbCase, ({ p, xs }) => quantize(xs, p).every((v) => v >= p.qmin && v <= p.qmax)),
      RUNS,
    );
  });

  it('round-trips every level: quantize(dequantize(q)) = q', () => {
    fc.assert(
      fc.property(arbQParams, (p) => {
        // All levels for up to 12 bits, a strided sample plus both ends above that.
        const n = p.qmax - p.qmin + 1;
        const stride = Math.max(1, Math.floor(n / 4096));
        const levels: number[] = [];
        for (let q = p.qmin; q <= p.qmax; q += stride) levels.push(q);
        levels.push(p.qmax);
        const back = quantize(dequantize(levels, p), p);
        return levels.every((q, i) => back[i] === q);
      }),
      runs(200),
    );
  });

  it('halfEven and halfAwayFromZero differ only at exact ties, by one level', () => {
    fc.assert(
      fc.property(arbCase, ({ p, xs }) => {
        const even = quantize(xs, { ...p, rounding: 'halfEven' });
        const away = quantize(xs, { ...p, rounding: 'halfAwayFromZero' });
        const inv = fround(1 / fround(p.scale));
        return xs.every((x, i) => {
          if (even[i] === away[i]) return true;
          const t = fround(fround(x) * inv);
          return Math.abs(even[i] - away[i]) === 1 && Math.abs(t - Math.trunc(t)) === 0.5;
        });
      }),
      RUNS,
    );
  });
});

describe('fakeQuantize', () => {
  it('is dequantize(quantize(x)) bit for bit', () => {
    fc.assert(
      fc.property(arbCase, ({ p, xs }) => {
        const { y } = fakeQuantize(xs, p);
        const viaLevels = dequantize(quantize(xs, p), p);
        return y.every((v, i) => Object.is(v, viaLevels[i]));
      }),
      RUNS,
    );
  });

  it('is within scale/2 of x inside the representable range, and the nearest edge outside it', () => {
    // Inside: with inv = fl32(1/s) and t = fl32(x inv), |t - x/s| <= |x/s| (2^-23 + 2^-48) (two float32
    // roundings), |round(t) - t| <= 1/2, and y = fl32(round(t) s) adds |y| 2^-24. So
    //   |y - x| <= s/2 + |x| 2^-23 (1 + 2^-25) + |y| 2^-24 (1 + 2^-23),
    // bounded here by s/2 + |x| 2^-22 + |y| 2^-23. Outside: x/s beyond the last level means t rounds to
    // or beyond it (relative error 2^-23 cannot move t back by a whole half level), so q is the edge.
    fc.assert(
      fc.property(arbCase, ({ p, xs }) => {
        const s = fround(p.scale);
        const lo = (p.qmin - p.zeroPoint) * s;
        const hi = (p.qmax - p.zeroPoint) * s;
        const { y } = fakeQuantize(xs, p);
        const q = quantize(xs, p);
        return xs.every((x, i) => {
          if (x > hi) return q[i] === p.qmax && y[i] === fround(hi);
          if (x < lo) return q[i] === p.qmin && y[i] === fround(lo);
          return Math.abs(y[i] - x) <= s / 2 + Math.abs(x) * 2 ** -22 + Math.abs(y[i]) * 2 ** -23;
        });
      }),
      RUNS,
    );
  });

  it('represents 0 exactly with observer-derived affine qparams', () => {
    fc.assert(
      fc.property(arbRange, fc.float({ noNaN: true, noDefaultInfinity: true }), fc.float({ noNaN: true, noDefaultInfinity: true }), (r, a, b) => {
        const [min, max] = a <= b ? [a, b] : [b, a];
        let qp;
        try {
          qp = computeQParams(min, max, { qmin: r.qmin, qmax: r.qmax, scheme: 'affine' });
        } catch {
          return max - min > 1e38; // only a range too wide for a float32 scale may throw
        }
        const p = { ...qp, qmin: r.qmin, qmax: r.qmax };
        const q = quantize([0, -0], p);
        const { y, mask } = fakeQuantize([0, -0], p);
        return q[0] === qp.zeroPoint && q[1] === qp.zeroPoint && Object.is(y[0], 0) && Object.is(y[1], 0) && mask[0] === 1;
      }),
      RUNS,
    );
  });

  it('is idempotent: fakeQuantize(fakeQuantize(x)) = fakeQuantize(x), with mask 1', () => {
    fc.assert(
      fc.property(arbCase, ({ p, xs }) => {
        const once = fakeQuantize(xs, p);
        const twice = fakeQuantize(once.y, p);
        return once.y.every((v, i) => v === twice.y[i] && twice.mask[i] === 1);
      }),
      RUNS,
    );
  });

  it('is monotonic: x1 <= x2 implies fakeQuantize(x1) <= fakeQuantize(x2)', () => {
    fc.assert(
      fc.property(arbCase, ({ p, xs }) => {
        const sorted = Float32Array.from(xs).sort();
        const { y } = fakeQuantize(sorted, p);
        return y.every((v, i) => i === 0 || y[i - 1] <= v);
      }),
      RUNS,
    );
  });

  it('is odd, fq(-x) = -fq(x), with zero point 0 on a narrow signed range (either tie rule)', () => {
    const arbSym = fc.record({ bits: fc.integer({ min: 2, max: 16 }), scale: arbScale, rounding: arbRounding });
    fc.assert(
      fc.property(
        arbSym.chain((c) => {
          const p: QParams = { ...qrange(c.bits, true, { narrow: true }), zeroPoint: 0, scale: c.scale, rounding: c.rounding };
          return fc.record({ p: fc.constant(p), xs: fc.array(arbInput(p), { minLength: 1, maxLength: 40 }) });
        }),
        ({ p, xs }) => {
          const pos = fakeQuantize(xs, p);
          const neg = fakeQuantize(xs.map((x) => -x), p);
          return pos.y.every((v, i) => v === -neg.y[i] && pos.mask[i] === neg.mask[i]);
        },
      ),
      RUNS,
    );
  });

  it('is not odd on the full signed range (-128 has no positive partner): the property can fail', () => {
    const p = { ...qrange(8, true), zeroPoint: 0, scale: 1 };
    expect(fakeQuantize([-1000], p).y[0]).toBe(-128);
    expect(fakeQuantize([1000], p).y[0]).toBe(127);
  });

  it('masks exactly where the unclamped level lies in [qmin, qmax] (both ends inclusive)', () => {
    // Oracle: the same quantizer on a range widened by 2^20 levels each side returns the unclamped
    // level whenever it is within 2^20 of the range, and something beyond the range otherwise.
    const W = 2 ** 20;
    fc.assert(
      fc.property(arbCase, ({ p, xs }) => {
        const { y, mask } = fakeQuantize(xs, p);
        const wide = quantize(xs, { ...p, qmin: p.qmin - W, qmax: p.qmax + W });
        const s = fround(p.scale);
        return xs.every((_, i) => {
          const inRange = wide[i] >= p.qmin && wide[i] <= p.qmax;
          if (mask[i] !== (inRange ? 1 : 0)) return false;
          // Where the mask is 1 the output is the unclamped level's value; where 0, an edge.
          return inRange ? y[i] === fround((wide[i] - p.zeroPoint) * s) : y[i] === fround((wide[i] < p.qmin ? p.qmin - p.zeroPoint : p.qmax - p.zeroPoint) * s);
        });
      }),
      RUNS,
    );
  });

  it('passes the gradient for x within half a step beyond the edge (PyTorch), unlike a float-range test', () => {
    const p = { scale: 1, zeroPoint: 0, qmin: 0, qmax: 3 };
    // 3.4 rounds to level 3 (in range): mask 1 although x > the float range's max 3.0 (TensorFlow's mask would be 0).
    // 3.5 is a tie that rounds to even 4, out of range: mask 0. -0.5 rounds to -0 = level 0: mask 1.
    expect(Array.from(fakeQuantize([3.4, 3.5, 2.5, -0.5, -0.6], p).mask)).toEqual([1, 0, 1, 1, 0]);
  });
});

describe('per channel', () => {
  const arbPerChannel = fc
    .record({
      shape: fc.array(fc.integer({ min: 1, max: 4 }), { minLength: 1, maxLength: 4 }),
      range: arbRange,
      rounding: arbRounding,
    })
    .chain(({ shape, range, rounding }) =>
      fc.record({
        shape: fc.constant(shape),
        axis: fc.integer({ min: 0, max: shape.length - 1 }),
        range: fc.constant(range),
        rounding: fc.constant(rounding),
        channelParams: fc.array(fc.record({ scale: arbScale, zeroPoint: arbLevel(range) }), { minLength: 4, maxLength: 4 }),
        seedXs: fc.array(fc.float({ noNaN: true, min: -1e6, max: 1e6 }), { minLength: 256, maxLength: 256 }),
      }),
    );

  it('equals per-tensor quantization applied channel by channel', () => {
    fc.assert(
      fc.property(arbPerChannel, ({ shape, axis, range, rounding, channelParams, seedXs }) => {
        const size = shape.reduce((a, b) => a * b, 1);
        const channels = shape[axis];
        const cps = channelParams.slice(0, channels);
        const inner = shape.slice(axis + 1).reduce((a, b) => a * b, 1);
        const channelOf = (i: number) => Math.floor(i / inner) % channels;
        // Scale the inputs to each channel's range so every regime (inside, edge, beyond) occurs.
        const xs = Float32Array.from({ length: size }, (_, i) => fround(seedXs[i] * 1e-4 * (range.qmax - range.qmin) * cps[channelOf(i)].scale));
        const p: QParamsPerChannel = {
          scale: cps.map((c) => c.scale),
          zeroPoint: cps.map((c) => c.zeroPoint),
          qmin: range.qmin,
          qmax: range.qmax,
          axis,
          shape,
          rounding,
        };
        const q = quantize(xs, p);
        const { y, mask } = fakeQuantize(xs, p);
        const d = dequantize(q, p);
        for (let i = 0; i < size; i++) {
          const pt: QParams = { ...cps[channelOf(i)], qmin: range.qmin, qmax: range.qmax, rounding };
          const one = fakeQuantize([xs[i]], pt);
          if (q[i] !== quantize([xs[i]], pt)[0] || !Object.is(y[i], one.y[0]) || mask[i] !== one.mask[0] || !Object.is(d[i], y[i])) return false;
        }
        return true;
      }),
      runs(200),
    );
  });
});

describe('validation', () => {
  const p = { scale: 0.1, zeroPoint: 0, qmin: -128, qmax: 127 };

  it('throws on NaN input, naming how many and where', () => {
    expect(() => quantize([1, NaN, 2, NaN], p)).toThrow(/2 NaN value\(s\) \(first at index 1\)/);
    expect(() => fakeQuantize([NaN], p)).toThrow(/NaN/);
  });

  it('throws on bad scales and zero points, naming the value', () => {
    for (const scale of [0, -1, NaN, Infinity, 1e-45, 1e39]) {
      expect(() => quantize([1], { ...p, scale })).toThrow(new RegExp(`scale must be .* got ${String(scale).replace('+', '\\+')}$`));
    }
    expect(() => quantize([1], { ...p, zeroPoint: 0.5 })).toThrow(/zeroPoint .* got 0.5/);
    expect(() => quantize([1], { ...p, zeroPoint: 200 })).toThrow(/zeroPoint .* \[-128, 127\], got 200/);
    expect(() => quantize([1], { ...p, qmin: 5, qmax: 5 })).toThrow(/qmin must be < qmax/);
    expect(() => quantize([1], { ...p, rounding: 'up' as never })).toThrow(/rounding must be/);
    expect(() => dequantize([300], p)).toThrow(/level at index 0 .* got 300/);
  });

  it('throws on per-channel shape mismatches, naming the sizes', () => {
    const pc = { scale: [0.1, 0.2], zeroPoint: [0, 1], qmin: -128, qmax: 127, axis: 1, shape: [3, 2] };
    expect(fakeQuantize(new Float32Array(6), pc).y.length).toBe(6);
    expect(() => quantize(new Float32Array(5), pc)).toThrow(/data has 5 elements but shape \[3,2\] holds 6/);
    expect(() => quantize(new Float32Array(6), { ...pc, scale: [0.1] })).toThrow(/scale has length 1 but shape\[1\] = 2/);
    expect(() => quantize(new Float32Array(6), { ...pc, zeroPoint: [0, 1, 2] })).toThrow(/zeroPoint has length 3/);
    expect(() => quantize(new Float32Array(6), { ...pc, axis: 2 })).toThrow(/axis must be an integer in \[0, 1\]/);
    expect(() => quantize(new Float32Array(6), { ...pc, zeroPoint: [0, 999] })).toThrow(/channel 1.*zeroPoint/);
  });

  it('saturates infinities (PyTorch 1.13 returns qmin for +Infinity; qgrad the nearest edge)', () => {
    const { y, mask } = fakeQuantize([Infinity, -Infinity, 1e30], p);
    expect(Array.from(y)).toEqual([fround(12.7), fround(-12.8), fround(12.7)]);
    expect(Array.from(mask)).toEqual([0, 0, 0]);
  });

  it('finds exact ties for the generators (sanity check of the test helpers)', () => {
    const x = tieInput(0.1, 3);
    expect(x).toBeDefined();
    expect(fround(x! * fround(1 / fround(0.1)))).toBe(3.5);
  });
});
