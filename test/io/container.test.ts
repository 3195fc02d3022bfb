import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { crc32 as zlibCrc32 } from 'node:zlib';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import {
  decodeContainer,
  encodeContainer,
  type Container,
  type ContainerArray,
  type ContainerDtype,
} from '../../src/io/container.js';
import { FileFormatError } from '../../src/io/format-error.js';
import { loadContainer, saveContainer } from '../../src/io/container-file.js';
import { runs } from '../helpers/assert.js';

const tmp = mkdtempSync(join(tmpdir(), 'qgrad-container-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/**
 * Build a container file by hand from the layout in docs/formats.md: magic, LE u32
 * version, LE u32 header length, JSON, zero padding to 8, data, LE u32 zlib CRC-32.
 */
function handBuild(header: unknown, data: Uint8Array, { version = 1, headerText }: { version?: number; headerText?: string } = {}): Uint8Array {
  const json = new TextEncoder().encode(headerText ?? JSON.stringify(header));
  const dataStart = Math.ceil((12 + json.length) / 8) * 8;
  const out = new Uint8Array(dataStart + data.length + 4);
  const view = new DataView(out.buffer);
  out.set([0x51, 0x47, 0x52, 0x44], 0); // "QGRD"
  view.setUint32(4, version, true);
  view.setUint32(8, json.length, true);
  out.set(json, 12);
  out.set(data, dataStart);
  view.setUint32(dataStart + data.length, zlibCrc32(out.subarray(0, dataStart + data.length)), true);
  return out;
}

/** Recompute the trailing checksum after a deliberate edit. */
function reseal(bytes: Uint8Array): Uint8Array {
  const out = bytes.slice();
  new DataView(out.buffer).setUint32(out.length - 4, zlibCrc32(out.subarray(0, out.length - 4)), true);
  return out;
}

function errorOf(fn: () => unknown): FileFormatError {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(FileFormatError);
    return error as FileFormatError;
  }
  throw new Error('expected an error, none was thrown');
}

/** The raw bytes of a typed array, to compare NaN payloads and -0 exactly. */
const rawBytes = (a: ContainerArray['data']) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);

describe('the byte layout', () => {
  // w: float32 [2] = [1.5, -2] at offset 0 (8 bytes); b: int8 [3] = [-1, 0, 127] at offset 8.
  const data = new Uint8Array(11);
  const dv = new DataView(data.buffer);
  dv.setFloat32(0, 1.5, true);
  dv.setFloat32(4, -2, true);
  data.set([0xff, 0x00, 0x7f], 8);
  const header = {
    kind: 'test.layout',
    meta: { epoch: 3, note: 'é' },
    dataByteLength: 11,
    tensors: [
      { name: 'w', dtype: 'float32', shape: [2], offset: 0, byteLength: 8 },
      { name: 'b', dtype: 'int8', shape: [3], offset: 8, byteLength: 3 },
    ],
  };
  const container: Container = {
    kind: 'test.layout',
    meta: { epoch: 3, note: 'é' },
    arrays: {
      w: { dtype: 'float32', shape: [2], data: Float32Array.from([1.5, -2]) },
      b: { dtype: 'int8', shape: [3], data: Int8Array.from([-1, 0, 127]) },
    },
  };

  it('decodes a file built by hand from the documented layout', () => {
    const c = decodeContainer(handBuild(header, data), 'hand.qgrd');
    expect(c.kind).toBe('test.layout');
    expect(c.meta).toEqual({ epoch: 3, note: 'é' });
    expect(Object.keys(c.arrays).sort()).toEqual(['b', 'w']);
    expect(c.arrays.w!.dtype).toBe('float32');
    expect(Array.from(c.arrays.w!.data)).toEqual([1.5, -2]);
    expect(c.arrays.b!.data).toBeInstanceOf(Int8Array);
    expect(Array.from(c.arrays.b!.data)).toEqual([-1, 0, 127]);
    expect(c.arrays.b!.shape).toEqual([3]);
  });

  it('encodes to exactly those bytes', () => {
    expect(encodeContainer(container)).toEqual(handBuild(header, data));
  });

  it('starts with QGRD, version 1, and aligns the data section to 8', () => {
    const bytes = encodeContainer(container);
    const view = new DataView(bytes.buffer);
    expect(new TextDecoder().decode(bytes.subarray(0, 4))).toBe('QGRD');
    expect(view.getUint32(4, true)).toBe(1);
    const headerLength = view.getUint32(8, true);
    const dataStart = Math.ceil((12 + headerLength) / 8) * 8;
    expect(view.getFloat32(dataStart, true)).toBe(1.5);
    expect(bytes.subarray(12 + headerLength, dataStart).every((b) => b === 0)).toBe(true);
  });
});

describe('round trip', () => {
  const specials: Record<ContainerDtype, ContainerArray> = {
    float32: { dtype: 'float32', shape: [2, 4], data: Float32Array.from([NaN, -0, Infinity, -Infinity, 1.4e-45, 3.4028234663852886e38, -1.5, 0.1]) },
    float64: { dtype: 'float64', shape: [5], data: Float64Array.from([NaN, -0, 5e-324, Number.MAX_VALUE, Math.PI]) },
    int32: { dtype: 'int32', shape: [1, 3], data: Int32Array.from([-(2 ** 31), 2 ** 31 - 1, 0]) },
    int8: { dtype: 'int8', shape: [3], data: Int8Array.from([-128, 127, 0]) },
    uint8: { dtype: 'uint8', shape: [2], data: Uint8Array.from([0, 255]) },
  };

  it('preserves every dtype bit for bit (NaN, -0, subnormals, extremes)', () => {
    const back = decodeContainer(encodeContainer({ kind: 'k', meta: {}, arrays: specials }));
    for (const [name, array] of Object.entries(specials)) {
      const got = back.arrays[name]!;
      expect(got.dtype).toBe(array.dtype);
      expect(got.shape).toEqual(array.shape);
      expect(got.data.constructor).toBe(array.data.constructor);
      expect(rawBytes(got.data)).toEqual(rawBytes(array.data));
    }
  });

  it('handles scalars, empty arrays, no arrays, and awkward names', () => {
    const arrays: Record<string, ContainerArray> = {
      scalar: { dtype: 'float64', shape: [], data: Float64Array.from([7]) },
      empty: { dtype: 'float32', shape: [0, 3], data: new Float32Array(0) },
      'conv1.weight/ü 🙂': { dtype: 'uint8', shape: [1], data: Uint8Array.from([1]) },
    };
    Object.defineProperty(arrays, '__proto__', { value: { dtype: 'int8', shape: [1], data: Int8Array.from([5]) }, enumerable: true });
    const back = decodeContainer(encodeContainer({ kind: 'k', meta: { nested: { list: [1, 'two', null, true] } }, arrays }));
    expect(Object.keys(back.arrays).sort()).toEqual(Object.keys(arrays).sort());
    expect(Array.from(back.arrays.scalar!.data)).toEqual([7]);
    expect(back.arrays.empty!.shape).toEqual([0, 3]);
    expect(Array.from(Object.getOwnPropertyDescriptor(back.arrays, '__proto__')!.value.data)).toEqual([5]);
    expect(back.meta).toEqual({ nested: { list: [1, 'two', null, true] } });
    expect(decodeContainer(encodeContainer({ kind: '', meta: {}, arrays: {} })).arrays).toEqual({});
  });

  it('random containers round trip (fast-check)', () => {
    const dtypes = ['float32', 'float64', 'int32', 'int8', 'uint8'] as const;
    const arrayArb = fc
      .tuple(fc.constantFrom(...dtypes), fc.array(fc.integer({ min: 0, max: 3 }), { maxLength: 3 }), fc.integer())
      .map(([dtype, shape, seed]): ContainerArray => {
        const n = shape.reduce((a, b) => a * b, 1);
        const bytes = Uint8Array.from({ length: n * 8 }, (_, i) => (Math.imul(seed + i, 2654435761) >>> 13) & 255);
        const Ctor = { float32: Float32Array, float64: Float64Array, int32: Int32Array, int8: Int8Array, uint8: Uint8Array }[dtype];
        return { dtype, shape, data: new Ctor(bytes.buffer, 0, n) } as ContainerArray;
      });
    const metaArb = fc.dictionary(fc.string(), fc.jsonValue()).map((m) => JSON.parse(JSON.stringify(m)));
    fc.assert(
      fc.property(fc.string(), metaArb, fc.dictionary(fc.string(), arrayArb, { maxKeys: 5 }), (kind, meta, arrays) => {
        const back = decodeContainer(encodeContainer({ kind, meta, arrays }));
        expect(back.kind).toBe(kind);
        expect(back.meta).toEqual(meta);
        expect(Object.keys(back.arrays).sort()).toEqual(Object.keys(arrays).sort());
        for (const [name, array] of Object.entries(arrays)) {
          const got = Object.getOwnPropertyDescriptor(back.arrays, name)!.value as ContainerArray;
          expect(got.dtype).toBe(array.dtype);
          expect(got.shape).toEqual(array.shape);
          expect(rawBytes(got.data)).toEqual(rawBytes(array.data));
        }
      }),
      runs(150),
    );
  });

  it('decodes from an unaligned view and never aliases the input', () => {
    const bytes = encodeContainer({ kind: 'k', meta: {}, arrays: { w: specials.float64 } });
    const shifted = new Uint8Array(bytes.length + 3);
    shifted.set(bytes, 3);
    const view = shifted.subarray(3);
    const back = decodeContainer(view);
    expect(back.arrays.w!.data.buffer).not.toBe(shifted.buffer);
    view.fill(0);
    expect(rawBytes(back.arrays.w!.data)).toEqual(rawBytes(specials.float64.data));
  });

  it('saveContainer / loadContainer go through a file', () => {
    const path = join(tmp, 'model.qgrd');
    const c: Container = { kind: 'qgrad.checkpoint', meta: { step: 1 }, arrays: { w: specials.float32 } };
    saveContainer(path, c);
    saveContainer(path, { ...c, meta: { step: 2 } }); // replaces
    const back = loadContainer(path);
    expect(back.meta).toEqual({ step: 2 });
    expect(rawBytes(back.arrays.w!.data)).toEqual(rawBytes(specials.float32.data));
    expect(readdirSync(tmp)).toEqual(['model.qgrd']);
  });
});

describe('encodeContainer rejects what it cannot store faithfully', () => {
  const ok = (arrays: Record<string, unknown>, meta: unknown = {}) => () =>
    encodeContainer({ kind: 'k', meta: meta as Container['meta'], arrays: arrays as Container['arrays'] });

  it('data that does not match dtype or shape', () => {
    expect(ok({ w: { dtype: 'float32', shape: [2], data: new Float64Array(2) } })).toThrow(/needs a Float32Array, got Float64Array/);
    expect(ok({ w: { dtype: 'float32', shape: [2, 2], data: new Float32Array(3) } })).toThrow(/4 elements but data has 3/);
    expect(ok({ w: { dtype: 'float16', shape: [1], data: new Uint16Array(1) } })).toThrow(/unknown dtype 'float16'/);
    expect(ok({ w: { dtype: 'uint8', shape: [-1], data: new Uint8Array(0) } })).toThrow(/invalid shape/);
  });

  it('meta that JSON would silently change', () => {
    expect(ok({}, { lr: NaN })).toThrow(/meta\.lr is NaN/);
    expect(ok({}, { a: [1, undefined] })).toThrow(/meta\.a\[1\] is undefined/);
    expect(ok({}, { when: new Date(0) })).toThrow(/meta\.when is Date/);
    expect(ok({}, { w: new Float32Array(1) })).toThrow(/meta\.w is Float32Array/);
    expect(ok({}, [1, 2])).toThrow(/JSON object/);
  });
});

describe('decodeContainer rejects damaged and foreign files with clear errors', () => {
  const good = encodeContainer({
    kind: 'qgrad.checkpoint',
    meta: { epoch: 2, lr: 0.01 },
    arrays: {
      'fc.weight': { dtype: 'float32', shape: [3, 4], data: Float32Array.from({ length: 12 }, (_, i) => i / 7) },
      'fc.bias': { dtype: 'int32', shape: [3], data: Int32Array.from([1, -2, 3]) },
      q: { dtype: 'int8', shape: [5], data: Int8Array.from([1, 2, 3, 4, 5]) },
    },
  });

  it('accepts the intact file', () => {
    expect(decodeContainer(good, 'model.qgrd').kind).toBe('qgrad.checkpoint');
  });

  it('any truncation throws, naming the file', () => {
    fc.assert(
      fc.property(fc.nat(good.length - 1), (cut) => {
        const error = errorOf(() => decodeContainer(good.subarray(0, cut), 'model.qgrd'));
        expect(error.message.startsWith('model.qgrd: ')).toBe(true);
        expect(error.source).toBe('model.qgrd');
      }),
      runs(200),
    );
    expect(errorOf(() => decodeContainer(good.subarray(0, good.length - 1), 'model.qgrd')).message).toBe(
      'model.qgrd: checksum mismatch (file corrupt or truncated)',
    );
  });

  it('a changed byte anywhere throws, naming the file', () => {
    fc.assert(
      fc.property(fc.nat(good.length - 1), fc.integer({ min: 1, max: 255 }), (at, mask) => {
        const bad = good.slice();
        bad[at]! ^= mask;
        const error = errorOf(() => decodeContainer(bad, 'model.qgrd'));
        expect(error.message.startsWith('model.qgrd: ')).toBe(true);
      }),
      runs(300),
    );
    const bad = good.slice();
    bad[good.length - 10]! ^= 1; // in the data section
    expect(errorOf(() => decodeContainer(bad, 'model.qgrd')).message).toBe('model.qgrd: checksum mismatch (file corrupt or truncated)');
  });

  it('appended bytes throw', () => {
    const longer = new Uint8Array([...good, 0, 0, 0, 0]);
    expect(errorOf(() => decodeContainer(longer, 'model.qgrd')).problem).toMatch(/checksum mismatch/);
    // Even with a valid checksum over the extra bytes, the length must match the header.
    const resealed = reseal(new Uint8Array([...good.subarray(0, good.length - 4), 0, 0, 0, 0, 0, 0, 0, 0]));
    expect(errorOf(() => decodeContainer(resealed, 'model.qgrd')).problem).toBe(
      `file is ${good.length + 4} bytes but its header describes ${good.length}`,
    );
  });

  it('a foreign file names its magic', () => {
    const zip = Uint8Array.from([0x50, 0x4b, 0x03, 0x04, 20, 0, 0, 0, 8, 0, 0, 0, 0, 0, 0, 0]);
    expect(errorOf(() => decodeContainer(zip, 'foo.bin')).message).toBe("foo.bin: not a qgrad file (magic 'PK\\x03\\x04')");
    expect(errorOf(() => decodeContainer(new Uint8Array(0), 'foo.bin')).message).toBe('foo.bin: empty file, not a qgrad file');
    expect(errorOf(() => decodeContainer(new TextEncoder().encode('QG'), 'foo.bin')).problem).toMatch(/not a qgrad file/);
  });

  it('an unknown version says so, before the checksum', () => {
    const v2 = good.slice();
    new DataView(v2.buffer).setUint32(4, 2, true);
    const expected = 'model.qgrd: unsupported format version 2 (this qgrad reads version 1)';
    expect(errorOf(() => decodeContainer(v2, 'model.qgrd')).message).toBe(expected);
    expect(errorOf(() => decodeContainer(reseal(v2), 'model.qgrd')).message).toBe(expected);
  });

  describe('structural checks behind a valid checksum', () => {
    const data8 = new Uint8Array(8);
    const entry = { name: 'w', dtype: 'float32', shape: [2], offset: 0, byteLength: 8 };
    const problem = (header: unknown, data = data8, options?: Parameters<typeof handBuild>[2]) =>
      errorOf(() => decodeContainer(handBuild(header, data, options), 'x.qgrd')).problem;
    const base = { kind: 'k', meta: {}, dataByteLength: 8 };

    it('the hand-built baseline is valid', () => {
      expect(Array.from(decodeContainer(handBuild({ ...base, tensors: [entry] }, data8)).arrays.w!.data)).toEqual([0, 0]);
    });

    it('header JSON and fields', () => {
      expect(problem(null, data8, { headerText: '{"kind":' })).toMatch(/^header is not valid UTF-8 JSON/);
      expect(problem([1, 2])).toBe('header is not a JSON object');
      expect(problem({ ...base, kind: 3, tensors: [] })).toBe("header field 'kind' must be a string");
      expect(problem({ ...base, meta: [], tensors: [] })).toBe("header field 'meta' must be an object");
      expect(problem({ ...base, dataByteLength: -8, tensors: [] })).toMatch(/dataByteLength/);
      expect(problem({ ...base, tensors: {} })).toBe("header field 'tensors' must be an array");
    });

    it('header length past the end of the file', () => {
      const bytes = handBuild({ ...base, tensors: [] }, data8);
      new DataView(bytes.buffer).setUint32(8, 1_000_000, true);
      expect(errorOf(() => decodeContainer(reseal(bytes), 'x.qgrd')).problem).toMatch(/^header length 1000000 runs past the end/);
    });

    it('tensor table entries', () => {
      expect(problem({ ...base, tensors: [{ ...entry, dtype: 'float16' }] })).toBe(`tensor 'w': unknown dtype "float16"`);
      expect(problem({ ...base, tensors: [{ ...entry, shape: [2.5] }] })).toBe('tensor \'w\': invalid shape [2.5]');
      expect(problem({ ...base, tensors: [{ ...entry, shape: [3] }] })).toBe(
        "tensor 'w': byteLength 8 does not match shape [3] of float32 (12 bytes)",
      );
      expect(problem({ ...base, tensors: [{ ...entry, offset: 4, shape: [1], byteLength: 4 }] })).toMatch(/offset 4 is not a non-negative multiple of 8/);
      expect(problem({ ...base, tensors: [{ ...entry, offset: 8 }] })).toBe(
        "tensor 'w': bytes [8, 16) lie outside the 8-byte data section",
      );
      expect(problem({ ...base, tensors: [entry, entry] })).toBe("tensor 'w' appears twice");
      expect(problem({ ...base, tensors: [entry, { ...entry, name: 'v', shape: [1], byteLength: 4 }] })).toBe("tensors 'w' and 'v' overlap");
      expect(problem({ ...base, tensors: [{ ...entry, name: 7 }] })).toBe("tensor table entry 0 has no string 'name'");
      expect(problem({ ...base, tensors: [3] })).toBe('tensor table entry 0 is not an object');
    });

    it('data section length must match the file', () => {
      expect(problem({ ...base, dataByteLength: 16, tensors: [entry] })).toMatch(/^file is \d+ bytes but its header describes \d+$/);
    });
  });

  it('loadContainer names the path', () => {
    const path = join(tmp, 'broken.qgrd');
    writeFileSync(path, good.subarray(0, 40));
    expect(() => loadContainer(path)).toThrow(`${path}: checksum mismatch (file corrupt or truncated)`);
    expect(readFileSync(path).length).toBe(40);
  });
});
