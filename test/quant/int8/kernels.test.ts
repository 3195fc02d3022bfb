/**
 * The int8 kernels against exact BigInt oracles (oracle.ts): both GEMMs, and the fixed-point
 * output stage against rational rounding with TFLite's tie rules.
 */
import { describe, expect, it } from 'vitest';
import { int8KernelsWasm } from '../../../src/quant/int8/gemm.js';
import { gemmInt32, gemmTwoLane, gemmWasmNT, selectGemm, TWO_LANE_MAX_OPERAND, type Int32Gemm } from '../../../src/quant/int8/gemm.js';
import { multiplyByQuantizedMultiplierFast, requantizeChannel } from '../../../src/quant/int8/kernels.js';
import { multiplyByQuantizedMultiplier, quantizeMultiplier } from '../../../src/quant/numerics/index.js';
import { prng } from './build.js';
import { gemmOracle, multiplyByQuantizedMultiplierOracle, requantizeOracle, roundRational } from './oracle.js';

function randomInts(rnd: () => number, n: number, lo: number, hi: number): Int32Array {
  const a = new Int32Array(n);
  for (let i = 0; i < n; i++) a[i] = lo + Math.floor(rnd() * (hi - lo + 1));
  return a;
}

const GEMMS: [string, Int32Gemm][] = [
  ['gemmInt32', gemmInt32],
  ['gemmTwoLane', gemmTwoLane],
];

describe('integer GEMM, C = A·Bᵀ', () => {
  for (const [name, gemm] of GEMMS) {
    it(`${name} equals the BigInt sum for every shape around its tile edges`, () => {
      const rnd = prng(11);
      for (let M = 1; M <= 9; M++) {
        for (const N of [1, 2, 3, 4, 5, 7, 8, 13]) {
          for (const K of [0, 1, 2, 9, 31]) {
            const A = randomInts(rnd, M * K, -255, 255);
            const B = randomInts(rnd, N * K, -255, 255);
            const C = new Int32Array(M * N).fill(12345); // stale values must be overwritten
            gemm(M, N, K, A, B, C);
            expect(Array.from(C), `M=${M} N=${N} K=${K}`).toEqual(gemmOracle(M, N, K, A, B));
          }
        }
      }
    });

    it(`${name} is exact at the extremes of 8-bit operands, across its 512-long K chunks`, () => {
      for (const K of [511, 512, 513, 1100, 2049]) {
        for (const [a, b] of [[255, 255], [-255, 255], [255, -255], [-255, -255]] as const) {
          const M = 5, N = 6;
          const A = new Int32Array(M * K).fill(a), B = new Int32Array(N * K).fill(b);
          const C = new Int32Array(M * N);
          gemm(M, N, K, A, B, C);
          expect(C.every((c) => c === a * b * K), `K=${K} a=${a} b=${b}`).toBe(true);
        }
      }
      const rnd = prng(12);
      const M = 7, N = 9, K = 1500;
      const A = randomInts(rnd, M * K, -255, 255), B = randomInts(rnd, N * K, -255, 255);
      const C = new Int32Array(M * N);
      gemm(M, N, K, A, B, C);
      expect(Array.from(C)).toEqual(gemmOracle(M, N, K, A, B));
    });
  }

  it('gemmInt32 handles any int32 operands, wrapping like C int32 arithmetic', () => {
    const rnd = prng(13);
    const M = 5, N = 7, K = 6;
    const A = randomInts(rnd, M * K, -(2 ** 31), 2 ** 31 - 1), B = randomInts(rnd, N * K, -(2 ** 31), 2 ** 31 - 1);
    const C = new Int32Array(M * N);
    gemmInt32(M, N, K, A, B, C);
    expect(Array.from(C)).toEqual(gemmOracle(M, N, K, A, B));
  });

  it('selectGemm takes the two-lane kernel exactly when both operands stay within ±255', () => {
    expect(TWO_LANE_MAX_OPERAND).toBe(255);
    // Short reductions (a first conv layer, K = 9) stay in TypeScript, where packing would dominate.
    expect(selectGemm(255, 255, 9)).toBe(gemmTwoLane);
    expect(selectGemm(256, 1, 9)).toBe(gemmInt32);
    expect(selectGemm(1, 256, 9)).toBe(gemmInt32);
    // Long ones go to the wasm int8 kernel while operands fit in int16 (and wasm is enabled).
    expect(selectGemm(255, 255, 360)).toBe(int8KernelsWasm() ? gemmWasmNT : gemmTwoLane);
    expect(selectGemm(40000, 1, 360)).toBe(gemmInt32);
  });
});

describe('fixed-point requantization vs exact rational rounding', () => {
  it('the oracle itself: hand-computed ties (SRDHM rounds half up, RoundingDivideByPOT half away from zero)', () => {
    expect(roundRational(1n, 2n, 'up')).toBe(1n);
    expect(roundRational(-1n, 2n, 'up')).toBe(0n);
    expect(roundRational(-3n, 2n, 'up')).toBe(-1n);
    expect(roundRational(-1n, 2n, 'awayFromZero')).toBe(-1n);
    expect(roundRational(3n, 2n, 'awayFromZero')).toBe(2n);
    expect(roundRational(-7n, 4n, 'awayFromZero')).toBe(-2n);
    // multiplier 2^30 is 0.5 in Q31: shift 0 gives M = 1/2, shift -1 gives M = 1/4.
    const half = 2 ** 30;
    const cases: [number, number, number][] = [
      // acc, shift, expected: first round(acc/2) half up, then round(·/2^-shift) half away from zero
      [1, 0, 1], [-1, 0, 0], [3, 0, 2], [-3, 0, -1],
      [2, -1, 1], [-2, -1, -1], [6, -1, 2], [-6, -1, -2], [-1, -1, 0], [-3, -1, -1], [-5, -1, -1],
    ];
    for (const [acc, shift, expected] of cases) {
      expect(Number(multiplyByQuantizedMultiplierOracle(BigInt(acc), half, shift)), `acc=${acc} shift=${shift}`).toBe(expected);
      expect(multiplyByQuantizedMultiplierFast(acc, half, shift), `fast acc=${acc} shift=${shift}`).toBe(expected);
      expect(multiplyByQuantizedMultiplier(acc, half, shift), `numerics acc=${acc} shift=${shift}`).toBe(expected);
    }
  });

  it('multiplyByQuantizedMultiplierFast equals the oracle and numerics on random int32 inputs, both sides of its 2^22 shortcut', () => {
    const rnd = prng(21);
    const edges = [0, 1, -1, 2 ** 22 - 1, -(2 ** 22) + 1, 2 ** 22, -(2 ** 22), 2 ** 22 + 1, 2 ** 31 - 1, -(2 ** 31)];
    for (let t = 0; t < 20000; t++) {
      const multiplier = rnd() < 0.1 ? 2 ** 30 + (t % 3) : 2 ** 30 + Math.floor(rnd() * 2 ** 30);
      const shift = rnd() < 0.1 ? Math.floor(rnd() * 8) : -Math.floor(rnd() * 32);
      const limit = shift > 0 ? 2 ** (31 - shift) : 2 ** 31;
      let acc = t < edges.length * 8 ? edges[t % edges.length]! : Math.floor((rnd() * 2 - 1) * (rnd() < 0.5 ? 2 ** 23 : limit));
      acc = Math.max(-limit, Math.min(limit - 1, acc));
      const expected = Number(multiplyByQuantizedMultiplierOracle(BigInt(acc), multiplier, shift));
      const fast = multiplyByQuantizedMultiplierFast(acc, multiplier, shift);
      if (fast !== expected || multiplyByQuantizedMultiplier(acc, multiplier, shift) !== expected) {
        expect({ acc, multiplier, shift, fast, numerics: multiplyByQuantizedMultiplier(acc, multiplier, shift) }).toEqual({ acc, multiplier, shift, fast: expected, numerics: expected });
      }
    }
  });

  it('multiplyByQuantizedMultiplierFast is exact on adversarial inputs whose product lies one below a rounding boundary', () => {
    // acc · multiplier + 2^30 = k · 2^31 - 1: SaturatingRoundingDoublingHighMul must give k - 1,
    // and a product rounded in float64 (beyond 2^53) would tip it to k. Around the 2^22 shortcut
    // limit, on both sides and for both signs.
    const inverse = (a: bigint, m: bigint): bigint => {
      let [r0, r1, s0, s1] = [a % m, m, 1n, 0n];
      while (r1 !== 0n) {
        const q = r0 / r1;
        [r0, r1, s0, s1] = [r1, r0 - q * r1, s1, s0 - q * s1];
      }
      return ((s0 % m) + m) % m;
    };
    let tested = 0;
    for (const base of [2 ** 22 - 1, 2 ** 22 + 1, 2 ** 23 + 1, 2 ** 24 + 1, 2 ** 26 + 1]) {
      for (let step = 0; step < 60; step += 2) {
        for (const acc of [base + step, -(base + step)]) {
          // multiplier ≡ (-2^30 - 1) / acc (mod 2^31); acc is odd, so invertible.
          const target = (((-(2n ** 30n) - 1n) % 2n ** 31n) + 2n ** 31n) % 2n ** 31n;
          const multiplier = Number((target * inverse(((BigInt(acc) % 2n ** 31n) + 2n ** 31n) % 2n ** 31n, 2n ** 31n)) % 2n ** 31n);
          if (multiplier < 2 ** 30) continue;
          for (const shift of [0, -1, -7]) {
            const expected = Number(multiplyByQuantizedMultiplierOracle(BigInt(acc), multiplier, shift));
            expect(multiplyByQuantizedMultiplierFast(acc, multiplier, shift), `acc=${acc} multiplier=${multiplier} shift=${shift}`).toBe(expected);
            tested++;
          }
        }
      }
    }
    expect(tested).toBeGreaterThan(200);
  });

  it('is within one level of the exactly rounded acc · M (double rounding costs at most one level)', () => {
    const rnd = prng(22);
    for (let t = 0; t < 5000; t++) {
      const real = 10 ** (-6 + 5.99 * rnd());
      const { multiplier, shift } = quantizeMultiplier(real);
      const acc = Math.floor((rnd() * 2 - 1) * 2 ** 30);
      const got = BigInt(multiplyByQuantizedMultiplierFast(acc, multiplier, shift));
      // The value the Q31 multiplier represents: acc · multiplier · 2^(shift - 31), rounded once.
      const once = shift >= 31 ? 0n : roundRational(BigInt(acc) * BigInt(multiplier), 2n ** BigInt(31 - shift), 'awayFromZero');
      expect(got - once >= -1n && got - once <= 1n, `acc=${acc} M=${real}`).toBe(true);
    }
  });

  it('requantizeChannel adds the channel bias, requantizes with that channel, offsets and clamps', () => {
    const rnd = prng(23);
    const channels = 6, count = 300;
    const bias = randomInts(rnd, channels, -(2 ** 20), 2 ** 20);
    const multiplier = new Int32Array(channels), shift = new Int32Array(channels);
    for (let o = 0; o < channels; o++) {
      const q = quantizeMultiplier(10 ** (-5 + 4 * rnd()));
      multiplier[o] = q.multiplier;
      shift[o] = q.shift;
    }
    for (const [outZeroPoint, qmin, qmax] of [[0, 0, 255], [-5, -128, 127], [10, 10, 255]] as const) {
      const acc = randomInts(rnd, channels * count, -(2 ** 26), 2 ** 26);
      const buf = acc.slice();
      const stage = { bias, multiplier, shift, outZeroPoint, qmin, qmax };
      for (let o = 0; o < channels; o++) requantizeChannel(buf, o * count, count, o, stage);
      const expected = Array.from(acc, (a, i) => {
        const o = Math.floor(i / count);
        return requantizeOracle(BigInt(a) + BigInt(bias[o]!), multiplier[o]!, shift[o]!, outZeroPoint, qmin, qmax);
      });
      expect(Array.from(buf)).toEqual(expected);
      expect(buf.some((v) => v === qmin) && buf.some((v) => v === qmax) && buf.some((v) => v > qmin && v < qmax)).toBe(true);
    }
  });
});
