/**
 * fast-check generators for the inputs that break quantizers: exact ties k + 0.5 of the rounding
 * step and their float32 neighbours, range edges, values beyond the range, scales from 1e-8 to 1e4,
 * every bit width 1..16 (signed, unsigned, narrow), per-channel parameters, and int32 accumulators
 * with quantized multipliers for requantization.
 *
 * A tie depends on how the implementation forms x / scale: PyTorch multiplies by the float32
 * reciprocal, float32(x * float32(1 / scale)); TFLite divides, float32(x / scale). tieInput finds an
 * x that is an exact tie for the product a convention names, so a kernel that forms it the other
 * way sees a near-tie instead and is caught on the other side of it.
 * Node-free: the browser may import this module.
 */
import fc from 'fast-check';
import { qrange, type QParams, type QParamsPerChannel, type Rounding } from '../quant/numerics/index.js';
import type { Convention } from './convention.js';

const fround = Math.fround;

/** Next float32 above (dir = 1) or below (dir = -1) a finite float32 x. */
export function nextFloat32(x: number, dir: 1 | -1): number {
  if (x === 0) return dir * 2 ** -149;
  const buf = new Float32Array([x]);
  const bits = new Int32Array(buf.buffer);
  bits[0] += (x > 0) === (dir > 0) ? 1 : -1;
  return buf[0];
}

/** float32(x / scale) as the convention forms it: PyTorch's reciprocal product or TFLite's quotient. */
export function scaledInput(x: number, scale: number, convention: Convention = 'pytorch'): number {
  const s = fround(scale);
  return convention === 'pytorch' ? fround(fround(x) * fround(1 / s)) : fround(fround(x) / s);
}

/**
 * A float32 x whose scaled value (see scaledInput) is exactly k + 0.5, or undefined when no float32
 * within 32 ulps of (k + 0.5) * scale hits it.
 */
export function tieInput(scale: number, k: number, convention: Convention = 'pytorch'): number | undefined {
  const s = fround(scale);
  const target = k + 0.5;
  let x = fround(target * s);
  for (let step = 0; step < 32; step++) {
    const t = scaledInput(x, s, convention);
    if (t === target) return x;
    x = nextFloat32(x, t < target ? 1 : -1);
  }
  return undefined;
}

export interface RangeCase {
  bits: number;
  signed: boolean;
  narrow: boolean;
  qmin: number;
  qmax: number;
}

/** Bit widths (default 1..16), signed or unsigned, narrow where it leaves at least two levels. */
export function arbRange(bits: readonly number[] = range(1, 16)): fc.Arbitrary<RangeCase> {
  return fc
    .record({ bits: fc.constantFrom(...bits), signed: fc.boolean(), narrow: fc.boolean() })
    .map(({ bits: b, signed, narrow }) => {
      const useNarrow = narrow && b >= 2;
      return { bits: b, signed, narrow: useNarrow, ...qrange(b, signed, { narrow: useNarrow }) };
    });
}

function range(a: number, b: number): number[] {
  return Array.from({ length: b - a + 1 }, (_, i) => a + i);
}

/**
 * float32 scales: the extremes 1e-8 and 1e4, a scale known to separate x * float32(1/s) from x / s
 * (0.00214854861), powers of two (whose reciprocal is exact, so both products agree), and
 * log-uniform values between the extremes.
 */
export const arbScale: fc.Arbitrary<number> = fc.oneof(
  fc.constantFrom(fround(1e-8), fround(1e4), 2 ** -3, 1, fround(0.1), fround(0.00214854861)),
  fc.integer({ min: -27, max: 13 }).map((e) => 2 ** e),
  fc.double({ min: Math.log(1e-8), max: Math.log(1e4), noNaN: true }).map((l) => fround(Math.exp(l))),
);

export const arbRounding: fc.Arbitrary<Rounding> = fc.constantFrom('halfEven', 'halfAwayFromZero');

/** A zero point in [qmin, qmax], biased towards both ends and 0. */
export function arbZeroPoint(r: { qmin: number; qmax: number }): fc.Arbitrary<number> {
  return fc.oneof(fc.constantFrom(r.qmin, r.qmax, r.qmin < 0 ? 0 : r.qmin), fc.integer({ min: r.qmin, max: r.qmax }));
}

export interface QParamsArbOptions {
  /** Bit widths to draw from (default 1..16). */
  bits?: readonly number[];
  /** Fix the tie rule (default: both are drawn). */
  rounding?: Rounding;
}

/** Per-tensor qparams over the chosen ranges, with a zero point anywhere in the range. */
export function arbQParams(opts: QParamsArbOptions = {}): fc.Arbitrary<QParams & { bits: number }> {
  return arbRange(opts.bits).chain((r) =>
    fc.record({
      bits: fc.constant(r.bits),
      qmin: fc.constant(r.qmin),
      qmax: fc.constant(r.qmax),
      zeroPoint: arbZeroPoint(r),
      scale: arbScale,
      rounding: opts.rounding ? fc.constant(opts.rounding) : arbRounding,
    }),
  );
}

/**
 * Inputs for given qparams: exact ties (for the convention's scaled value) and their float32
 * neighbours, range edges, values beyond the range, signed zeros, and arbitrary float32 values
 * inside, around and far outside the range.
 */
export function arbInput(p: QParams, convention: Convention = 'pytorch'): fc.Arbitrary<number> {
  const s = fround(p.scale);
  const lo = (p.qmin - p.zeroPoint) * s;
  const hi = (p.qmax - p.zeroPoint) * s;
  const tie = fc.integer({ min: p.qmin - p.zeroPoint - 2, max: p.qmax - p.zeroPoint + 1 }).chain((k) => {
    const x = tieInput(s, k, convention);
    return x === undefined ? fc.constant(fround((k + 0.5) * s)) : fc.constantFrom(x, nextFloat32(x, 1), nextFloat32(x, -1));
  });
  return fc.oneof(
    { arbitrary: tie, weight: 3 },
    { arbitrary: fc.constantFrom(fround(lo), fround(hi), 0, -0, fround(lo - s / 2), fround(hi + s / 2), fround(2 * lo - s), fround(2 * hi + s)), weight: 1 },
    { arbitrary: fc.double({ min: lo - 2 * s, max: hi + 2 * s, noNaN: true }).map(fround), weight: 2 },
    { arbitrary: fc.float({ noNaN: true }), weight: 1 },
  );
}

/** Integer levels of a range, biased towards both ends. */
export function arbLevel(p: { qmin: number; qmax: number }): fc.Arbitrary<number> {
  return fc.oneof(fc.constantFrom(p.qmin, p.qmax), fc.integer({ min: p.qmin, max: p.qmax }));
}

/** Per-tensor qparams and 1..maxLength inputs for them (a kernel is called on the whole batch). */
export function arbQuantizeCase(
  opts: QParamsArbOptions & { convention?: Convention; maxLength?: number } = {},
): fc.Arbitrary<{ p: QParams & { bits: number }; xs: number[] }> {
  return arbQParams(opts).chain((p) =>
    fc.record({ p: fc.constant(p), xs: fc.array(arbInput(p, opts.convention), { minLength: 1, maxLength: opts.maxLength ?? 16 }) }),
  );
}

/**
 * Per-channel qparams: a row-major shape of rank 1..3, a channel axis, one (scale, zero point) per
 * channel, and inputs drawn per element from that element's channel (ties, edges, ...).
 */
export function arbPerChannelCase(
  opts: QParamsArbOptions & { convention?: Convention } = {},
): fc.Arbitrary<{ p: QParamsPerChannel & { bits: number }; xs: number[] }> {
  return fc
    .record({
      r: arbRange(opts.bits),
      shape: fc.array(fc.integer({ min: 1, max: 4 }), { minLength: 1, maxLength: 3 }),
      rounding: opts.rounding ? fc.constant(opts.rounding) : arbRounding,
    })
    .chain(({ r, shape, rounding }) =>
      fc.integer({ min: 0, max: shape.length - 1 }).chain((axis) => {
        const channels = shape[axis];
        return fc
          .record({
            scale: fc.array(arbScale, { minLength: channels, maxLength: channels }),
            zeroPoint: fc.array(arbZeroPoint(r), { minLength: channels, maxLength: channels }),
          })
          .chain(({ scale, zeroPoint }) => {
            const p = { bits: r.bits, qmin: r.qmin, qmax: r.qmax, axis, shape, scale, zeroPoint, rounding };
            const inner = shape.slice(axis + 1).reduce((a, b) => a * b, 1);
            const n = shape.reduce((a, b) => a * b, 1);
            const xs = Array.from({ length: n }, (_, i) => {
              const c = Math.floor(i / inner) % channels;
              return arbInput({ scale: scale[c], zeroPoint: zeroPoint[c], qmin: r.qmin, qmax: r.qmax }, opts.convention);
            });
            return fc.tuple(...xs).map((values) => ({ p, xs: values }));
          });
      }),
    );
}

/** A TFLite quantized multiplier: a Q31 mantissa in [2^30, 2^31) (or 0) and a shift in [-31, 30]. */
export const arbQuantizedMultiplier: fc.Arbitrary<{ multiplier: number; shift: number }> = fc.oneof(
  fc.record({
    multiplier: fc.oneof(fc.constantFrom(2 ** 30, 2 ** 31 - 1, 1610612736), fc.integer({ min: 2 ** 30, max: 2 ** 31 - 1 })),
    shift: fc.oneof(fc.integer({ min: -31, max: 0 }), fc.integer({ min: 1, max: 8 })),
  }),
  fc.constant({ multiplier: 0, shift: 0 }),
);

/**
 * An int32 accumulator for a multiplier: small values, both int32 extremes, and values whose
 * product lands exactly halfway between two results (acc = (2k + 1) * 2^(e - 1) for a power-of-two
 * multiplier), the ties of RoundingDivideByPOT. With a left shift the accumulator is kept small
 * enough that acc * 2^shift fits in int32 (TFLite leaves the overflow undefined).
 */
export function arbAccumulator(shift: number): fc.Arbitrary<number> {
  const limit = shift > 0 ? 2 ** (31 - shift) - 1 : 2 ** 31 - 1;
  const lo = -limit - (shift > 0 ? 0 : 1);
  return fc.oneof(
    fc.integer({ min: -300, max: 300 }),
    fc.constantFrom(lo, limit, 0, -1, 1),
    fc.integer({ min: lo, max: limit }),
    fc.integer({ min: -1000, max: 1000 }).map((k) => Math.max(lo, Math.min(limit, (2 * k + 1) * 2 ** Math.max(0, -shift - 1)))),
  );
}

/** Output qparams for int8 add / mul and two level arrays of equal length for the inputs. */
export function arbInt8ArithCase(opts: { bits?: readonly number[]; maxLength?: number } = {}): fc.Arbitrary<{
  a: QParams;
  b: QParams;
  out: QParams;
  qa: number[];
  qb: number[];
}> {
  const bits = opts.bits ?? [8];
  const side = arbRange(bits).chain((r) =>
    fc.record({
      qmin: fc.constant(r.qmin),
      qmax: fc.constant(r.qmax),
      zeroPoint: arbZeroPoint(r),
      // Scales within a factor 2^10 of one another keep TFLite's ADD multipliers below 1.
      scale: fc.oneof(fc.integer({ min: -10, max: -2 }).map((e) => 2 ** e), fc.double({ min: Math.log(1e-3), max: Math.log(0.25), noNaN: true }).map((l) => fround(Math.exp(l)))),
    }),
  );
  return fc.record({ a: side, b: side, out: side, n: fc.integer({ min: 1, max: opts.maxLength ?? 16 }) }).chain(({ a, b, out, n }) =>
    fc.record({
      a: fc.constant(a),
      b: fc.constant(b),
      out: fc.constant(out),
      qa: fc.array(arbLevel(a), { minLength: n, maxLength: n }),
      qb: fc.array(arbLevel(b), { minLength: n, maxLength: n }),
    }),
  );
}
