/**
 * The wasm backend's non-GEMM fast paths of issue 17: conv and 2x2 max-pool results written into
 * recycled buffer-pool arrays, and max-pool backward as a float32-specialised scatter into a
 * pooled zeroed array. Oracle: the cpu reference backend (device 'cpu'), compared bit for bit for
 * pooling (the same comparisons and additions in the same order), and, for the convolutions,
 * the wasm backend's own results on fresh arrays (a recycled array must not change a single bit,
 * which a missed element would). Both hold on 1 and 2 threads.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { F, fromArray, setDefaultDevice, getDefaultDevice, tidy } from '../../../src/index.js';
import type { Tensor } from '../../../src/index.js';
import '../../../src/tensor/wasm/index.js';
import { setWasmKernelConfig, shutdownThreads } from '../../../src/tensor/wasm/index.js';
import { conv2dForwardF32, conv2dGradInputF32, conv2dGradWeightF32 } from '../../../src/tensor/wasm/conv.js';
import { randomF32, rng, useThreads } from './util.js';

const before = getDefaultDevice();
afterAll(async () => {
  setDefaultDevice(before);
  await shutdownThreads();
  setWasmKernelConfig();
});

const bits = (a: ArrayLike<number>) => new Uint32Array(Float32Array.from(a).buffer);
/** The first index where the float32 bit patterns differ, or -1 (toEqual on millions of elements is slow). */
function firstBitDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) return -2;
  const x = bits(a), y = bits(b);
  for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) return i;
  return -1;
}

/** x.grad of sum(maxPool2d(x) * g) on `device`, and the pooled values. */
function poolGrad(device: string, xv: Float32Array, shape: number[], gv: Float32Array, kernel: number, opts: { stride?: number; padding?: number }) {
  setDefaultDevice(device);
  const x = fromArray(xv, shape, { device });
  x.requiresGrad = true;
  const out = tidy(() => {
    const y = F.maxPool2d(x, kernel, opts);
    const g = fromArray(gv.subarray(0, y.size), y.shape, { device });
    F.sum(F.mul(y, g)).backward();
    return y.toTypedArray();
  });
  return { y: out, gx: (x.grad as Tensor).toTypedArray() };
}

describe('pooled results and max-pool backward on device wasm', () => {
  for (const threads of [1, 2]) {
    it(`max pool forward and backward equal the cpu reference bit for bit (${threads} thread${threads > 1 ? 's' : ''})`, async () => {
      await useThreads(threads);
      const r = rng(17 + threads);
      const cases: [number[], number, { stride?: number; padding?: number }][] = [
        [[64, 40, 26, 26], 2, {}], // the CNN's first pooling (SIMD forward, 1.7 M elements)
        [[3, 5, 11, 9], 2, {}], // odd sizes: a last row/column that no window covers
        [[2, 3, 10, 10], 3, { stride: 2, padding: 1 }], // overlapping windows: += really adds
      ];
      let checked = 0;
      for (const [shape, k, opts] of cases) {
        const n = shape.reduce((a, b) => a * b, 1);
        const xv = randomF32(n, r);
        // Ties (repeated values) and signed zeros in the upstream gradient.
        for (let i = 0; i < n; i += 7) xv[i] = 0.5;
        const gv = randomF32(n, r);
        for (let i = 0; i < n; i += 5) gv[i] = -0;
        for (let rep = 0; rep < 2; rep++) { // the second round runs on recycled pool arrays
          const a = poolGrad('wasm', xv, shape, gv, k, opts), b = poolGrad('cpu', xv, shape, gv, k, opts);
          expect(firstBitDiff(a.y, b.y), `forward ${shape}`).toBe(-1);
          expect(firstBitDiff(a.gx, b.gx), `backward ${shape}`).toBe(-1);
          checked++;
        }
      }
      expect(checked).toBe(6);
    });
  }

  it('conv2d results in recycled arrays equal those in fresh ones', async () => {
    await useThreads(2);
    const r = rng(5);
    const p = { stride: [1, 1] as [number, number], padding: [1, 1] as [number, number], dilation: [1, 1] as [number, number], groups: 1 };
    const xs = [8, 6, 12, 12], ws = [10, 6, 3, 3], ys = [8, 10, 12, 12];
    const x = randomF32(8 * 6 * 144, r), w = randomF32(10 * 54, r), gy = randomF32(8 * 10 * 144, r);
    // A "recycled" array full of garbage: any element the kernel forgets to write shows up.
    const dirty = (n: number) => new Float32Array(n).fill(Number.NaN);
    const pairs: [Float32Array | null, Float32Array | null][] = [
      [conv2dForwardF32(x, xs, w, ws, p), conv2dForwardF32(x, xs, w, ws, p, dirty)],
      [conv2dGradWeightF32(x, xs, gy, ws, p), conv2dGradWeightF32(x, xs, gy, ws, p, dirty)],
      [conv2dGradInputF32(gy, ws, w, xs, p), conv2dGradInputF32(gy, ws, w, xs, p, dirty)],
    ];
    expect(ys.reduce((a, b) => a * b, 1)).toBe(pairs[0][0]!.length);
    for (const [fresh, recycled] of pairs) {
      expect(fresh).not.toBeNull();
      expect(firstBitDiff(recycled!, fresh!)).toBe(-1);
    }
  });
});
