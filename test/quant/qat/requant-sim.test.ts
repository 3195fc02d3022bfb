/**
 * The fake-quant forward in evaluation simulates the integer engine's requantization
 * (src/quant/qat/requant-sim.ts): given the same input levels, every conv2d / linear layer's
 * fake-quant output equals the Int8Model's (the integer-only oracle, src/quant/int8) level for
 * level at 2, 4 and 8 bits, so predictions agree on every example. With the simulation off the
 * old contract (at most one level) still holds. The double-rounding case that motivated it is
 * checked against a BigInt transcription of TFLite's MultiplyByQuantizedMultiplier.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { BatchNorm2d, Conv2d, Flatten, fromArray, Generator, Linear, MaxPool2d, mnistCnn, ReLU, Sequential } from '../../../src/index.js';
import { calibrate, prepareQAT, qconfig, quantizeMultiplier, type QatConfig } from '../../../src/quant/index.js';
import { simulateRequant } from '../../../src/quant/qat/requant-sim.js';
import { compareWithInt8, isolatedLayerDiffs, mnistBatches, randomBatches } from './helpers.js';

function smallModel(seed: number, batchNorm: boolean): Sequential {
  const g = new Generator(seed);
  return new Sequential(
    new Conv2d(1, 6, 3, { generator: g, padding: 1 }), new ReLU(), new MaxPool2d(2),
    new Conv2d(6, 8, 3, { generator: g, bias: !batchNorm }),
    ...(batchNorm ? [new BatchNorm2d(8)] : []),
    new ReLU(), new MaxPool2d(2), new Flatten(), new Linear(8 * 1 * 1, 5, { generator: g }),
  );
}

const config = (bits: number, simulateRequant?: boolean): QatConfig => ({
  default: qconfig({ bits, activationObserver: 'histogram', simulateRequant }),
  input: qconfig({ bits: 8 }),
});

/** TFLite's MultiplyByQuantizedMultiplier in BigInt (gemmlowp's two roundings), written out independently. */
function tfliteRequant(acc: number, multiplier: number, shift: number): number {
  const x = BigInt(acc) << BigInt(Math.max(shift, 0));
  const ab = x * BigInt(multiplier);
  const nudge = ab >= 0n ? 1n << 30n : 1n - (1n << 30n);
  const high = (ab + nudge) / (1n << 31n); // truncates toward zero, like C++
  const e = BigInt(Math.max(-shift, 0));
  if (e === 0n) return Number(high);
  const mask = (1n << e) - 1n, rem = high & mask, threshold = (mask >> 1n) + (high < 0n ? 1n : 0n);
  return Number((high >> e) + (rem > threshold ? 1n : 0n));
}

describe('simulateRequant', () => {
  it('rounds a small accumulator as the fixed-point multiplier does, not as float does', () => {
    // acc = 15 at M ≈ 0.03169: float gives 0.475 → level 0; the engine rounds 15·m/2^31 ≈ 7.6 to 8 first, then 8/16 = 0.5 → 1.
    const sIn = 0.8296785950660706, sw = 0.035148, sOut = 0.920107901096344;
    const { multiplier, shift } = quantizeMultiplier((sIn * Math.fround(sw)) / sOut);
    const accs = [15, -15, 0, 1, 7, 31, 100, -40, 1000];
    const unit = sIn * Math.fround(sw);
    const y = fromArray(Float32Array.from(accs, (a) => a * unit), [accs.length, 1]);
    const got = simulateRequant(y, { sIn, wScale: [sw], sOut, zOut: 3, qmin: 0, qmax: 255 }).toTypedArray();
    const want = accs.map((a) => (Math.min(Math.max(3 + tfliteRequant(a, multiplier, shift), 0), 255) - 3) * Math.fround(sOut));
    for (let i = 0; i < accs.length; i++) expect(got[i]).toBeCloseTo(want[i], 5);
    expect(Math.round(15 * unit / sOut)).toBe(0); // the float rounding the simulation replaces
    expect(tfliteRequant(15, multiplier, shift)).toBe(1);
  });
});

describe('simulateRequant against the BigInt transcription', () => {
  it('every accumulator and multiplier (fast-check)', () => {
    const seed = 1405;
    fc.assert(
      fc.property(fc.array(fc.integer({ min: -(2 ** 21), max: 2 ** 21 }), { minLength: 1, maxLength: 16 }), fc.double({ min: 1e-5, max: 3, noNaN: true }), fc.integer({ min: 0, max: 255 }), (accs, M, zOut) => {
        const sIn = 0.5, sw = Math.fround(M), sOut = 0.5; // s_in·s_w/s_out = M
        const { multiplier, shift } = quantizeMultiplier((sIn * sw) / sOut);
        const unit = sIn * sw;
        const y = fromArray(Float32Array.from(accs, (a) => a * unit), [accs.length, 1]);
        const got = simulateRequant(y, { sIn, wScale: [sw], sOut, zOut, qmin: -(2 ** 30), qmax: 2 ** 30 }).toTypedArray();
        accs.forEach((a, i) => {
          // float32 y may not hold a·unit exactly for large a; the simulation recovers round(y/unit)
          const acc = Math.round(Math.fround(a * unit) / unit);
          expect(Math.round(got[i] / Math.fround(sOut))).toBe(tfliteRequant(acc, multiplier, shift));
        });
      }),
      { seed, numRuns: 200 },
    );
  });
});

describe('fake-quant evaluation equals the integer engine', () => {
  const calib = randomBatches(3, 16, [1, 10, 10], 7);
  const evalBatch = randomBatches(1, 48, [1, 10, 10], 8)[0];
  for (const bits of [2, 4, 8]) {
    for (const bn of [false, true]) {
      it(`${bits} bits${bn ? ' with BN' : ''}: each layer equal level for level, logits equal`, () => {
        const q = prepareQAT(smallModel(bits * 10 + (bn ? 1 : 0), bn), config(bits));
        calibrate(q, calib);
        const r = compareWithInt8(q, evalBatch, 5);
        const diffs = isolatedLayerDiffs(q, r.spec, evalBatch);
        expect(diffs.length).toBe(3);
        for (const d of diffs) expect({ index: d.index, mismatches: d.mismatches }).toEqual({ index: d.index, mismatches: 0 });
        expect(r.maxLevels).toBeLessThan(1e-3);
        expect(r.predictionAgreement).toBe(1);
      });
    }
  }

  it('with simulateRequant: false, layers stay within one level (the float rounding)', () => {
    const q = prepareQAT(smallModel(3, false), config(2, false));
    calibrate(q, calib);
    const r = compareWithInt8(q, evalBatch, 5);
    for (const d of isolatedLayerDiffs(q, r.spec, evalBatch)) expect(d.maxLevels).toBeLessThanOrEqual(1);
  });

  it('mnistCnn at 2 bits on 64 real MNIST images: every prediction agrees', () => {
    const model = mnistCnn({ batchNorm: true, generator: new Generator(5) });
    const q = prepareQAT(model, config(2));
    calibrate(q, mnistBatches('train', 128, 64));
    const b = mnistBatches('test', 64, 64)[0];
    const r = compareWithInt8(q, b, 10);
    for (const d of isolatedLayerDiffs(q, r.spec, b)) expect(d.mismatches).toBe(0);
    expect(r.predictionAgreement).toBe(1);
  });
});
