/**
 * The IDX file format (LeCun, Cortes & Burges, "THE MNIST DATABASE of handwritten
 * digits", section "FILE FORMATS FOR THE MNIST DATABASE"):
 *
 *   offset   size   field
 *   0        2      zero bytes
 *   2        1      type code: 0x08 ubyte, 0x09 byte (int8), 0x0B short (int16),
 *                   0x0C int (int32), 0x0D float (float32), 0x0E double (float64)
 *   3        1      number of dimensions n (1 for vectors, 2 for matrices, ...)
 *   4        4n     dimension sizes, big-endian uint32
 *   4+4n     ...    the elements, row-major (last index fastest), big-endian
 *
 * Read as one big-endian uint32, bytes 0..3 are the "magic number": 0x00000801 for
 * MNIST labels (ubyte, 1 dim), 0x00000803 for images (ubyte, 3 dims).
 *
 * The file carries no length or checksum of its own, so the only protection against
 * a truncated download is to insist that the length is exactly what the header
 * implies; `parseIdx` does, and names the file in every error.
 */

import { FileFormatError, printableBytes } from '../../io/format-error.js';

interface IdxArrayTypes {
  uint8: Uint8Array;
  int8: Int8Array;
  int16: Int16Array;
  int32: Int32Array;
  float32: Float32Array;
  float64: Float64Array;
}
export type IdxDtype = keyof IdxArrayTypes;

/** A parsed IDX file: element type, shape, and the elements in native byte order. */
export type IdxArray = {
  [D in IdxDtype]: { dtype: D; shape: readonly number[]; data: IdxArrayTypes[D] };
}[IdxDtype];

/** The type codes of the spec, with the spec's own names (used in error messages). */
const IDX_TYPES = [
  { code: 0x08, dtype: 'uint8', idxName: 'ubyte', Ctor: Uint8Array },
  { code: 0x09, dtype: 'int8', idxName: 'byte', Ctor: Int8Array },
  { code: 0x0b, dtype: 'int16', idxName: 'short', Ctor: Int16Array },
  { code: 0x0c, dtype: 'int32', idxName: 'int', Ctor: Int32Array },
  { code: 0x0d, dtype: 'float32', idxName: 'float', Ctor: Float32Array },
  { code: 0x0e, dtype: 'float64', idxName: 'double', Ctor: Float64Array },
] as const;
type IdxType = (typeof IDX_TYPES)[number];

const MAX_DIMS = 255; // the dimension count is one byte

/**
 * Parse IDX bytes. Checks the two zero bytes, the type code, the dimension count and
 * that the length is exactly header + elements; on failure throws a `FileFormatError`
 * whose message starts with `sourceName`. The returned data is a fresh array in the
 * host's byte order, never a view of `bytes`, unless `opts.view` is set: then byte-sized data
 * (uint8, int8) is a view of `bytes` (no copy of a 47 MB file; for callers that own `bytes`).
 */
export function parseIdx(bytes: Uint8Array, sourceName = '<bytes>', opts: { view?: boolean } = {}): IdxArray {
  function fail(problem: string): never {
    throw new FileFormatError(sourceName, problem);
  }

  if (bytes.length < 4) fail(`too short for an IDX header (${bytes.length} bytes)`);
  if (bytes[0] === 0x1f && bytes[1] === 0x8b) fail('is gzip-compressed; decompress it first (gunzip)');
  if (bytes[0] !== 0 || bytes[1] !== 0) {
    fail(`not an IDX file (magic '${printableBytes(bytes.subarray(0, 4))}', expected two zero bytes then a type code)`);
  }
  const type = IDX_TYPES.find((t) => t.code === bytes[2]);
  if (type === undefined) fail(`unknown IDX type code 0x${bytes[2]!.toString(16).padStart(2, '0')}`);
  const ndims = bytes[3]!;
  if (ndims === 0) fail('header declares 0 dimensions');

  const dataStart = 4 + 4 * ndims;
  if (bytes.length < dataStart) {
    fail(`header declares ${ndims} dimensions (${dataStart} header bytes) but the file has only ${bytes.length} bytes`);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const shape: number[] = [];
  for (let d = 0; d < ndims; d++) shape.push(view.getUint32(4 + 4 * d, false));

  // The product can exceed 2^53 for a corrupt header; it is then still larger than any
  // real file, which is all the comparison needs.
  const count = shape.reduce((a, b) => a * b, 1);
  const expected = dataStart + count * type.Ctor.BYTES_PER_ELEMENT;
  if (bytes.length !== expected) {
    const why = bytes.length < expected ? 'truncated' : `${bytes.length - expected} trailing bytes`;
    fail(`expected ${expected} bytes for ${shape.join('x')} ${type.idxName}, got ${bytes.length} (${why})`);
  }

  return { dtype: type.dtype, shape, data: readBigEndian(view, dataStart, count, type, opts.view === true) } as IdxArray;
}

/** Serialise to IDX bytes (the inverse of `parseIdx`). */
export function encodeIdx(array: IdxArray): Uint8Array {
  const type = IDX_TYPES.find((t) => t.dtype === array.dtype);
  if (type === undefined) throw new TypeError(`encodeIdx: unknown dtype '${String(array.dtype)}'`);
  if (!(array.data instanceof type.Ctor)) {
    throw new TypeError(`encodeIdx: dtype '${array.dtype}' needs a ${type.Ctor.name}`);
  }
  const { shape, data } = array;
  if (shape.length < 1 || shape.length > MAX_DIMS) {
    throw new RangeError(`encodeIdx: IDX holds 1..${MAX_DIMS} dimensions, got ${shape.length}`);
  }
  for (const dim of shape) {
    if (!Number.isInteger(dim) || dim < 0 || dim > 0xffffffff) {
      throw new RangeError(`encodeIdx: dimension ${dim} is not a uint32`);
    }
  }
  const count = shape.reduce((a, b) => a * b, 1);
  if (count !== data.length) {
    throw new RangeError(`encodeIdx: shape [${shape.join(', ')}] has ${count} elements but data has ${data.length}`);
  }

  const dataStart = 4 + 4 * shape.length;
  const out = new Uint8Array(dataStart + data.byteLength);
  const view = new DataView(out.buffer);
  out[2] = type.code;
  out[3] = shape.length;
  shape.forEach((dim, d) => view.setUint32(4 + 4 * d, dim, false));
  writeBigEndian(view, dataStart, array);
  return out;
}

function readBigEndian(view: DataView, at: number, count: number, type: IdxType, asView: boolean): IdxArrayTypes[IdxDtype] {
  const size = type.Ctor.BYTES_PER_ELEMENT;
  const from = view.byteOffset + at;
  switch (type.dtype) {
    case 'uint8':
      return asView ? new Uint8Array(view.buffer, from, count) : new Uint8Array(view.buffer.slice(from, from + count));
    case 'int8':
      return asView ? new Int8Array(view.buffer, from, count) : new Int8Array(view.buffer.slice(from, from + count));
    case 'int16': {
      const out = new Int16Array(count);
      for (let i = 0; i < count; i++) out[i] = view.getInt16(at + i * size, false);
      return out;
    }
    case 'int32': {
      const out = new Int32Array(count);
      for (let i = 0; i < count; i++) out[i] = view.getInt32(at + i * size, false);
      return out;
    }
    case 'float32': {
      const out = new Float32Array(count);
      for (let i = 0; i < count; i++) out[i] = view.getFloat32(at + i * size, false);
      return out;
    }
    case 'float64': {
      const out = new Float64Array(count);
      for (let i = 0; i < count; i++) out[i] = view.getFloat64(at + i * size, false);
      return out;
    }
  }
}

function writeBigEndian(view: DataView, at: number, array: IdxArray): void {
  const size = array.data.BYTES_PER_ELEMENT;
  const n = array.data.length;
  switch (array.dtype) {
    case 'uint8':
    case 'int8':
      new Uint8Array(view.buffer, at, n).set(new Uint8Array(array.data.buffer, array.data.byteOffset, n));
      return;
    case 'int16':
      for (let i = 0; i < n; i++) view.setInt16(at + i * size, array.data[i]!, false);
      return;
    case 'int32':
      for (let i = 0; i < n; i++) view.setInt32(at + i * size, array.data[i]!, false);
      return;
    case 'float32':
      for (let i = 0; i < n; i++) view.setFloat32(at + i * size, array.data[i]!, false);
      return;
    case 'float64':
      for (let i = 0; i < n; i++) view.setFloat64(at + i * size, array.data[i]!, false);
      return;
  }
}
