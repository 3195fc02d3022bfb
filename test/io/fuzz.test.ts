/**
 * Seeded fuzzing of both file readers (issue 11 "What to build"): a few thousand damaged and
 * crafted variants of one saved int8 model and one checkpoint. Every variant must end in one of:
 *
 *   clear error    a FileFormatError (or an Error prefixed with the file name) naming the problem;
 *   exact load     the original model, unchanged;
 *   faithful load  (only for edits whose CRC was recomputed, i.e. well-formed files with other
 *                  contents) exactly what the edited bytes say, read by an independent minimal
 *                  parser written here from docs/formats.md;
 *
 * each within a time bound, with bounded memory growth over the run. Anything else (TypeError,
 * RangeError, a hang, a load that matches neither) is counted and must be zero.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { crc32 } from '../../src/io/crc32.js';
import { FileFormatError } from '../../src/io/format-error.js';
import { Int8Model, type Int8Layer, type Int8ModelSpec } from '../../src/quant/int8/index.js';
import { encodeContainer, decodeContainer } from '../../src/io/container.js';
import { Linear, Sequential } from '../../src/nn/index.js';
import { saveCheckpoint, loadCheckpoint } from '../../src/node.js';
import { Generator } from '../../src/index.js';
import { mulberry32 } from '../helpers/rng.js';

const SEED = 20261206;
const TIME_BOUND_MS = 1000;
const DEEP = 5000; // per variant; the slowest real one takes a few ms
// RAM-backed where available: the checkpoint reader takes a path, so each variant is a file write.
const tmp = mkdtempSync(join(existsSync('/dev/shm') ? '/dev/shm' : tmpdir(), 'qgrad-fuzz-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));


// ------------------------------------------------------------------ the independent oracle

interface Raw { header: { kind: string; meta: Record<string, unknown>; tensors: { name: string; dtype: string; shape: number[]; offset: number }[] }; arrays: Map<string, { dtype: string; shape: number[]; values: number[] }> }

/** docs/formats.md's layout, read with DataView: used only on files the reader accepted. */
function miniParse(b: Uint8Array): Raw {
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const H = dv.getUint32(8, true);
  const header = JSON.parse(new TextDecoder().decode(b.subarray(12, 12 + H)));
  const D = Math.ceil((12 + H) / 8) * 8;
  const arrays: Raw['arrays'] = new Map();
  for (const t of header.tensors) {
    const n = t.shape.reduce((a: number, c: number) => a * c, 1);
    const at = D + t.offset;
    const values: number[] = [];
    for (let i = 0; i < n; i++) {
      values.push(
        t.dtype === 'int8' ? dv.getInt8(at + i)
        : t.dtype === 'uint8' ? dv.getUint8(at + i)
        : t.dtype === 'int32' ? dv.getInt32(at + 4 * i, true)
        : t.dtype === 'float32' ? dv.getFloat32(at + 4 * i, true)
        : dv.getFloat64(at + 8 * i, true),
      );
    }
    arrays.set(t.name, { dtype: t.dtype, shape: t.shape, values });
  }
  return { header, arrays };
}

function reseal(bytes: Uint8Array): Uint8Array {
  const out = bytes.slice();
  new DataView(out.buffer).setUint32(out.length - 4, crc32(out.subarray(0, out.length - 4)), true);
  return out;
}

/** Rewrite the JSON header (data section kept byte for byte), then reseal. */
function withHeader(bytes: Uint8Array, edit: (h: Record<string, any>) => void): Uint8Array {
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const H = dv.getUint32(8, true);
  const D = Math.ceil((12 + H) / 8) * 8;
  const header = JSON.parse(new TextDecoder().decode(bytes.subarray(12, 12 + H)));
  edit(header);
  // A deep value is spliced in as text: JSON.stringify itself recurses.
  const h = new TextEncoder().encode(JSON.stringify(header).replace('"__DEEP__"', () => '{"a":'.repeat(DEEP) + '{}' + '}'.repeat(DEEP)));
  const D2 = Math.ceil((12 + h.length) / 8) * 8;
  const data = bytes.subarray(D, bytes.length - 4);
  const out = new Uint8Array(D2 + data.length + 4);
  out.set(bytes.subarray(0, 8));
  new DataView(out.buffer).setUint32(8, h.length, true);
  out.set(h, 12);
  out.set(data, D2);
  return reseal(out);
}

// ------------------------------------------------------------------ the subjects

const q = { kind: 'quantize', scale: 1 / 64, zeroPoint: 3, qmin: 0, qmax: 255 } as Int8Layer;
const rnd0 = mulberry32(1);
const ints = (n: number, lo: number, hi: number) => Int32Array.from({ length: n }, () => lo + Math.floor(rnd0() * (hi - lo + 1)));
const spec: Int8ModelSpec = {
  inputShape: [1, 6, 6],
  layers: [
    q,
    { kind: 'conv2d', weight: Int8Array.from(ints(18, -20, 20)), weightShape: [2, 1, 3, 3], weightQmin: -127, weightQmax: 127, weightZeroPoint: Int32Array.of(0, 0), bias: Int32Array.of(100, -50), inZeroPoint: 3, outZeroPoint: 5, multiplier: Int32Array.of(1 << 30, 1500000000), shift: Int32Array.of(-4, -5), qmin: 5, qmax: 255, stride: [1, 1], padding: [1, 1], dilation: [1, 1], groups: 1 },
    { kind: 'maxpool2d', kernel: [2, 2], stride: [2, 2], padding: [0, 0], dilation: [1, 1] },
    { kind: 'flatten' },
    { kind: 'linear', weight: Int8Array.from(ints(54, -30, 30)), weightShape: [3, 18], weightQmin: -127, weightQmax: 127, weightZeroPoint: Int32Array.of(0, 0, 0), bias: null, inZeroPoint: 5, outZeroPoint: 0, multiplier: Int32Array.of(1 << 30, 1 << 30, 1 << 30), shift: Int32Array.of(-6, -6, -6), qmin: -128, qmax: 127 },
    { kind: 'dequantize', scale: 0.05, zeroPoint: 0 },
  ] as Int8Layer[],
  meta: { bits: 8, note: 'fuzz subject' },
};
const int8Bytes = (() => {
  return new Int8Model(spec).toBytes();
})();

const makeNet = () => new Sequential(new Linear(4, 3, { generator: new Generator(3) }), new Linear(3, 2, { generator: new Generator(4) }));
const ckptPath = join(tmp, 'ckpt.qgrd');
saveCheckpoint(ckptPath, makeNet(), { epoch: 1 });
const ckptBytes = new Uint8Array(readFileSync(ckptPath));

// ------------------------------------------------------------------ the runs

type Outcome = 'clear error' | 'exact load' | 'faithful load' | 'other';
interface Tally { variants: number; counts: Record<Outcome, number>; others: string[]; slowest: number }
const newTally = (): Tally => ({ variants: 0, counts: { 'clear error': 0, 'exact load': 0, 'faithful load': 0, other: 0 }, others: [], slowest: 0 });

function record(t: Tally, what: string, outcome: Outcome, ms: number, detail = ''): void {
  t.variants++;
  if (ms > TIME_BOUND_MS) outcome = 'other', detail = `took ${ms.toFixed(0)} ms; ${detail}`;
  t.counts[outcome]++;
  t.slowest = Math.max(t.slowest, ms);
  if (outcome === 'other' && t.others.length < 10) t.others.push(`${what}: ${detail}`);
}

function isClear(e: unknown, source: string): boolean {
  if (!(e instanceof Error)) return false;
  const namedFile = e.message.startsWith(`${source}: `) && e.message.length > source.length + 10;
  return namedFile && (e instanceof FileFormatError || e.constructor === Error);
}

const original = new Int8Model(spec).toSpec();
function tryInt8(t: Tally, what: string, bytes: Uint8Array, crcValid: boolean): void {
  const t0 = performance.now();
  let model: Int8Model;
  try {
    model = Int8Model.fromBytes(bytes, 'fuzz.qgrd');
  } catch (e) {
    const ms = performance.now() - t0;
    return record(t, what, isClear(e, 'fuzz.qgrd') ? 'clear error' : 'other', ms, `${(e as Error).name}: ${(e as Error).message}`);
  }
  const ms = performance.now() - t0;
  const got = model.toSpec();
  if (sameSpec(got, original)) return record(t, what, 'exact load', ms);
  if (crcValid && matchesBytes(got, miniParse(bytes))) return record(t, what, 'faithful load', ms);
  record(t, what, 'other', ms, 'loaded a model that matches neither the original nor the bytes');
}

function sameSpec(a: Int8ModelSpec, b: Int8ModelSpec): boolean {
  try {
    expect(a).toEqual(b);
    return true;
  } catch {
    return false;
  }
}

/** Does the loaded spec say exactly what the file's JSON and arrays say? */
function matchesBytes(got: Int8ModelSpec, raw: Raw): boolean {
  const meta = raw.header.meta as { inputShape: number[]; layers: Record<string, unknown>[]; meta: unknown };
  try {
    expect(got.inputShape).toEqual(meta.inputShape);
    expect(got.meta ?? {}).toEqual(meta.meta ?? {});
    expect(got.layers.length).toBe(meta.layers.length);
    got.layers.forEach((layer, i) => {
      const json = meta.layers[i];
      const l = layer as unknown as Record<string, unknown>;
      for (const [k, v] of Object.entries(json)) if (k !== 'hasBias') expect(l[k], `layer ${i}.${k}`).toEqual(v);
      for (const [k, v] of Object.entries(l)) {
        const arr = raw.arrays.get(`layers.${i}.${k}`);
        if (ArrayBuffer.isView(v)) expect(Array.from(v as Int32Array), `layer ${i}.${k}`).toEqual(arr!.values);
        else if (k === 'bias') expect(v === null).toBe(json.hasBias === false);
        else expect(k in json, `layer ${i}.${k} not in the file`).toBe(true);
      }
    });
    return true;
  } catch {
    return false;
  }
}

const originalState = new Map([...makeNet().stateDict()].map(([k, v]) => [k, Array.from(v.toTypedArray())]));
let fileNo = 0;
function tryCheckpoint(t: Tally, what: string, bytes: Uint8Array, crcValid: boolean): void {
  const path = join(tmp, `v${fileNo++ % 8}.qgrd`);
  writeFileSync(path, bytes);
  const net = makeNet(); // its state is originalState (same seeds)
  const t0 = performance.now();
  try {
    loadCheckpoint(path, net);
  } catch (e) {
    const ms = performance.now() - t0;
    const untouched = [...net.stateDict()].every(([k, v]) => sameValues(Array.from(v.toTypedArray()), originalState.get(k)!));
    return record(t, what, isClear(e, path) && untouched ? 'clear error' : 'other', ms, `${(e as Error).name}: ${(e as Error).message}${untouched ? '' : ' (model changed)'}`);
  }
  const ms = performance.now() - t0;
  const state = [...net.stateDict()];
  if (state.every(([k, v]) => sameValues(Array.from(v.toTypedArray()), originalState.get(k)!))) return record(t, what, 'exact load', ms);
  if (crcValid) {
    const raw = miniParse(bytes);
    const ok = state.every(([k, v]) => raw.arrays.get(k)?.dtype === v.dtype && sameValues(Array.from(v.toTypedArray()), raw.arrays.get(k)!.values));
    if (ok) return record(t, what, 'faithful load', ms);
  }
  record(t, what, 'other', ms, 'loaded values that match neither the original nor the bytes');
}
const sameValues = (a: number[], b: number[]) => a.length === b.length && a.every((x, i) => Object.is(x, b[i]));

/** Truncations at every length, flips with and without a recomputed CRC, and crafted headers. */
function fuzz(bytes: Uint8Array, tryOne: (t: Tally, what: string, b: Uint8Array, crcValid: boolean) => void, crafted: [string, Uint8Array][], flips: number, seed: number): Tally {
  const t = newTally();
  const rnd = mulberry32(seed);
  for (let n = 0; n < bytes.length; n++) tryOne(t, `truncated to ${n}`, bytes.subarray(0, n), false);
  for (let i = 0; i < flips; i++) {
    const at = Math.floor(rnd() * bytes.length);
    const mask = 1 + Math.floor(rnd() * 255);
    const b = bytes.slice();
    b[at] ^= mask;
    tryOne(t, `byte ${at} ^ ${mask}`, b, false);
    // the same flip in the checksummed part, CRC recomputed: now only the format checks stand
    const at2 = Math.floor(rnd() * (bytes.length - 4));
    const b2 = bytes.slice();
    b2[at2] ^= mask;
    tryOne(t, `byte ${at2} ^ ${mask}, CRC recomputed`, reseal(b2), true);
  }
  for (const [what, b] of crafted) tryOne(t, what, b, true);
  tryOne(t, 'unchanged', bytes, true);
  tryOne(t, 'header re-serialized, nothing changed', withHeader(bytes, () => {}), true);
  return t;
}

function int8Crafted(): [string, Uint8Array][] {
  const out: [string, Uint8Array][] = [];
  const add = (what: string, edit: (h: Record<string, any>) => void) => out.push([what, withHeader(int8Bytes, edit)]);
  for (const k of [20, 26, 27, 30, 40, 52, 53]) {
    add(`inputShape [1, 2^${k}, 1]`, (h) => (h.meta.inputShape = [1, 2 ** k, 1]));
    add(`inputShape [1, 6, 2^${k}]`, (h) => (h.meta.inputShape = [1, 6, 2 ** k]));
    add(`conv padding 2^${k}`, (h) => (h.meta.layers[1].padding = [2 ** k, 2 ** k]));
    add(`pool padding 2^${k}`, (h) => (h.meta.layers[2].padding = [2 ** k, 0]));
    add(`pool kernel 2^${k}`, (h) => (h.meta.layers[2].kernel = [2 ** k, 2]));
    add(`pool stride 2^${k}`, (h) => (h.meta.layers[2].stride = [2 ** k, 2 ** k]));
    add(`conv dilation 2^${k}`, (h) => (h.meta.layers[1].dilation = [2 ** k, 1]));
    add(`weightShape and tensor shape 2^${k}`, (h) => {
      h.meta.layers[1].weightShape = [2, 1, 3, 2 ** k];
      h.tensors.find((x: any) => x.name === 'layers.1.weight').shape = [2, 1, 3, 2 ** k];
    });
    add(`tensor byteLength 2^${k}`, (h) => (h.tensors[0].byteLength = 2 ** k));
    add(`dataByteLength 2^${k}`, (h) => (h.dataByteLength = 2 ** k));
    add(`tensor offset 2^${k}`, (h) => (h.tensors[0].offset = 2 ** k));
  }
  add('shape [2^26, 2^26] on a tensor', (h) => (h.tensors[0].shape = [2 ** 26, 2 ** 26]));
  add("misspelt 'rounding'", (h) => (h.meta.layers[0].rouding = 'halfAwayFromZero'));
  add('unknown meta key', (h) => (h.meta.extra = 1));
  add('20,000 flatten layers', (h) => h.meta.layers.splice(3, 1, ...Array.from({ length: 20_000 }, () => ({ kind: 'flatten' }))));
  add(`meta nested ${DEEP} deep`, (h) => (h.meta.meta = '__DEEP__'));
  add('negative padding', (h) => (h.meta.layers[1].padding = [-1, 0]));
  add('fractional stride', (h) => (h.meta.layers[2].stride = [1.5, 2]));
  add('weight relabelled int32', (h) => (h.tensors.find((x: any) => x.name === 'layers.1.weight').dtype = 'int32'));
  return out;
}

function ckptCrafted(): [string, Uint8Array][] {
  const out: [string, Uint8Array][] = [];
  const add = (what: string, edit: (h: Record<string, any>) => void) => out.push([what, withHeader(ckptBytes, edit)]);
  for (const k of [20, 26, 30, 40, 52, 53]) {
    add(`shape 2^${k}`, (h) => (h.tensors[0].shape = [2 ** k]));
    add(`shape [2^${k}, 2^${k}]`, (h) => (h.tensors[0].shape = [2 ** k, 2 ** k]));
    add(`byteLength 2^${k}`, (h) => (h.tensors[0].byteLength = 2 ** k));
    add(`dataByteLength 2^${k}`, (h) => (h.dataByteLength = 2 ** k));
  }
  for (let i = 0; i < 4; i++) {
    add(`tensor ${i} relabelled int32`, (h) => (h.tensors[i].dtype = 'int32'));
    add(`tensor ${i} relabelled float64`, (h) => (h.tensors[i].dtype = 'float64'));
    add(`tensor ${i} renamed`, (h) => (h.tensors[i].name += 'x'));
    add(`tensor ${i} reshaped`, (h) => (h.tensors[i].shape = [h.tensors[i].shape.reduce((a: number, b: number) => a * b, 1)]));
  }
  add('kind changed', (h) => (h.kind = 'qgrad.int8-model'));
  return out;
}

function report(name: string, t: Tally): string {
  return `${name}: ${t.variants} variants, ${t.counts['clear error']} clear errors, ${t.counts['exact load']} exact loads, ${t.counts['faithful load']} faithful loads of re-checksummed edits, ${t.counts.other} other; slowest ${t.slowest.toFixed(1)} ms`;
}

describe(`fuzzing the readers (seed ${SEED})`, () => {
  const mem0 = process.memoryUsage();
  it('int8 model files', () => {
    expect(decodeContainer(int8Bytes).kind).toBe('qgrad.int8-model'); // the subject is valid
    const t = fuzz(int8Bytes, tryInt8, int8Crafted(), 700, SEED);
    console.log(report('int8 model', t));
    expect(t.others, report('int8 model', t)).toEqual([]);
    expect(t.counts.other).toBe(0);
    // coverage: the run exercised each outcome, and every truncation and raw flip was an error
    expect(t.counts['exact load']).toBeGreaterThanOrEqual(2);
    expect(t.counts['clear error']).toBeGreaterThanOrEqual(int8Bytes.length - 1 + 700);
    expect(t.counts['faithful load']).toBeGreaterThan(0);
  });
  it('checkpoints', () => {
    const t = fuzz(ckptBytes, tryCheckpoint, ckptCrafted(), 500, SEED + 1);
    console.log(report('checkpoint', t));
    expect(t.others, report('checkpoint', t)).toEqual([]);
    expect(t.counts['clear error']).toBeGreaterThanOrEqual(ckptBytes.length - 1 + 500);
    expect(t.counts['faithful load']).toBeGreaterThan(0);
  });
  it('memory stayed bounded over the run', () => {
    const mem = process.memoryUsage();
    expect(mem.arrayBuffers - mem0.arrayBuffers).toBeLessThan(256 * 2 ** 20);
    expect(mem.rss - mem0.rss).toBeLessThan(1024 * 2 ** 20);
  });
  it('the original files load exactly (sanity of the oracle)', () => {
    expect(sameSpec(Int8Model.fromBytes(int8Bytes).toSpec(), original)).toBe(true);
    expect(matchesBytes(original, miniParse(int8Bytes))).toBe(true);
    void encodeContainer;
  });
});
