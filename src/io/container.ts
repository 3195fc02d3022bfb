/**
 * The qgrad container: one self-checking binary file holding named typed arrays plus a
 * JSON description. Float checkpoints and int8 models are both stored in it; `kind`
 * says which (e.g. "qgrad.checkpoint", "qgrad.int8-model").
 *
 * Layout, version 1 (all integers little-endian; full description in docs/formats.md):
 *
 *   offset  size  field
 *   0       4     magic "QGRD" (0x51 0x47 0x52 0x44)
 *   4       4     u32 format version (= 1)
 *   8       4     u32 header byte length H
 *   12      H     header: UTF-8 JSON
 *                   { "kind": string, "meta": object, "dataByteLength": N,
 *                     "tensors": [ { "name", "dtype", "shape", "offset", "byteLength" }, ... ] }
 *   12+H    ..    zero padding up to D = the next multiple of 8
 *   D       N     data section; tensor t's raw little-endian elements (row-major) at
 *                 D + t.offset, every offset a multiple of 8, zero padding between
 *   D+N     4     u32 CRC-32 (zlib's) of bytes [0, D+N)
 *
 * The design follows safetensors (a JSON header describing raw, aligned little-endian
 * buffers, so a reader needs no schema), adding a version and a checksum: a truncated
 * or bit-flipped checkpoint must fail loudly instead of loading wrong weights.
 *
 * Decoding is all-or-nothing: every check runs before any output array is created,
 * and the output arrays are fresh copies that never alias the input bytes.
 */

import { crc32 } from './crc32.js';
import { FileFormatError, printableBytes } from './format-error.js';

export const CONTAINER_MAGIC = 'QGRD';
export const CONTAINER_VERSION = 1;

/** JSON values, as `JSON.parse` produces them. */
export type JsonValue = null | boolean | number | string | readonly JsonValue[] | JsonObject;
/** A JSON object. Declare meta shapes with `type` (not `interface`) so they are assignable to this. */
export type JsonObject = { readonly [key: string]: JsonValue };

interface ContainerArrayTypes {
  float32: Float32Array;
  float64: Float64Array;
  int32: Int32Array;
  int8: Int8Array;
  uint8: Uint8Array;
}
export type ContainerDtype = keyof ContainerArrayTypes;

/** One named array: its element type, its shape (row-major) and its elements. */
export type ContainerArray = {
  [D in ContainerDtype]: { dtype: D; shape: readonly number[]; data: ContainerArrayTypes[D] };
}[ContainerDtype];

export interface Container {
  /** What the file holds, e.g. "qgrad.checkpoint"; readers should check it. */
  kind: string;
  meta: JsonObject;
  arrays: Record<string, ContainerArray>;
}

const ARRAY_CONSTRUCTORS = {
  float32: Float32Array,
  float64: Float64Array,
  int32: Int32Array,
  int8: Int8Array,
  uint8: Uint8Array,
} as const;

const PREAMBLE_BYTES = 12; // magic + version + header length
const CHECKSUM_BYTES = 4;
const ALIGN = 8; // the largest element size, so every array can be viewed in place

interface TensorEntry {
  name: string;
  dtype: ContainerDtype;
  shape: number[];
  offset: number;
  byteLength: number;
}

// ---------------------------------------------------------------------------- encode

/** Serialise `container` to bytes (see the layout in the module comment). */
export function encodeContainer(container: Container): Uint8Array {
  if (typeof container.kind !== 'string') throw new TypeError('container.kind must be a string');
  assertJson(container.meta, 'meta');
  if (container.meta === null || typeof container.meta !== 'object' || Array.isArray(container.meta)) {
    throw new TypeError('container.meta must be a JSON object');
  }

  const entries: TensorEntry[] = [];
  let dataByteLength = 0;
  for (const [name, array] of Object.entries(container.arrays)) {
    const Ctor = ARRAY_CONSTRUCTORS[array.dtype];
    if (Ctor === undefined) throw new TypeError(`array '${name}': unknown dtype '${String(array.dtype)}'`);
    if (!(array.data instanceof Ctor)) {
      throw new TypeError(`array '${name}': dtype '${array.dtype}' needs a ${Ctor.name}, got ${describeValue(array.data)}`);
    }
    const count = elementCount(array.shape);
    if (count === undefined) throw new TypeError(`array '${name}': invalid shape [${String(array.shape)}]`);
    if (count !== array.data.length) {
      throw new TypeError(`array '${name}': shape [${array.shape.join(', ')}] has ${count} elements but data has ${array.data.length}`);
    }
    const offset = alignUp(dataByteLength);
    const byteLength = array.data.byteLength;
    entries.push({ name, dtype: array.dtype, shape: [...array.shape], offset, byteLength });
    dataByteLength = offset + byteLength;
  }

  const header = new TextEncoder().encode(
    JSON.stringify({ kind: container.kind, meta: container.meta, dataByteLength, tensors: entries }),
  );
  const dataStart = alignUp(PREAMBLE_BYTES + header.length);
  const out = new Uint8Array(dataStart + dataByteLength + CHECKSUM_BYTES); // zero-filled: padding is 0
  const view = new DataView(out.buffer);

  out.set(new TextEncoder().encode(CONTAINER_MAGIC), 0);
  view.setUint32(4, CONTAINER_VERSION, true);
  view.setUint32(8, header.length, true);
  out.set(header, PREAMBLE_BYTES);
  for (const entry of entries) {
    writeLittleEndian(container.arrays[entry.name]!, out, dataStart + entry.offset);
  }
  const end = dataStart + dataByteLength;
  view.setUint32(end, crc32(out.subarray(0, end)), true);
  return out;
}

// ---------------------------------------------------------------------------- decode

/**
 * Parse and validate a container. Throws `FileFormatError` naming `sourceName` and the
 * problem for anything that is not a complete, intact version-1 file.
 */
export function decodeContainer(bytes: Uint8Array, sourceName = '<bytes>'): Container {
  function fail(problem: string): never {
    throw new FileFormatError(sourceName, problem);
  }

  // Magic first, so a foreign file is reported as foreign rather than as "corrupt".
  const magic = bytes.subarray(0, 4);
  if (!sameBytes(magic, new TextEncoder().encode(CONTAINER_MAGIC))) {
    fail(bytes.length === 0 ? 'empty file, not a qgrad file' : `not a qgrad file (magic '${printableBytes(magic)}')`);
  }
  if (bytes.length < PREAMBLE_BYTES + CHECKSUM_BYTES) {
    fail(`truncated: ${bytes.length} bytes is shorter than the ${PREAMBLE_BYTES + CHECKSUM_BYTES}-byte minimum`);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);

  // Version before checksum: a future version may checksum differently.
  const version = view.getUint32(4, true);
  if (version !== CONTAINER_VERSION) {
    fail(`unsupported format version ${version} (this qgrad reads version ${CONTAINER_VERSION})`);
  }

  // The checksum is the last 4 bytes whatever the header says, so it can be verified
  // before trusting a single header field.
  const end = bytes.length - CHECKSUM_BYTES;
  const stored = view.getUint32(end, true);
  const actual = crc32(bytes.subarray(0, end));
  if (stored !== actual) fail('checksum mismatch (file corrupt or truncated)');

  const headerLength = view.getUint32(8, true);
  if (PREAMBLE_BYTES + headerLength > end) {
    fail(`header length ${headerLength} runs past the end of the ${bytes.length}-byte file`);
  }
  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(PREAMBLE_BYTES, PREAMBLE_BYTES + headerLength)));
  } catch (error) {
    fail(`header is not valid UTF-8 JSON (${error instanceof Error ? error.message : String(error)})`);
  }
  if (!isPlainObject(header)) fail('header is not a JSON object');

  const { kind, meta, dataByteLength, tensors, ...unknownFields } = header;
  for (const key of Object.keys(unknownFields)) fail(`unknown header field '${key}' (allowed: kind, meta, dataByteLength, tensors)`);
  if (typeof kind !== 'string') fail("header field 'kind' must be a string");
  if (!isPlainObject(meta)) fail("header field 'meta' must be an object");
  if (!isByteCount(dataByteLength)) fail("header field 'dataByteLength' must be a non-negative integer");
  if (!Array.isArray(tensors)) fail("header field 'tensors' must be an array");

  const dataStart = alignUp(PREAMBLE_BYTES + headerLength);
  const expectedLength = dataStart + dataByteLength + CHECKSUM_BYTES;
  if (bytes.length !== expectedLength) {
    fail(`file is ${bytes.length} bytes but its header describes ${expectedLength}`);
  }

  const entries = tensors.map((raw, i) => validateEntry(raw, i, dataByteLength, fail));
  const seen = new Set<string>();
  for (const entry of entries) {
    if (seen.has(entry.name)) fail(`tensor '${entry.name}' appears twice`);
    seen.add(entry.name);
  }
  const byOffset = [...entries].sort((a, b) => a.offset - b.offset);
  for (let i = 1; i < byOffset.length; i++) {
    const prev = byOffset[i - 1]!;
    if (prev.offset + prev.byteLength > byOffset[i]!.offset) {
      fail(`tensors '${prev.name}' and '${byOffset[i]!.name}' overlap`);
    }
  }

  // The format's padding is zero and no wider than alignment needs: anything else in the bytes
  // that no tensor covers is a damaged or crafted file (a CRC recomputed over edits), not data.
  const nonZeroAt = (from: number, to: number): number => {
    for (let i = from; i < to; i++) if (bytes[i] !== 0) return i;
    return -1;
  };
  const headerPad = nonZeroAt(PREAMBLE_BYTES + headerLength, dataStart);
  if (headerPad >= 0) fail(`non-zero padding byte at offset ${headerPad} after the header`);
  let covered = 0;
  for (const entry of [...byOffset, { name: '', offset: dataByteLength, byteLength: 0 }]) {
    const gap = entry.offset - covered;
    if (gap >= ALIGN) fail(`${gap} unused bytes in the data section before offset ${entry.offset} (only alignment padding, < ${ALIGN} bytes, is allowed)`);
    const at = nonZeroAt(dataStart + covered, dataStart + entry.offset);
    if (at >= 0) fail(`non-zero padding byte at offset ${at} in the data section`);
    covered = Math.max(covered, entry.offset + entry.byteLength);
  }

  // Everything is valid: only now build the output.
  const arrays: Record<string, ContainerArray> = {};
  for (const entry of entries) {
    // defineProperty, not assignment: a tensor named "__proto__" must stay a tensor.
    Object.defineProperty(arrays, entry.name, {
      value: readLittleEndian(bytes, dataStart + entry.offset, entry),
      enumerable: true,
      writable: true,
      configurable: true,
    });
  }
  return { kind, meta: meta as JsonObject, arrays };
}

function validateEntry(raw: unknown, index: number, dataByteLength: number, fail: (problem: string) => never): TensorEntry {
  if (!isPlainObject(raw)) return fail(`tensor table entry ${index} is not an object`);
  const { name, dtype, shape, offset, byteLength, ...unknownFields } = raw;
  if (typeof name !== 'string') return fail(`tensor table entry ${index} has no string 'name'`);
  const what = `tensor '${name}'`;
  for (const key of Object.keys(unknownFields)) fail(`${what}: unknown field '${key}' (allowed: name, dtype, shape, offset, byteLength)`);
  if (typeof dtype !== 'string' || !Object.hasOwn(ARRAY_CONSTRUCTORS, dtype)) {
    return fail(`${what}: unknown dtype ${JSON.stringify(dtype)}`);
  }
  const itemSize = ARRAY_CONSTRUCTORS[dtype as ContainerDtype].BYTES_PER_ELEMENT;
  const count = Array.isArray(shape) ? elementCount(shape) : undefined;
  if (count === undefined) return fail(`${what}: invalid shape ${JSON.stringify(shape)}`);
  if (!isByteCount(offset) || offset % ALIGN !== 0) {
    return fail(`${what}: offset ${JSON.stringify(offset)} is not a non-negative multiple of ${ALIGN}`);
  }
  if (!isByteCount(byteLength) || byteLength !== count * itemSize) {
    return fail(`${what}: byteLength ${JSON.stringify(byteLength)} does not match shape [${(shape as number[]).join(', ')}] of ${dtype} (${count * itemSize} bytes)`);
  }
  if (offset + byteLength > dataByteLength) {
    return fail(`${what}: bytes [${offset}, ${offset + byteLength}) lie outside the ${dataByteLength}-byte data section`);
  }
  return { name, dtype: dtype as ContainerDtype, shape: [...(shape as number[])], offset, byteLength };
}

// ---------------------------------------------------------------------------- bytes

/** True on x86, ARM and every platform Node ships for today; big-endian hosts take the DataView path. */
const HOST_IS_LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

function writeLittleEndian(array: ContainerArray, out: Uint8Array, at: number): void {
  const { data } = array;
  out.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength), at);
  if (!HOST_IS_LITTLE_ENDIAN) reverseEachElement(out.subarray(at, at + data.byteLength), data.BYTES_PER_ELEMENT);
}

function readLittleEndian(bytes: Uint8Array, at: number, entry: TensorEntry): ContainerArray {
  const Ctor = ARRAY_CONSTRUCTORS[entry.dtype];
  const data = new Ctor(entry.byteLength / Ctor.BYTES_PER_ELEMENT);
  const raw = new Uint8Array(data.buffer);
  raw.set(bytes.subarray(at, at + entry.byteLength));
  if (!HOST_IS_LITTLE_ENDIAN) reverseEachElement(raw, Ctor.BYTES_PER_ELEMENT);
  return { dtype: entry.dtype, shape: entry.shape, data } as ContainerArray;
}

/** Byte-swap every `itemSize`-byte element in place (little- <-> big-endian). */
function reverseEachElement(bytes: Uint8Array, itemSize: number): void {
  if (itemSize === 1) return;
  for (let i = 0; i < bytes.length; i += itemSize) bytes.subarray(i, i + itemSize).reverse();
}

// ---------------------------------------------------------------------------- helpers

function alignUp(n: number): number {
  return Math.ceil(n / ALIGN) * ALIGN;
}

/** Product of a shape's dims, or undefined if a dim is not a non-negative safe integer or the product overflows. */
function elementCount(shape: readonly unknown[]): number | undefined {
  let count = 1;
  for (const dim of shape) {
    if (typeof dim !== 'number' || !Number.isSafeInteger(dim) || dim < 0) return undefined;
    count *= dim;
  }
  // A byte length of count * 8 must stay exact.
  return Number.isSafeInteger(count * ALIGN) ? count : undefined;
}

function isByteCount(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

function describeValue(value: unknown): string {
  if (value === null) return 'null';
  if (typeof value === 'object') return value.constructor?.name ?? 'object';
  return typeof value;
}

/**
 * Reject what JSON.stringify would silently drop or change (undefined, NaN, Infinity,
 * functions, bigint, Dates, typed arrays, Maps), so meta reads back exactly as written.
 */
function assertJson(value: unknown, path: string): void {
  if (value === null || typeof value === 'string' || typeof value === 'boolean') return;
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new TypeError(`${path} is ${value}, which JSON cannot represent`);
    return;
  }
  if (Array.isArray(value)) {
    value.forEach((item, i) => assertJson(item, `${path}[${i}]`));
    return;
  }
  if (typeof value === 'object' && (Object.getPrototypeOf(value) === Object.prototype || Object.getPrototypeOf(value) === null)) {
    for (const [key, item] of Object.entries(value as object)) assertJson(item, `${path}.${key}`);
    return;
  }
  throw new TypeError(`${path} is ${describeValue(value)}, which is not JSON (use plain objects, arrays, strings, finite numbers, booleans, null)`);
}
