/**
 * Sub-byte packing of weight levels: n levels of b bits each stored in ceil(n·b/8) bytes, so that a
 * 4-bit model file holds half the weight bytes of an 8-bit one (issue 14, item 6). Pure bytes, no
 * Node: format.ts uses it to write and read 'qgrad.int8-model' files (docs/formats.md, "packed
 * weights").
 *
 * Order (little-endian, as ONNX packs INT4/UINT4, "the first element in the 4 least significant
 * bits"): the levels form one bit stream; element i occupies stream bits [i·b, (i+1)·b), its least
 * significant bit first, and stream bit j is bit (j mod 8) of byte floor(j/8). At 4 bits element 2i
 * is the low nibble of byte i and element 2i+1 the high nibble; at 2 bits element 4i is bits 0-1 of
 * byte i; at 1 bit element 8i is bit 0. Widths that do not divide 8 (3, 5, 6, 7) let a field straddle
 * two bytes. The unused high bits of the last byte (padding) are zero.
 *
 * Each b-bit field f is one of four codes:
 *   int   two's complement: level = f − 2^b when f ≥ 2^(b−1), else f; levels [−2^(b−1), 2^(b−1) − 1]
 *   uint  level = f; levels [0, 2^b − 1]
 *   pow2  sign and exponent (pow2.ts, Miyashita et al. 2016): the top bit s is the sign, the other
 *         b − 1 bits m; m = 0 is level 0 (with s = 0: s = 1, m = 0 is not a code), else level
 *         (−1)^s · 2^(m−1); levels 0, ±1, ±2, …, ±2^(2^(b−1) − 2) (b = 2..5; 4 bits: up to ±64)
 *   sign  b = 1, binary weights (binary.ts): 0 is level −1, 1 is level +1
 */

export type PackCode = 'int' | 'uint' | 'pow2' | 'sign';
export const PACK_CODES: readonly PackCode[] = ['int', 'uint', 'pow2', 'sign'];

/** How one weight array is packed: the code of each field and its width in bits. */
export interface WeightPacking {
  code: PackCode;
  bits: number;
}

/** Bytes that n fields of `bits` bits take: ceil(n·b/8). */
export function packedByteLength(n: number, bits: number): number {
  return Math.ceil((n * bits) / 8);
}

/** Why `packing` is not a valid code and width, or null. */
export function packingProblem(packing: WeightPacking): string | null {
  const { code, bits } = packing;
  if (!PACK_CODES.includes(code)) return `code must be one of ${PACK_CODES.join(', ')}, got ${JSON.stringify(code)}`;
  const [lo, hi] = code === 'sign' ? [1, 1] : code === 'pow2' ? [2, 5] : [1, 8];
  if (!Number.isInteger(bits) || bits < lo || bits > hi) return `bits must be an integer in [${lo}, ${hi}] for code '${code}', got ${JSON.stringify(bits)}`;
  return null;
}

/** The smallest and largest level the code can hold. */
export function packingRange({ code, bits }: WeightPacking): { min: number; max: number } {
  switch (code) {
    case 'int':
      return { min: -(2 ** (bits - 1)), max: 2 ** (bits - 1) - 1 };
    case 'uint':
      return { min: 0, max: 2 ** bits - 1 };
    case 'pow2': {
      const top = 2 ** (2 ** (bits - 1) - 2);
      return { min: -top, max: top };
    }
    case 'sign':
      return { min: -1, max: 1 };
  }
}

/** The field that stores `level`, or −1 when the code cannot hold it. */
export function encodeField(level: number, { code, bits }: WeightPacking): number {
  const { min, max } = packingRange({ code, bits });
  if (!Number.isInteger(level) || level < min || level > max) return -1;
  switch (code) {
    case 'int':
      return level < 0 ? level + 2 ** bits : level;
    case 'uint':
      return level;
    case 'pow2': {
      if (level === 0) return 0;
      const magnitude = Math.abs(level);
      const k = 31 - Math.clz32(magnitude);
      if (2 ** k !== magnitude) return -1; // not a power of two
      return (level < 0 ? 1 << (bits - 1) : 0) | (k + 1);
    }
    case 'sign':
      return level === 1 ? 1 : level === -1 ? 0 : -1;
  }
}

/** The level a field stores, or null for a field that is not a code (pow2's "negative zero"). */
export function decodeField(field: number, { code, bits }: WeightPacking): number | null {
  switch (code) {
    case 'int':
      return field >= 2 ** (bits - 1) ? field - 2 ** bits : field;
    case 'uint':
      return field;
    case 'pow2': {
      const negative = field >> (bits - 1);
      const m = field & ((1 << (bits - 1)) - 1);
      if (m === 0) return negative ? null : 0;
      return (negative ? -1 : 1) * 2 ** (m - 1);
    }
    case 'sign':
      return field === 1 ? 1 : -1;
  }
}

/** Pack `levels` with `packing`; throws (naming the element) when a level is not representable. */
export function packLevels(levels: ArrayLike<number>, packing: WeightPacking): Uint8Array {
  const problem = packingProblem(packing);
  if (problem !== null) throw new Error(`packLevels: ${problem}`);
  const { bits } = packing;
  const out = new Uint8Array(packedByteLength(levels.length, bits));
  for (let i = 0; i < levels.length; i++) {
    const f = encodeField(levels[i], packing);
    if (f < 0) throw new Error(`packLevels: level ${levels[i]} at index ${i} is not representable as '${packing.code}' in ${bits} bits`);
    const bit = i * bits, byte = bit >> 3, offset = bit & 7;
    // A field spans at most two bytes (b ≤ 8).
    const wide = f << offset;
    out[byte] |= wide & 0xff;
    if (offset + bits > 8) out[byte + 1] |= wide >> 8;
  }
  return out;
}

/**
 * Unpack n levels from `bytes`, checking everything a reader of a file must: the byte length is
 * ceil(n·b/8), the padding bits are zero, every field is a code, and every level lies in
 * [rangeMin, rangeMax] (the layer's declared weight range). Errors start with `what` (e.g. the
 * layer and array) and name the element. The result is an Int8Array when every level the code can
 * hold fits int8, else an Int32Array.
 */
export function unpackLevels(
  bytes: Uint8Array, n: number, packing: WeightPacking, rangeMin: number, rangeMax: number, what: string,
): Int8Array | Int32Array {
  const problem = packingProblem(packing);
  if (problem !== null) throw new Error(`${what}: packing ${problem}`);
  const { bits } = packing;
  const expected = packedByteLength(n, bits);
  if (bytes.length !== expected) {
    throw new Error(`${what}: ${bytes.length} packed bytes, expected ceil(${n}·${bits}/8) = ${expected} for ${n} levels of ${bits} bits`);
  }
  const usedBits = n * bits;
  if (usedBits % 8 !== 0 && bytes[expected - 1] >> (usedBits % 8) !== 0) {
    throw new Error(`${what}: padding bits of the last byte are not zero (byte 0x${bytes[expected - 1].toString(16).padStart(2, '0')}, ${8 - (usedBits % 8)} padding bits)`);
  }
  const range = packingRange(packing);
  const out = range.min >= -128 && range.max <= 127 ? new Int8Array(n) : new Int32Array(n);
  const mask = (1 << bits) - 1;
  for (let i = 0; i < n; i++) {
    const bit = i * bits, byte = bit >> 3, offset = bit & 7;
    const pair = bytes[byte] | (offset + bits > 8 ? bytes[byte + 1] << 8 : 0);
    const field = (pair >> offset) & mask;
    const level = decodeField(field, packing);
    if (level === null) throw new Error(`${what}: element ${i} has field ${field} (0b${field.toString(2).padStart(bits, '0')}), which is not a '${packing.code}' code`);
    if (level < rangeMin || level > rangeMax) {
      throw new Error(`${what}: element ${i} is level ${level}, outside the declared range [${rangeMin}, ${rangeMax}]`);
    }
    out[i] = level;
  }
  return out;
}

/**
 * The tightest packing for a layer's weights, or null when packing saves nothing (8-bit int
 * levels stay a plain int8 array, wider ones int32). `pow2` says the layer's levels are the
 * power-of-two code (the layer's weightCode); its width then follows the declared range, like
 * every other code's, so that all layers of a b-bit model pack alike. Weights that are all ±1
 * (binary) take one bit whatever their range.
 */
export function choosePacking(levels: ArrayLike<number>, weightQmin: number, weightQmax: number, pow2: boolean): WeightPacking | null {
  if (pow2) {
    const top = Math.max(Math.abs(weightQmin), Math.abs(weightQmax));
    for (let bits = 2; bits <= 5; bits++) {
      const packing: WeightPacking = { code: 'pow2', bits };
      if (packingRange(packing).max >= top) return allEncode(levels, packing) ? packing : null;
    }
    return null;
  }
  if (levels.length > 0 && allEncode(levels, { code: 'sign', bits: 1 })) return { code: 'sign', bits: 1 };
  for (let bits = 1; bits <= 8; bits++) {
    for (const code of ['uint', 'int'] as const) {
      const r = packingRange({ code, bits });
      if (r.min <= weightQmin && weightQmax <= r.max) {
        // 8-bit signed levels are already one byte each in an int8 array (format version 1).
        return bits === 8 && code === 'int' ? null : { code, bits };
      }
    }
  }
  return null;
}

function allEncode(levels: ArrayLike<number>, packing: WeightPacking): boolean {
  for (let i = 0; i < levels.length; i++) if (encodeField(levels[i], packing) < 0) return false;
  return true;
}
