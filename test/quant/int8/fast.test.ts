/**
 * The WebAssembly fast path of Int8Model.forward() (src/quant/int8/fast/program.ts, kernels in
 * src/quant/int8/fast/kernels.ts) against the TypeScript reference path (kernels: 'js'),
 * which is the oracle: exact equality of the float32 outputs, over random models (padding, stride,
 * dilation, groups, odd channel counts, zero points, fused and standalone ReLU, fused and
 * standalone max pools, linear layers), batch sizes across chunk boundaries, input ties and
 * non-finite inputs; and its vectorised output stage against multiplyByQuantizedMultiplier of
 * src/quant/numerics over wide ranges of accumulators, multipliers and shifts.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Int8Model, type Int8Layer, type Int8ModelSpec } from '../../../src/quant/int8/index.js';
import { multiplyByQuantizedMultiplier, quantizeMultiplier } from '../../../src/quant/numerics/index.js';
import { getDefaultDevice, setDefaultDevice } from '../../../src/tensor/index.js';
import { buildInt8Model, mnistCnnLayers, prng, uniform } from './build.js';
import { int, randomInts, randomRange, type Range, type Rnd } from './random.js';

// The fast path runs where the default device is 'wasm'; choose it even under QGRAD_DEVICE=cpu.
const device0 = getDefaultDevice();
beforeEach(() => setDefaultDevice('wasm'));
afterEach(() => setDefaultDevice(device0));


/** Output clamp with a fused ReLU (qmin = zero point) a third of the time. */
function randomOutputRange(rnd: Rnd): Range {
  const r = randomRange(rnd);
  return rnd() < 0.33 ? { ...r, qmin: r.zeroPoint === r.qmax ? r.qmin : r.zeroPoint } : r;
}

/** Weights, bias and output stage of a conv2d / linear layer with O outputs over K inputs each. */
function weighted(rnd: Rnd, O: number, K: number, input: Range, output: Range) {
  const asymmetric = rnd() < 0.5;
  const [weightQmin, weightQmax] = asymmetric ? [-128, 127] : [-127, 127];
  const levels = randomInts(rnd, O * K, weightQmin, weightQmax);
  const multiplier = new Int32Array(O), shift = new Int32Array(O);
  for (let o = 0; o < O; o++) {
    // Real multipliers around 1/(255·sqrt(K)) so that outputs spread over the range, some far off.
    const q = quantizeMultiplier((10 ** (-1 + 2 * rnd())) / (64 * Math.sqrt(K)));
    multiplier[o] = q.multiplier;
    shift[o] = q.shift;
  }
  return {
    weight: rnd() < 0.5 ? Int8Array.from(levels) : levels,
    weightQmin, weightQmax,
    weightZeroPoint: asymmetric ? randomInts(rnd, O, -128, 127) : new Int32Array(O),
    bias: rnd() < 0.8 ? randomInts(rnd, O, -(2 ** 14), 2 ** 14) : null,
    inZeroPoint: input.zeroPoint, outZeroPoint: output.zeroPoint, qmin: output.qmin, qmax: output.qmax,
    multiplier, shift,
  };
}

/** Random float input for a quantize layer of scale 1/8: mostly in range, with exact ties, a few far out and infinite. */
function randomInput(rnd: Rnd, n: number, range: Range): Float32Array {
  const x = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const u = rnd();
    const level = int(rnd, range.qmin, range.qmax) - range.zeroPoint;
    if (u < 0.3) x[i] = (level + 0.5) / 8; // a tie after x · 8
    else if (u < 0.97) x[i] = (level + rnd() - 0.5) / 8;
    else if (u < 0.99) x[i] = (rnd() - 0.5) * 1e6;
    else x[i] = rnd() < 0.5 ? Infinity : -Infinity;
  }
  return x;
}

/** forward() on the fast path and on the reference, which must agree exactly. */
function expectSameAsReference(spec: Int8ModelSpec, x: Float32Array, batch: number, what: string): Float32Array {
  const fast = new Int8Model(spec);
  expect(fast.forwardPath(), what).toEqual({ kernels: 'wasm' });
  const got = fast.forward(x, batch);
  const expected = new Int8Model(spec, { kernels: 'js' }).forward(x, batch);
  expect(got.length, what).toBe(expected.length);
  for (let i = 0; i < got.length; i++) {
    if (!Object.is(got[i], expected[i])) expect({ what, index: i, got: got[i] }).toEqual({ what, index: i, got: expected[i] });
  }
  return got;
}

describe('int8 fast path: output stage', () => {
  /**
   * A linear layer with one input (K = 1) and 16-bit levels: the accumulator is x·w[o] + bias[o],
   * so the outputs show clamp(zp + multiplyByQuantizedMultiplier(acc, m, s)) directly.
   */
  function stageModel(w: number[], bias: number[], multiplier: number[], shift: number[]): Int8Model {
    const O = w.length;
    const range = { zeroPoint: 0, qmin: -32767, qmax: 32767 };
    return new Int8Model({
      inputShape: [1],
      layers: [
        { kind: 'quantize', scale: 1, ...range },
        {
          kind: 'linear', weightShape: [O, 1], weight: Int32Array.from(w), weightQmin: -32767, weightQmax: 32767, weightZeroPoint: new Int32Array(O),
          bias: Int32Array.from(bias), inZeroPoint: 0, outZeroPoint: 0, qmin: -32767, qmax: 32767,
          multiplier: Int32Array.from(multiplier), shift: Int32Array.from(shift),
        },
        { kind: 'dequantize', scale: 1, zeroPoint: 0 },
      ],
    });
  }

  it('equals multiplyByQuantizedMultiplier for every right shift, multipliers at the edges and accumulators up to 2^30', () => {
    const rnd = prng(501);
    // Inputs: a contiguous run (every residue of small powers of two: all the rounding ties), the
    // int16 extremes and random values.
    const xs: number[] = [];
    for (let v = -2100; v <= 2100; v++) xs.push(v);
    xs.push(32767, -32767, 32766, -32766, 16384, -16384, 16383, -16383);
    while (xs.length < 6000) xs.push(int(rnd, -32767, 32767));
    const x = Float32Array.from(xs);
    let checked = 0, distinct = 0;
    for (let e = 0; e <= 31; e++) {
      const w: number[] = [], bias: number[] = [], multiplier: number[] = [], shift: number[] = [];
      for (const m of [2 ** 30, 2 ** 31 - 1, 2 ** 30 + 1, int(rnd, 2 ** 30, 2 ** 31 - 1), int(rnd, 2 ** 30, 2 ** 31 - 1), 0]) {
        for (const wo of [1, 3, 32767, int(rnd, 2, 32767)]) {
          multiplier.push(m);
          shift.push(-e);
          w.push(rnd() < 0.5 ? wo : -wo);
          // Keep |acc| = |x·w + bias| < 2^30 (the fast path's precondition, accBound · 2^0 < 2^30).
          const room = 2 ** 30 - 1 - 32767 * wo;
          bias.push(room > 0 ? int(rnd, -Math.min(room, 2 ** 20), Math.min(room, 2 ** 20)) : 0);
        }
      }
      const model = stageModel(w, bias, multiplier, shift);
      expect(model.forwardPath(), `e = ${e}`).toEqual({ kernels: 'wasm' });
      const got = model.forward(x, x.length);
      const O = w.length;
      const seen = new Set<number>();
      for (let n = 0; n < x.length; n++) {
        for (let o = 0; o < O; o++) {
          const acc = x[n] * w[o] + bias[o];
          const v = multiplyByQuantizedMultiplier(acc, multiplier[o], shift[o]);
          const expected = Math.min(32767, Math.max(-32767, v));
          if (got[n * O + o] !== expected) {
            expect({ e, acc, multiplier: multiplier[o], shift: shift[o], got: got[n * O + o] }).toEqual({ e, acc, multiplier: multiplier[o], shift: shift[o], got: expected });
          }
          seen.add(expected);
          checked++;
        }
      }
      distinct += seen.size;
    }
    expect(checked).toBeGreaterThan(4_000_000);
    expect(distinct).toBeGreaterThan(50_000);
  });

  it('equals multiplyByQuantizedMultiplier with left shifts (real multipliers >= 1)', () => {
    const rnd = prng(502);
    const x = Float32Array.from({ length: 4000 }, (_, i) => (i < 2001 ? i - 1000 : int(rnd, -32767, 32767)));
    for (let s = 1; s <= 14; s++) {
      const w: number[] = [], bias: number[] = [], multiplier: number[] = [], shift: number[] = [];
      const maxW = Math.floor((2 ** 30 - 1) / 2 ** s / 32767 / 2);
      for (let c = 0; c < 12; c++) {
        multiplier.push(c % 3 === 0 ? 2 ** 30 : int(rnd, 2 ** 30, 2 ** 31 - 1));
        // Mix in a channel with a right shift: lanes of one vector shift differently.
        shift.push(c % 4 === 3 ? -int(rnd, 0, 20) : s);
        w.push(int(rnd, -Math.max(1, maxW), Math.max(1, maxW)) || 1);
        bias.push(int(rnd, -Math.max(1, maxW) * 1000, Math.max(1, maxW) * 1000));
      }
      const model = stageModel(w, bias, multiplier, shift);
      expect(model.forwardPath(), `s = ${s}`).toEqual({ kernels: 'wasm' });
      const got = model.forward(x, x.length);
      const O = w.length;
      for (let n = 0; n < x.length; n++) {
        for (let o = 0; o < O; o++) {
          const acc = x[n] * w[o] + bias[o];
          const expected = Math.min(32767, Math.max(-32767, multiplyByQuantizedMultiplier(acc, multiplier[o], shift[o])));
          if (got[n * O + o] !== expected) expect({ s, acc, o, got: got[n * O + o] }).toEqual({ s, acc, o, got: expected });
        }
      }
    }
  });

  it('leaves models outside its preconditions to the reference path, with the same results', () => {
    const big = new Int8Model({
      inputShape: [2],
      layers: [
        { kind: 'quantize', scale: 1, zeroPoint: 0, qmin: -40000, qmax: 40000 },
        {
          kind: 'linear', weightShape: [1, 2], weight: new Int32Array([3, -2]), weightQmin: -127, weightQmax: 127, weightZeroPoint: new Int32Array(1),
          bias: null, inZeroPoint: 0, outZeroPoint: 0, qmin: -1000, qmax: 1000, multiplier: new Int32Array([2 ** 30]), shift: new Int32Array([-3]),
        },
        { kind: 'dequantize', scale: 1, zeroPoint: 0 },
      ],
    });
    expect(big.forwardPath()).toEqual({ kernels: 'js', reason: 'layer 0 (quantize): levels minus the zero point leave int16' });
    const x = new Float32Array([39000, -1, 5, 6]);
    expect(Array.from(big.forward(x, 2))).toEqual([Math.min(1000, Math.round((39000 * 3 + 2) / 16)), Math.round(3 / 16)]);

    const wide = new Int8Model({
      inputShape: [1],
      layers: [
        { kind: 'quantize', scale: 1, zeroPoint: 0, qmin: -32767, qmax: 32767 },
        {
          kind: 'linear', weightShape: [1, 1], weight: new Int32Array([32767]), weightQmin: -32767, weightQmax: 32767, weightZeroPoint: new Int32Array(1),
          bias: new Int32Array([2 ** 20]), inZeroPoint: 0, outZeroPoint: 0, qmin: -32767, qmax: 32767, multiplier: new Int32Array([2 ** 30]), shift: new Int32Array([-20]),
        },
        { kind: 'dequantize', scale: 1, zeroPoint: 0 },
      ],
    });
    expect(wide.forwardPath().kernels).toBe('js');
    expect(wide.forwardPath().reason).toMatch(/reach 2\^30/);
    expect(Array.from(wide.forward(new Float32Array([32767, -32767]), 2))).toEqual(
      [32767 * 32767 + 2 ** 20, -32767 * 32767 + 2 ** 20].map((acc) => multiplyByQuantizedMultiplier(acc, 2 ** 30, -20)),
    );
  });
});

describe('int8 fast path: whole models against the reference path', () => {
  it('random conv2d layers (padding, stride, dilation, groups, odd channels), each alone and with ReLU / max pool after', () => {
    const rnd = prng(601);
    let fused = 0, each = 0;
    for (let t = 0; t < 100; t++) {
      // Every 4th case has a single input channel, which the first conv reads as column pairs.
      const single = t % 4 === 0;
      const groups = single ? 1 : int(rnd, 1, 3), Cg = single ? 1 : int(rnd, 1, 4), Og = int(rnd, 1, 10);
      const C = Cg * groups, O = Og * groups;
      const KH = int(rnd, 1, 3), KW = int(rnd, single ? 2 : 1, 4);
      const stride: [number, number] = [int(rnd, 1, 2), int(rnd, 1, 3)];
      const padding: [number, number] = [int(rnd, 0, 2), int(rnd, 0, 2)];
      const dilation: [number, number] = [int(rnd, 1, 2), int(rnd, 1, 2)];
      const H = int(rnd, (KH - 1) * dilation[0] + 1, 12), W = int(rnd, (KW - 1) * dilation[1] + 1, 12);
      const input = randomRange(rnd), output = randomOutputRange(rnd);
      const layers: Int8Layer[] = [
        { kind: 'quantize', scale: 1 / 8, ...input, ...(rnd() < 0.5 ? { rounding: 'halfAwayFromZero' as const } : {}) },
        { kind: 'conv2d', weightShape: [O, Cg, KH, KW], stride, padding, dilation, groups, ...weighted(rnd, O, Cg * KH * KW, input, output) },
      ];
      const OH = Math.floor((H + 2 * padding[0] - dilation[0] * (KH - 1) - 1) / stride[0]) + 1;
      const OW = Math.floor((W + 2 * padding[1] - dilation[1] * (KW - 1) - 1) / stride[1]) + 1;
      if (rnd() < 0.3) layers.push({ kind: 'relu', zeroPoint: output.zeroPoint });
      const u = rnd();
      if (u < 0.6 && OH >= 2 && OW >= 2) {
        // Fusable (non-overlapping, at most 4 positions, no padding) or not.
        const kernel: [number, number] = [int(rnd, 1, 2), int(rnd, 1, 2)];
        const overlapping = rnd() < 0.3;
        const poolStride: [number, number] = overlapping ? [1, 1] : [kernel[0] + int(rnd, 0, 1), kernel[1]];
        const poolPadding: [number, number] = rnd() < 0.2 ? [kernel[0] >> 1, kernel[1] >> 1] : [0, 0];
        layers.push({ kind: 'maxpool2d', kernel, stride: poolStride, padding: poolPadding });
        if (!overlapping && poolPadding[0] === 0 && poolPadding[1] === 0) fused++;
        if (rnd() < 0.3) layers.push({ kind: 'relu', zeroPoint: output.zeroPoint });
      } else each++;
      layers.push({ kind: 'dequantize', scale: 1, zeroPoint: output.zeroPoint });
      const spec: Int8ModelSpec = { inputShape: [C, H, W], layers };
      const N = int(rnd, 1, 9);
      expectSameAsReference(spec, randomInput(rnd, N * C * H * W, input), N, `case ${t}: ${JSON.stringify({ C, O, H, W, KH, KW, stride, padding, dilation, groups, layers: layers.map((l) => l.kind) })}`);
    }
    expect(fused).toBeGreaterThan(10);
    expect(each).toBeGreaterThan(10);
  });

  it('random CNNs: conv, pool, conv, flatten, linear (+ReLU), over batches that cross chunk boundaries', () => {
    const rnd = prng(602);
    for (let t = 0; t < 16; t++) {
      const C = int(rnd, 1, 3), H = int(rnd, 6, 14), W = int(rnd, 6, 14);
      const O1 = int(rnd, 1, 20), O2 = int(rnd, 1, 20), F = int(rnd, 1, 17);
      const r0 = randomRange(rnd), r1 = randomOutputRange(rnd), r2 = randomOutputRange(rnd), r3 = randomOutputRange(rnd), r4 = randomRange(rnd);
      const pad = int(rnd, 0, 1);
      const OH1 = H + 2 * pad - 2, OW1 = W + 2 * pad - 2;
      const PH = Math.floor(OH1 / 2), PW = Math.floor(OW1 / 2);
      const OH2 = PH - 1, OW2 = PW - 1;
      if (OH2 < 1 || OW2 < 1) continue;
      const layers: Int8Layer[] = [
        { kind: 'quantize', scale: 1 / 8, ...r0, rounding: t % 2 === 0 ? 'halfEven' : 'halfAwayFromZero' },
        { kind: 'conv2d', weightShape: [O1, C, 3, 3], stride: [1, 1], padding: [pad, pad], dilation: [1, 1], groups: 1, ...weighted(rnd, O1, C * 9, r0, r1) },
        { kind: 'maxpool2d', kernel: [2, 2], stride: [2, 2], padding: [0, 0] },
        { kind: 'conv2d', weightShape: [O2, O1, 2, 2], stride: [1, 1], padding: [0, 0], dilation: [1, 1], groups: 1, ...weighted(rnd, O2, O1 * 4, r1, r2) },
        { kind: 'relu', zeroPoint: r2.zeroPoint },
        { kind: 'flatten' },
        { kind: 'linear', weightShape: [F, O2 * OH2 * OW2], ...weighted(rnd, F, O2 * OH2 * OW2, r2, r3) },
        { kind: 'linear', weightShape: [5, F], ...weighted(rnd, 5, F, r3, r4) },
        { kind: 'dequantize', scale: 0.1, zeroPoint: r4.zeroPoint },
      ];
      const spec: Int8ModelSpec = { inputShape: [C, H, W], layers };
      const fast = new Int8Model(spec);
      const chunk = Number(/chunks of (\d+) images/.exec(fast.describe())![1]);
      const N = [1, 3, chunk - 1, chunk, chunk + 5, 2 * chunk + 3][t % 6];
      expectSameAsReference(spec, randomInput(rnd, N * C * H * W, r0), N, `case ${t}: N=${N}`);
    }
  });

  it('an MLP with standalone ReLUs on rank-1 activations, and a conv output dequantized directly', () => {
    const rnd = prng(603);
    for (let t = 0; t < 12; t++) {
      const I = int(rnd, 1, 40), Hd = int(rnd, 1, 30), O = int(rnd, 1, 12), N = int(rnd, 1, 70);
      const r0 = randomRange(rnd), r1 = randomRange(rnd), r2 = randomRange(rnd);
      const mlp: Int8ModelSpec = {
        inputShape: [I],
        layers: [
          { kind: 'quantize', scale: 1 / 8, ...r0, rounding: t % 2 === 0 ? 'halfEven' : 'halfAwayFromZero' },
          { kind: 'relu', zeroPoint: r0.zeroPoint },
          { kind: 'linear', weightShape: [Hd, I], ...weighted(rnd, Hd, I, r0, r1) },
          { kind: 'flatten' },
          { kind: 'relu', zeroPoint: r1.zeroPoint },
          { kind: 'linear', weightShape: [O, Hd], ...weighted(rnd, O, Hd, r1, r2) },
          { kind: 'dequantize', scale: 0.25, zeroPoint: r2.zeroPoint },
        ],
      };
      expectSameAsReference(mlp, randomInput(rnd, N * I, r0), N, `mlp ${t}`);

      const C = int(rnd, 1, 5), H = int(rnd, 1, 7), W = int(rnd, 1, 7), K = int(rnd, 1, Math.min(H, W));
      const conv: Int8ModelSpec = {
        inputShape: [C, H, W],
        layers: [
          { kind: 'quantize', scale: 1 / 8, ...r0 },
          { kind: 'maxpool2d', kernel: [1, 1], stride: [1, 1], padding: [0, 0] },
          { kind: 'conv2d', weightShape: [O, C, K, K], stride: [1, 1], padding: [K >> 1, 0], dilation: [1, 1], groups: 1, ...weighted(rnd, O, C * K * K, r0, r1) },
          { kind: 'relu', zeroPoint: r1.zeroPoint },
          { kind: 'relu', zeroPoint: r1.zeroPoint },
          { kind: 'flatten' },
          { kind: 'dequantize', scale: 0.5, zeroPoint: r1.zeroPoint },
        ],
      };
      expectSameAsReference(conv, randomInput(rnd, N * C * H * W, r0), N, `conv ${t}`);
    }
  });

  it('3x3 conv2d + 2x2 max pool as Winograd F(2x2, 3x3): channel counts, padding, odd sizes, batches, and where it must not apply', () => {
    const rnd = prng(605);
    let winograd = 0, direct = 0;
    for (let t = 0; t < 24; t++) {
      const C = int(rnd, 8, 21), O = int(rnd, 1, 20), pad = int(rnd, 0, 2);
      const H = int(rnd, 3, 11), W = int(rnd, 3, 11);
      if (H + 2 * pad < 4 || W + 2 * pad < 4) continue;
      const input = randomRange(rnd), output = randomOutputRange(rnd);
      // Every 4th case: a wide input range (|x - zp| up to 9000, so 4·|x| leaves int16) that must stay direct.
      const wide = t % 4 === 3;
      const r0 = wide ? { zeroPoint: 0, qmin: -9000, qmax: 9000 } : input;
      const w = weighted(rnd, O, C * 9, r0, output);
      if (wide) w.bias = null;
      const layers: Int8Layer[] = [
        { kind: 'quantize', scale: 1 / 8, ...r0 },
        { kind: 'conv2d', weightShape: [O, C, 3, 3], stride: [1, 1], padding: [pad, pad], dilation: [1, 1], groups: 1, ...w },
        ...(rnd() < 0.5 ? [{ kind: 'relu' as const, zeroPoint: output.zeroPoint }] : []),
        { kind: 'maxpool2d', kernel: [2, 2], stride: [2, 2], padding: [0, 0] },
        { kind: 'dequantize', scale: 1, zeroPoint: output.zeroPoint },
      ];
      const spec: Int8ModelSpec = { inputShape: [C, H, W], layers };
      const description = new Int8Model(spec).describe();
      if (description.includes('Winograd')) winograd++;
      else direct++;
      expect(description.includes('Winograd'), `case ${t}`).toBe(!wide);
      const N = [1, 2, 5, 13, 40][t % 5];
      expectSameAsReference(spec, randomInput(rnd, N * C * H * W, r0), N, `case ${t}: ${JSON.stringify({ C, O, H, W, pad, N })}`);
    }
    expect(winograd).toBeGreaterThan(10);
    expect(direct).toBeGreaterThan(3);
  });

  it('the 40-channel MNIST CNN of the issue, on random images', () => {
    const x = Float32Array.from(uniform(7, 300 * 784, 0, 1));
    const { spec } = buildInt8Model(mnistCnnLayers(3), [1, 28, 28], x.subarray(0, 8 * 784), 8);
    const model = new Int8Model(spec);
    expect(model.describe()).toMatch(/forward: wasm; wasm program: conv2d 1->40 k3x3 \+maxpool 2x2 .*, conv2d 40->40 k3x3 \+maxpool 2x2 .* as Winograd F\(2x2, 3x3\), linear 1000->10;/);
    expectSameAsReference(spec, x, 300, 'mnist cnn');
  });

  it('throws the reference error on NaN input, and follows the cpu kernel switch', () => {
    const rnd = prng(604);
    const r = randomRange(rnd);
    const spec: Int8ModelSpec = {
      inputShape: [2, 3, 3],
      layers: [
        { kind: 'quantize', scale: 1 / 8, ...r },
        { kind: 'conv2d', weightShape: [3, 2, 2, 2], stride: [1, 1], padding: [0, 0], dilation: [1, 1], groups: 1, ...weighted(rnd, 3, 8, r, r) },
        { kind: 'dequantize', scale: 1, zeroPoint: r.zeroPoint },
      ],
    };
    const x = randomInput(rnd, 3 * 18, r);
    x[40] = NaN;
    expect(() => new Int8Model(spec).forward(x, 3)).toThrow(/NaN/);
    expect(() => new Int8Model(spec, { kernels: 'js' }).forward(x, 3)).toThrow(/NaN/);

    x[40] = 0.5;
    const model = new Int8Model(spec);
    const fast = model.forward(x, 3);
    // Plain arrays and float64 input round to float32 first, as the reference's quantize does.
    const doubles = Float64Array.from(x, (v, i) => v + (i % 3) * 1e-9);
    expect(Array.from(model.forward(Array.from(doubles), 3))).toEqual(Array.from(new Int8Model(spec, { kernels: 'js' }).forward(Array.from(doubles), 3)));
    expect(Array.from(model.forward(doubles, 3))).toEqual(Array.from(new Int8Model(spec, { kernels: 'js' }).forward(doubles, 3)));
    setDefaultDevice('cpu');
    expect(model.forwardPath()).toEqual({ kernels: 'js', reason: "the default device is not 'wasm' (QGRAD_DEVICE=cpu or setDefaultDevice)" });
    expect(Array.from(model.forward(x, 3))).toEqual(Array.from(fast));
    setDefaultDevice('wasm');
    expect(model.forwardPath()).toEqual({ kernels: 'wasm' });
    expect(new Int8Model(spec, { kernels: 'js' }).forwardPath()).toEqual({ kernels: 'js', reason: "kernels: 'js'" });
    expect(model.forward(new Float32Array(0), 0)).toEqual(new Float32Array(0));
  });
});
