/**
 * Packed weights in the int8 model file (format version 3, src/quant/int8/format.ts and
 * packed-weights.ts): a version 1 file written by the code before packing still loads and computes
 * the logits that code computed; converted models of the seed CNN shrink with their width (4 bits
 * ≤ 0.6× the 8-bit file), each packed array holding exactly ceil(n·b/8) bytes; pow2 and binary
 * weights pack as their codes; damaged packed data fails with errors naming the layer and array.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { decodeContainer, encodeContainer, type Container, type JsonObject } from '../../../src/io/container.js';
import { FileFormatError } from '../../../src/io/format-error.js';
import { Generator, mnistCnn } from '../../../src/index.js';
import { calibrate, convert, prepareQAT, qconfig } from '../../../src/quant/index.js';
import { Int8Model, Int8GraphModel, graphFromChain, type Int8ModelSpec } from '../../../src/quant/int8/index.js';
import { int8SpecToContainer } from '../../../src/quant/int8/format.js';
import { randomBatches } from '../qat/helpers.js';
import type { WeightCodeKind } from '../../../src/quant/coded-weight-quantize.js';

const fixtures = join(import.meta.dirname, '../../fixtures/int8');

type Layers = Record<string, unknown>[];
const layersOf = (c: Container) => (c.meta as { layers: Layers }).layers;

/** Decode, let `edit` change a copy, re-encode (valid checksum). */
function edited(bytes: Uint8Array, edit: (c: Container & { meta: JsonObject & { layers: Layers } }) => void): Uint8Array {
  const c = decodeContainer(bytes);
  const copy = { ...c, meta: structuredClone(c.meta), arrays: { ...c.arrays } } as Container & { meta: JsonObject & { layers: Layers } };
  edit(copy);
  return encodeContainer(copy);
}

function loadError(bytes: Uint8Array, name: string): string {
  try {
    Int8Model.fromBytes(bytes, name);
  } catch (error) {
    expect(error).toBeInstanceOf(FileFormatError);
    return (error as Error).message;
  }
  return expect.fail(`loading ${name} did not throw`);
}

/** The seed CNN (mnistCnn), PTQ-calibrated on random images and converted at `bits`. */
function seedCnnSpec(bits: number, weightCode?: WeightCodeKind): Int8ModelSpec {
  const model = mnistCnn({ generator: new Generator(14) });
  const q = prepareQAT(model, { default: qconfig({ bits, ...(weightCode ? { weightCode } : {}) }), input: qconfig({ bits: 8 }) });
  calibrate(q, randomBatches(2, 8, [1, 28, 28], 140));
  q.eval();
  return convert(q, { inputShape: [1, 28, 28] });
}
const sample = randomBatches(1, 8, [1, 28, 28], 141)[0];

describe('int8 model file, format version 3 (packed weights)', () => {
  it('a version 1 file written before packing loads and computes the logits that code computed', () => {
    const bytes = readFileSync(join(fixtures, 'v1-4bit.qgrd'));
    const expected = JSON.parse(readFileSync(join(fixtures, 'v1-4bit.expected.json'), 'utf8')) as { batch: number; input: number[]; logits: number[] };
    const raw = decodeContainer(bytes);
    expect(raw.meta.formatVersion).toBe(1);
    expect(raw.arrays['layers.1.weight'].dtype).toBe('int8');
    const model = Int8Model.fromBytes(bytes, 'v1-4bit.qgrd');
    const logits = Array.from(model.forward(expected.input, expected.batch));
    expect(logits).toEqual(Array.from(Float32Array.from(expected.logits)));
    expect(new Set(logits).size).toBeGreaterThan(4);
    const spec = model.toSpec();
    for (const i of [1, 4]) expect(Array.from(spec.layers[i]!.kind === 'conv2d' || spec.layers[i]!.kind === 'linear' ? (spec.layers[i] as { weight: Int8Array }).weight : [])).toEqual(Array.from(raw.arrays[`layers.${i}.weight`].data));
    // the graph reader takes it too
    expect(Array.from(Int8GraphModel.fromBytes(bytes, 'v1-4bit.qgrd').forward(expected.input, expected.batch))).toEqual(logits);

    // Written again, the 4-bit weights are packed: version 3, two levels a byte, same model.
    const again = model.toBytes();
    const c = decodeContainer(again);
    expect(c.meta.formatVersion).toBe(3);
    expect(layersOf(c)[1].weightPacking).toEqual({ code: 'int', bits: 4 });
    expect(c.arrays['layers.1.weight']).toMatchObject({ dtype: 'uint8', shape: [18] }); // ceil(36·4/8)
    expect(c.arrays['layers.4.weight']).toMatchObject({ dtype: 'uint8', shape: [96] }); // 192·4/8
    const reloaded = Int8Model.fromBytes(again, 'again');
    expect(reloaded.toSpec()).toEqual(spec);
    expect(Array.from(reloaded.forward(expected.input, expected.batch))).toEqual(logits);
    expect(again.length).toBeLessThan(bytes.length);
    expect(Array.from(Int8GraphModel.fromBytes(again, 'again').forward(expected.input, expected.batch))).toEqual(logits);
  });

  it('the seed CNN at 8, 4, 2, 1 bits: packed arrays of ceil(n·b/8) bytes; 4 bits ≤ 0.6× the 8-bit file', () => {
    const sizes: Record<number, number> = {};
    for (const bits of [8, 4, 2, 1]) {
      const spec = seedCnnSpec(bits);
      const model = new Int8Model(spec);
      const bytes = model.toBytes();
      sizes[bits] = bytes.length;
      const c = decodeContainer(bytes);
      expect(c.meta.formatVersion).toBe(bits === 8 ? 1 : 3);
      for (const [i, layer] of spec.layers.entries()) {
        if (layer.kind !== 'conv2d' && layer.kind !== 'linear') continue;
        const n = layer.weight.length;
        const array = c.arrays[`layers.${i}.weight`];
        if (bits === 8) {
          expect(array).toMatchObject({ dtype: 'int8', shape: layer.weightShape });
        } else {
          // signed affine levels: [−2^(b−1), 2^(b−1) − 1] narrowed to [−2^(b−1) + 1, ...] fits b-bit two's complement
          expect(layersOf(c)[i].weightPacking).toEqual({ code: 'int', bits });
          expect(array).toMatchObject({ dtype: 'uint8', shape: [Math.ceil((n * bits) / 8)] });
        }
      }
      const loaded = Int8Model.fromBytes(bytes, `cnn-${bits}`);
      expect(Array.from(loaded.forward(sample.x, sample.size))).toEqual(Array.from(model.forward(sample.x, sample.size)));
    }
    expect(sizes[4]).toBeLessThanOrEqual(0.6 * sizes[8]);
    expect(sizes[2]).toBeLessThan(sizes[4]);
    expect(sizes[1]).toBeLessThan(sizes[2]);
    // the weights' share shrinks by exactly their packed bytes: 24,760 weights
    expect(sizes[8] - sizes[4]).toBeGreaterThan(24_760 / 2 - 200);
  });

  it('power-of-two weights pack as sign + exponent (3 bits), binary weights as one sign bit', () => {
    for (const [code, bits, packing] of [['pow2', 3, { code: 'pow2', bits: 3 }], ['pow2', 4, { code: 'pow2', bits: 4 }], ['binary', 1, { code: 'sign', bits: 1 }]] as const) {
      const spec = seedCnnSpec(bits, code);
      const model = new Int8Model(spec);
      const bytes = model.toBytes();
      const c = decodeContainer(bytes);
      for (const i of [1, 3, 6]) {
        expect(layersOf(c)[i].weightPacking, `${code} layer ${i}`).toEqual(packing);
        if (code === 'pow2') expect(layersOf(c)[i]).toMatchObject({ weightCode: 'pow2', weightQmin: -(2 ** (2 ** (bits - 1) - 2)), weightQmax: 2 ** (2 ** (bits - 1) - 2) });
      }
      const loaded = Int8Model.fromBytes(bytes, `${code}-${bits}`);
      expect(loaded.toSpec().layers).toEqual(model.toSpec().layers);
      expect(Array.from(loaded.forward(sample.x, sample.size))).toEqual(Array.from(model.forward(sample.x, sample.size)));
    }
  });

  it('refuses damaged packed data, naming the layer, the array and the problem', () => {
    const good = new Int8Model(seedCnnSpec(4)).toBytes();
    const w1 = 'layers.1.weight';
    const where = "layer 1 (conv2d): array 'layers.1.weight'";
    const shortened = edited(good, (c) => {
      const a = c.arrays[w1];
      c.arrays[w1] = { dtype: 'uint8', shape: [a.shape[0]! - 1], data: (a.data as Uint8Array).slice(1) };
    });
    expect(loadError(shortened, 'short.qgrd')).toBe(`short.qgrd: ${where}: packed weights have shape [179], expected [180] = ceil(360·4/8) bytes for weightShape [40, 1, 3, 3]`);
    const wide = edited(good, (c) => (c.meta.layers[1]!.weightPacking = { code: 'int', bits: 2 }));
    expect(loadError(wide, 'wide.qgrd')).toMatch(/^wide\.qgrd: layer 1 \(conv2d\): array 'layers\.1\.weight': packed weights have shape \[180\], expected \[90\]/);
    const minus8 = edited(good, (c) => {
      const data = (c.arrays[w1].data as Uint8Array).slice();
      data[0] = 0x38; // element 0 becomes −8 (0b1000), element 1 3
      c.arrays[w1] = { dtype: 'uint8', shape: [data.length], data };
      c.meta.layers[1]!.weightQmin = -7; // a narrow range: −8 is outside it
    });
    expect(loadError(minus8, 'range.qgrd')).toBe(`range.qgrd: ${where}: element 0 is level -8, outside the declared range [-7, 7]`);
    const tail = edited(good, (c) => (c.meta.layers[1]!.weightPacking = { code: 'int', bits: 4, order: 'msb' }));
    expect(loadError(tail, 'field.qgrd')).toBe(`field.qgrd: ${where}: unknown field 'weightPacking.order' (allowed: code, bits)`);
    const code = edited(good, (c) => (c.meta.layers[1]!.weightPacking = { code: 'nf4', bits: 4 }));
    expect(loadError(code, 'code.qgrd')).toBe(`code.qgrd: ${where}: weightPacking code must be one of int, uint, pow2, sign, got "nf4"`);
    const v1 = edited(good, (c) => ((c.meta as Record<string, unknown>).formatVersion = 1));
    expect(loadError(v1, 'v1.qgrd')).toBe("v1.qgrd: layer 1 (conv2d): unexpected field 'weightPacking' (packed weights need format version 3 and a conv2d or linear layer)");
    const v4 = edited(good, (c) => ((c.meta as Record<string, unknown>).formatVersion = 4));
    expect(loadError(v4, 'v4.qgrd')).toBe('v4.qgrd: unsupported int8 model format version 4 (this qgrad reads 1 and 3)');
  });

  it('graph files pack too (version 4) and refuse damaged packed data, naming the node', () => {
    const graph = new Int8GraphModel(graphFromChain(seedCnnSpec(2)));
    const bytes = graph.toBytes();
    const c = decodeContainer(bytes);
    expect(c.meta.formatVersion).toBe(4);
    const nodes = (c.meta as { nodes: { op: Record<string, unknown> }[] }).nodes;
    const packedNodes = nodes.flatMap((n, i) => (n.op.weightPacking !== undefined ? [i] : []));
    expect(packedNodes.length).toBe(3);
    for (const i of packedNodes) {
      expect(nodes[i]!.op.weightPacking).toEqual({ code: 'int', bits: 2 });
      const n = (nodes[i]!.op.weightShape as number[]).reduce((a, b) => a * b, 1);
      expect(c.arrays[`nodes.${i}.weight`]).toMatchObject({ dtype: 'uint8', shape: [Math.ceil(n / 4)] });
    }
    const loaded = Int8GraphModel.fromBytes(bytes, 'graph');
    expect(Array.from(loaded.forward(sample.x, sample.size))).toEqual(Array.from(graph.forward(sample.x, sample.size)));
    const i = packedNodes[0]!;
    const bad = encodeContainer({ ...c, arrays: { ...c.arrays, [`nodes.${i}.weight`]: { dtype: 'uint8', shape: [1], data: Uint8Array.of(0) } } });
    expect(() => Int8GraphModel.fromBytes(bad, 'g.qgrd')).toThrow(new RegExp(`^g\\.qgrd: node ${i} \\('[^']+', conv2d\\): array 'nodes\\.${i}\\.weight': packed weights have shape \\[1\\], expected \\[90\\]`));
  });

  it('padding bits of the last byte must be zero', () => {
    // 3 weights of 4 bits: 12 bits in 2 bytes, the top nibble of the second is padding
    const model = new Int8Model({
      inputShape: [3],
      layers: [
        { kind: 'quantize', scale: 0.1, zeroPoint: 0, qmin: -8, qmax: 7 },
        { kind: 'linear', weight: Int8Array.of(-7, 3, 7), weightShape: [1, 3], weightQmin: -7, weightQmax: 7, weightZeroPoint: new Int32Array(1), bias: null, inZeroPoint: 0, outZeroPoint: 0, multiplier: Int32Array.of(1 << 30), shift: Int32Array.of(0), qmin: -8, qmax: 7 },
        { kind: 'dequantize', scale: 0.1, zeroPoint: 0 },
      ],
    });
    const good = model.toBytes();
    const c = decodeContainer(good);
    expect(Array.from(c.arrays['layers.1.weight'].data)).toEqual([0x39, 0x07]); // −7 = 0b1001 low, 3 high; 7 low, padding 0
    const bad = edited(good, (e) => (e.arrays['layers.1.weight'] = { dtype: 'uint8', shape: [2], data: Uint8Array.of(0x39, 0x17) }));
    expect(loadError(bad, 'pad.qgrd')).toBe("pad.qgrd: layer 1 (linear): array 'layers.1.weight': padding bits of the last byte are not zero (byte 0x17, 4 padding bits)");
    const int8 = edited(good, (e) => (e.arrays['layers.1.weight'] = { dtype: 'int8', shape: [2], data: Int8Array.of(0x39, 0x07) }));
    expect(loadError(int8, 'dtype.qgrd')).toBe("dtype.qgrd: layer 1 (linear): array 'layers.1.weight': packed weights have dtype int8, expected uint8");
  });
});
