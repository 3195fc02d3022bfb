/**
 * Loader checks beyond the CRC (issue 11 items 4 and 10): a file whose checksum was recomputed
 * after an edit must still be refused when it (a) labels float32 bits as int32 for a float
 * parameter (type confusion), or (b) carries non-zero or oversized padding the format says is zero.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeContainer, encodeContainer, type ContainerArray } from '../../src/io/container.js';
import { crc32 } from '../../src/io/crc32.js';
import { FileFormatError } from '../../src/io/format-error.js';
import { Linear, Sequential } from '../../src/nn/index.js';
import { saveCheckpoint, loadCheckpoint } from '../../src/node.js';
import { Generator } from '../../src/index.js';

const tmp = mkdtempSync(join(tmpdir(), 'qgrad-loader-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** Recompute the trailing CRC-32 over the edited bytes, as a careful forger would. */
function resealed(bytes: Uint8Array): Uint8Array {
  const out = bytes.slice();
  new DataView(out.buffer).setUint32(out.length - 4, crc32(out.subarray(0, out.length - 4)), true);
  return out;
}

describe('checkpoint dtype must match the model', () => {
  it('float32 weights relabelled int32 (CRC valid) are refused naming the key; the model is untouched', () => {
    const model = new Sequential(new Linear(3, 2, { generator: new Generator(1) }));
    const path = join(tmp, 'a.qgrd');
    saveCheckpoint(path, model);
    const orig = decodeContainer(readFileSync(path));
    const arrays: Record<string, ContainerArray> = { ...orig.arrays };
    const w = arrays['0.weight'];
    expect(w.dtype).toBe('float32');
    arrays['0.weight'] = { dtype: 'int32', shape: w.shape, data: new Int32Array((w.data as Float32Array).buffer.slice(0)) };
    const bad = join(tmp, 'confused.qgrd');
    writeFileSync(bad, encodeContainer({ ...orig, arrays }));
    const before = Array.from(model.stateDict().get('0.weight')!.toTypedArray());
    expect(() => loadCheckpoint(bad, model)).toThrow(FileFormatError);
    expect(() => loadCheckpoint(bad, model)).toThrow(/confused\.qgrd: array '0\.weight' is stored as int32 but the model's '0\.weight' is float32/);
    expect(Array.from(model.stateDict().get('0.weight')!.toTypedArray())).toEqual(before);
    expect(() => loadCheckpoint(path, model)).not.toThrow();
  });
});

describe('container padding', () => {
  const bytes = encodeContainer({ kind: 'k', meta: { a: 1 }, arrays: { x: { dtype: 'int8', shape: [3], data: Int8Array.of(1, 2, 3) }, y: { dtype: 'float64', shape: [1], data: Float64Array.of(2) } } });
  const view = new DataView(bytes.buffer);
  const headerEnd = 12 + view.getUint32(8, true);
  const dataStart = Math.ceil(headerEnd / 8) * 8;

  it('the original decodes', () => {
    expect(Array.from(decodeContainer(bytes).arrays.x.data)).toEqual([1, 2, 3]);
  });
  it('a non-zero byte in the padding after the header, CRC recomputed', () => {
    if (dataStart === headerEnd) return; // no padding in this layout (not the case here, asserted below)
    const b = bytes.slice();
    b[headerEnd] = 0x41;
    expect(() => decodeContainer(resealed(b), 'p.qgrd')).toThrow(`p.qgrd: non-zero padding byte at offset ${headerEnd} after the header`);
  });
  it('a non-zero byte in the alignment gap between arrays, CRC recomputed', () => {
    const b = bytes.slice();
    b[dataStart + 3] = 7; // x covers [0, 3), y starts at 8
    expect(() => decodeContainer(resealed(b), 'p.qgrd')).toThrow(`p.qgrd: non-zero padding byte at offset ${dataStart + 3} in the data section`);
  });
  it('a gap wider than alignment (header rewritten, CRC recomputed)', () => {
    const header = JSON.parse(new TextDecoder().decode(bytes.subarray(12, headerEnd)));
    header.tensors[1].offset = 16;
    header.dataByteLength = 24;
    const h = new TextEncoder().encode(JSON.stringify(header));
    const ds = Math.ceil((12 + h.length) / 8) * 8;
    const out = new Uint8Array(ds + 24 + 4);
    out.set(bytes.subarray(0, 12));
    new DataView(out.buffer).setUint32(8, h.length, true);
    out.set(h, 12);
    out.set(bytes.subarray(dataStart, dataStart + 3), ds);
    out.set(bytes.subarray(dataStart + 8, dataStart + 16), ds + 16);
    expect(() => decodeContainer(resealed(out), 'g.qgrd')).toThrow(/g\.qgrd: 13 unused bytes in the data section before offset 16/);
  });
  it('unknown header or tensor-table fields (a misspelt key would otherwise be ignored)', () => {
    const withHeader = (edit: (h: Record<string, any>) => void) => {
      const header = JSON.parse(new TextDecoder().decode(bytes.subarray(12, headerEnd)));
      edit(header);
      const h = new TextEncoder().encode(JSON.stringify(header));
      const ds = Math.ceil((12 + h.length) / 8) * 8;
      const out = new Uint8Array(ds + (bytes.length - 4 - dataStart) + 4);
      out.set(bytes.subarray(0, 12));
      new DataView(out.buffer).setUint32(8, h.length, true);
      out.set(h, 12);
      out.set(bytes.subarray(dataStart, bytes.length - 4), ds);
      return resealed(out);
    };
    expect(decodeContainer(withHeader(() => {})).kind).toBe('k'); // the rewrite itself is faithful
    expect(() => decodeContainer(withHeader((h) => (h.dataBytelength = 1)), 'u.qgrd')).toThrow("u.qgrd: unknown header field 'dataBytelength'");
    expect(() => decodeContainer(withHeader((h) => (h.tensors[0].dtpye = 'int8')), 'u.qgrd')).toThrow("u.qgrd: tensor 'x': unknown field 'dtpye'");
  });
  it('this layout does have header padding', () => {
    expect(dataStart).toBeGreaterThan(headerEnd);
  });
});
