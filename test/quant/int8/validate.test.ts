/**
 * Int8Model's constructor rejects every inconsistent spec with an error that names the layer
 * index, its kind and the field, and proves accumulators cannot overflow int32.
 */
import { describe, expect, it } from 'vitest';
import { Int8Model, type Int8Layer, type Int8ModelSpec } from '../../../src/quant/int8/index.js';
import { errorOf } from '../../helpers/assert.js';

type Conv = Extract<Int8Layer, { kind: 'conv2d' }>;
type Linear = Extract<Int8Layer, { kind: 'linear' }>;

/** A small valid model: quantize, conv (padding 1), maxpool, relu, flatten, linear, dequantize. */
function baseSpec(): Int8ModelSpec {
  return {
    inputShape: [2, 5, 5],
    layers: [
      { kind: 'quantize', scale: 0.02, zeroPoint: 10, qmin: 0, qmax: 255 },
      {
        kind: 'conv2d', weight: Int8Array.from({ length: 54 }, (_, i) => ((i * 37) % 255) - 127), weightQmin: -127, weightQmax: 127,
        weightZeroPoint: new Int32Array(3), bias: Int32Array.of(5, -5, 100), inZeroPoint: 10, outZeroPoint: 0,
        multiplier: new Int32Array(3).fill(2 ** 30), shift: new Int32Array(3).fill(-8), qmin: 0, qmax: 255,
        weightShape: [3, 2, 3, 3], stride: [1, 1], padding: [1, 1], dilation: [1, 1], groups: 1,
      },
      { kind: 'maxpool2d', kernel: [2, 2], stride: [2, 2], padding: [0, 0] },
      { kind: 'relu', zeroPoint: 0 },
      { kind: 'flatten' },
      {
        kind: 'linear', weight: Int8Array.from({ length: 48 }, (_, i) => ((i * 11) % 200) - 100), weightQmin: -128, weightQmax: 127,
        weightZeroPoint: Int32Array.of(0, 1, -1, 5), bias: null, inZeroPoint: 0, outZeroPoint: -3,
        multiplier: new Int32Array(4).fill(1518500250), shift: new Int32Array(4).fill(-9), qmin: -128, qmax: 127, weightShape: [4, 12],
      },
      { kind: 'dequantize', scale: 0.1, zeroPoint: -3 },
    ],
  };
}

const conv = (s: Int8ModelSpec) => s.layers[1] as Conv;
const linear = (s: Int8ModelSpec) => s.layers[5] as Linear;

function rejects(mutate: (s: Int8ModelSpec) => void): string {
  const spec = baseSpec();
  mutate(spec);
  return errorOf(() => new Int8Model(spec));
}

describe('Int8Model validation', () => {
  it('accepts the base spec (the control for every case below)', () => {
    const model = new Int8Model(baseSpec());
    expect(model.forward(new Float32Array(50), 1).length).toBe(4);
  });

  const cases: [string, (s: Int8ModelSpec) => void, RegExp][] = [
    ['no layers', (s) => (s.layers = []), /^Int8Model: spec: needs at least a quantize and a dequantize layer/],
    ['bad input shape', (s) => (s.inputShape = [2, 0, 5]), /^Int8Model: inputShape: must be a non-empty array of positive integers/],
    ['first layer not quantize', (s) => s.layers.shift(), /^Int8Model: layer 0 \(conv2d\): the first layer must be quantize/],
    ['last layer not dequantize', (s) => s.layers.pop(), /^Int8Model: layer 5 \(linear\): the last layer must be dequantize/],
    ['quantize in the middle', (s) => s.layers.splice(3, 0, { kind: 'quantize', scale: 1, zeroPoint: 0, qmin: 0, qmax: 255 }), /layer 3 \(quantize\): quantize may only be the first layer/],
    ['unknown kind', (s) => ((s.layers[3] as { kind: string }).kind = 'softmax'), /layer 3: 'kind' must be one of quantize, conv2d, linear, maxpool2d, relu, flatten, dequantize, .*got "softmax"/],
    ['quantize scale 0', (s) => ((s.layers[0] as { scale: number }).scale = 0), /layer 0 \(quantize\): scale must be a finite number > 0/],
    ['quantize scale below float32', (s) => ((s.layers[0] as { scale: number }).scale = 1e-50), /layer 0 \(quantize\): scale must be/],
    ['quantize qmin = qmax', (s) => ((s.layers[0] as { qmin: number }).qmin = 255), /layer 0 \(quantize\): qmin must be < qmax/],
    ['quantize zero point outside', (s) => ((s.layers[0] as { zeroPoint: number }).zeroPoint = 256), /layer 0 \(quantize\): zeroPoint must be an integer in \[qmin, qmax\] = \[0, 255\], got 256/],
    ['quantize rounding', (s) => ((s.layers[0] as { rounding: string }).rounding = 'up'), /layer 0 \(quantize\): rounding must be 'halfEven' or 'halfAwayFromZero', got "up"/],
    ['conv on a rank-2 input', (s) => (s.inputShape = [2, 25]), /layer 1 \(conv2d\): input must be \[C, H, W\] per example, got \[2, 25\]/],
    ['conv channels', (s) => (s.inputShape = [3, 5, 5]), /layer 1 \(conv2d\): weightShape \[3, 2, 3, 3\] with groups = 1 expects 2 input channels, but the input has 3/],
    ['conv groups', (s) => (conv(s).groups = 2), /layer 1 \(conv2d\): weightShape\[0\] = 3 output channels is not divisible by groups = 2/],
    ['conv stride', (s) => (conv(s).stride = [0, 1]), /layer 1 \(conv2d\): stride must be 2 integers >= 1, got \[0,1\]/],
    ['conv padding', (s) => (conv(s).padding = [-1, 0]), /layer 1 \(conv2d\): padding must be 2 integers >= 0/],
    ['conv kernel too big', (s) => Object.assign(conv(s), { weightShape: [3, 2, 8, 8], weight: new Int8Array(384) }), /layer 1 \(conv2d\): a 8x8 kernel \(dilation 1x1, padding 1x1\) does not fit the 5x5 input/],
    ['weight length', (s) => (conv(s).weight = new Int8Array(53)), /layer 1 \(conv2d\): weight has 53 elements but weightShape \[3, 2, 3, 3\] needs 54/],
    ['weight type', (s) => (conv(s).weight = new Float32Array(54) as unknown as Int8Array), /layer 1 \(conv2d\): weight must be an Int8Array or Int32Array, got Float32Array/],
    ['weight level out of range', (s) => (conv(s).weight[7] = -128), /layer 1 \(conv2d\): weight level -128 at index 7 \(output channel 0\) is outside the declared range \[-127, 127\]/],
    ['weight zero point out of range', (s) => (conv(s).weightZeroPoint[1] = 200), /layer 1 \(conv2d\): weightZeroPoint\[1\] = 200 is outside the weight range \[-127, 127\]/],
    ['weight zero points count', (s) => (conv(s).weightZeroPoint = new Int32Array(2)), /layer 1 \(conv2d\): weightZeroPoint has 2 elements, expected 3 \(one per output channel\)/],
    ['bias type', (s) => (conv(s).bias = new Float32Array(3) as unknown as Int32Array), /layer 1 \(conv2d\): bias must be an Int32Array, got Float32Array/],
    ['multiplier not Q31', (s) => (conv(s).multiplier[2] = 5), /layer 1 \(conv2d\): multiplier\[2\] = 5 is not a Q31 multiplier/],
    ['multiplier negative', (s) => (conv(s).multiplier[0] = -(2 ** 30)), /layer 1 \(conv2d\): multiplier\[0\] = -1073741824 is not a Q31 multiplier/],
    ['shift range', (s) => (conv(s).shift[1] = 31), /layer 1 \(conv2d\): shift\[1\] = 31 is outside \[-31, 30\]/],
    ['in zero point', (s) => (conv(s).inZeroPoint = 11), /layer 1 \(conv2d\): inZeroPoint = 11 does not match the zero point 10 of its input levels \(set by layer 0 \(quantize\)\)/],
    ['out zero point', (s) => (conv(s).outZeroPoint = 300), /layer 1 \(conv2d\): outZeroPoint must be an integer in \[qmin, qmax\] = \[0, 255\], got 300/],
    ['output clamp', (s) => Object.assign(conv(s), { qmin: 10, qmax: 5 }), /layer 1 \(conv2d\): qmin must be <= qmax, got qmin=10, qmax=5/],
    ['out scale', (s) => (conv(s).outScale = -1), /layer 1 \(conv2d\): outScale must be a finite number > 0/],
    ['pool only padding', (s) => ((s.layers[2] as { padding: number[] }).padding = [2, 0]), /layer 2 \(maxpool2d\): pooling window 0 over the rows covers only padding/],
    ['relu zero point', (s) => ((s.layers[3] as { zeroPoint: number }).zeroPoint = 1), /layer 3 \(relu\): zeroPoint = 1 does not match the zero point 0 of its input levels \(set by layer 1 \(conv2d\)\)/],
    ['linear before flatten', (s) => s.layers.splice(4, 1), /layer 4 \(linear\): input must be rank 1 per example \(put a flatten before it\), got \[3, 2, 2\]/],
    ['linear features', (s) => Object.assign(linear(s), { weightShape: [4, 13], weight: new Int8Array(52) }), /layer 5 \(linear\): weightShape \[4, 13\] expects 13 input features, but the input has 12/],
    ['linear in zero point', (s) => (linear(s).inZeroPoint = 3), /layer 5 \(linear\): inZeroPoint = 3 does not match the zero point 0 of its input levels \(set by layer 1 \(conv2d\)\)/],
    ['linear multiplier count', (s) => (linear(s).multiplier = new Int32Array(5)), /layer 5 \(linear\): multiplier has 5 elements, expected 4/],
    ['dequantize zero point', (s) => ((s.layers[6] as { zeroPoint: number }).zeroPoint = 0), /layer 6 \(dequantize\): zeroPoint = 0 does not match the zero point -3 of its input levels \(set by layer 5 \(linear\)\)/],
  ];
  for (const [name, mutate, pattern] of cases) {
    it(`rejects: ${name}`, () => {
      expect(rejects(mutate)).toMatch(pattern);
    });
  }
});

describe('accumulator overflow validation', () => {
  /** quantize (uint8, zp 0) -> linear [1, I] with every weight at `w` around zero point `wzp` -> dequantize. */
  function wideLinear(I: number, w: number, wzp: number, bias = 0, input = { zeroPoint: 0, qmin: 0, qmax: 255 }, relu = false): Int8ModelSpec {
    return {
      inputShape: [I],
      layers: [
        { kind: 'quantize', scale: 1 / 255, ...input },
        ...(relu ? [{ kind: 'relu', zeroPoint: input.zeroPoint } as const] : []),
        {
          kind: 'linear', weight: new Int8Array(I).fill(w), weightQmin: -128, weightQmax: 127, weightZeroPoint: Int32Array.of(wzp),
          bias: Int32Array.of(bias), inZeroPoint: input.zeroPoint, outZeroPoint: 0, multiplier: Int32Array.of(2 ** 30), shift: Int32Array.of(-31),
          qmin: -128, qmax: 127, weightShape: [1, I],
        },
        { kind: 'dequantize', scale: 1, zeroPoint: 0 },
      ],
    };
  }

  it('takes max |x - inZeroPoint| from the farther end of the input range, narrowed by a ReLU', () => {
    // int8 input with zero point 127: x - zp reaches -255 at qmin.
    const high = { zeroPoint: 127, qmin: -128, qmax: 127 };
    expect(() => new Int8Model(wideLinear(66311, 127, 0, 0, high))).not.toThrow();
    expect(errorOf(() => new Int8Model(wideLinear(66312, 127, 0, 0, high)))).toMatch(/\+ 255 \(max \|x - inZeroPoint\|\)/);
    const low = { zeroPoint: -128, qmin: -128, qmax: 127 };
    expect(errorOf(() => new Int8Model(wideLinear(66312, 127, 0, 0, low)))).toMatch(/\+ 255 \(max \|x - inZeroPoint\|\)/);
    // Zero point 0 in -128..127: 128 before a ReLU, 127 after it. 133143 · 127 · 127 fits, · 128 does not.
    const mid = { zeroPoint: 0, qmin: -128, qmax: 127 };
    expect(errorOf(() => new Int8Model(wideLinear(133143, 127, 0, 0, mid)))).toMatch(/\+ 128 \(max \|x - inZeroPoint\|\)/);
    expect(() => new Int8Model(wideLinear(133143, 127, 0, 0, mid, true))).not.toThrow();
  });

  it('accepts exactly the widest layers whose worst case fits in int32', () => {
    // |x - 0| <= 255 and |w - 0| = 127: I · 32385 <= 2^31 - 1 for I <= 66311.
    expect(() => new Int8Model(wideLinear(66311, 127, 0))).not.toThrow();
    expect(errorOf(() => new Int8Model(wideLinear(66312, 127, 0)))).toMatch(
      /^Int8Model: layer 1 \(linear\): output channel 0 can accumulate \|acc\| up to 2147514120 = \|bias\| 0 \+ 255 \(max \|x - inZeroPoint\|\) × 8421624 \(Σ\|w - weightZeroPoint\| over 66312 inputs\), which overflows int32/,
    );
    // Asymmetric weights reach |w - zp| = 255: the K·255·255 rule, K <= 33025.
    expect(() => new Int8Model(wideLinear(33025, -128, 127))).not.toThrow();
    expect(errorOf(() => new Int8Model(wideLinear(33026, -128, 127)))).toMatch(/output channel 0 can accumulate \|acc\| up to 2147515650 .* overflows int32/);
  });

  it('counts the bias, and the left shift of a multiplier >= 1', () => {
    // 10 · 255 · 127 = 323850 from the products.
    expect(() => new Int8Model(wideLinear(10, 127, 0, 2 ** 31 - 1 - 323850))).not.toThrow();
    expect(errorOf(() => new Int8Model(wideLinear(10, 127, 0, 2 ** 31 - 323850)))).toMatch(/can accumulate \|acc\| up to 2147483648 = \|bias\| 2147159798 \+ 255/);
    expect(errorOf(() => new Int8Model(wideLinear(10, 127, 0, -(2 ** 31) + 1)))).toMatch(/overflows int32/);

    const spec = wideLinear(10, 127, 0, 2 ** 30);
    const layer = spec.layers[1] as Linear;
    layer.shift[0] = 1; // real multiplier 1: acc · 2^1 must fit
    expect(errorOf(() => new Int8Model(spec))).toMatch(/layer 1 \(linear\): output channel 0: shift\[0\] = 1 shifts accumulators up to 1074065674 left by 1 bits, which overflows int32/);
    layer.bias![0] = 2 ** 29;
    expect(() => new Int8Model(spec)).not.toThrow();
  });
});
