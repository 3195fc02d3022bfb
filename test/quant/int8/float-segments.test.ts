/**
 * The float/level boundaries of the int8 chain (src/quant/int8/float-layers.ts): quantize and
 * dequantize inside the chain, relu and max pooling on float values, a float first layer, and
 * the model keeping its own copy of float arrays. The oracle composes the reference numerics
 * (quantize / dequantize of src/quant/numerics) with plain loops written here.
 */
import { describe, expect, it } from 'vitest';
import { Int8Model, type Int8ModelSpec } from '../../../src/quant/int8/index.js';
import { dequantize, quantize } from '../../../src/quant/numerics/index.js';
import { uniform } from './build.js';

describe('float segments of the int8 chain', () => {
  it('quantize -> dequantize -> relu, maxpool2d on floats -> quantize -> dequantize equals the numerics composed by hand', () => {
    const C = 2, H = 4, W = 4, N = 3;
    const p1 = { scale: 0.02, zeroPoint: 100, qmin: 0, qmax: 255 }, p2 = { scale: 0.013, zeroPoint: -5, qmin: -128, qmax: 127 };
    const spec: Int8ModelSpec = {
      inputShape: [C, H, W],
      layers: [
        { kind: 'quantize', ...p1 },
        { kind: 'dequantize', scale: p1.scale, zeroPoint: p1.zeroPoint },
        { kind: 'relu', zeroPoint: 0 },
        { kind: 'maxpool2d', kernel: [2, 2], stride: [2, 2], padding: [1, 1] },
        { kind: 'quantize', ...p2 },
        { kind: 'dequantize', scale: p2.scale, zeroPoint: p2.zeroPoint },
      ],
    };
    const x = Float32Array.from(uniform(4, N * C * H * W, -2, 2));
    const a = dequantize(quantize(x, p1), p1).map((v) => Math.max(v, 0));
    const OH = 3, OW = 3;
    const pooled = new Float32Array(N * C * OH * OW);
    for (let pl = 0; pl < N * C; pl++) for (let oh = 0; oh < OH; oh++) for (let ow = 0; ow < OW; ow++) {
      let best = -Infinity;
      for (let i = 0; i < 2; i++) for (let j = 0; j < 2; j++) {
        const ih = oh * 2 - 1 + i, iw = ow * 2 - 1 + j;
        if (ih >= 0 && ih < H && iw >= 0 && iw < W) best = Math.max(best, a[pl * H * W + ih * W + iw]);
      }
      pooled[(pl * OH + oh) * OW + ow] = best;
    }
    const expected = dequantize(quantize(pooled, p2), p2);
    const model = new Int8Model(spec);
    expect(Array.from(model.forward(x, N))).toEqual(Array.from(expected));
    const trace = model.forwardLevels(x, N);
    expect(trace.layers.map((l) => (l.values ? 'float' : 'levels'))).toEqual(['levels', 'float', 'float', 'float', 'levels']);
    expect(Array.from(trace.layers[3].values!)).toEqual(Array.from(pooled));
    expect(Array.from(trace.layers[4].levels)).toEqual(Array.from(quantize(pooled, p2)));
  });

  it('a model may start with a float layer (its input taken as float32) and end with one', () => {
    const spec: Int8ModelSpec = {
      inputShape: [3],
      layers: [{ kind: 'relu', zeroPoint: 0 }, { kind: 'flatten' }, { kind: 'quantize', scale: 0.5, zeroPoint: 0, qmin: 0, qmax: 7 }, { kind: 'dequantize', scale: 0.5, zeroPoint: 0 }, { kind: 'relu', zeroPoint: 0 }],
    };
    expect(Array.from(new Int8Model(spec).forward([-1, 0.74, 9], 1))).toEqual([0, 0.5, 3.5]);
    expect(() => new Int8Model({ inputShape: [3], layers: [{ kind: 'relu', zeroPoint: 0 }, { kind: 'dequantize', scale: 1, zeroPoint: 0 }] }))
      .toThrow(/layer 1 \(dequantize\): takes integer levels, but its input is float/);
  });

  it('keeps its own copies of float arrays: changing the caller\'s spec afterwards changes nothing', () => {
    const layer = {
      kind: 'dynamicLinear' as const, weightShape: [2, 3] as [number, number], weight: Int8Array.from([1, 2, 3, -4, 5, -6]),
      weightScale: Float32Array.from([0.1, 0.2]), bias: Float32Array.from([0.5, -0.5]), activation: 'uint8' as const, granularity: 'row' as const,
    };
    const model = new Int8Model({ inputShape: [3], layers: [layer] });
    const before = Array.from(model.forward([1, 2, 3], 1));
    layer.weightScale[0] = 9;
    layer.bias[1] = 100;
    expect(Array.from(model.forward([1, 2, 3], 1))).toEqual(before);
    const copy = model.toSpec().layers[0] as typeof layer;
    copy.weightScale[1] = 7;
    expect(Array.from(model.forward([1, 2, 3], 1))).toEqual(before);
  });
});
