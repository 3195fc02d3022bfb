/**
 * The packed size formula (src/quant/mixed-precision/size.ts) against sizes worked out by hand for
 * a small model, and at 8 bits against the bytes today's int8 file actually holds per layer
 * (the container arrays of a converted model, src/quant/int8/format.ts).
 */
import { describe, expect, it } from 'vitest';
import { BatchNorm2d, Conv2d, Flatten, Generator, Linear, ReLU, Sequential } from '../../../src/index.js';
import {
  calibrate, convert, packedLayerBytes, packedModelBytes, packedWeightBytes, prepareQAT, qconfig, quantizableLayers,
} from '../../../src/quant/index.js';
import { int8SpecToContainer } from '../../../src/quant/int8/format.js';
import { randomBatches } from '../qat/helpers.js';

/** conv 1→3 k3 (27 weights, bias), ReLU, conv 3→2 k3 without bias + BN (54 weights), flatten, linear 8→5 (40 weights, bias). */
function small(seed: number): Sequential {
  const g = new Generator(seed);
  return new Sequential(
    new Conv2d(1, 3, 3, { generator: g }), new ReLU(),
    new Conv2d(3, 2, 3, { generator: g, bias: false }), new BatchNorm2d(2), new ReLU(),
    new Flatten(), new Linear(2 * 2 * 2, 5, { generator: g }),
  );
}

describe('packed size', () => {
  it('lists the conv2d / linear layers under their child names, a BN-folded conv with a bias', () => {
    expect(quantizableLayers(small(1))).toEqual([
      { name: '0', kind: 'conv2d', weightCount: 27, outChannels: 3, hasBias: true },
      { name: '2', kind: 'conv2d', weightCount: 54, outChannels: 2, hasBias: true },
      { name: '6', kind: 'linear', weightCount: 40, outChannels: 5, hasBias: true },
    ]);
  });

  it('matches sizes worked out by hand', () => {
    // ceil(n·b/8): 27 weights at 3 bits = 81 bits = 10.125 bytes -> 11; at 1 bit 27 bits -> 4
    expect(packedWeightBytes(27, 3)).toBe(11);
    expect(packedWeightBytes(27, 1)).toBe(4);
    expect(packedWeightBytes(40, 5)).toBe(25); // 200 bits exactly
    expect(packedWeightBytes(0, 4)).toBe(0);
    const [c0, c2, l6] = quantizableLayers(small(1));
    // per output channel: zero point, multiplier, shift, bias = 4 int32 = 16 bytes
    expect(packedLayerBytes(c0, 3)).toBe(11 + 3 * 16); // 59
    expect(packedLayerBytes(c2, 2)).toBe(14 + 2 * 16); // 54 weights · 2 bits = 108 bits = 13.5 bytes -> 14
    expect(packedLayerBytes(l6, 6)).toBe(30 + 5 * 16); // 240 bits = 30 bytes
    expect(packedModelBytes([c0, c2, l6], { 0: 3, 2: 2, 6: 6 })).toBe(59 + 46 + 110);
    const noBias = { name: 'x', kind: 'linear' as const, weightCount: 10, outChannels: 2, hasBias: false };
    expect(packedLayerBytes(noBias, 4)).toBe(5 + 2 * 12);
  });

  it('rejects widths the engine cannot hold and missing layers', () => {
    const [c0] = quantizableLayers(small(1));
    expect(() => packedWeightBytes(10, 0)).toThrow(/bits must be an integer from 1 to 8, got 0/);
    expect(() => packedWeightBytes(10, 9)).toThrow(/from 1 to 8, got 9/);
    expect(() => packedLayerBytes(c0, 2.5)).toThrow(/layer '0'.*got 2.5/);
    expect(() => packedWeightBytes(-1, 4)).toThrow(/weightCount/);
    expect(() => packedModelBytes([c0], { 2: 4 })).toThrow(/no bit width for layer '0'/);
  });

  it.each([8, 6, 4, 3, 2])('equals, at %i bits, the bytes of each layer\'s arrays in the (packed) int8 file', (bits) => {
    const model = small(3);
    const layers = quantizableLayers(model);
    const q = prepareQAT(model, { default: qconfig({ bits }) });
    calibrate(q, randomBatches(2, 4, [1, 6, 6], 5));
    const spec = convert(q, { inputShape: [1, 6, 6] });
    const container = int8SpecToContainer(spec);
    const weighted = spec.layers.map((l, i) => [l.kind, i] as const).filter(([k]) => k === 'conv2d' || k === 'linear');
    expect(weighted.length).toBe(layers.length);
    weighted.forEach(([, i], k) => {
      const bytes = Object.entries(container.arrays)
        .filter(([name]) => name.startsWith(`layers.${i}.`))
        .reduce((s, [, a]) => s + a.data.byteLength, 0);
      // 8-bit weights are stored as int8; narrower ones packed b bits each (uint8 bytes, format v3)
      expect(container.arrays[`layers.${i}.weight`].dtype).toBe(bits === 8 ? 'int8' : 'uint8');
      expect(bytes, `layer ${layers[k].name}`).toBe(packedLayerBytes(layers[k], bits));
    });
  });
});
