/**
 * The int8 fast path's one-shift output stage (src/quant/int8/fast/stage.ts) and the models that
 * take it, bit for bit:
 *   - the stage alone, through one-input linear layers (the accumulator is x·w + bias, so every
 *     output shows one requantization), against the BigInt oracle of ./oracle.ts (exact rational
 *     arithmetic, written without the engine's code): right shifts 0..30 mixed within a layer
 *     (so that channels are scaled by 2^(E - e) before the common shift), left shifts, multipliers
 *     at the edges, accumulators up to the form's limit, and the clamp's lower bound at 0 reached
 *     through qmin = zero point, a fused ReLU and a standalone one;
 *   - which form requantSpec picks at the edges of its conditions (lo < 0, the 2^30 bound, E > 30);
 *   - whole random models (single-channel first convs of many kernel shapes, run as 1x1 convs over
 *     their input's tap pairs or over column pairs, Winograd and direct convs, linear layers,
 *     per-channel multipliers, zero points, odd sizes) and the MNIST CNN as
 *     the bench converts it (prepareQAT, calibrate, convert), against the reference path
 *     (kernels: 'js', whose output stage is src/quant/numerics').
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Generator, MnistLoader, mnistCnn } from '../../../src/index.js';
import { Int8Model, type Int8Layer, type Int8ModelSpec } from '../../../src/quant/int8/index.js';
import { requantSpec } from '../../../src/quant/int8/fast/stage.js';
import { calibrate, convert, prepareQAT, qconfig } from '../../../src/quant/index.js';
import { quantizeMultiplier } from '../../../src/quant/numerics/index.js';
import { getDefaultDevice, setDefaultDevice } from '../../../src/tensor/index.js';
import { prng } from './build.js';
import { requantizeOracle } from './oracle.js';
import { int, randomInts, type Range, type Rnd } from './random.js';

const device0 = getDefaultDevice();
beforeEach(() => setDefaultDevice('wasm'));
afterEach(() => setDefaultDevice(device0));

/** forward() on the fast path and on the reference, which must agree exactly. */
function expectSameAsReference(spec: Int8ModelSpec, x: Float32Array, batch: number, what: string): Int8Model {
  const fast = new Int8Model(spec);
  expect(fast.forwardPath(), what).toEqual({ kernels: 'wasm' });
  const got = fast.forward(x, batch);
  const expected = new Int8Model(spec, { kernels: 'js' }).forward(x, batch);
  expect(got.length, what).toBe(expected.length);
  for (let i = 0; i < got.length; i++) {
    if (!Object.is(got[i], expected[i])) expect({ what, index: i, got: got[i] }).toEqual({ what, index: i, got: expected[i] });
  }
  return fast;
}

describe('int8 fast path: the one-shift output stage against the BigInt oracle', () => {
  const INPUT = 2000; // inputs x in [-INPUT, INPUT]: a contiguous run covers every rounding residue of small shifts

  /**
   * quantize (scale 1, int16 levels) -> linear with one input -> [relu] -> dequantize (scale 1):
   * output o of example n is clamp(zp + MBQM(x·w[o] + bias[o], m[o], s[o]), qmin, qmax) - zp.
   */
  function stageModel(c: { w: number[]; bias: number[]; multiplier: number[]; shift: number[] }, out: Range, relu: 'none' | 'fused' | 'layer'): Int8ModelSpec {
    const O = c.w.length;
    const fusedLo = relu === 'fused' ? out.zeroPoint : out.qmin;
    const layers: Int8Layer[] = [
      { kind: 'quantize', scale: 1, zeroPoint: 0, qmin: -INPUT, qmax: INPUT },
      {
        kind: 'linear', weightShape: [O, 1], weight: Int32Array.from(c.w), weightQmin: -32767, weightQmax: 32767, weightZeroPoint: new Int32Array(O),
        bias: Int32Array.from(c.bias), inZeroPoint: 0, outZeroPoint: out.zeroPoint, qmin: fusedLo, qmax: out.qmax,
        multiplier: Int32Array.from(c.multiplier), shift: Int32Array.from(c.shift),
      },
      ...(relu === 'layer' ? [{ kind: 'relu' as const, zeroPoint: out.zeroPoint }] : []),
      { kind: 'dequantize', scale: 1, zeroPoint: out.zeroPoint },
    ];
    return { inputShape: [1], layers };
  }

  it('matches the oracle for mixed right shifts, left shifts and edge multipliers, with the clamp starting at 0', () => {
    const rnd = prng(1701);
    const xs: number[] = [];
    for (let v = -INPUT; v <= INPUT; v++) xs.push(v);
    const x = Float32Array.from(xs);
    let checked = 0, oneShift = 0, scaled = 0, leftShifted = 0;
    const distinct = new Set<number>();
    for (let t = 0; t < 40; t++) {
      // The layer's largest right shift E and how far below it its channels go (f = 2^(E - e) <= 2^spread).
      // Cases 31, 33, ... mix channels with left shifts (real multipliers >= 1, E = 0) into the layer.
      const withLeft = t >= 31 && t % 2 === 1;
      const E = t < 31 ? t : withLeft ? 0 : int(rnd, 0, 30);
      const spread = Math.min(E, [0, 1, 2, 5, 12][t % 5]);
      const c = { w: [] as number[], bias: [] as number[], multiplier: [] as number[], shift: [] as number[] };
      // |acc + bias| <= INPUT·|w| + |bias| must stay below 2^30 / 2^(spread or the left shift): pick w and bias to fill it.
      const left = withLeft ? int(rnd, 1, 8) : 0;
      const room = Math.floor((2 ** 30 - 1) / 2 ** (spread + left));
      for (let o = 0; o < 16; o++) {
        const m = [2 ** 30, 2 ** 31 - 1, 2 ** 30 + 1, 0][o % 8] ?? int(rnd, 2 ** 30, 2 ** 31 - 1);
        const e = o === 0 ? E : E - int(rnd, 0, spread);
        const wMax = Math.max(1, Math.min(32767, Math.floor(room / INPUT / 2)));
        const w = o % 3 === 0 ? wMax : int(rnd, 1, wMax);
        c.w.push(rnd() < 0.5 ? w : -w);
        const bMax = Math.max(0, room - INPUT * w);
        c.bias.push(o % 5 === 0 ? (rnd() < 0.5 ? bMax : -bMax) : int(rnd, -bMax, bMax));
        c.multiplier.push(m);
        c.shift.push(withLeft && o % 2 === 1 ? left : -e);
      }
      const out: Range = t % 3 === 0 ? { zeroPoint: 0, qmin: 0, qmax: 32767 } : { zeroPoint: int(rnd, -3000, 3000), qmin: -29000, qmax: 29000 };
      const relu = t % 3 === 0 ? 'none' : t % 3 === 1 ? 'fused' : 'layer';
      const spec = stageModel(c, out, relu);
      const accBound = Math.max(...c.w.map((w, o) => INPUT * Math.abs(w) + Math.abs(c.bias[o])));
      const form = requantSpec({ bias: Int32Array.from(c.bias), multiplier: Int32Array.from(c.multiplier), shift: Int32Array.from(c.shift), lo: 0, hi: 1, accBound });
      if (form.kind === 'oneShift') {
        oneShift++;
        if (form.scale) scaled++;
      }
      if (withLeft) leftShifted++;
      const model = new Int8Model(spec);
      expect(model.forwardPath(), `t = ${t}`).toEqual({ kernels: 'wasm' });
      expect(model.describe(), `t = ${t}`).toContain('(one-shift output stage)');
      const got = model.forward(x, x.length);
      const O = c.w.length;
      for (let n = 0; n < x.length; n++) {
        for (let o = 0; o < O; o++) {
          const acc = BigInt(xs[n] * c.w[o] + c.bias[o]);
          const lo = relu === 'none' ? out.qmin : out.zeroPoint;
          const expected = requantizeOracle(acc, c.multiplier[o], c.shift[o], out.zeroPoint, Math.max(lo, out.qmin), out.qmax) - out.zeroPoint;
          if (got[n * O + o] !== expected) {
            expect({ t, n, o, acc, m: c.multiplier[o], s: c.shift[o], got: got[n * O + o] }).toEqual({ t, n, o, acc, m: c.multiplier[o], s: c.shift[o], got: expected });
          }
          distinct.add(expected);
          checked++;
        }
      }
    }
    // Coverage: every case took the one-shift form, many with per-channel scaling, some with left shifts.
    expect(oneShift).toBe(40);
    expect(scaled).toBeGreaterThan(20);
    expect(leftShifted).toBe(5);
    expect(checked).toBeGreaterThan(2_500_000);
    expect(distinct.size).toBeGreaterThan(10_000);
  });

  it('is chosen only within its conditions, and the per-lane form gives the same results at the edges', () => {
    const base = { bias: new Int32Array([5, -5]), multiplier: new Int32Array([2 ** 30, 2 ** 31 - 1]), hi: 255 };
    expect(requantSpec({ ...base, shift: new Int32Array([-8, -9]), lo: 0, accBound: 1000 })).toEqual({ kind: 'oneShift', shift: 9, scale: true });
    expect(requantSpec({ ...base, shift: new Int32Array([-9, -9]), lo: 3, accBound: 1000 })).toEqual({ kind: 'oneShift', shift: 9, scale: false });
    // lo < 0: the sign correction matters, per lane.
    expect(requantSpec({ ...base, shift: new Int32Array([-9, -9]), lo: -1, accBound: 1000 })).toEqual({ kind: 'perLane', leftShift: false });
    // accBound · 2^(E - e) must stay below 2^30.
    expect(requantSpec({ ...base, shift: new Int32Array([-9, -10]), lo: 0, accBound: 2 ** 29 - 1 })).toEqual({ kind: 'oneShift', shift: 10, scale: true });
    expect(requantSpec({ ...base, shift: new Int32Array([-9, -10]), lo: 0, accBound: 2 ** 29 })).toEqual({ kind: 'perLane', leftShift: false });
    // A left shift of 2 with E = 1 scales by 2^3.
    expect(requantSpec({ ...base, shift: new Int32Array([2, -1]), lo: 0, accBound: 2 ** 27 })).toEqual({ kind: 'perLane', leftShift: true });
    expect(requantSpec({ ...base, shift: new Int32Array([2, -1]), lo: 0, accBound: 2 ** 27 - 1 })).toEqual({ kind: 'oneShift', shift: 1, scale: true });
    // E = 31 (a multiplier below 2^-31 of the real one): left to the per-lane form.
    expect(requantSpec({ ...base, shift: new Int32Array([-31, -30]), lo: 0, accBound: 10 })).toEqual({ kind: 'perLane', leftShift: false });

    // Both sides of the 2^30 edge through whole models, against the oracle.
    const x = Float32Array.from({ length: 2 * INPUT + 1 }, (_, i) => i - INPUT);
    // The last case would overflow the one-shift form (x'·m + K reaches 2^62 with x' = 2^31 - 2).
    const cases = [[2 ** 29 - 1 - INPUT * 3, 'oneShift', 2 ** 30 + 12345], [2 ** 29 - INPUT * 3, 'perLane', 2 ** 30 + 12345], [2 ** 30 - 1 - INPUT * 3, 'perLane', 2 ** 31 - 1]] as const;
    for (const [bias0, form, m0] of cases) {
      const c = { w: [3, -3], bias: [bias0, -bias0], multiplier: [m0, 2 ** 31 - 1], shift: [-9, -10] };
      const model = new Int8Model(stageModel(c, { zeroPoint: 0, qmin: 0, qmax: 32767 }, 'none'));
      expect(model.describe().includes('(one-shift output stage)'), form).toBe(form === 'oneShift');
      const got = model.forward(x, x.length);
      for (let n = 0; n < x.length; n++) {
        for (let o = 0; o < 2; o++) {
          const expected = requantizeOracle(BigInt(x[n] * c.w[o] + c.bias[o]), c.multiplier[o], c.shift[o], 0, 0, 32767);
          if (got[2 * n + o] !== expected) expect({ form, n, o, got: got[2 * n + o] }).toEqual({ form, n, o, got: expected });
        }
      }
    }
  });
});

/** Weights, bias and per-channel output stage of a layer with O outputs over K inputs, spread over the output range. */
function weighted(rnd: Rnd, O: number, K: number, input: Range, output: Range) {
  const asymmetric = rnd() < 0.5;
  const [weightQmin, weightQmax] = asymmetric ? [-128, 127] : [-127, 127];
  const multiplier = new Int32Array(O), shift = new Int32Array(O);
  for (let o = 0; o < O; o++) {
    // Real multipliers spread over two decades, so that channels of one layer have different shifts.
    const q = quantizeMultiplier(10 ** (-1 + 2 * rnd()) / (64 * Math.sqrt(K)));
    multiplier[o] = q.multiplier;
    shift[o] = q.shift;
  }
  return {
    weight: randomInts(rnd, O * K, weightQmin, weightQmax), weightQmin, weightQmax,
    weightZeroPoint: asymmetric ? randomInts(rnd, O, -128, 127) : new Int32Array(O),
    bias: rnd() < 0.8 ? randomInts(rnd, O, -(2 ** 14), 2 ** 14) : null,
    inZeroPoint: input.zeroPoint, outZeroPoint: output.zeroPoint, qmin: output.qmin, qmax: output.qmax,
    multiplier, shift,
  };
}

/** A ReLU'd range (qmin = zero point, the clamp starting at 0) or a plain one with any zero point. */
function range(rnd: Rnd, relu: boolean): Range {
  const [qmin, qmax] = rnd() < 0.5 ? [0, 255] : [-128, 127];
  const zeroPoint = int(rnd, qmin, qmax - 1);
  return relu ? { zeroPoint, qmin: zeroPoint, qmax } : { zeroPoint, qmin, qmax };
}

function randomInput(rnd: Rnd, n: number): Float32Array {
  return Float32Array.from({ length: n }, () => (rnd() - 0.5) * 40 + (rnd() < 0.3 ? 0.5 : 0) / 8);
}

describe('int8 fast path with the one-shift stage: whole models against the reference path', () => {
  it('random CNNs: a single-channel first conv of many kernel shapes, a Winograd or direct conv, linear layers', () => {
    const rnd = prng(1702);
    let oneShiftLayers = 0, winograd = 0, tapPairs = 0, columnPairs = 0;
    for (let t = 0; t < 24; t++) {
      const H = int(rnd, 7, 19), W = int(rnd, 7, 19);
      const [KH, KW] = [[3, 3], [1, 3], [3, 1], [5, 5], [2, 3], [3, 3], [1, 2]][t % 7];
      const dil: [number, number] = t % 4 === 3 ? [2, 1] : [1, 1];
      const stride: [number, number] = t % 5 === 4 ? [1, 2] : [1, 1];
      const pad: [number, number] = [int(rnd, 0, 2), int(rnd, 0, 2)];
      const O1 = [8, 9, 16, 5, 12][t % 5], O2 = int(rnd, 1, 20), F = int(rnd, 1, 17);
      const r0 = range(rnd, false), r1 = range(rnd, t % 4 !== 1), r2 = range(rnd, true), r3 = range(rnd, t % 2 === 0), r4 = range(rnd, false);
      const OH1 = Math.floor((H + 2 * pad[0] - dil[0] * (KH - 1) - 1) / stride[0]) + 1, OW1 = Math.floor((W + 2 * pad[1] - dil[1] * (KW - 1) - 1) / stride[1]) + 1;
      const PH = Math.floor(OH1 / 2), PW = Math.floor(OW1 / 2);
      if (PH < 3 || PW < 3) continue;
      const OH2 = Math.floor((PH - 2) / 2), OW2 = Math.floor((PW - 2) / 2);
      if (OH2 < 1 || OW2 < 1) continue;
      const layers: Int8Layer[] = [
        { kind: 'quantize', scale: 1 / 8, ...r0 },
        // A standalone ReLU on the input: the tap pairs must be taken after it.
        ...(t % 4 === 2 ? [{ kind: 'relu' as const, zeroPoint: r0.zeroPoint }] : []),
        { kind: 'conv2d', weightShape: [O1, 1, KH, KW], stride, padding: pad, dilation: dil, groups: 1, ...weighted(rnd, O1, KH * KW, r0, r1) },
        ...(t % 3 === 0 ? [{ kind: 'relu' as const, zeroPoint: r1.zeroPoint }] : []),
        { kind: 'maxpool2d', kernel: [2, 2], stride: [2, 2], padding: [0, 0] },
        // 3x3 over >= 8 channels with a 2x2 pool: Winograd F(2x2, 3x3).
        { kind: 'conv2d', weightShape: [O2, O1, 3, 3], stride: [1, 1], padding: [0, 0], dilation: [1, 1], groups: 1, ...weighted(rnd, O2, O1 * 9, r1, r2) },
        { kind: 'maxpool2d', kernel: [2, 2], stride: [2, 2], padding: [0, 0] },
        { kind: 'flatten' },
        { kind: 'linear', weightShape: [F, O2 * OH2 * OW2], ...weighted(rnd, F, O2 * OH2 * OW2, r2, r3) },
        { kind: 'linear', weightShape: [5, F], ...weighted(rnd, 5, F, r3, r4) },
        { kind: 'dequantize', scale: 0.1, zeroPoint: r4.zeroPoint },
      ];
      const spec: Int8ModelSpec = { inputShape: [1, H, W], layers };
      const N = [1, 3, 7, 21, 45, 66][t % 6];
      const model = expectSameAsReference(spec, randomInput(rnd, N * H * W), N, `case ${t}: ${JSON.stringify({ H, W, KH, KW, dil, stride, pad, O1, O2, F, N })}`);
      const text = model.describe();
      oneShiftLayers += text.split('(one-shift output stage)').length - 1;
      if (text.includes('Winograd')) winograd++;
      // The first conv runs as a 1x1 conv over its input's tap pairs unless it strides along W or has 2 taps.
      const planes = /as 1x1 over (\d+) planes of tap pairs/.exec(text);
      expect(planes?.[1], `case ${t}`).toBe(stride[1] === 1 && KH * KW > 2 ? String(Math.ceil((KH * KW) / 2)) : undefined);
      if (planes) tapPairs++;
      else columnPairs++;
    }
    expect(tapPairs).toBeGreaterThan(10);
    expect(columnPairs).toBeGreaterThan(2);
    expect(oneShiftLayers).toBeGreaterThan(30);
    expect(winograd).toBeGreaterThan(10);
  });

  it('the MNIST CNN as the bench converts it (prepareQAT, calibrate, convert), on random images', () => {
    const rnd = prng(1703);
    const count = 96;
    const dataset = { count, rows: 28, cols: 28, images: Uint8Array.from({ length: count * 784 }, () => (rnd() < 0.6 ? 0 : int(rnd, 0, 255))), labels: new Uint8Array(count) };
    const q = prepareQAT(mnistCnn({ generator: new Generator(13) }).eval(), { default: qconfig({ bits: 8 }) });
    calibrate(q, new MnistLoader(dataset, { batchSize: 32 }));
    const spec = convert(q, { inputShape: [1, 28, 28] });
    const [batch] = new MnistLoader(dataset, { batchSize: count });
    const model = expectSameAsReference(spec, batch.x, count, 'mnist cnn');
    expect(model.describe()).toMatch(/conv2d 1->40 k3x3 .*\(one-shift output stage\) as 1x1 over 5 planes of tap pairs.*conv2d 40->40 k3x3 .*\(one-shift output stage\) as Winograd/);
  });
});
