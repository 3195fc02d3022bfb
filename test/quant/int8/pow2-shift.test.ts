/**
 * The shift kernel of power-of-two weights (src/quant/int8/pow2-shift.ts): bit-identical to the
 * int8 GEMM on the same levels, both checked against exact BigInt oracles written from the
 * definition (oracle.ts: Σ x·w with multiplications, TFLite's requantization as exact rational
 * rounding), for random matrices (fast-check) and for whole models with grouped, padded convs.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Int8Model, gemmInt32, type Int8Layer, type Int8ModelSpec } from '../../../src/quant/int8/index.js';
import { pow2ShiftGemm } from '../../../src/quant/int8/pow2-shift.js';
import { quantizeMultiplier } from '../../../src/quant/numerics/index.js';
import { runs } from '../../helpers/assert.js';
import { mulberry32 } from '../../helpers/rng.js';
import { convAccOracle, gemmOracle, linearAccOracle, requantizeOracle } from './oracle.js';

describe('power-of-two shift GEMM', () => {
  it('equals the exact GEMM oracle and gemmInt32, whole and by row blocks (fast-check)', () => {
    let withZeros = 0, negatives = 0;
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 6 }), fc.integer({ min: 1, max: 40 }), fc.integer({ min: 1, max: 7 }), fc.integer({ min: 0, max: 2 ** 31 - 1 }),
        fc.integer({ min: 0, max: 6 }),
        (O, K, N, seed, maxExp) => {
          const rnd = mulberry32(seed);
          const weight = Int32Array.from({ length: O * K }, () => (rnd() < 0.3 ? 0 : (rnd() < 0.5 ? -1 : 1) * 2 ** Math.floor(rnd() * (maxExp + 1))));
          const B = Int32Array.from({ length: N * K }, () => Math.floor(rnd() * 511) - 255);
          if (weight.includes(0)) withZeros++;
          if (weight.some((w) => w < 0)) negatives++;
          const gemm = pow2ShiftGemm(weight, O, K);
          const C = new Int32Array(O * N), D = new Int32Array(O * N);
          gemm(O, N, K, weight, B, C);
          gemmInt32(O, N, K, weight, B, D);
          expect(Array.from(C)).toEqual(gemmOracle(O, N, K, weight, B));
          expect(Array.from(C)).toEqual(Array.from(D));
          // rows r0.. as a grouped conv passes them: a view of the same weights
          const r0 = Math.floor(O / 2), M = O - r0;
          const E = new Int32Array(M * N);
          gemm(M, N, K, weight.subarray(r0 * K), B, E);
          expect(Array.from(E)).toEqual(Array.from(C.subarray(r0 * N)));
          // the weights as the second operand, as a linear layer passes them: C = B · Wᵀ
          const F = new Int32Array(N * O);
          gemm(N, O, K, B, weight, F);
          expect(Array.from(F)).toEqual(gemmOracle(N, O, K, B, weight));
        },
      ),
      runs(150, 1402),
    );
    expect(withZeros).toBeGreaterThan(20);
    expect(negatives).toBeGreaterThan(20);
  });

  it('refuses weights it was not built for', () => {
    const w = Int32Array.of(1, -2, 0, 4);
    const gemm = pow2ShiftGemm(w, 2, 2);
    expect(() => gemm(2, 1, 2, Int32Array.of(1, -2, 0, 4), Int32Array.of(1, 1), new Int32Array(2))).toThrow(/one operand must be \(rows of\) the weights/);
    expect(() => pow2ShiftGemm(Int32Array.of(3), 1, 1)).toThrow(/weight 3 at \[0, 0\] is not 0 or ±2\^k/);
  });
});

/** A random pow2 model: quantize → conv (groups 2, padding) → maxpool → conv → flatten → linear → dequantize. */
function pow2Spec(seed: number, maxExp: number): Int8ModelSpec {
  const rnd = mulberry32(seed);
  const pow2 = () => (rnd() < 0.25 ? 0 : (rnd() < 0.5 ? -1 : 1) * 2 ** Math.floor(rnd() * (maxExp + 1)));
  const stage = (O: number, real: number) => {
    const multiplier = new Int32Array(O), shift = new Int32Array(O);
    for (let o = 0; o < O; o++) {
      const m = quantizeMultiplier(real * (0.5 + rnd()));
      multiplier[o] = m.multiplier;
      shift[o] = m.shift;
    }
    return { multiplier, shift, bias: Int32Array.from({ length: O }, () => Math.floor(rnd() * 2001) - 1000) };
  };
  const top = 2 ** maxExp;
  const weighted = (O: number, K: number, inZeroPoint: number, real: number, outZeroPoint: number) => ({
    weight: Int8Array.from({ length: O * K }, pow2), weightQmin: -top, weightQmax: top, weightZeroPoint: new Int32Array(O),
    inZeroPoint, outZeroPoint, qmin: 0, qmax: 255, weightCode: 'pow2' as const, ...stage(O, (real * 64) / top),
  });
  const layers: Int8Layer[] = [
    { kind: 'quantize', scale: 1 / 255, zeroPoint: 3, qmin: 0, qmax: 255 },
    { kind: 'conv2d', ...weighted(4, 2 * 9, 3, 0.002, 5), weightShape: [4, 2, 3, 3], stride: [1, 1], padding: [1, 1], dilation: [1, 1], groups: 2 },
    { kind: 'maxpool2d', kernel: [2, 2], stride: [2, 2], padding: [0, 0] },
    { kind: 'conv2d', ...weighted(6, 4 * 4, 5, 0.004, 7), weightShape: [6, 4, 2, 2], stride: [2, 2], padding: [0, 0], dilation: [1, 1], groups: 1 },
    { kind: 'flatten' },
    { kind: 'linear', ...weighted(5, 6 * 2 * 2, 7, 0.003, 100), weightShape: [5, 24], qmin: 0, qmax: 255 },
    { kind: 'dequantize', scale: 0.05, zeroPoint: 100 },
  ];
  return { inputShape: [4, 8, 8], layers };
}

const withoutCode = (spec: Int8ModelSpec): Int8ModelSpec => ({
  ...spec,
  layers: spec.layers.map((l) => {
    if (l.kind !== 'conv2d' && l.kind !== 'linear') return l;
    const { weightCode: _, ...rest } = l;
    return rest as Int8Layer;
  }),
});

describe('power-of-two models in the int8 engine', () => {
  for (const maxExp of [2, 6]) {
    it(`levels up to ±${2 ** maxExp}: the shift path equals the multiply paths (js and wasm) and the exact per-layer oracle`, () => {
      const spec = pow2Spec(100 + maxExp, maxExp);
      const batch = 5;
      const rnd = mulberry32(7 + maxExp);
      const x = Float32Array.from({ length: batch * 4 * 64 }, () => rnd());
      const shift = new Int8Model(spec);
      expect(shift.forwardPath()).toEqual({ kernels: 'js', reason: 'power-of-two layers run the shift kernel (pow2-shift.ts)' });
      expect(shift.describe()).toMatch(/gemm pow2-shift/);
      const multiplyJs = new Int8Model(withoutCode(spec), { kernels: 'js' });
      const multiplyDefault = new Int8Model(withoutCode(spec));
      const out = shift.forward(x, batch);
      expect(Array.from(out)).toEqual(Array.from(multiplyJs.forward(x, batch)));
      expect(Array.from(out)).toEqual(Array.from(multiplyDefault.forward(x, batch)));

      // each weighted layer against the oracle, on the levels the engine gave it
      const trace = shift.forwardLevels(x, batch);
      const other = multiplyJs.forwardLevels(x, batch);
      let checked = 0;
      trace.layers.forEach((entry, i) => {
        expect(Array.from(entry.levels)).toEqual(Array.from(other.layers[i].levels));
        const layer = spec.layers[entry.index];
        if (layer.kind !== 'conv2d' && layer.kind !== 'linear') return;
        const input = trace.layers[i - 1];
        const acc =
          layer.kind === 'conv2d'
            ? convAccOracle(input.levels, input.shape, layer.inZeroPoint, layer.weight, layer.weightShape, layer.weightZeroPoint, layer.bias, layer).acc
            : linearAccOracle(input.levels, batch, layer.inZeroPoint, layer.weight, layer.weightShape[0], layer.weightShape[1], layer.weightZeroPoint, layer.bias);
        const per = acc.length / batch / layer.weightShape[0];
        const expected = acc.map((a, k) => {
          const o = Math.floor(k / per) % layer.weightShape[0];
          return requantizeOracle(a, layer.multiplier[o], layer.shift[o], layer.outZeroPoint, layer.qmin, layer.qmax);
        });
        expect(Array.from(entry.levels)).toEqual(expected);
        expect(new Set(expected).size).toBeGreaterThan(3); // not saturated to a constant
        checked++;
      });
      expect(checked).toBe(3);
    });
  }

  it('validation: weightCode pow2 needs levels 0 or ±2^k and zero point 0; errors name the layer', () => {
    const spec = pow2Spec(5, 3);
    const edit = (f: (l: Extract<Int8Layer, { kind: 'conv2d' }>) => void) => {
      const s = structuredClone(spec);
      f(s.layers[3] as Extract<Int8Layer, { kind: 'conv2d' }>);
      return () => new Int8Model(s);
    };
    expect(edit((l) => (l.weight[7] = 3))).toThrow("Int8Model: layer 3 (conv2d): weight level 3 at index 7 is not 0 or ±2^k, as weightCode 'pow2' declares");
    expect(edit((l) => (l.weightZeroPoint[2] = 1))).toThrow(/layer 3 \(conv2d\): weightZeroPoint\[2\] = 1, but power-of-two weights \(weightCode 'pow2'\) have zero point 0/);
    expect(edit((l) => ((l as { weightCode: string }).weightCode = 'log'))).toThrow(/layer 3 \(conv2d\): weightCode must be one of pow2 \(or absent\), got "log"/);
  });
});
