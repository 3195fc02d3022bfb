/**
 * The int8 model file with float-segment layers (dynamicLinear, weightOnlyLinear,
 * weightOnlyConv2d; src/quant/int8/float-layers.ts): lossless round trips of mixed models, and a
 * clear error naming the file, layer and field for each kind of damage.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { decodeContainer, encodeContainer, type Container, type ContainerArray, type JsonObject } from '../../../src/io/container.js';
import { FileFormatError } from '../../../src/io/format-error.js';
import { Conv2d, Flatten, Linear, MaxPool2d, ReLU, Sequential } from '../../../src/index.js';
import { loadInt8Model, saveInt8Model } from '../../../src/quant/int8/file.js';
import { Int8Model, decodeModel, exportInt8Onnx, quantizeDynamic, quantizeWeightOnly, type Int8ModelSpec } from '../../../src/quant/index.js';
import { buildInt8Model, mnistCnnLayers, uniform } from './build.js';

const tmp = mkdtempSync(join(tmpdir(), 'qgrad-float-layers-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const floatModel = new Sequential(new Conv2d(1, 6, 3), new ReLU(), new MaxPool2d(2), new Flatten(), new Linear(6 * 13 * 13, 10), new ReLU(), new Linear(10, 4));
floatModel.eval();
const weightOnly = quantizeWeightOnly(floatModel, { inputShape: [1, 28, 28], bits: 4, groupSize: 64, symmetric: false });
const dynamicOnly = quantizeDynamic(floatModel, { inputShape: [1, 28, 28], granularity: 'tensor', activation: 'int8' });
// Static int8 convs (a built spec) + dequantize + dynamic linear head.
const built = buildInt8Model(mnistCnnLayers(7, 6), [1, 28, 28], uniform(8, 784, 0, 1), 1);
const at = built.spec.layers.findIndex((l) => l.kind === 'linear');
const head = quantizeDynamic(new Sequential(new Linear(150, 10)), { inputShape: [150] }).layers[0];
const mixed: Int8ModelSpec = {
  inputShape: [1, 28, 28],
  layers: [...built.spec.layers.slice(0, at), { kind: 'dequantize', scale: built.scales[at].inScale!, zeroPoint: 0 }, head],
  meta: { convs: 'static int8', linear: 'dynamic int8' },
};
(mixed.layers[at] as { zeroPoint: number }).zeroPoint = (built.spec.layers[at] as { inZeroPoint: number }).inZeroPoint;
const input = Float32Array.from(uniform(9, 5 * 784, 0, 1));

type Edited = Container & { meta: { layers: Record<string, unknown>[] } & JsonObject };
function edited(spec: Int8ModelSpec, edit: (c: Edited) => void): Uint8Array {
  const container = decodeContainer(new Int8Model(spec).toBytes()) as Edited;
  const copy = { ...container, meta: structuredClone(container.meta) as Edited['meta'], arrays: { ...container.arrays } };
  edit(copy);
  return encodeContainer(copy);
}
function loadError(bytes: Uint8Array): string {
  try {
    Int8Model.fromBytes(bytes, 'bad.qgrd');
  } catch (error) {
    expect(error).toBeInstanceOf(FileFormatError);
    expect((error as Error).message.startsWith('bad.qgrd: ')).toBe(true);
    return (error as Error).message.slice('bad.qgrd: '.length);
  }
  return expect.fail('loading did not throw');
}

describe('int8 model files with float-segment layers', () => {
  for (const [name, spec] of [['weight-only int4 groups', weightOnly], ['dynamic (weight-only convs)', dynamicOnly], ['static int8 + dynamic head', mixed]] as const) {
    it(`round-trips ${name}: identical spec, outputs and description`, () => {
      const model = new Int8Model(spec);
      const path = join(tmp, 'm.qgrd');
      saveInt8Model(model, path);
      const loaded = loadInt8Model(path);
      expect(loaded.toSpec()).toEqual(model.toSpec());
      expect(Array.from(loaded.forward(input, 5))).toEqual(Array.from(model.forward(input, 5)));
      expect(loaded.describe()).toBe(model.describe());
    });
  }

  it('stores int4 weights packed two per byte (version 3), scales and bias as float32, zero points as int32', () => {
    const c = decodeContainer(new Int8Model(weightOnly).toBytes());
    const dtypes = Object.fromEntries(Object.entries(c.arrays).map(([k, a]) => [k, `${a.dtype}[${a.shape.join(',')}]`]));
    expect(c.meta.formatVersion).toBe(3);
    expect(dtypes['layers.0.weight']).toBe('uint8[27]'); // 6·1·3·3 = 54 levels at 4 bits
    expect(dtypes['layers.4.weight']).toBe('uint8[5070]'); // 10·1014 levels at 4 bits
    expect((c.meta.layers as JsonObject[])[4].weightPacking).toEqual({ code: 'int', bits: 4 });
    // the packed bytes hold the levels: element 2i in the low nibble, two's complement (docs/formats.md)
    const levels = (weightOnly.layers[4] as { weight: Int8Array }).weight, bytes = c.arrays['layers.4.weight'].data as Uint8Array;
    for (const i of [0, 1, 2, 3, 1013, 1014, 10139]) {
      const nibble = (bytes[i >> 1] >> (4 * (i & 1))) & 15;
      expect(nibble >= 8 ? nibble - 16 : nibble, `level ${i}`).toBe(levels[i]);
    }
    // int8 weight-only weights stay unpacked, in a version 1 file
    const eight = decodeContainer(new Int8Model(quantizeWeightOnly(floatModel, { inputShape: [1, 28, 28], bits: 8 })).toBytes());
    expect(eight.meta.formatVersion).toBe(1);
    expect(`${eight.arrays['layers.4.weight'].dtype}[${eight.arrays['layers.4.weight'].shape.join(',')}]`).toBe('int8[10,1014]');
    expect(dtypes['layers.0.weightScale']).toBe('float32[6,1]'); // groupSize 64 > K = 9: one group
    expect(dtypes['layers.4.weightScale']).toBe('float32[10,16]'); // ceil(1014 / 64) = 16 groups, the last of 54
    expect(dtypes['layers.4.weightZeroPoint']).toBe('int32[10,16]');
    expect(dtypes['layers.4.bias']).toBe('float32[10]');
  });

  it('names the file, layer, array and problem for damaged files', () => {
    const wo = weightOnly, L = 4; // weightOnlyLinear [10, 1014], 16 groups
    const D = at + 1; // the dynamicLinear of `mixed`
    const set = (name: string, a: ContainerArray) => (c: Edited) => (c.arrays[name] = a);
    expect(loadError(edited(mixed, set(`layers.${D}.weight`, { dtype: 'int32', shape: [10, 150], data: new Int32Array(1500) }))))
      .toBe(`layer ${D} (dynamicLinear): array 'layers.${D}.weight' has dtype int32, expected int8`);
    expect(loadError(edited(mixed, set(`layers.${D}.weightScale`, { dtype: 'float64', shape: [10], data: new Float64Array(10).fill(1) }))))
      .toBe(`layer ${D} (dynamicLinear): array 'layers.${D}.weightScale' has dtype float64, expected float32`);
    expect(loadError(edited(wo, (c) => (c.meta.layers[L].groupSize = 0)))).toMatch(/^layer 4 \(weightOnlyLinear\): groupSize must be an integer in \[1, 1014\]/);
    expect(loadError(edited(wo, (c) => (c.meta.layers[L].groupSize = 2000)))).toMatch(/groupSize must be an integer in \[1, 1014\].*got 2000/);
    expect(loadError(edited(wo, (c) => (c.meta.layers[L].groupSize = 32))))
      .toBe("layer 4 (weightOnlyLinear): array 'layers.4.weightScale' has shape [10, 16], expected [10, 32]");
    expect(loadError(edited(wo, (c) => (c.meta.layers[L].weightShape = [10, 1000]))))
      .toMatch(/^layer 4 \(weightOnlyLinear\): array 'layers\.4\.weight': packed weights have shape \[5070\], expected \[5000\]/);
    expect(loadError(edited(wo, (c) => ((c.meta as unknown as { formatVersion: number }).formatVersion = 1))))
      .toMatch(/^layer 0 \(weightOnlyConv2d\): unexpected field 'weightPacking' \(packed weights need format version 3/);
    expect(loadError(edited(wo, (c) => (c.meta.layers[L].weightQmax = 3)))).toMatch(/^layer 4 \(weightOnlyLinear\): array 'layers\.4\.weight': element \d+ is level \d+, outside the declared range \[-8, 3\]/);
    expect(loadError(edited(mixed, (c) => { (c.meta as unknown as { formatVersion: number }).formatVersion = 3; c.meta.layers[D].weightPacking = { code: 'int', bits: 4 }; })))
      .toMatch(new RegExp(`^layer ${D} \\(dynamicLinear\\): unexpected field 'weightPacking'`));
    expect(loadError(edited(wo, (c) => delete c.arrays['layers.4.weightZeroPoint']))).toBe("layer 4 (weightOnlyLinear): array 'layers.4.weightZeroPoint' is missing");
    expect(loadError(edited(wo, set('layers.4.extra', { dtype: 'int8', shape: [1], data: new Int8Array(1) })))).toBe("unexpected array 'layers.4.extra' (no layer uses it)");
    expect(loadError(edited(wo, (c) => delete c.meta.layers[L].hasBias))).toBe('layer 4 (weightOnlyLinear): hasBias must be true or false, got undefined');
    expect(loadError(edited(wo, (c) => (c.meta.layers[L].bias = [1])))).toBe("layer 4 (weightOnlyLinear): 'bias' belongs in the arrays, not in the layer JSON");
    expect(loadError(edited(wo, (c) => (c.meta.layers[L].scale = 1)))).toMatch(/^invalid int8 model: layer 4 \(weightOnlyLinear\): unknown field 'scale' \(allowed: kind, weightShape, weight/);
    expect(loadError(edited(mixed, (c) => (c.meta.layers[D].granularity = 'batch')))).toBe(`invalid int8 model: layer ${D} (dynamicLinear): granularity must be 'row' or 'tensor', got "batch"`);
    expect(loadError(edited(wo, (c) => (c.meta.layers[L].weightQmax = 300)))).toMatch(/^invalid int8 model: layer 4 \(weightOnlyLinear\): weightQmin and weightQmax must be integers/);
  });

  it('the ONNX exporter writes float-segment layers as float operators (run in onnxruntime by test/quant/export/onnx-float-segments.test.ts)', () => {
    const ops = (bytes: Uint8Array) => (decodeModel(bytes) as { graph: { node: { opType: string }[] } }).graph.node.map((n) => n.opType);
    const wo = ops(exportInt8Onnx(weightOnly));
    expect(wo).toContain('Conv');
    expect(wo).toContain('Gemm');
    expect(wo).not.toContain('QuantizeLinear'); // weight-only: the activations never become levels
    const mx = ops(exportInt8Onnx(mixed));
    expect(mx).toContain('QuantizeLinear'); // the static stretch
    expect(mx).toContain('ReduceMin'); // the dynamic head's run-time range
    expect(mx[mx.length - 1]).toBe('Add'); // ... ending in its float bias
  });
});
