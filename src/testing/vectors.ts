/**
 * Golden vectors: the reference's answers for chosen inputs, as data, so an implementation in
 * another language can be compared without running JavaScript. Node-free (no file I/O here: the CLI
 * in examples/conformance/cli.ts writes and reads the files).
 *
 * A vector set holds, for one convention and tie rule:
 *   groups     per-tensor qparams (bits, qmin, qmax, float32 scale, zero point)
 *   quant      one input x per record with quantize's level, dequantize(level), fakeQuantize's y and
 *              its STE mask, and flags naming why the input is there (an exact tie, a tie's float32
 *              neighbour, a range edge, beyond the range, within half a step outside the float range)
 *   requantize int32 accumulators with a quantized multiplier, zero point and range, and the output
 *              level clamp(MultiplyByQuantizedMultiplier(acc) + zp) (flags: exact tie, clamped, int32 end)
 * docs/conformance.md documents the JSON and the binary layout (encodeVectors / decodeVectors).
 */
import {
  multiplyByQuantizedMultiplier,
  qrange,
  roundHalfEven,
  type QParams,
  type Rounding,
} from '../quant/numerics/index.js';
import { nextFloat32, scaledInput, tieInput } from './arbitraries.js';
import { defaultRounding, reference, type Convention } from './convention.js';

const fround = Math.fround;

export const VECTOR_FORMAT = 'qgrad-conformance-vectors';
export const VECTOR_VERSION = 1;

export const QUANT_FLAGS = ['tie', 'tieNeighbour', 'qmin', 'qmax', 'beyond', 'maskEdge', 'zero'] as const;
export type QuantFlag = (typeof QUANT_FLAGS)[number];
export const REQUANT_FLAGS = ['tie', 'clamp', 'int32Edge'] as const;
export type RequantFlag = (typeof REQUANT_FLAGS)[number];

export interface VectorGroup {
  id: number;
  bits: number;
  qmin: number;
  qmax: number;
  /** float32 value; scaleBits is its IEEE-754 bit pattern. */
  scale: number;
  scaleBits: number;
  zeroPoint: number;
}

export interface QuantVector {
  id: number;
  group: number;
  x: number;
  xBits: number;
  /** quantize(x). */
  level: number;
  /** dequantize(level), float32. */
  deq: number;
  /** fakeQuantize(x), float32. */
  fq: number;
  /** fakeQuantize's STE mask. */
  mask: 0 | 1;
  flags: QuantFlag[];
}

export interface RequantVector {
  id: number;
  acc: number;
  multiplier: number;
  shift: number;
  zeroPoint: number;
  qmin: number;
  qmax: number;
  out: number;
  flags: RequantFlag[];
}

export interface VectorSet {
  format: typeof VECTOR_FORMAT;
  version: number;
  convention: Convention;
  rounding: Rounding;
  bits: number[];
  seed: number;
  groups: VectorGroup[];
  quant: QuantVector[];
  requantize: RequantVector[];
}

export interface VectorOptions {
  convention: Convention;
  rounding?: Rounding;
  bits: readonly number[];
  seed?: number;
}

function bitsOf(x: number): number {
  return new Uint32Array(new Float32Array([x]).buffer)[0];
}

/** mulberry32: a tiny seeded PRNG, so the same options give the same vectors everywhere. */
function prng(seed: number): () => number {
  let a = seed | 0;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A group's inputs, each with the flags that say why it is there (before the level-dependent flags). */
export interface GroupInputs {
  bits: number;
  p: QParams;
  xs: readonly number[];
  /** Flags known from how x was chosen (tie, tieNeighbour); the rest are derived. */
  given?: readonly QuantFlag[][];
}

/**
 * The quant records for given groups of inputs under a convention: the reference's level, dequantized
 * level, fake-quantized value and mask, and flags. Used by generateVectors and to turn any inputs
 * (e.g. another framework's fixtures) into vectors.
 */
export function buildQuantVectors(convention: Convention, rounding: Rounding, inputs: readonly GroupInputs[]): { groups: VectorGroup[]; quant: QuantVector[] } {
  const ref = reference(convention, rounding);
  const groups: VectorGroup[] = [];
  const quant: QuantVector[] = [];
  inputs.forEach((g, gi) => {
    const p = { ...g.p, scale: fround(g.p.scale), rounding };
    groups.push({ id: gi, bits: g.bits, qmin: p.qmin, qmax: p.qmax, scale: p.scale, scaleBits: bitsOf(p.scale), zeroPoint: p.zeroPoint });
    const x = Float32Array.from(g.xs);
    const level = ref.quantize(x, p);
    const deq = ref.dequantize(level, p);
    const { y, mask } = ref.fakeQuantize(x, p);
    const lo = fround((p.qmin - p.zeroPoint) * p.scale);
    const hi = fround((p.qmax - p.zeroPoint) * p.scale);
    x.forEach((xi, i) => {
      const flags = new Set<QuantFlag>(g.given?.[i] ?? []);
      const t = scaledInput(xi, p.scale, convention);
      if (Number.isFinite(t) && Math.abs(t - Math.trunc(t)) === 0.5) flags.add('tie');
      if (level[i] === p.qmin) flags.add('qmin');
      if (level[i] === p.qmax) flags.add('qmax');
      const unclamped = p.zeroPoint + roundHalfEven(t);
      if (!Number.isFinite(t) || unclamped < p.qmin || unclamped > p.qmax) flags.add('beyond');
      if ((xi < lo && xi >= lo - p.scale / 2) || (xi > hi && xi <= hi + p.scale / 2)) flags.add('maskEdge');
      if (xi === 0) flags.add('zero');
      quant.push({
        id: quant.length, group: gi, x: xi, xBits: bitsOf(xi), level: level[i], deq: deq[i], fq: y[i], mask: mask[i] as 0 | 1,
        flags: QUANT_FLAGS.filter((f) => flags.has(f)),
      });
    });
  });
  return { groups, quant };
}

const SCALES = [fround(1e-8), fround(0.00214854861), fround(0.1), 2 ** -3, 1, fround(1e4)];

function groupInputs(bits: number, p: QParams, convention: Convention, rnd: () => number): GroupInputs {
  const s = fround(p.scale);
  const xs: number[] = [];
  const given: QuantFlag[][] = [];
  const add = (x: number, flags: QuantFlag[] = []) => {
    if (Number.isFinite(x)) {
      xs.push(fround(x));
      given.push(flags);
    }
  };
  const kLo = p.qmin - p.zeroPoint, kHi = p.qmax - p.zeroPoint;
  const ks = new Set([kLo - 1, kLo, -2, -1, 0, 1, kHi - 1, kHi]);
  for (let j = 0; j < 2; j++) ks.add(kLo + Math.floor(rnd() * (kHi - kLo)));
  for (const k of ks) {
    const x = tieInput(s, k, convention);
    if (x === undefined) continue;
    add(x);
    add(nextFloat32(x, 1), ['tieNeighbour']);
    add(nextFloat32(x, -1), ['tieNeighbour']);
  }
  const lo = fround(kLo * s), hi = fround(kHi * s);
  for (const x of [lo, hi, 0, lo - s / 4, hi + s / 4, 2 * lo - s, 2 * hi + s]) add(x);
  for (let j = 0; j < 4; j++) add(lo - s + (hi - lo + 2 * s) * rnd());
  return { bits, p, xs, given };
}

function requantVectors(bits: readonly number[], rnd: () => number): RequantVector[] {
  const out: RequantVector[] = [];
  const multipliers = [
    { multiplier: 2 ** 30, shift: -3 }, // 2^-4: every odd multiple of 2^3 is a tie
    { multiplier: 1610612736, shift: -7 },
    { multiplier: 2 ** 31 - 1, shift: 0 },
    { multiplier: 1395864371, shift: -10 },
    { multiplier: 2 ** 30, shift: 2 },
  ];
  for (const b of bits) {
    for (const signed of [true, false]) {
      const { qmin, qmax } = qrange(b, signed);
      for (const { multiplier, shift } of multipliers) {
        const zp = signed ? 0 : (qmin + qmax + 1) >> 1;
        const limit = shift > 0 ? 2 ** (31 - shift) - 1 : 2 ** 31 - 1;
        const accs = [0, 1, -1, limit, -limit, 12, -12, 40, -40, 24, -24];
        for (let j = 0; j < 6; j++) accs.push(0 + Math.round((rnd() * 2 - 1) * Math.min(limit, 2 ** Math.max(4, -shift + b + 1))));
        for (const acc of accs) {
          const v = multiplyByQuantizedMultiplier(acc, multiplier, shift) + zp;
          const flags: RequantFlag[] = [];
          const num = BigInt(acc) * BigInt(multiplier) * (shift > 0 ? 2n ** BigInt(shift) : 1n);
          const den = 2n ** (31n + (shift > 0 ? 0n : BigInt(-shift)));
          if ((((num % den) + den) % den) === den / 2n) flags.push('tie');
          if (v < qmin || v > qmax) flags.push('clamp');
          if (Math.abs(acc) >= limit) flags.push('int32Edge');
          out.push({ id: out.length, acc, multiplier, shift, zeroPoint: zp, qmin, qmax, out: Math.min(qmax, Math.max(qmin, v)), flags });
        }
      }
    }
  }
  return out;
}

function checkVectorOptions(o: VectorOptions): void {
  if (o.convention !== 'pytorch' && o.convention !== 'tflite') {
    throw new Error(`vectors: convention must be 'pytorch' or 'tflite', got ${JSON.stringify(o.convention)}`);
  }
  if (o.rounding !== undefined && o.rounding !== 'halfEven' && o.rounding !== 'halfAwayFromZero') {
    throw new Error(`vectors: rounding must be 'halfEven' or 'halfAwayFromZero', got ${JSON.stringify(o.rounding)}`);
  }
  if (!Array.isArray(o.bits) || o.bits.length === 0 || o.bits.some((b) => !Number.isInteger(b) || b < 1 || b > 16)) {
    throw new Error(`vectors: bits must be a non-empty list of integers in 1..16, got ${JSON.stringify(o.bits)}`);
  }
  if (o.seed !== undefined && (!Number.isInteger(o.seed) || o.seed < 0 || o.seed > 0xffffffff)) {
    throw new Error(`vectors: seed must be an integer in 0..2^32-1, got ${o.seed}`);
  }
}

/**
 * The golden vectors for a convention, tie rule and bit widths: per bit width, signed, unsigned and
 * narrow ranges, six scales from 1e-8 to 1e4 and zero points at an end and inside the range.
 */
export function generateVectors(o: VectorOptions): VectorSet {
  checkVectorOptions(o);
  const rounding = o.rounding ?? defaultRounding(o.convention);
  const seed = o.seed ?? 1;
  const rnd = prng(seed);
  // Ascending and without repeats, as the binary header stores them (a bit mask).
  const widths = [...new Set(o.bits)].sort((a, b) => a - b);
  const inputs: GroupInputs[] = [];
  for (const bits of widths) {
    for (const kind of ['signed', 'unsigned', 'narrow'] as const) {
      if (kind === 'narrow' && bits < 2) continue;
      const { qmin, qmax } = qrange(bits, kind !== 'unsigned', { narrow: kind === 'narrow' });
      for (const scale of SCALES) {
        const inside = qmin + Math.floor(rnd() * (qmax - qmin + 1));
        for (const zeroPoint of new Set([qmin < 0 ? 0 : qmin, inside])) {
          inputs.push(groupInputs(bits, { scale, zeroPoint, qmin, qmax }, o.convention, rnd));
        }
      }
    }
  }
  const { groups, quant } = buildQuantVectors(o.convention, rounding, inputs);
  return {
    format: VECTOR_FORMAT, version: VECTOR_VERSION, convention: o.convention, rounding, bits: widths, seed,
    groups, quant, requantize: requantVectors(widths, rnd),
  };
}

// ---- binary form ---------------------------------------------------------------------------------

export const VECTOR_MAGIC = 'QGCV';
export const HEADER_BYTES = 32;
export const GROUP_BYTES = 16;
export const QUANT_BYTES = 24;
export const REQUANT_BYTES = 32;

function flagBits<T extends string>(all: readonly T[], flags: readonly T[]): number {
  return flags.reduce((m, f) => m | (1 << all.indexOf(f)), 0);
}

function flagList<T extends string>(all: readonly T[], bits: number): T[] {
  return all.filter((_, i) => (bits >> i) & 1);
}

/** The little-endian binary form documented in docs/conformance.md. */
export function encodeVectors(v: VectorSet): Uint8Array {
  const size = HEADER_BYTES + v.groups.length * GROUP_BYTES + v.quant.length * QUANT_BYTES + v.requantize.length * REQUANT_BYTES;
  const buf = new ArrayBuffer(size);
  const d = new DataView(buf);
  for (let i = 0; i < 4; i++) d.setUint8(i, VECTOR_MAGIC.charCodeAt(i));
  d.setUint16(4, v.version, true);
  d.setUint8(6, v.convention === 'pytorch' ? 0 : 1);
  d.setUint8(7, v.rounding === 'halfEven' ? 0 : 1);
  d.setUint32(8, v.groups.length, true);
  d.setUint32(12, v.quant.length, true);
  d.setUint32(16, v.requantize.length, true);
  d.setUint32(20, v.seed >>> 0, true);
  d.setUint32(24, v.bits.reduce((m, b) => (m | (1 << (b - 1))) >>> 0, 0), true);
  let o = HEADER_BYTES;
  for (const g of v.groups) {
    d.setInt32(o, g.qmin, true);
    d.setInt32(o + 4, g.qmax, true);
    d.setFloat32(o + 8, g.scale, true);
    d.setInt32(o + 12, g.zeroPoint, true);
    o += GROUP_BYTES;
  }
  for (const q of v.quant) {
    d.setUint32(o, q.group, true);
    d.setFloat32(o + 4, q.x, true);
    d.setInt32(o + 8, q.level, true);
    d.setFloat32(o + 12, q.deq, true);
    d.setFloat32(o + 16, q.fq, true);
    d.setUint8(o + 20, q.mask);
    d.setUint8(o + 21, flagBits(QUANT_FLAGS, q.flags));
    o += QUANT_BYTES;
  }
  for (const r of v.requantize) {
    d.setInt32(o, r.acc, true);
    d.setInt32(o + 4, r.multiplier, true);
    d.setInt32(o + 8, r.shift, true);
    d.setInt32(o + 12, r.zeroPoint, true);
    d.setInt32(o + 16, r.qmin, true);
    d.setInt32(o + 20, r.qmax, true);
    d.setInt32(o + 24, r.out, true);
    d.setUint32(o + 28, flagBits(REQUANT_FLAGS, r.flags), true);
    o += REQUANT_BYTES;
  }
  return new Uint8Array(buf);
}

/** Reads encodeVectors' bytes back; `name` is used in error messages (e.g. the file name). */
export function decodeVectors(bytes: Uint8Array, name = 'vectors'): VectorSet {
  const fail = (what: string): never => {
    throw new Error(`${name}: ${what}`);
  };
  if (bytes.length < HEADER_BYTES) fail(`${bytes.length} bytes is shorter than the ${HEADER_BYTES}-byte header`);
  const d = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const magic = String.fromCharCode(d.getUint8(0), d.getUint8(1), d.getUint8(2), d.getUint8(3));
  if (magic !== VECTOR_MAGIC) fail(`magic must be ${VECTOR_MAGIC}, got ${JSON.stringify(magic)}`);
  const version = d.getUint16(4, true);
  if (version !== VECTOR_VERSION) fail(`version ${version} is not supported (expected ${VECTOR_VERSION})`);
  const conv = d.getUint8(6), rnd = d.getUint8(7);
  if (conv > 1) fail(`convention byte must be 0 (pytorch) or 1 (tflite), got ${conv}`);
  if (rnd > 1) fail(`rounding byte must be 0 (halfEven) or 1 (halfAwayFromZero), got ${rnd}`);
  const nGroups = d.getUint32(8, true), nQuant = d.getUint32(12, true), nReq = d.getUint32(16, true);
  const expected = HEADER_BYTES + nGroups * GROUP_BYTES + nQuant * QUANT_BYTES + nReq * REQUANT_BYTES;
  if (bytes.length !== expected) fail(`header announces ${nGroups} groups, ${nQuant} quant and ${nReq} requantize records (${expected} bytes), file has ${bytes.length}`);
  const bitsMask = d.getUint32(24, true);
  const bits: number[] = [];
  for (let b = 1; b <= 16; b++) if ((bitsMask >>> (b - 1)) & 1) bits.push(b);
  let o = HEADER_BYTES;
  const groups: VectorGroup[] = [];
  for (let i = 0; i < nGroups; i++, o += GROUP_BYTES) {
    const qmin = d.getInt32(o, true), qmax = d.getInt32(o + 4, true), scale = d.getFloat32(o + 8, true);
    const levels = qmax - qmin + 1;
    groups.push({ id: i, bits: Math.ceil(Math.log2(levels)), qmin, qmax, scale, scaleBits: d.getUint32(o + 8, true), zeroPoint: d.getInt32(o + 12, true) });
  }
  const quant: QuantVector[] = [];
  for (let i = 0; i < nQuant; i++, o += QUANT_BYTES) {
    const group = d.getUint32(o, true);
    if (group >= nGroups) fail(`quant record ${i} names group ${group}, but there are ${nGroups}`);
    quant.push({
      id: i, group, x: d.getFloat32(o + 4, true), xBits: d.getUint32(o + 4, true), level: d.getInt32(o + 8, true),
      deq: d.getFloat32(o + 12, true), fq: d.getFloat32(o + 16, true), mask: (d.getUint8(o + 20) ? 1 : 0) as 0 | 1,
      flags: flagList(QUANT_FLAGS, d.getUint8(o + 21)),
    });
  }
  const requantize: RequantVector[] = [];
  for (let i = 0; i < nReq; i++, o += REQUANT_BYTES) {
    requantize.push({
      id: i, acc: d.getInt32(o, true), multiplier: d.getInt32(o + 4, true), shift: d.getInt32(o + 8, true),
      zeroPoint: d.getInt32(o + 12, true), qmin: d.getInt32(o + 16, true), qmax: d.getInt32(o + 20, true), out: d.getInt32(o + 24, true),
      flags: flagList(REQUANT_FLAGS, d.getUint32(o + 28, true)),
    });
  }
  return {
    format: VECTOR_FORMAT, version, convention: conv === 0 ? 'pytorch' : 'tflite', rounding: rnd === 0 ? 'halfEven' : 'halfAwayFromZero',
    bits, seed: d.getUint32(20, true), groups, quant, requantize,
  };
}

// ---- checking another implementation's outputs ---------------------------------------------------

/** What an implementation writes back: any subset of the fields, by record id. */
export interface VectorOutputs {
  quant?: { id: number; level?: number; deq?: number; fq?: number; mask?: number }[];
  requantize?: { id: number; out?: number }[];
}

export interface Mismatch {
  table: 'quant' | 'requantize';
  id: number;
  field: string;
  expected: number;
  got: number;
  flags: string[];
  /** The case in the formula's terms. */
  input: Record<string, number>;
}

export interface CheckResult {
  checked: number;
  mismatches: Mismatch[];
  /** Records of the vector set the outputs do not mention. */
  missing: number;
}

/** Throws, naming the field, unless `o` has the shape of VectorOutputs. */
export function validateOutputs(o: unknown, name = 'outputs'): VectorOutputs {
  if (o === null || typeof o !== 'object' || Array.isArray(o)) throw new Error(`${name}: must be a JSON object with "quant" and/or "requantize" arrays`);
  const rec = o as Record<string, unknown>;
  for (const key of Object.keys(rec)) {
    if (key !== 'quant' && key !== 'requantize') throw new Error(`${name}: unknown field ${JSON.stringify(key)} (allowed: quant, requantize)`);
    const arr = rec[key];
    if (!Array.isArray(arr)) throw new Error(`${name}: ${key} must be an array`);
    const fields = key === 'quant' ? ['id', 'level', 'deq', 'fq', 'mask'] : ['id', 'out'];
    arr.forEach((e, i) => {
      if (e === null || typeof e !== 'object') throw new Error(`${name}: ${key}[${i}] must be an object`);
      for (const [f, v] of Object.entries(e as Record<string, unknown>)) {
        if (!fields.includes(f)) throw new Error(`${name}: ${key}[${i}].${f} is not a field (allowed: ${fields.join(', ')})`);
        if (typeof v !== 'number' || Number.isNaN(v)) throw new Error(`${name}: ${key}[${i}].${f} must be a number, got ${JSON.stringify(v)}`);
      }
      if (!Number.isInteger((e as { id?: unknown }).id)) throw new Error(`${name}: ${key}[${i}].id must be an integer record id`);
    });
  }
  return rec as VectorOutputs;
}

/** Compares an implementation's outputs with the vectors: levels exactly, floats as float32 values. */
export function checkOutputs(v: VectorSet, outputs: VectorOutputs): CheckResult {
  const mismatches: Mismatch[] = [];
  let checked = 0;
  const seenQ = new Set<number>();
  const seenR = new Set<number>();
  for (const [i, o] of (outputs.quant ?? []).entries()) {
    const q = v.quant[o.id];
    if (q === undefined) throw new Error(`outputs: quant[${i}].id ${o.id} is not a record of the vectors (0..${v.quant.length - 1})`);
    seenQ.add(o.id);
    const g = v.groups[q.group];
    const input = { x: q.x, scale: g.scale, zeroPoint: g.zeroPoint, qmin: g.qmin, qmax: g.qmax };
    for (const field of ['level', 'deq', 'fq', 'mask'] as const) {
      const got = o[field];
      if (got === undefined) continue;
      checked++;
      const want = q[field];
      const ok = field === 'level' || field === 'mask' ? got === want : fround(got) === fround(want);
      if (!ok) mismatches.push({ table: 'quant', id: o.id, field, expected: want, got, flags: q.flags, input });
    }
  }
  for (const [i, o] of (outputs.requantize ?? []).entries()) {
    const r = v.requantize[o.id];
    if (r === undefined) throw new Error(`outputs: requantize[${i}].id ${o.id} is not a record of the vectors (0..${v.requantize.length - 1})`);
    seenR.add(o.id);
    if (o.out === undefined) continue;
    checked++;
    if (o.out !== r.out) {
      mismatches.push({ table: 'requantize', id: o.id, field: 'out', expected: r.out, got: o.out, flags: r.flags,
        input: { acc: r.acc, multiplier: r.multiplier, shift: r.shift, zeroPoint: r.zeroPoint, qmin: r.qmin, qmax: r.qmax } });
    }
  }
  return { checked, mismatches, missing: v.quant.length - seenQ.size + (v.requantize.length - seenR.size) };
}

/** One line per mismatch, then a count by flag (ties, edges, ...), so the broken rule shows. */
export function formatCheck(r: CheckResult, max = 20): string {
  const lines = [`${r.checked} values checked, ${r.mismatches.length} mismatches, ${r.missing} records without outputs`];
  for (const m of r.mismatches.slice(0, max)) {
    const input = Object.entries(m.input).map(([k, val]) => `${k} ${val}`).join(', ');
    lines.push(`  ${m.table}[${m.id}] ${m.field}: expected ${m.expected}, got ${m.got} (${input})${m.flags.length ? ` [${m.flags.join(', ')}]` : ''}`);
  }
  if (r.mismatches.length > max) lines.push(`  ... ${r.mismatches.length - max} more`);
  if (r.mismatches.length) {
    const byFlag = new Map<string, number>();
    for (const m of r.mismatches) for (const f of m.flags.length ? m.flags : ['(no flag)']) byFlag.set(f, (byFlag.get(f) ?? 0) + 1);
    lines.push(`  by flag: ${[...byFlag].map(([f, n]) => `${f} ${n}`).join(', ')}`);
  }
  return lines.join('\n');
}
