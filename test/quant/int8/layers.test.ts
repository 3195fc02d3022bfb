/**
 * Each integer layer of Int8Model, alone between a quantize and a dequantize, against an
 * independent oracle: exact BigInt sums plus rational requantization for conv2d / linear
 * (padding, stride, dilation, groups, zero points, bias, fused ReLU), the float path
 * dequantize -> max pool -> quantize for maxpool2d.
 *
 * Inputs are fed as exact levels: the quantize layer has scale 1, so x = level - zeroPoint
 * quantizes back to `level` whatever the rounding.
 */
import { describe, expect, it } from 'vitest';
import { Int8Model, gemmInt32, type Int8Layer } from '../../../src/quant/int8/index.js';
import { dequantize, quantize, quantizeMultiplier } from '../../../src/quant/numerics/index.js';
import * as R from '../../helpers/reference.js';
import { prng } from './build.js';
import { convAccOracle, linearAccOracle, requantizeOracle } from './oracle.js';
import { int, randomInts, randomRange, type Range, type Rnd } from './random.js';


/** quantize (scale 1) -> layer -> dequantize (scale 1), so levels go in and come out unchanged. */
function singleLayerModel(inputShape: number[], input: Range, layer: Int8Layer, output: Range, options = {}): Int8Model {
  return new Int8Model(
    {
      inputShape,
      layers: [
        { kind: 'quantize', scale: 1, zeroPoint: input.zeroPoint, qmin: input.qmin, qmax: input.qmax },
        layer,
        { kind: 'dequantize', scale: 1, zeroPoint: output.zeroPoint },
      ],
    },
    options,
  );
}

/** Float input that quantizes (scale 1) to exactly these levels. */
const asInput = (levels: Int32Array, zeroPoint: number) => Float32Array.from(levels, (q) => q - zeroPoint);

/** Per-channel output stage with random real multipliers in [1e-4, 0.3]. */
function randomOutputStage(rnd: Rnd, O: number) {
  const multiplier = new Int32Array(O), shift = new Int32Array(O);
  for (let o = 0; o < O; o++) {
    const q = quantizeMultiplier(10 ** (-4 + 3.5 * rnd()));
    multiplier[o] = q.multiplier;
    shift[o] = q.shift;
  }
  return { multiplier, shift };
}

/** Random weights: int8 storage or int32, symmetric (zero points 0) or per-channel asymmetric. */
function randomWeights(rnd: Rnd, O: number, K: number) {
  const asymmetric = rnd() < 0.5;
  const [weightQmin, weightQmax] = asymmetric ? [-128, 127] : [-127, 127];
  const levels = randomInts(rnd, O * K, weightQmin, weightQmax);
  const weight = rnd() < 0.5 ? Int8Array.from(levels) : levels;
  const weightZeroPoint = asymmetric ? randomInts(rnd, O, -128, 127) : new Int32Array(O);
  const bias = rnd() < 0.8 ? randomInts(rnd, O, -(2 ** 16), 2 ** 16) : null;
  return { weight, weightQmin, weightQmax, weightZeroPoint, bias };
}

/** Output clamp, with a fused ReLU (qmin = zeroPoint) a third of the time. */
function randomOutputRange(rnd: Rnd): Range {
  const r = randomRange(rnd);
  return rnd() < 0.33 ? { ...r, qmin: r.zeroPoint === r.qmax ? r.qmin : r.zeroPoint } : r;
}

describe('conv2d layer', () => {
  it('equals the exact BigInt conv plus rational requantization (padding, stride, dilation, groups), with both GEMMs', () => {
    const rnd = prng(101);
    let checked = 0;
    for (let t = 0; t < 60; t++) {
      const groups = int(rnd, 1, 3), Cg = int(rnd, 1, 3), Og = int(rnd, 1, 3);
      const C = Cg * groups, O = Og * groups;
      const KH = int(rnd, 1, 3), KW = int(rnd, 1, 3);
      const stride: [number, number] = [int(rnd, 1, 3), int(rnd, 1, 2)];
      const padding: [number, number] = [int(rnd, 0, 2), int(rnd, 0, 1)];
      const dilation: [number, number] = [int(rnd, 1, 2), int(rnd, 1, 2)];
      const H = int(rnd, (KH - 1) * dilation[0] + 1, 9), W = int(rnd, (KW - 1) * dilation[1] + 1, 9);
      const N = int(rnd, 1, 3);
      const input = randomRange(rnd), output = randomOutputRange(rnd);
      const w = randomWeights(rnd, O, Cg * KH * KW);
      const stage = randomOutputStage(rnd, O);
      const layer: Int8Layer = {
        kind: 'conv2d', ...w, weightShape: [O, Cg, KH, KW], inZeroPoint: input.zeroPoint,
        outZeroPoint: output.zeroPoint, ...stage, qmin: output.qmin, qmax: output.qmax, stride, padding, dilation, groups,
      };
      const x = randomInts(rnd, N * C * H * W, input.qmin, input.qmax);
      const { acc } = convAccOracle(x, [N, C, H, W], input.zeroPoint, w.weight, [O, Cg, KH, KW], w.weightZeroPoint, w.bias, { stride, padding, dilation, groups });
      const P = acc.length / (N * O);
      const expected = acc.map((a, i) =>
        requantizeOracle(a, stage.multiplier[Math.floor(i / P) % O]!, stage.shift[Math.floor(i / P) % O]!, output.zeroPoint, output.qmin, output.qmax),
      );
      for (const options of [{}, { gemm: gemmInt32 }]) {
        const model = singleLayerModel([C, H, W], input, layer, output, options);
        const got = model.forwardLevels(asInput(x, input.zeroPoint), N).layers[1]!.levels;
        expect(Array.from(got), `case ${t}: ${JSON.stringify({ N, C, H, W, O, KH, KW, stride, padding, dilation, groups })}`).toEqual(expected);
      }
      checked += expected.length;
    }
    expect(checked).toBeGreaterThan(1000);
  });

  it('is exact with 16-bit levels, where the engine falls back to gemmInt32', () => {
    const rnd = prng(102);
    const input = { zeroPoint: 1000, qmin: -32768, qmax: 32767 };
    const output = { zeroPoint: 0, qmin: -32768, qmax: 32767 };
    const [O, C, K] = [4, 3, 3];
    const weight = randomInts(rnd, O * C * K * K, -32767, 32767);
    const weightZeroPoint = new Int32Array(O);
    const stage = randomOutputStage(rnd, O);
    // 27 inputs · 33767 · 32767 ≈ 2.99e10 would overflow; keep the weights small enough per channel.
    for (let i = 0; i < weight.length; i++) weight[i] = Math.trunc(weight[i]! / 16);
    const layer: Int8Layer = {
      kind: 'conv2d', weight, weightQmin: -32767, weightQmax: 32767, weightZeroPoint, bias: null, weightShape: [O, C, K, K],
      inZeroPoint: 1000, outZeroPoint: 0, ...stage, qmin: output.qmin, qmax: output.qmax,
      stride: [1, 1], padding: [1, 1], dilation: [1, 1], groups: 1,
    };
    const model = singleLayerModel([C, 6, 6], input, layer, output);
    expect(model.describe()).toContain('gemm int32');
    const x = randomInts(rnd, 2 * C * 36, input.qmin, input.qmax);
    const { acc } = convAccOracle(x, [2, C, 6, 6], 1000, weight, [O, C, K, K], weightZeroPoint, null, { stride: [1, 1], padding: [1, 1], dilation: [1, 1], groups: 1 });
    const expected = acc.map((a, i) => requantizeOracle(a, stage.multiplier[Math.floor(i / 36) % O]!, stage.shift[Math.floor(i / 36) % O]!, 0, -32768, 32767));
    expect(Array.from(model.forwardLevels(asInput(x, 1000), 2).layers[1]!.levels)).toEqual(expected);
  });
});

describe('conv2d followed by maxpool2d', () => {
  it('forward (which pools accumulators before requantizing) gives the levels of conv2d then maxpool2d', () => {
    const rnd = prng(151);
    let varied = 0;
    for (let t = 0; t < 30; t++) {
      const groups = int(rnd, 1, 2), Cg = int(rnd, 1, 3), Og = int(rnd, 1, 4);
      const C = Cg * groups, O = Og * groups;
      const K = int(rnd, 1, 3);
      const padding: [number, number] = [int(rnd, 0, 1), int(rnd, 0, 1)];
      const H = int(rnd, 4, 10), W = int(rnd, 4, 10), N = int(rnd, 1, 3);
      const input = randomRange(rnd), output = randomOutputRange(rnd);
      const conv: Int8Layer = {
        kind: 'conv2d', ...randomWeights(rnd, O, Cg * K * K), weightShape: [O, Cg, K, K], inZeroPoint: input.zeroPoint,
        outZeroPoint: output.zeroPoint, ...randomOutputStage(rnd, O), qmin: output.qmin, qmax: output.qmax,
        stride: [1, int(rnd, 1, 2)], padding, dilation: [1, 1], groups,
      };
      const pk = int(rnd, 2, 3);
      const pool: Int8Layer = { kind: 'maxpool2d', kernel: [pk, 2], stride: [int(rnd, 1, 2), 2], padding: [int(rnd, 0, 1), 0] };
      const model = new Int8Model({
        inputShape: [C, H, W],
        layers: [
          { kind: 'quantize', scale: 1, ...input },
          conv,
          pool,
          { kind: 'dequantize', scale: 1, zeroPoint: output.zeroPoint },
        ],
      });
      const x = asInput(randomInts(rnd, N * C * H * W, input.qmin, input.qmax), input.zeroPoint);
      const trace = model.forwardLevels(x, N);
      const pooled = trace.layers[2]!.levels;
      expect(Array.from(model.forward(x, N)), `case ${t}`).toEqual(Array.from(pooled, (q) => q - output.zeroPoint));
      if (new Set(pooled).size > 2) varied++;
    }
    expect(varied).toBeGreaterThan(20); // most cases are not saturated to a constant
  });
});

describe('linear layer', () => {
  it('equals the exact BigInt product plus rational requantization, with both GEMMs', () => {
    const rnd = prng(201);
    for (let t = 0; t < 40; t++) {
      const O = int(rnd, 1, 12), I = int(rnd, 1, 40), N = int(rnd, 1, 70); // N > 64 crosses a GEMM row block
      const input = randomRange(rnd), output = randomOutputRange(rnd);
      const w = randomWeights(rnd, O, I);
      const stage = randomOutputStage(rnd, O);
      const layer: Int8Layer = {
        kind: 'linear', ...w, weightShape: [O, I], inZeroPoint: input.zeroPoint, outZeroPoint: output.zeroPoint, ...stage,
        qmin: output.qmin, qmax: output.qmax,
      };
      const x = randomInts(rnd, N * I, input.qmin, input.qmax);
      const acc = linearAccOracle(x, N, input.zeroPoint, w.weight, O, I, w.weightZeroPoint, w.bias);
      const expected = acc.map((a, i) => requantizeOracle(a, stage.multiplier[i % O]!, stage.shift[i % O]!, output.zeroPoint, output.qmin, output.qmax));
      for (const options of [{}, { gemm: gemmInt32 }]) {
        const got = singleLayerModel([I], input, layer, output, options).forwardLevels(asInput(x, input.zeroPoint), N).layers[1]!.levels;
        expect(Array.from(got), `case ${t}: O=${O} I=${I} N=${N}`).toEqual(expected);
      }
    }
  });
});

describe('maxpool2d layer', () => {
  it('on levels equals dequantize -> float max pool -> quantize (padding never wins)', () => {
    const rnd = prng(301);
    for (let t = 0; t < 40; t++) {
      const kernel: [number, number] = [int(rnd, 1, 3), int(rnd, 1, 3)];
      const stride: [number, number] = [int(rnd, 1, 3), int(rnd, 1, 3)];
      const padding: [number, number] = [int(rnd, 0, kernel[0] >> 1), int(rnd, 0, kernel[1] >> 1)];
      const dilation: [number, number] = [int(rnd, 1, 2), int(rnd, 1, 2)];
      const C = int(rnd, 1, 3), N = int(rnd, 1, 2);
      const H = int(rnd, (kernel[0] - 1) * dilation[0] + 1, 8), W = int(rnd, (kernel[1] - 1) * dilation[1] + 1, 8);
      const range = randomRange(rnd);
      // All-negative inputs make a padding value of 0 (or the zero point) a tempting wrong answer.
      const x = randomInts(rnd, N * C * H * W, range.qmin, rnd() < 0.5 ? range.zeroPoint : range.qmax);
      const model = singleLayerModel([C, H, W], range, { kind: 'maxpool2d', kernel, stride, padding, dilation }, range);
      const got = model.forwardLevels(asInput(x, range.zeroPoint), N).layers[1]!;

      const p = { scale: Math.fround(0.01 + rnd()), zeroPoint: range.zeroPoint, qmin: range.qmin, qmax: range.qmax };
      expect(Array.from(quantize(dequantize(x, p), p))).toEqual(Array.from(x)); // the float path loses nothing
      const pooled = R.maxPool2d(R.nd([N, C, H, W], dequantize(x, p)), { kernel, stride, padding, dilation });
      expect(got.shape).toEqual(pooled.shape);
      expect(Array.from(got.levels), `case ${t}`).toEqual(Array.from(quantize(pooled.data, p)));
    }
  });
});

describe('relu and flatten layers', () => {
  it('relu is max(q, zeroPoint); flatten keeps the levels and reshapes', () => {
    const rnd = prng(401);
    const range = { zeroPoint: 17, qmin: 0, qmax: 255 };
    const x = randomInts(rnd, 2 * 3 * 4 * 5, 0, 255);
    const relu = singleLayerModel([3, 4, 5], range, { kind: 'relu', zeroPoint: 17 }, range);
    const levels = relu.forwardLevels(asInput(x, 17), 2).layers[1]!.levels;
    expect(Array.from(levels)).toEqual(Array.from(x, (q) => Math.max(q, 17)));
    expect(levels.some((q) => q === 17) && levels.every((q) => q >= 17)).toBe(true);

    const flatten = singleLayerModel([3, 4, 5], range, { kind: 'flatten' }, range);
    const trace = flatten.forwardLevels(asInput(x, 17), 2);
    expect(trace.layers[1]!.shape).toEqual([2, 60]);
    expect(Array.from(trace.layers[1]!.levels)).toEqual(Array.from(x));
    expect(trace.layers[1]!.levels).not.toBe(trace.layers[0]!.levels); // each trace entry owns its array
    expect(flatten.outputShape).toEqual([60]);
  });

  it('dequantize is float32((q - zeroPoint) · float32(scale)), as numerics dequantize, also for a scale that is not a float32', () => {
    const range = { zeroPoint: -7, qmin: -128, qmax: 127 };
    const levels = Int32Array.from({ length: 256 }, (_, i) => i - 128);
    for (const scale of [0.1, 0.123456789, 3.3e-5]) {
      const model = new Int8Model({
        inputShape: [256],
        layers: [{ kind: 'quantize', scale: 1, ...range }, { kind: 'flatten' }, { kind: 'dequantize', scale, zeroPoint: -7 }],
      });
      const expected = dequantize(levels, { scale, ...range });
      expect(Array.from(model.forward(asInput(levels, -7), 1)), `scale ${scale}`).toEqual(Array.from(expected));
    }
  });
});
