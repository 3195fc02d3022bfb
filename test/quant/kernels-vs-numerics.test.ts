/**
 * The quantize formula has one definition, src/quant/numerics/affine.ts (quantize, dequantize,
 * fakeQuantize). Every backend's kernels (Backend.quantize / dequantize / fakeQuantize) are
 * tested against it here bit for bit: random inputs with many exact ties k + 0.5 (x = (k + 0.5) *
 * scale with scale a power of two), both tie rules, per tensor and per channel.
 */
import { describe, expect, it } from 'vitest';
import { dequantize, fakeQuantize, quantize } from '../../src/quant/numerics/index.js';
import { getBackend, type QuantKernelParams, type Rounding } from '../../src/tensor/index.js';
import type { TypedArray } from '../../src/tensor/dtype.js';
import { mulberry32 } from '../helpers/rng.js';

const rng = mulberry32;

const bits = (a: ArrayLike<number>) => Array.from(new Uint32Array(Float32Array.from(a).buffer));

for (const device of ['cpu', 'wasm']) {
  describe(`${device} backend quantization kernels`, () => {
    for (const rounding of ['halfEven', 'halfAwayFromZero'] as Rounding[]) {
      it(`agree bit for bit with src/quant/numerics (${rounding}, per tensor and per channel)`, () => {
        const b = getBackend(device);
        const r = rng(rounding === 'halfEven' ? 1 : 2);
        const outer = 3, channels = 4, inner = 50, n = outer * channels * inner;
        const scale = Float32Array.from({ length: channels }, (_, c) => 2 ** -(c + 2));
        const zeroPoint = Int32Array.from({ length: channels }, (_, c) => c * 3 - 5);
        const x = new Float32Array(n);
        let ties = 0;
        for (let i = 0; i < n; i++) {
          const c = Math.floor(i / inner) % channels;
          if (r() < 0.5) {
            x[i] = (Math.floor(r() * 300) - 150 + 0.5) * scale[c]; // an exact tie
            ties++;
          } else x[i] = (r() * 2 - 1) * 200 * scale[c];
        }
        expect(ties).toBeGreaterThan(n / 4);
        const q: QuantKernelParams = { scale, zeroPoint, qmin: -128, qmax: 127, outer, channels, inner, rounding };
        const xb = b.upload(x);
        const levels = b.read({ buffer: b.quantize(xb, q), shape: [n], strides: [1], offset: 0 }) as TypedArray;
        const fq = b.fakeQuantize(xb, q);
        const y = b.read({ buffer: fq.y, shape: [n], strides: [1], offset: 0 });
        const mask = b.read({ buffer: fq.mask, shape: [n], strides: [1], offset: 0 });
        const deq = b.read({ buffer: b.dequantize(b.upload(Int32Array.from(levels)), q), shape: [n], strides: [1], offset: 0 });
        // The reference, one channel's slice at a time (per-tensor parameters for each slice).
        for (let o = 0; o < outer; o++) {
          for (let c = 0; c < channels; c++) {
            const s = (o * channels + c) * inner, e = s + inner;
            const p = { scale: scale[c], zeroPoint: zeroPoint[c], qmin: -128, qmax: 127, rounding };
            const want = quantize(x.subarray(s, e), p);
            expect(Array.from(levels.subarray(s, e)), `quantize ${o},${c}`).toEqual(Array.from(want));
            expect(bits(deq.subarray(s, e)), `dequantize ${o},${c}`).toEqual(bits(dequantize(want, p)));
            const f = fakeQuantize(x.subarray(s, e), p);
            expect(bits(y.subarray(s, e)), `fakeQuantize ${o},${c}`).toEqual(bits(f.y));
            expect(Array.from(mask.subarray(s, e), (v) => v === 1), `mask ${o},${c}`).toEqual(Array.from(f.mask, (v) => v === 1));
          }
        }
      });
    }
  });
}
