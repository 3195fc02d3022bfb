/**
 * safetensors: the format PyTorch and Hugging Face users share weights in
 * (https://github.com/huggingface/safetensors#format), encoded and decoded over plain bytes, with
 * no Node APIs (file I/O is in safetensors-file.ts):
 *
 *   [8 bytes]  N, unsigned 64-bit little-endian: the header's byte length
 *   [N bytes]  UTF-8 JSON: { "<name>": { "dtype": "F32", "shape": [..], "data_offsets": [begin, end] }, ...,
 *              "__metadata__": { string: string } (optional) }, padded with spaces
 *   [rest]     the data: each tensor row-major, little-endian, at [begin, end) counted from the
 *              first byte after the header. The format forbids holes and overlaps: the tensors
 *              tile the data region exactly.
 *
 * Decoding validates everything (header inside the file, dtype known, shape non-negative
 * integers, byte length = elements · element size, offsets inside the data, no overlap, no
 * hole) before converting anything, and every error names the buffer and the tensor's key.
 * Element types qgrad holds: F32, F64, I32 as they are; I64 into int32 with a range check
 * (PyTorch's BatchNorm num_batches_tracked is a 0-d int64); F16 and BF16 widened to float32
 * (both convert exactly).
 */
import { FileFormatError } from './format-error.js';

/** The dtypes this codec reads; it writes F32, F64, I32 and I64. */
export type SafetensorsDtype = 'F32' | 'F64' | 'I32' | 'I64' | 'F16' | 'BF16';

const ELEMENT_BYTES: Record<SafetensorsDtype, number> = { F32: 4, F64: 8, I32: 4, I64: 8, F16: 2, BF16: 2 };

/** A tensor as decoded: the file's dtype and shape, the values in the nearest qgrad array type. */
export interface SafetensorsTensor {
  dtype: SafetensorsDtype;
  shape: number[];
  data: Float32Array | Float64Array | Int32Array;
}

/** A tensor to encode. `dtype` defaults to F32/F64/I32 by the array type; 'I64' widens int32 values. */
export interface SafetensorsInput {
  shape: readonly number[];
  data: Float32Array | Float64Array | Int32Array;
  dtype?: 'F32' | 'F64' | 'I32' | 'I64';
}

export interface SafetensorsFile {
  /** In the file's header order. */
  tensors: Map<string, SafetensorsTensor>;
  metadata: Record<string, string>;
}

const MAX_HEADER_BYTES = 100_000_000; // the reference implementation's limit (safetensors/src/tensor.rs)

/** obj[key] = value as an own property, even for key '__proto__' (which plain assignment would swallow). */
function ownKey<T>(obj: Record<string, T>, key: string, value: T): void {
  Object.defineProperty(obj, key, { value, enumerable: true, writable: true, configurable: true });
}

function numel(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

function defaultDtype(data: SafetensorsInput['data']): 'F32' | 'F64' | 'I32' {
  return data instanceof Float32Array ? 'F32' : data instanceof Float64Array ? 'F64' : 'I32';
}

/**
 * Encodes tensors as safetensors bytes. Keys are written in sorted order (as the Python library
 * does), data contiguous in the same order, the header padded with spaces to a multiple of 8 so
 * every tensor starts 8-byte aligned relative to the data region.
 */
export function encodeSafetensors(tensors: Iterable<[string, SafetensorsInput]>, metadata: Record<string, string> = {}): Uint8Array {
  const entries = [...tensors].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  const header: Record<string, unknown> = {};
  let offset = 0;
  for (const [name, t] of entries) {
    if (name === '__metadata__') throw new Error(`encodeSafetensors: '__metadata__' is reserved and cannot name a tensor`);
    if (t.shape.some((d) => !Number.isInteger(d) || d < 0)) throw new Error(`encodeSafetensors: '${name}' has an invalid shape [${t.shape.join(', ')}]`);
    if (numel(t.shape) !== t.data.length) throw new Error(`encodeSafetensors: '${name}' has ${t.data.length} values for shape [${t.shape.join(', ')}]`);
    const dtype = t.dtype ?? defaultDtype(t.data);
    const bytes = t.data.length * ELEMENT_BYTES[dtype];
    ownKey(header, name, { dtype, shape: [...t.shape], data_offsets: [offset, offset + bytes] });
    offset += bytes;
  }
  if (Object.keys(metadata).length) {
    const meta: Record<string, string> = {};
    for (const [k, v] of Object.entries(metadata)) ownKey(meta, k, v);
    header.__metadata__ = meta;
  }
  let json = new TextEncoder().encode(JSON.stringify(header));
  const padded = Math.ceil(json.length / 8) * 8;
  if (padded !== json.length) {
    const p = new Uint8Array(padded).fill(0x20);
    p.set(json);
    json = p;
  }
  const out = new Uint8Array(8 + json.length + offset);
  const view = new DataView(out.buffer);
  view.setBigUint64(0, BigInt(json.length), true);
  out.set(json, 8);
  let at = 8 + json.length;
  for (const [name, t] of entries) {
    const dtype = t.dtype ?? defaultDtype(t.data);
    for (let i = 0; i < t.data.length; i++, at += ELEMENT_BYTES[dtype]) {
      const v = t.data[i];
      if (dtype === 'F32') view.setFloat32(at, v, true);
      else if (dtype === 'F64') view.setFloat64(at, v, true);
      else if (dtype === 'I32' || dtype === 'I64') {
        if (!Number.isInteger(v)) throw new Error(`encodeSafetensors: '${name}' holds ${v}, not an integer, as ${dtype}`);
        if (dtype === 'I32') view.setInt32(at, v, true);
        else view.setBigInt64(at, BigInt(v), true);
      }
    }
  }
  return out;
}

/** Decodes and validates safetensors bytes; `source` (a path or name) starts every error message. */
export function decodeSafetensors(bytes: Uint8Array, source = '<safetensors>'): SafetensorsFile {
  const fail = (problem: string): never => {
    throw new FileFormatError(source, problem);
  };
  if (bytes.length < 8) fail(`${bytes.length} bytes is too short for a safetensors file (8-byte header length first)`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const n = view.getBigUint64(0, true);
  if (n > BigInt(bytes.length - 8)) fail(`header length ${n} overruns the file (${bytes.length - 8} bytes after the length field)`);
  if (n > BigInt(MAX_HEADER_BYTES)) fail(`header length ${n} exceeds the ${MAX_HEADER_BYTES}-byte limit`);
  const headerBytes = Number(n);
  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(8, 8 + headerBytes)));
  } catch (e) {
    fail(`header is not UTF-8 JSON (${(e as Error).message})`);
  }
  if (typeof header !== 'object' || header === null || Array.isArray(header)) fail('header is not a JSON object');
  const dataStart = 8 + headerBytes;
  const dataBytes = bytes.length - dataStart;

  const metadata: Record<string, string> = {};
  const specs: { name: string; dtype: SafetensorsDtype; shape: number[]; begin: number; end: number }[] = [];
  for (const [name, raw] of Object.entries(header as Record<string, unknown>)) {
    if (name === '__metadata__') {
      if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) fail(`'__metadata__' is not an object`);
      for (const [k, v] of Object.entries(raw as Record<string, unknown>)) {
        if (typeof v !== 'string') fail(`'__metadata__.${k}' is not a string`);
        ownKey(metadata, k, v as string);
      }
      continue;
    }
    const where = `tensor '${name}'`;
    if (typeof raw !== 'object' || raw === null) fail(`${where}: entry is not an object`);
    const { dtype, shape, data_offsets: offs } = raw as Record<string, unknown>;
    if (typeof dtype !== 'string' || !(dtype in ELEMENT_BYTES)) {
      fail(`${where}: dtype ${JSON.stringify(dtype)} is not supported (supported: ${Object.keys(ELEMENT_BYTES).join(', ')})`);
    }
    if (!Array.isArray(shape) || shape.some((d) => !Number.isSafeInteger(d) || d < 0)) fail(`${where}: shape ${JSON.stringify(shape)} is not a list of non-negative integers`);
    if (!Array.isArray(offs) || offs.length !== 2 || offs.some((d) => !Number.isSafeInteger(d) || d < 0)) fail(`${where}: data_offsets ${JSON.stringify(offs)} is not [begin, end]`);
    const [begin, end] = offs as number[];
    if (end < begin) fail(`${where}: data_offsets [${begin}, ${end}] end before they begin`);
    const expected = numel(shape as number[]) * ELEMENT_BYTES[dtype as SafetensorsDtype];
    if (end - begin !== expected) fail(`${where}: data_offsets [${begin}, ${end}] span ${end - begin} bytes but ${dtype} [${(shape as number[]).join(', ')}] needs ${expected}`);
    if (end > dataBytes) fail(`${where}: data_offsets [${begin}, ${end}] overrun the data (${dataBytes} bytes after the header)`);
    specs.push({ name, dtype: dtype as SafetensorsDtype, shape: shape as number[], begin, end });
  }
  // Tile check: sorted by begin, each tensor starts where the previous one ended.
  const sorted = [...specs].sort((a, b) => a.begin - b.begin || a.end - b.end);
  let cursor = 0;
  let previous = '';
  for (const s of sorted) {
    if (s.begin < cursor) fail(`tensor '${s.name}': data_offsets [${s.begin}, ${s.end}] overlap tensor '${previous}' (which ends at ${cursor})`);
    if (s.begin > cursor) fail(`tensor '${s.name}': data_offsets [${s.begin}, ${s.end}] leave a hole at [${cursor}, ${s.begin}) (the format requires contiguous data)`);
    cursor = s.end;
    if (s.end > s.begin) previous = s.name;
  }
  if (cursor !== dataBytes) fail(`${dataBytes - cursor} bytes after the last tensor are not described by the header`);

  const tensors = new Map<string, SafetensorsTensor>();
  for (const s of specs) tensors.set(s.name, { dtype: s.dtype, shape: s.shape, data: readData(view, dataStart + s.begin, s, fail) });
  return { tensors, metadata };
}

function readData(view: DataView, at: number, s: { name: string; dtype: SafetensorsDtype; shape: number[] }, fail: (p: string) => never): SafetensorsTensor['data'] {
  const n = numel(s.shape);
  switch (s.dtype) {
    case 'F32': {
      const out = new Float32Array(n);
      for (let i = 0; i < n; i++) out[i] = view.getFloat32(at + 4 * i, true);
      return out;
    }
    case 'F64': {
      const out = new Float64Array(n);
      for (let i = 0; i < n; i++) out[i] = view.getFloat64(at + 8 * i, true);
      return out;
    }
    case 'I32': {
      const out = new Int32Array(n);
      for (let i = 0; i < n; i++) out[i] = view.getInt32(at + 4 * i, true);
      return out;
    }
    case 'I64': {
      const out = new Int32Array(n);
      for (let i = 0; i < n; i++) {
        const v = view.getBigInt64(at + 8 * i, true);
        if (v < -2147483648n || v > 2147483647n) fail(`tensor '${s.name}': int64 value ${v} at index ${i} does not fit int32`);
        out[i] = Number(v);
      }
      return out;
    }
    case 'F16': {
      const out = new Float32Array(n);
      for (let i = 0; i < n; i++) out[i] = halfToFloat(view.getUint16(at + 2 * i, true));
      return out;
    }
    case 'BF16': {
      // bfloat16 is the top half of a float32's bits, so widening is a 16-bit shift.
      const out = new Float32Array(n);
      const word = new DataView(new ArrayBuffer(4));
      for (let i = 0; i < n; i++) {
        word.setUint32(0, view.getUint16(at + 2 * i, true) << 16);
        out[i] = word.getFloat32(0);
      }
      return out;
    }
  }
}

/** IEEE 754 binary16 -> number (exact): sign, 5-bit exponent (bias 15), 10-bit fraction. */
export function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * frac * 2 ** -24; // subnormal (and ±0)
  if (exp === 0x1f) return frac ? NaN : sign * Infinity;
  return sign * (1 + frac / 1024) * 2 ** (exp - 15);
}
