/**
 * safetensors codec and state-dict loading. The oracle for the byte layout is the format text
 * (https://github.com/huggingface/safetensors#format), restated here by a tiny independent
 * writer (`build`) that lets each test break one rule; float16/bfloat16 values are checked
 * against their closed forms. Every rejection must name the key (or the header) and leave the
 * model's tensors bit-identical.
 */
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { fromArray, Generator, loadSafetensorsState, mnistCnn, stateDictToSafetensors, type Module } from '../../src/index.js';
import { decodeSafetensors, encodeSafetensors } from '../../src/io/safetensors.js';
import { loadSafetensors, saveSafetensors } from '../../src/node.js';

/** Header JSON + raw data, exactly as written (no validation). */
function build(header: Record<string, unknown>, data: Uint8Array, headerLength?: number): Uint8Array {
  const json = new TextEncoder().encode(JSON.stringify(header));
  const out = new Uint8Array(8 + json.length + data.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(headerLength ?? json.length), true);
  out.set(json, 8);
  out.set(data, 8 + json.length);
  return out;
}

function f32(values: number[]): Uint8Array {
  const b = new Uint8Array(values.length * 4);
  values.forEach((v, i) => new DataView(b.buffer).setFloat32(i * 4, v, true));
  return b;
}

describe('decodeSafetensors', () => {
  it('reads F32/F64/I32/I64/F16/BF16 little-endian values at their offsets', () => {
    const d = new Uint8Array(4 * 2 + 8 + 4 + 8 * 2 + 2 * 4 + 2 * 2);
    const v = new DataView(d.buffer);
    v.setFloat32(0, 1.5, true); v.setFloat32(4, -2.25, true);
    v.setFloat64(8, Math.PI, true);
    v.setInt32(16, -7, true);
    v.setBigInt64(20, -3n, true); v.setBigInt64(28, 2147483647n, true);
    // float16: 1, -2, 65504 (largest), 2^-24 (smallest subnormal)
    [0x3c00, 0xc000, 0x7bff, 0x0001].forEach((h, i) => v.setUint16(36 + 2 * i, h, true));
    // bfloat16: 1, 3.140625 (0x4049)
    [0x3f80, 0x4049].forEach((h, i) => v.setUint16(44 + 2 * i, h, true));
    const file = decodeSafetensors(build({
      a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] },
      b: { dtype: 'F64', shape: [], data_offsets: [8, 16] },
      c: { dtype: 'I32', shape: [1, 1], data_offsets: [16, 20] },
      d: { dtype: 'I64', shape: [2], data_offsets: [20, 36] },
      e: { dtype: 'F16', shape: [2, 2], data_offsets: [36, 44] },
      f: { dtype: 'BF16', shape: [2], data_offsets: [44, 48] },
      __metadata__: { format: 'pt' },
    }, d));
    expect([...file.tensors.get('a')!.data]).toEqual([1.5, -2.25]);
    expect([...file.tensors.get('b')!.data]).toEqual([Math.PI]);
    expect(file.tensors.get('c')!.shape).toEqual([1, 1]);
    expect([...file.tensors.get('c')!.data]).toEqual([-7]);
    expect(file.tensors.get('d')!.data).toBeInstanceOf(Int32Array);
    expect([...file.tensors.get('d')!.data]).toEqual([-3, 2147483647]);
    expect([...file.tensors.get('e')!.data]).toEqual([1, -2, 65504, 2 ** -24]);
    expect([...file.tensors.get('f')!.data]).toEqual([1, 3.140625]);
    expect(file.metadata).toEqual({ format: 'pt' });
  });

  it('rejects an int64 outside int32, naming the key', () => {
    const d = new Uint8Array(8);
    new DataView(d.buffer).setBigInt64(0, 2n ** 31n, true);
    expect(() => decodeSafetensors(build({ big: { dtype: 'I64', shape: [], data_offsets: [0, 8] } }, d), 'x.safetensors')).toThrow(/x\.safetensors: tensor 'big': int64 value 2147483648/);
  });

  const one = (entry: Record<string, unknown>, data = f32([1, 2])) => build({ w: { dtype: 'F32', shape: [2], data_offsets: [0, 8], ...entry } }, data);
  it.each([
    ['a header length overrunning the file', build({}, new Uint8Array(0), 1000), /header length 1000 overruns the file/],
    ['a truncated length field', new Uint8Array(5), /too short/],
    ['non-JSON header', (() => { const b = build({}, new Uint8Array(0)); b[8] = 0x7b; b[9] = 0x7b; return b; })(), /not UTF-8 JSON/],
    ['an unknown dtype', one({ dtype: 'U8' }), /tensor 'w': dtype "U8" is not supported/],
    ['a shape that does not match the byte span', one({ shape: [3] }), /tensor 'w': data_offsets \[0, 8\] span 8 bytes but F32 \[3\] needs 12/],
    ['offsets past the data', one({ data_offsets: [0, 8] }, f32([1])), /tensor 'w': data_offsets \[0, 8\] overrun the data/],
    ['offsets that end before they begin', one({ data_offsets: [8, 0] }), /tensor 'w': data_offsets \[8, 0\] end before/],
    ['overlapping offsets', build({ a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] }, b: { dtype: 'F32', shape: [1], data_offsets: [4, 8] } }, f32([1, 2])), /tensor 'b': data_offsets \[4, 8\] overlap tensor 'a'/],
    ['a hole between tensors', build({ a: { dtype: 'F32', shape: [1], data_offsets: [4, 8] } }, f32([1, 2])), /tensor 'a': data_offsets \[4, 8\] leave a hole at \[0, 4\)/],
    ['bytes not described', one({}, f32([1, 2, 3])), /4 bytes after the last tensor/],
  ])('rejects %s', (_what, bytes, message) => {
    expect(() => decodeSafetensors(bytes, 'bad.safetensors')).toThrow(message);
    expect(() => decodeSafetensors(bytes, 'bad.safetensors')).toThrow(/^bad\.safetensors: /);
  });

  it('encodeSafetensors writes what the independent reading of the format expects', () => {
    const bytes = encodeSafetensors([['z', { shape: [2], data: Float32Array.of(1, -1) }], ['a', { shape: [], data: Int32Array.of(5), dtype: 'I64' }]], { k: 'v' });
    const view = new DataView(bytes.buffer);
    const n = Number(view.getBigUint64(0, true));
    expect(n % 8).toBe(0);
    const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + n)));
    expect(header).toEqual({ a: { dtype: 'I64', shape: [], data_offsets: [0, 8] }, z: { dtype: 'F32', shape: [2], data_offsets: [8, 16] }, __metadata__: { k: 'v' } });
    expect(view.getBigInt64(8 + n, true)).toBe(5n);
    expect(view.getFloat32(8 + n + 8, true)).toBe(1);
    expect(view.getFloat32(8 + n + 12, true)).toBe(-1);
    expect(bytes.length).toBe(8 + n + 16);
  });
});

function snapshot(model: Module): Map<string, number[]> {
  return new Map([...model.stateDict()].map(([k, t]) => [k, [...t.toTypedArray()]]));
}

describe('state dicts as safetensors', () => {
  it('round-trips mnistCnn with BatchNorm; num_batches_tracked is written as a 0-d I64 like PyTorch', () => {
    const a = mnistCnn({ channels: 4, batchNorm: true, generator: new Generator(1) });
    a.stateDict().get('1.num_batches_tracked')!.assign_(fromArray([7], [1]));
    a.stateDict().get('1.running_var')!.assign_(fromArray([0.5, 2, 3, 4], [4]));
    const bytes = stateDictToSafetensors(a);
    expect(decodeSafetensors(bytes).tensors.get('1.num_batches_tracked')).toMatchObject({ dtype: 'I64', shape: [] });
    const b = mnistCnn({ channels: 4, batchNorm: true, generator: new Generator(2) });
    loadSafetensorsState(b, bytes);
    expect(snapshot(b)).toEqual(snapshot(a));
  });

  const model = () => mnistCnn({ channels: 4, generator: new Generator(3) });
  const entries = (m: Module) => [...m.stateDict()].map(([k, t]) => [k, { shape: t.shape, data: t.toTypedArray() as Float32Array }] as [string, { shape: readonly number[]; data: Float32Array | Int32Array; dtype?: 'I64' }]);
  it.each([
    ['a missing key', (e: ReturnType<typeof entries>) => e.filter(([k]) => k !== '3.bias'), /missing key '3\.bias'/],
    ['an extra key', (e: ReturnType<typeof entries>) => [...e, ['8.weight', { shape: [1], data: Float32Array.of(0) }]], /unexpected key '8\.weight'/],
    ['a wrong shape', (e: ReturnType<typeof entries>) => e.map(([k, v]) => (k === '7.weight' ? [k, { shape: [100, 10], data: v.data }] : [k, v])), /'7\.weight' has shape \[100, 10\] in the file but \[10, 100\] in the model/],
    ['a wrong dtype', (e: ReturnType<typeof entries>) => e.map(([k, v]) => (k === '0.bias' ? [k, { shape: v.shape, data: Int32Array.from(v.data, Math.round), dtype: 'I64' }] : [k, v])), /'0\.bias' has dtype I64 in the file but the model holds float32/],
  ] as const)('rejects %s, naming the key, and leaves the model untouched', (_what, edit, message) => {
    const m = model();
    const other = mnistCnn({ channels: 4, generator: new Generator(4) });
    const before = snapshot(m);
    const bytes = encodeSafetensors(edit(entries(other)) as ReturnType<typeof entries>);
    expect(() => loadSafetensorsState(m, bytes, 'w.safetensors')).toThrow(message);
    expect(() => loadSafetensorsState(m, bytes, 'w.safetensors')).toThrow(/^w\.safetensors: /);
    expect(snapshot(m)).toEqual(before);
  });

  it('saveSafetensors / loadSafetensors: a file round trip, written atomically (no temp file left)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'qgrad-st-'));
    try {
      const a = mnistCnn({ channels: 4, generator: new Generator(8) });
      saveSafetensors(join(dir, 'm.safetensors'), a, { note: 'x' });
      expect(readdirSync(dir)).toEqual(['m.safetensors']);
      const b = mnistCnn({ channels: 4, generator: new Generator(9) });
      expect(loadSafetensors(join(dir, 'm.safetensors'), b)).toEqual({ format: 'pt', note: 'x' });
      expect(snapshot(b)).toEqual(snapshot(a));
      expect(() => loadSafetensors(join(dir, 'm.safetensors'), mnistCnn({ channels: 5 }))).toThrow(/m\.safetensors: '0\.weight' has shape \[4, 1, 3, 3\] in the file but \[5, 1, 3, 3\] in the model/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
