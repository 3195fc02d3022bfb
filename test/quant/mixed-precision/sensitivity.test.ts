/**
 * Sensitivity measurement (src/quant/mixed-precision/sensitivity.ts): with layer L at b bits and
 * the rest float, the measured model computes exactly the float model with only L's weights
 * replaced by their per-channel symmetric b-bit levels, computed here from the formula (PyTorch's
 * symmetric observer: s_o = max|W_o| / ((qmax − qmin)/2), q = clamp(round_half_even(w·fl32(1/s_o)))).
 * The float baseline is measured once, degradations have the right sign convention, the one
 * quantizer left on is the target layer's weights (also through a conv + BatchNorm layer), and bad
 * layer names and widths fail before any measurement.
 */
import { describe, expect, it } from 'vitest';
import {
  BatchNorm2d, Conv2d, Flatten, fromArray, Generator, Linear, noGrad, ReLU, Sequential,
} from '../../../src/index.js';
import {
  calibrate, FakeQuantize, fakeQuantizers, layerChoices, measureSensitivity, packedLayerBytes, qconfig, quantizableLayers,
  type QatConfig,
} from '../../../src/quant/index.js';
import { randomBatches } from '../qat/helpers.js';

function mlp(seed: number): Sequential {
  const g = new Generator(seed);
  return new Sequential(new Linear(4, 6, { generator: g }), new ReLU(), new Linear(6, 3, { generator: g }));
}
const input = fromArray(Float32Array.from({ length: 5 * 4 }, (_, i) => Math.sin(i * 1.7) * 2), [5, 4]);
const output = (m: Sequential) => noGrad(() => m.call(input).toTypedArray() as Float32Array);

function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x - Math.trunc(x)) === 0.5 ? 2 * Math.round(x / 2) : r;
}
/** Per-row symmetric fake quantization of a [O, K] weight, written from the formula. */
function symmetricRows(w: Float32Array, O: number, bits: number): Float32Array {
  const K = w.length / O, qmin = -(2 ** (bits - 1)), qmax = 2 ** (bits - 1) - 1;
  const out = new Float32Array(w.length);
  for (let o = 0; o < O; o++) {
    let amax = 0;
    for (let k = 0; k < K; k++) amax = Math.max(amax, Math.abs(w[o * K + k]));
    const s = Math.fround(amax / ((qmax - qmin) / 2));
    // PyTorch multiplies by the float32 reciprocal (x * (1/s)); the largest weight sits exactly on a
    // tie (amax/s = (qmax−qmin)/2 is a half-integer), so the float32 product decides its level.
    const inv = Math.fround(1 / s);
    for (let k = 0; k < K; k++) out[o * K + k] = Math.min(qmax, Math.max(qmin, roundHalfEven(Math.fround(w[o * K + k] * inv)))) * s;
  }
  return out;
}

const configFor = (layer: string, bits: number): QatConfig => ({ default: qconfig({ bits: 8 }), layers: { [layer]: qconfig({ weightBits: bits, activationBits: 8 }) } });
const calib = [0, 1].map((k) => ({ x: Float32Array.from({ length: 8 * 4 }, (_, i) => Math.cos(i * 0.9 + k) * 3), xShape: [8, 4], y: new Int32Array(8) }));

describe('measureSensitivity', () => {
  it('quantizes only the target layer\'s weights: equal to the float model with those weights replaced', () => {
    const outputs: Float32Array[] = [];
    const table = measureSensitivity({
      cloneFloat: () => mlp(4),
      layers: ['0', '2'],
      candidateBits: [2, 3, 8],
      configFor,
      calibrate: (m) => calibrate(m, calib),
      metric: (m) => {
        const y = output(m);
        outputs.push(y);
        return y.reduce((s, v) => s + v * v, 0);
      },
      better: 'lower',
    });
    expect(outputs.length).toBe(1 + 2 * 3);
    const floatOut = output(mlp(4));
    expect([...outputs[0]]).toEqual([...floatOut]);
    expect(table.baseline).toBeCloseTo(floatOut.reduce((s, v) => s + v * v, 0), 10);
    let k = 1;
    for (const layer of ['0', '2']) {
      for (const bits of [2, 3, 8]) {
        const ref = mlp(4);
        const lin = ref.namedChildren().find(([n]) => n === layer)![1] as Linear;
        const qw = symmetricRows(lin.weight.toTypedArray() as Float32Array, lin.weight.shape[0], bits);
        ref.loadStateDict({ ...Object.fromEntries(ref.stateDict()), [`${layer}.weight`]: fromArray(qw, lin.weight.shape) });
        const expected = output(ref);
        const got = outputs[k++];
        for (let i = 0; i < expected.length; i++) expect(Math.abs(got[i] - expected[i]), `layer ${layer} bits ${bits} output ${i}`).toBeLessThan(1e-5);
        if (bits === 2) expect(Math.max(...got.map((v, i) => Math.abs(v - floatOut[i])))).toBeGreaterThan(1e-3);
        const e = table.entries.find((x) => x.layer === layer && x.bits === bits)!;
        expect(e.degradation).toBeCloseTo(e.metric - table.baseline, 12);
      }
    }
  });

  it('reports degradation as baseline − metric when higher is better', () => {
    let calls = 0;
    const table = measureSensitivity({
      cloneFloat: () => mlp(4), layers: ['2'], candidateBits: [4], configFor,
      calibrate: (m) => calibrate(m, calib),
      metric: () => (calls++ === 0 ? 0.9 : 0.7),
      better: 'higher',
    });
    expect(table.baseline).toBe(0.9);
    expect(table.entries).toEqual([{ layer: '2', bits: 4, metric: 0.7, degradation: 0.9 - 0.7 }]);
  });

  it('leaves exactly the target weight quantizer on, through conv + BatchNorm too', () => {
    const net = () => {
      const h = new Generator(2);
      return new Sequential(new Conv2d(1, 3, 3, { generator: h, bias: false }), new BatchNorm2d(3), new ReLU(), new Flatten(), new Linear(3 * 4 * 4, 4, { generator: h }));
    };
    const seen: string[] = [];
    measureSensitivity({
      cloneFloat: net, layers: ['0', '4'], candidateBits: [4], configFor,
      calibrate: (m) => calibrate(m, randomBatches(1, 4, [1, 6, 6], 3)),
      metric: (m) => {
        const on = [...m.namedModules()].filter(([, x]) => x instanceof FakeQuantize && x.fakeQuantEnabled).map(([n]) => n);
        seen.push(`${fakeQuantizers(m).length}: ${on.join(',')}`);
        return 0;
      },
      better: 'lower',
    });
    // the float baseline has no quantizers; prepared: 0 QuantStub, 1 QConvBn2d (ReLU fused), 2 Flatten,
    // 3 QLinear: five quantizers (input, weight and activation of both layers), one of them on
    expect(seen).toEqual(['0: ', '5: 1.weight_fq', '5: 3.weight_fq']);
  });

  it('fails on an unknown layer or a bad width before measuring anything', () => {
    let calls = 0;
    const base = { cloneFloat: () => mlp(1), configFor, calibrate: () => {}, metric: () => calls++, better: 'lower' as const };
    expect(() => measureSensitivity({ ...base, layers: ['0', '7'], candidateBits: [4] })).toThrow(/no layer '7' \(layers: 0 Linear, 1 ReLU, 2 Linear\)/);
    expect(() => measureSensitivity({ ...base, layers: ['1'], candidateBits: [4] })).toThrow(/layer '1' \(ReLU\) is not quantized/);
    expect(() => measureSensitivity({ ...base, layers: ['0'], candidateBits: [0] })).toThrow(/candidateBits: bits must be an integer from 1 to 8, got 0/);
    expect(() => measureSensitivity({ ...base, layers: [], candidateBits: [4] })).toThrow(/no layers/);
    expect(calls).toBe(0);
  });

  it('joins measurements with packed sizes for the allocator', () => {
    const layers = quantizableLayers(mlp(1));
    const table = {
      better: 'lower' as const, baseline: 1,
      entries: [
        { layer: '0', bits: 2, metric: 1.5, degradation: 0.5 }, { layer: '0', bits: 8, metric: 1, degradation: 0 },
        { layer: '2', bits: 2, metric: 1.2, degradation: 0.2 }, { layer: '2', bits: 8, metric: 1, degradation: 0 },
      ],
    };
    expect(layerChoices(table, layers)).toEqual([
      { name: '0', options: [{ bits: 2, bytes: packedLayerBytes(layers[0], 2), loss: 0.5 }, { bits: 8, bytes: packedLayerBytes(layers[0], 8), loss: 0 }] },
      { name: '2', options: [{ bits: 2, bytes: packedLayerBytes(layers[1], 2), loss: 0.2 }, { bits: 8, bytes: packedLayerBytes(layers[1], 8), loss: 0 }] },
    ]);
    expect(() => layerChoices({ ...table, entries: table.entries.slice(0, 2) }, layers)).toThrow(/layer '2' was not measured/);
  });
});
