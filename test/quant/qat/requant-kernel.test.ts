/**
 * The WebAssembly requantization kernel (src/quant/qat/requant-kernel.ts) against the reference
 * loop (simulateRequantInto in requant-sim.ts, itself checked against a BigInt transcription of
 * TFLite in requant-sim.test.ts): the same bits on every element (Object.is, so -0 and +0 are
 * told apart), on data built to hit the edges: Math.round's ties (x·inv exactly k + ½, both
 * signs), accumulators at ±(2^21 − 1) (the last inline ones), clamps at both ends, per-channel
 * constants, rows whose length is not a multiple of 4, rows that straddle the staging blocks.
 * Where the kernel must decline (an accumulator at 2^21 or NaN, a positive shift) it says so,
 * and simulateRequant (the tensor op) then still equals the reference, on device wasm and on
 * the cpu reference device alike.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { fromArray } from '../../../src/index.js';
import '../../../src/tensor/wasm/index.js';
import { quantizeMultiplier } from '../../../src/quant/index.js';
import { requantWasm } from '../../../src/quant/qat/requant-kernel.js';
import { requantMultipliers, simulateRequant, simulateRequantInto, type RequantParams } from '../../../src/quant/qat/requant-sim.js';
import { mulberry32 } from '../../helpers/rng.js';

function channels(p: RequantParams, O: number) {
  const { multiplier, shift } = requantMultipliers(p.sIn, p.wScale, p.sOut, O);
  const inv = Float64Array.from({ length: O }, (_, o) => 1 / (p.sIn * Math.fround(p.wScale[p.wScale.length === 1 ? 0 : o])));
  return { inv, multiplier, shift };
}

/** Index of the first element whose bits differ, or -1. */
function firstDiff(a: Float32Array, b: Float32Array): number {
  for (let i = 0; i < a.length; i++) if (!Object.is(a[i], b[i])) return i;
  return -1;
}

/**
 * y = acc·s_in·s_w[o] + offset, acc random in ±accMax, for [N, O, inner]; offsets of ±½ unit
 * (ties of Math.round), tiny ones and zero are mixed in.
 */
function data(rand: () => number, N: number, O: number, inner: number, p: RequantParams, accMax: number): Float32Array {
  const v = new Float32Array(N * O * inner);
  const offsets = [0, 0.5, -0.5, 0.49999997, -0.49999997, 0.25, 1e-9];
  for (let n = 0, i = 0; n < N; n++) {
    for (let o = 0; o < O; o++) {
      const unit = p.sIn * Math.fround(p.wScale[p.wScale.length === 1 ? 0 : o]);
      for (let t = 0; t < inner; t++, i++) {
        const acc = Math.round((2 * rand() - 1) * accMax);
        const off = offsets[Math.floor(rand() * offsets.length)];
        v[i] = (acc + off) * unit;
      }
    }
  }
  return v;
}

function params(rand: () => number, O: number): RequantParams {
  const sIn = Math.fround(0.001 + rand() * 0.1);
  const wScale = Float32Array.from({ length: O }, () => 0.0005 + rand() * 0.05);
  const zOut = Math.floor(rand() * 20);
  return { sIn, wScale, sOut: Math.fround(0.01 + rand()), zOut, qmin: rand() < 0.5 ? 0 : zOut, qmax: 255 };
}

describe('requant kernel = the reference loop, bit for bit', () => {
  it('random layers, ties, clamps, odd row lengths, rows across staging blocks (fast-check)', () => {
    const seed = 1717;
    let kernelRan = 0;
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 7 }), fc.constantFrom(1, 3, 4, 5, 121, 676, 20001), fc.integer({ min: 1, max: 2 ** 31 - 1 }),
        fc.constantFrom(3, 100, 5000, 2 ** 21 - 2),
        (N, O, inner, s, accMax) => {
          const rand = mulberry32(s);
          const p = params(rand, O);
          const v = data(rand, N, O, inner, p, accMax);
          const want = new Float32Array(v.length), got = new Float32Array(v.length);
          simulateRequantInto(v, want, O, inner, p);
          const ch = channels(p, O);
          const ok = requantWasm(v, got, O, inner, ch, p);
          if (ch.shift.some((x) => x > 0)) {
            expect(ok).toBe(false);
            return;
          }
          expect(ok).toBe(true);
          kernelRan++;
          expect(firstDiff(got, want)).toBe(-1);
        },
      ),
      { seed, numRuns: 120 },
    );
    expect(kernelRan).toBeGreaterThan(60);
  });

  it('the last inline accumulators (±(2^21 − 1)) and exact ties, one channel', () => {
    const p: RequantParams = { sIn: 0.5, wScale: [0.25], sOut: 0.5, zOut: 7, qmin: -(2 ** 30), qmax: 2 ** 30 };
    const unit = 0.125;
    const accs = [2 ** 21 - 1, -(2 ** 21 - 1), 0, 0.5, -0.5, 1.5, -1.5, 2.5, -2.5, 1e6 + 0.5, -1e6 - 0.5, -0.25, -0];
    const v = Float32Array.from(accs, (a) => a * unit);
    const want = new Float32Array(v.length), got = new Float32Array(v.length);
    simulateRequantInto(v, want, 1, v.length, p);
    expect(requantWasm(v, got, 1, v.length, channels(p, 1), p)).toBe(true);
    expect(firstDiff(got, want)).toBe(-1);
    // the ties of x·inv went up, as Math.round's do: 0.5 → acc 1, which the engine (M = 1/4: m = 2^30,
    // shift -1) takes to floor((1·2^30 + 2^30)/2^31) = 1, then 1/2 rounded away from zero = 1 level;
    // -0.5 → acc 0 → level 0
    expect([got[3], got[4]]).toEqual([0.5, 0]);
  });

  it('declines an accumulator at 2^21, a NaN, and a positive shift; simulateRequant then equals the reference', () => {
    const base: RequantParams = { sIn: 0.5, wScale: [0.25], sOut: 0.5, zOut: 0, qmin: -(2 ** 31), qmax: 2 ** 31 - 1 };
    const cases: [string, RequantParams, number[]][] = [
      ['accumulator 2^21', base, [1, 2 ** 21, 3, 4, 5]],
      ['accumulator -2^21', base, [1, -(2 ** 21), 3, 4, 5]],
      ['NaN', base, [1, NaN, 3, 4, 5]],
      // s_in·s_w/s_out = 4: multiplier 2^30, shift 3
      ['positive shift', { ...base, sOut: 0.03125 }, [1, 2, 3, 4, 5]],
    ];
    for (const [name, p, accs] of cases) {
      const unit = p.sIn * Math.fround(p.wScale[0]);
      const v = Float32Array.from(accs, (a) => a * unit);
      const got = new Float32Array(v.length), want = new Float32Array(v.length);
      expect(requantWasm(v, got, 1, v.length, channels(p, 1), p), name).toBe(false);
      simulateRequantInto(v, want, 1, v.length, p);
      for (const device of ['wasm', 'cpu']) {
        const t = simulateRequant(fromArray(v, [1, 1, v.length], { device }), p);
        expect(t.device).toBe(device);
        expect(firstDiff(t.toTypedArray() as Float32Array, want), `${name} on ${device}`).toBe(-1);
      }
    }
    expect(quantizeMultiplier(4).shift).toBe(3);
  });

  it('simulateRequant on device wasm and cpu, contiguous and strided input, equals the reference loop', () => {
    const rand = mulberry32(99);
    const O = 6, N = 3, H = 5, W = 7;
    const p = params(rand, O);
    const v = data(rand, N, O, H * W, p, 3000);
    const want = new Float32Array(v.length);
    simulateRequantInto(v, want, O, H * W, p);
    for (const device of ['wasm', 'cpu']) {
      const y = fromArray(v, [N, O, H, W], { device });
      expect(firstDiff(simulateRequant(y, p).toTypedArray() as Float32Array, want), device).toBe(-1);
      // the same values behind a permuted view: read through contiguous()
      const yt = fromArray(v, [N, O, H, W], { device }).permute([0, 1, 3, 2]).contiguous().permute([0, 1, 3, 2]);
      expect(yt.isContiguous).toBe(false);
      expect(firstDiff(simulateRequant(yt, p).toTypedArray() as Float32Array, want), `${device}, strided`).toBe(-1);
    }
  });
});
