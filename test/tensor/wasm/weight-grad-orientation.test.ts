/**
 * The convolution's weight gradient is computed as gW = gy · colsᵀ or as its transpose
 * cols · gyᵀ, whichever pads less (src/tensor/wasm/conv.ts): both are the same products summed in
 * the same k order, so they must give the same bits. Checked on geometries where either choice
 * is the automatic one (the tutorial's conv1: 40 channels, 9 taps; conv2: 40 and 360), with
 * groups, stride and padding, K past one kc block, 1 and 2 threads, and NaN, infinities and -0.
 */
import { afterAll, describe, expect, it } from 'vitest';
import type { Conv2dParams } from '../../../src/tensor/backend.js';
import { conv2dGradWeightF32, setWeightGradOrientation } from '../../../src/tensor/wasm/conv.js';
import { setWasmKernelConfig } from '../../../src/tensor/wasm/index.js';
import { rng, useThreads } from './util.js';

afterAll(() => {
  setWeightGradOrientation('auto');
  setWasmKernelConfig();
});

const P = (s: number, p: number, g = 1): Conv2dParams => ({ stride: [s, s], padding: [p, p], dilation: [1, 1], groups: g });
const CASES: { x: number[]; w: number[]; p: Conv2dParams }[] = [
  { x: [16, 1, 28, 28], w: [40, 1, 3, 3], p: P(1, 0) },
  { x: [8, 40, 13, 13], w: [40, 40, 3, 3], p: P(1, 0) },
  { x: [4, 6, 17, 15], w: [10, 3, 3, 3], p: P(2, 1, 2) },
  { x: [3, 5, 9, 9], w: [7, 5, 1, 1], p: P(1, 0) },
];

describe('weight gradient orientation', () => {
  for (const threads of [1, 2]) {
    it(`gy · colsᵀ and cols · gyᵀ give the same bits (${threads} thread${threads > 1 ? 's' : ''})`, async () => {
      await useThreads(threads);
      for (const [ci, c] of CASES.entries()) {
        const r = rng(40 + ci);
        const [N, , H, W] = c.x, [O, , KH, KW] = c.w;
        const OH = Math.floor((H + 2 * c.p.padding[0] - KH) / c.p.stride[0]) + 1, OW = Math.floor((W + 2 * c.p.padding[1] - KW) / c.p.stride[1]) + 1;
        const x = Float32Array.from({ length: c.x.reduce((a, b) => a * b) }, () => r() * 2 - 1);
        const gy = Float32Array.from({ length: N * O * OH * OW }, () => r() * 2 - 1);
        x[3] = -0; gy[5] = NaN; gy[9] = Infinity;
        const run = (o: 'normal' | 'transposed') => {
          setWeightGradOrientation(o);
          return conv2dGradWeightF32(x, c.x, gy, c.w, c.p)!;
        };
        const a = run('normal'), b = run('transposed');
        expect(Array.from(new Uint32Array(a.buffer)), `case ${ci}`).toEqual(Array.from(new Uint32Array(b.buffer)));
        // Not all NaN: the comparison has values to compare (the NaN reaches the taps that touch it).
        expect(a.some((v) => Number.isFinite(v) && v !== 0), `case ${ci}`).toBe(true);
      }
      setWeightGradOrientation('auto');
    });
  }
});
