/**
 * Shared helpers for the quantization tests: fixture loading, float32 bit patterns, and fast-check
 * generators for quantization parameters and for the inputs that break quantizers (exact ties,
 * range edges, values beyond the range, tiny and huge scales, every bit width 1..16).
 */
import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { float32FromBits, qrange, type QParams, type Rounding } from '../../../src/quant/numerics/index.js';

const fround = Math.fround;

export function loadFixture<T>(name: string): T {
  const url = new URL(`../../fixtures/quant/${name}`, import.meta.url);
  return JSON.parse(readFileSync(url, 'utf8')) as T;
}

/** float32 values from IEEE-754 bit patterns. */
export function fromBits(bits: readonly number[]): Float32Array {
  return new Float32Array(Uint32Array.from(bits).buffer);
}

/** IEEE-754 bit patterns of float32 values. */
export function toBits(values: Float32Array): number[] {
  return Array.from(new Uint32Array(values.buffer, values.byteOffset, values.length));
}

export const f32FromBits = float32FromBits;

/** Next float32 above (dir = 1) or below (dir = -1) a finite float32 x. */
export function nextFloat32(x: number, dir: 1 | -1): number {
  if (x === 0) return dir * 2 ** -149;
  const buf = new Float32Array([x]);
  const bits = new Int32Array(buf.buffer);
  bits[0] += (x > 0) === (dir > 0) ? 1 : -1;
  return buf[0];
}

/**
 * A float32 x with float32(x * float32(1/scale)) === k + 0.5 exactly (an exact tie for the rounding
 * step), or undefined when no float32 within 32 ulps of (k + 0.5) * scale hits it.
 */
export function tieInput(scale: number, k: number): number | undefined {
  const inv = fround(1 / fround(scale));
  const target = k + 0.5;
  let x = fround(target / inv);
  for (let step = 0; step < 32; step++) {
    const t = fround(x * inv);
    if (t === target) return x;
    x = nextFloat32(x, t < target ? 1 : -1);
  }
  return undefined;
}

/** Bit widths 1..16, signed or unsigned, narrow where it leaves at least two levels. */
export const arbRange = fc
  .record({ bits: fc.integer({ min: 1, max: 16 }), signed: fc.boolean(), narrow: fc.boolean() })
  .map(({ bits, signed, narrow }) => {
    const useNarrow = narrow && bits >= 2;
    return { bits, signed, narrow: useNarrow, ...qrange(bits, signed, { narrow: useNarrow }) };
  });

/** float32 scales: the extremes the brief names (1e-8, 1e4), powers of two, and log-uniform values. */
export const arbScale: fc.Arbitrary<number> = fc.oneof(
  fc.constantFrom(fround(1e-8), fround(1e4), 2 ** -3, 1, fround(0.1), fround(0.00214854861)),
  fc.integer({ min: -27, max: 13 }).map((e) => 2 ** e),
  fc.double({ min: Math.log(1e-8), max: Math.log(1e4), noNaN: true }).map((l) => fround(Math.exp(l))),
);

export const arbRounding: fc.Arbitrary<Rounding> = fc.constantFrom('halfEven', 'halfAwayFromZero');

/** Per-tensor qparams over any supported range, with a zero point anywhere in the range. */
export const arbQParams: fc.Arbitrary<QParams & { bits: number }> = arbRange.chain((r) =>
  fc.record({
    bits: fc.constant(r.bits),
    qmin: fc.constant(r.qmin),
    qmax: fc.constant(r.qmax),
    zeroPoint: fc.oneof(fc.constantFrom(r.qmin, r.qmax, r.qmin < 0 ? 0 : r.qmin), fc.integer({ min: r.qmin, max: r.qmax })),
    scale: arbScale,
    rounding: arbRounding,
  }),
);

/**
 * Inputs for given qparams: exact ties and their neighbours, range edges, values beyond the range,
 * zeros, and arbitrary values inside and around the range.
 */
export function arbInput(p: QParams): fc.Arbitrary<number> {
  const s = fround(p.scale);
  const lo = (p.qmin - p.zeroPoint) * s;
  const hi = (p.qmax - p.zeroPoint) * s;
  const kMin = p.qmin - p.zeroPoint - 2;
  const kMax = p.qmax - p.zeroPoint + 1;
  const tie = fc.integer({ min: kMin, max: kMax }).chain((k) => {
    const x = tieInput(s, k);
    return x === undefined ? fc.constant(fround((k + 0.5) * s)) : fc.constantFrom(x, nextFloat32(x, 1), nextFloat32(x, -1));
  });
  return fc.oneof(
    tie,
    fc.constantFrom(fround(lo), fround(hi), 0, -0, fround(2 * lo - s), fround(2 * hi + s)),
    fc.double({ min: lo - 2 * s, max: hi + 2 * s, noNaN: true }).map(fround),
    fc.float({ noNaN: true }),
  );
}

/** Exactness-preserving integer levels of a range. */
export function arbLevel(p: { qmin: number; qmax: number }): fc.Arbitrary<number> {
  return fc.oneof(fc.constantFrom(p.qmin, p.qmax), fc.integer({ min: p.qmin, max: p.qmax }));
}
