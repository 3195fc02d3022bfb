/**
 * The int8 model file ('qgrad.int8-model' in the qgrad container): lossless round trips,
 * int8 storage of weights that fit, and clear errors naming the file for every kind of damage.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { decodeContainer, encodeContainer, type Container, type JsonObject } from '../../../src/io/container.js';
import { loadContainer, saveContainer } from '../../../src/io/container-file.js';
import { loadInt8Model, saveInt8Model } from '../../../src/quant/int8/file.js';
import { FileFormatError } from '../../../src/io/format-error.js';
import { INT8_MODEL_KIND, Int8Model, type Int8Layer, type Int8ModelSpec } from '../../../src/quant/int8/index.js';
import { buildInt8Model, mnistCnnLayers, uniform } from './build.js';

const tmp = mkdtempSync(join(tmpdir(), 'qgrad-int8-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const built = buildInt8Model(mnistCnnLayers(7, 6), [1, 28, 28], uniform(8, 3 * 784, 0, 1), 3, { meta: { bits: 8, scheme: 'per-channel symmetric' } });
const input = Float32Array.from(uniform(9, 20 * 784, 0, 1));

type Conv = Extract<Int8Layer, { kind: 'conv2d' }>;

/** Decode `bytes`, let `edit` change the container, re-encode (so the checksum is valid again). */
function edited(bytes: Uint8Array, edit: (c: Container & { meta: { layers: Record<string, unknown>[] } & JsonObject }) => void): Uint8Array {
  const container = decodeContainer(bytes) as Container & { meta: { layers: Record<string, unknown>[] } & JsonObject };
  const meta = structuredClone(container.meta) as typeof container.meta;
  const copy = { ...container, meta, arrays: { ...container.arrays } };
  edit(copy);
  return encodeContainer(copy);
}

/** Write bytes to a fresh file, load it, and return the error, which must be a FileFormatError naming the file. */
function loadError(bytes: Uint8Array, name: string): string {
  const path = join(tmp, name);
  writeFileSync(path, bytes);
  try {
    loadInt8Model(path);
  } catch (error) {
    expect(error).toBeInstanceOf(FileFormatError);
    expect((error as FileFormatError).source).toBe(path);
    expect((error as Error).message.startsWith(`${path}: `)).toBe(true);
    return (error as Error).message.slice(path.length + 2);
  }
  return expect.fail(`loading ${name} did not throw`);
}

describe('int8 model file', () => {
  it('round-trips: identical spec, identical outputs, the size it reports', () => {
    const model = new Int8Model(built.spec);
    const path = join(tmp, 'model.qgrd');
    saveInt8Model(model, path);
    expect(readdirSync(tmp).filter((f) => f.endsWith('.tmp'))).toEqual([]); // atomic write cleaned up
    const loaded = loadInt8Model(path);
    expect(Array.from(loaded.forward(input, 20))).toEqual(Array.from(model.forward(input, 20)));
    expect(loaded.toSpec()).toEqual(model.toSpec());
    expect(loaded.describe()).toBe(model.describe());
    expect(model.sizeBytes()).toBe(statSync(path).size);
    expect(Array.from(Int8Model.fromBytes(readFileSync(path), 'copy').forward(input, 20))).toEqual(Array.from(model.forward(input, 20)));
  });

  it('stores weights as int8 when their levels fit (whatever the array type), int32 otherwise, and bias/multiplier/shift as int32', () => {
    const spec = structuredClone(built.spec);
    const conv = spec.layers[1] as Conv;
    conv.weight = Int32Array.from(conv.weight); // fits in int8: still stored as int8
    const container = decodeContainer(new Int8Model(spec).toBytes());
    expect(container.kind).toBe(INT8_MODEL_KIND);
    expect(container.arrays['layers.1.weight']).toMatchObject({ dtype: 'int8', shape: [6, 1, 3, 3] });
    expect(container.arrays['layers.1.bias']).toMatchObject({ dtype: 'int32', shape: [6] });
    expect(container.arrays['layers.1.multiplier']).toMatchObject({ dtype: 'int32', shape: [6] });
    expect(container.arrays['layers.1.shift']).toMatchObject({ dtype: 'int32', shape: [6] });
    expect(container.arrays['layers.1.weightZeroPoint']).toMatchObject({ dtype: 'int32', shape: [6] });
    expect(container.arrays['layers.6.weight']).toMatchObject({ dtype: 'int8', shape: [10, 150] });
    expect(Object.keys(container.arrays)).toHaveLength(15); // 3 weighted layers × 5 arrays
    expect(container.meta.meta).toEqual({ bits: 8, scheme: 'per-channel symmetric' });
    expect((container.meta.layers as JsonObject[])[1]).toMatchObject({ kind: 'conv2d', hasBias: true, weightShape: [6, 1, 3, 3], stride: [1, 1] });

    // 10-bit weights do not fit in int8 (128 is the first level that does not).
    conv.weightQmin = -511;
    conv.weightQmax = 511;
    conv.weight[0] = 128;
    const wide = new Int8Model(spec);
    const wideContainer = decodeContainer(wide.toBytes());
    expect(wideContainer.arrays['layers.1.weight']).toMatchObject({ dtype: 'int32', shape: [6, 1, 3, 3] });
    const back = Int8Model.fromBytes(wide.toBytes());
    expect(Array.from((back.toSpec().layers[1] as Conv).weight)).toEqual(Array.from(conv.weight));
    expect(Array.from(back.forward(input, 20))).toEqual(Array.from(wide.forward(input, 20)));
  });

  it('a layer without bias stores no bias array and loads as bias null', () => {
    const spec = structuredClone(built.spec);
    (spec.layers[3] as Conv).bias = null;
    const bytes = new Int8Model(spec).toBytes();
    const container = decodeContainer(bytes);
    expect(container.arrays['layers.3.bias']).toBeUndefined();
    expect((container.meta.layers as JsonObject[])[3]!.hasBias).toBe(false);
    expect((Int8Model.fromBytes(bytes).toSpec().layers[3] as Conv).bias).toBeNull();
  });

  it('is under 30% of a float32 file holding the same parameters (the 40-channel MNIST CNN)', () => {
    const full = buildInt8Model(mnistCnnLayers(7, 40), [1, 28, 28], uniform(8, 784, 0, 1), 1);
    const model = new Int8Model(full.spec);
    const floatArrays: Container['arrays'] = {};
    full.spec.layers.forEach((layer, i) => {
      if (layer.kind !== 'conv2d' && layer.kind !== 'linear') return;
      floatArrays[`layers.${i}.weight`] = { dtype: 'float32', shape: layer.weightShape, data: new Float32Array(layer.weight.length) };
      floatArrays[`layers.${i}.bias`] = { dtype: 'float32', shape: [layer.weightShape[0]], data: new Float32Array(layer.weightShape[0]) };
    });
    const floatSize = encodeContainer({ kind: 'qgrad.checkpoint', meta: {}, arrays: floatArrays }).length;
    // int8 weights are a quarter of float32; per-channel int32 zero points, multipliers and
    // shifts and the JSON layer list add the rest (about 28.7 kB against 100 kB).
    expect(model.sizeBytes()).toBeLessThan(0.3 * floatSize);
    expect(model.sizeBytes()).toBeGreaterThan(0.25 * floatSize);
  });
});

describe('int8 model file errors name the file', () => {
  const good = new Int8Model(built.spec).toBytes();

  it('truncated or bit-flipped files fail the container checksum', () => {
    expect(loadError(good.subarray(0, good.length - 100), 'truncated.qgrd')).toMatch(/checksum mismatch|truncated/);
    const flipped = good.slice();
    flipped[good.length - 500] ^= 0x10;
    expect(loadError(flipped, 'flipped.qgrd')).toBe('checksum mismatch (file corrupt or truncated)');
    expect(loadError(new Uint8Array(0), 'empty.qgrd')).toMatch(/empty file/);
  });

  it('another kind of qgrad file', () => {
    const path = join(tmp, 'checkpoint.qgrd');
    saveContainer(path, { kind: 'qgrad.checkpoint', meta: {}, arrays: {} });
    expect(loadError(readFileSync(path), 'checkpoint.qgrd')).toBe("holds a 'qgrad.checkpoint', not an int8 model ('qgrad.int8-model')");
    expect(loadContainer(path).kind).toBe('qgrad.checkpoint');
  });

  it('structure: version, layer list, missing, extra, mis-shaped or mis-typed arrays', () => {
    expect(loadError(edited(good, (c) => ((c.meta as Record<string, unknown>).formatVersion = 2)), 'v2.qgrd')).toMatch(/unsupported int8 model format version 2/);
    expect(loadError(edited(good, (c) => ((c.meta as Record<string, unknown>).layers = 'conv')), 'layers.qgrd')).toMatch(/meta.layers must be an array/);
    expect(loadError(edited(good, (c) => (c.meta.layers[2] = { kind: 'softmax' })), 'kind.qgrd')).toMatch(/^layer 2: not a layer description/);
    expect(loadError(edited(good, (c) => (c.meta.layers[1]!.weightShape = [6, 1, 3, 2])), 'shape.qgrd')).toBe(
      "layer 1 (conv2d): array 'layers.1.weight' has shape [6, 1, 3, 3], expected [6, 1, 3, 2]",
    );
    expect(loadError(edited(good, (c) => (c.meta.layers[1]!.weightShape = [6, 1, 3])), 'rank.qgrd')).toMatch(/layer 1 \(conv2d\): weightShape must be 4 positive integers, got \[6,1,3\]/);
    expect(loadError(edited(good, (c) => delete c.arrays['layers.3.multiplier']), 'missing.qgrd')).toBe("layer 3 (conv2d): array 'layers.3.multiplier' is missing");
    expect(loadError(edited(good, (c) => (c.arrays.extra = { dtype: 'int8', shape: [1], data: new Int8Array(1) })), 'extra.qgrd')).toBe("unexpected array 'extra' (no layer uses it)");
    expect(loadError(edited(good, (c) => (c.arrays['layers.6.shift'] = { dtype: 'float32', shape: [10], data: new Float32Array(10) })), 'dtype.qgrd')).toBe(
      "layer 6 (linear): array 'layers.6.shift' has dtype float32, expected int32",
    );
    expect(loadError(edited(good, (c) => delete c.meta.layers[6]!.hasBias), 'hasbias.qgrd')).toMatch(/layer 6 \(linear\): hasBias must be true or false/);
    expect(loadError(edited(good, (c) => (c.meta.layers[6]!.weight = [1, 2])), 'inline.qgrd')).toMatch(/layer 6 \(linear\): 'weight' belongs in the arrays/);
  });

  it('contents the engine rejects are reported against the file', () => {
    const badMultiplier = edited(good, (c) => {
      const m = c.arrays['layers.1.multiplier']!;
      const data = Int32Array.from(m.data as Int32Array);
      data[0] = 5;
      c.arrays['layers.1.multiplier'] = { dtype: 'int32', shape: m.shape, data };
    });
    expect(loadError(badMultiplier, 'multiplier.qgrd')).toMatch(/^invalid int8 model: layer 1 \(conv2d\): multiplier\[0\] = 5 is not a Q31 multiplier/);
    expect(loadError(edited(good, (c) => (c.meta.layers[3]!.inZeroPoint = 99)), 'zp.qgrd')).toMatch(/^invalid int8 model: layer 3 \(conv2d\): inZeroPoint = 99 does not match/);
    expect(loadError(edited(good, (c) => ((c.meta as Record<string, unknown>).inputShape = [1, 28])), 'input.qgrd')).toMatch(/^invalid int8 model: layer 1 \(conv2d\): input must be \[C, H, W\]/);
    expect(() => Int8Model.fromBytes(edited(good, (c) => (c.meta.layers[3]!.inZeroPoint = 99)), 'in-memory')).toThrow(/^in-memory: invalid int8 model/);
  });
});

// Keep the fixture honest: it is the spec the tests above assume.
describe('fixture', () => {
  it('is the MNIST CNN shape with 6 channels', () => {
    const kinds = (built.spec as Int8ModelSpec).layers.map((l) => l.kind);
    expect(kinds).toEqual(['quantize', 'conv2d', 'maxpool2d', 'conv2d', 'maxpool2d', 'flatten', 'linear', 'dequantize']);
  });
});
