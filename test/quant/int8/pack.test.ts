/**
 * Sub-byte packing (src/quant/int8/pack.ts) against an oracle written here bit by bit: each level's
 * field from its definition (two's complement, plain binary, sign + exponent, sign), each field bit
 * placed at stream bit i·b + t, i.e. bit (j mod 8) of byte floor(j/8) (little-endian, element 2i in
 * the low nibble at 4 bits, as ONNX INT4).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { choosePacking, packLevels, unpackLevels, type WeightPacking } from '../../../src/quant/int8/pack.js';
import { runs } from '../../helpers/assert.js';

/** The b-bit field of `level`, from the code's definition (not pack.ts). */
function oracleField(level: number, { code, bits }: WeightPacking): number {
  if (code === 'int') return level >= 0 ? level : 2 ** bits + level; // two's complement
  if (code === 'uint') return level;
  if (code === 'sign') return level > 0 ? 1 : 0;
  if (level === 0) return 0;
  const exponent = Math.round(Math.log2(Math.abs(level)));
  return (level < 0 ? 2 ** (bits - 1) : 0) + exponent + 1;
}

/** Pack bit by bit: bit t of element i goes to stream bit j = i·b + t = bit j % 8 of byte ⌊j/8⌋. */
function oraclePack(levels: number[], p: WeightPacking): Uint8Array {
  const out = new Uint8Array(Math.ceil((levels.length * p.bits) / 8));
  levels.forEach((level, i) => {
    const field = oracleField(level, p);
    for (let t = 0; t < p.bits; t++) {
      const j = i * p.bits + t;
      if (Math.floor(field / 2 ** t) % 2 === 1) out[Math.floor(j / 8)] += 2 ** (j % 8);
    }
  });
  return out;
}

/** Every level the code holds, listed from its definition. */
function levelsOf({ code, bits }: WeightPacking): number[] {
  if (code === 'int') return Array.from({ length: 2 ** bits }, (_, i) => i - 2 ** (bits - 1));
  if (code === 'uint') return Array.from({ length: 2 ** bits }, (_, i) => i);
  if (code === 'sign') return [-1, 1];
  const exps = 2 ** (bits - 1) - 1;
  const mags = Array.from({ length: exps }, (_, k) => 2 ** k);
  return [0, ...mags, ...mags.map((m) => -m)];
}

const packingArb = fc.oneof(
  fc.record({ code: fc.constantFrom('int' as const, 'uint' as const), bits: fc.integer({ min: 1, max: 8 }) }),
  fc.record({ code: fc.constant('pow2' as const), bits: fc.integer({ min: 2, max: 5 }) }),
  fc.constant({ code: 'sign' as const, bits: 1 }),
);
const caseArb = packingArb.chain((p) => {
  const all = levelsOf(p);
  return fc.tuple(fc.constant(p), fc.array(fc.constantFrom(...all), { maxLength: 67 }));
});

describe('sub-byte packing', () => {
  it('packs exactly as the bit-by-bit oracle and unpacks to the same levels (b = 1..8, signed, unsigned, pow2, sign)', () => {
    const seen = new Set<string>();
    fc.assert(
      fc.property(caseArb, ([p, levels]) => {
        seen.add(`${p.code}${p.bits}`);
        const bytes = packLevels(levels, p);
        expect(Array.from(bytes)).toEqual(Array.from(oraclePack(levels, p)));
        const back = unpackLevels(bytes, levels.length, p, -(2 ** 24), 2 ** 24, 'w');
        expect(Array.from(back)).toEqual(levels);
      }),
      runs(400, 1401),
    );
    // Coverage: every width of both uniform codes, and the other codes, were drawn.
    for (let b = 1; b <= 8; b++) for (const c of ['int', 'uint']) expect(seen.has(`${c}${b}`), `${c}${b}`).toBe(true);
    for (const k of ['pow2_2', 'pow2_3', 'pow2_4', 'pow2_5', 'sign1']) expect(seen.has(k.replace('_', ''))).toBe(true);
  });

  it('orders little-endian: element 2i in the low nibble, 4 per byte at 2 bits, 8 at 1 bit', () => {
    expect(Array.from(packLevels([1, 2, 3], { code: 'uint', bits: 4 }))).toEqual([0x21, 0x03]);
    expect(Array.from(packLevels([-1, 7, -8], { code: 'int', bits: 4 }))).toEqual([0x7f, 0x08]);
    expect(Array.from(packLevels([1, 0, 3, 2, 1], { code: 'uint', bits: 2 }))).toEqual([0b10_11_00_01, 0b01]);
    expect(Array.from(packLevels([1, 0, 0, 0, 0, 0, 0, 1, 1], { code: 'uint', bits: 1 }))).toEqual([0x81, 0x01]);
    // pow2 at 4 bits: 0 → 0000, 1 → 0001, −64 = −2^6 → 1111, 4 = 2^2 → 0011
    expect(Array.from(packLevels([0, 1, -64, 4], { code: 'pow2', bits: 4 }))).toEqual([0x10, 0x3f]);
    // 3 bits straddle bytes: fields 5, 6, 7 at bits 0-2, 3-5, 6-8
    expect(Array.from(packLevels([5, 6, 7], { code: 'uint', bits: 3 }))).toEqual([0b11_110_101, 0b1]);
  });

  it('refuses bad packed data, naming the element or the length', () => {
    const p4: WeightPacking = { code: 'int', bits: 4 };
    expect(() => unpackLevels(Uint8Array.of(0x21), 3, p4, -8, 7, 'layer 1 (conv2d)')).toThrow(
      "layer 1 (conv2d): 1 packed bytes, expected ceil(3·4/8) = 2 for 3 levels of 4 bits",
    );
    expect(() => unpackLevels(Uint8Array.of(0x21, 0x13), 3, p4, -8, 7, 'w')).toThrow(/w: padding bits of the last byte are not zero \(byte 0x13/);
    expect(() => unpackLevels(Uint8Array.of(0x81), 2, p4, -7, 7, 'w')).toThrow('w: element 1 is level -8, outside the declared range [-7, 7]');
    // pow2 "negative zero": sign bit with exponent field 0
    expect(() => unpackLevels(Uint8Array.of(0x80), 2, { code: 'pow2', bits: 4 }, -64, 64, 'w')).toThrow(/w: element 1 has field 8 \(0b1000\), which is not a 'pow2' code/);
    expect(() => unpackLevels(Uint8Array.of(0), 1, { code: 'pow2', bits: 7 }, -64, 64, 'w')).toThrow(/w: packing bits must be an integer in \[2, 5\]/);
    expect(() => packLevels([8], p4)).toThrow(/level 8 at index 0 is not representable as 'int' in 4 bits/);
    expect(() => packLevels([3], { code: 'pow2', bits: 3 })).toThrow(/not representable/);
  });
  it('chooses the narrowest code that holds the declared range (8-bit int stays unpacked)', () => {
    const some = [0, 1];
    expect(choosePacking(some, -8, 7, false)).toEqual({ code: 'int', bits: 4 });
    expect(choosePacking(some, -7, 7, false)).toEqual({ code: 'int', bits: 4 });
    expect(choosePacking(some, -2, 1, false)).toEqual({ code: 'int', bits: 2 });
    expect(choosePacking([-1, 0], -1, 0, false)).toEqual({ code: 'int', bits: 1 });
    expect(choosePacking(some, 0, 15, false)).toEqual({ code: 'uint', bits: 4 });
    expect(choosePacking(some, 0, 255, false)).toEqual({ code: 'uint', bits: 8 });
    expect(choosePacking(some, -16, 15, false)).toEqual({ code: 'int', bits: 5 });
    expect(choosePacking(some, -128, 127, false)).toBeNull();
    expect(choosePacking(some, -200, 200, false)).toBeNull();
    expect(choosePacking([1, -1, 1], -1, 1, false)).toEqual({ code: 'sign', bits: 1 });
    expect(choosePacking([0, 4, -2], -4, 4, true)).toEqual({ code: 'pow2', bits: 3 });
    expect(choosePacking([0, 64, -2], -64, 64, true)).toEqual({ code: 'pow2', bits: 4 });
  });
});
