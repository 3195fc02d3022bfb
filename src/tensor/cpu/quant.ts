/**
 * Affine quantization kernels for the cpu backend, computed exactly as PyTorch 1.13's CPU
 * fake_quantize_per_tensor_affine_cachemask does: level = zp + round(float32(x * float32(1/scale))),
 * y = float32((clamp(level, qmin, qmax) - zp) * scale), mask = qmin <= level <= qmax.
 * Tested, not generated: src/quant/numerics/affine.ts holds the one definition of the formula
 * (quantize, dequantize, fakeQuantize), and test/quant/kernels-vs-numerics.test.ts checks these
 * kernels against it bit for bit on every backend (ties, both roundings, per channel). The tie
 * rules are the shared ones of ../rounding.ts. Parameters and NaN input are refused as the
 * reference refuses them (../quant-check.ts).
 */
import type { QuantKernelParams } from '../backend.js';
import { rounderFor } from '../rounding.js';
import type { TypedArray } from '../dtype.js';
import { checkNoNaN, checkQuantKernelParams } from '../quant-check.js';

const fround = Math.fround;

export function fakeQuantizeKernel(x: TypedArray, q: QuantKernelParams): { y: Float32Array; mask: Float32Array } {
  checkQuantKernelParams(q, 'fakeQuantize');
  checkNoNaN(x, 'fakeQuantize');
  const y = new Float32Array(x.length);
  const mask = new Float32Array(x.length);
  const round = rounderFor(q.rounding);
  const { outer, channels, inner, qmin, qmax } = q;
  let i = 0;
  for (let o = 0; o < outer; o++) {
    for (let c = 0; c < channels; c++) {
      const scale = q.scale[c], zp = q.zeroPoint[c];
      const inv = fround(1 / scale);
      for (let t = 0; t < inner; t++, i++) {
        const level = zp + round(fround(x[i] * inv));
        const clamped = level < qmin ? qmin : level > qmax ? qmax : level;
        y[i] = (clamped - zp) * scale;
        mask[i] = level >= qmin && level <= qmax ? 1 : 0;
      }
    }
  }
  return { y, mask };
}

export function quantizeKernel(x: TypedArray, q: QuantKernelParams): Int32Array {
  checkQuantKernelParams(q, 'quantize');
  checkNoNaN(x, 'quantize');
  const out = new Int32Array(x.length);
  const round = rounderFor(q.rounding);
  const { outer, channels, inner, qmin, qmax } = q;
  let i = 0;
  for (let o = 0; o < outer; o++) {
    for (let c = 0; c < channels; c++) {
      const zp = q.zeroPoint[c];
      const inv = fround(1 / q.scale[c]);
      for (let t = 0; t < inner; t++, i++) {
        const level = zp + round(fround(x[i] * inv));
        out[i] = level < qmin ? qmin : level > qmax ? qmax : level;
      }
    }
  }
  return out;
}

export function dequantizeKernel(levels: TypedArray, q: QuantKernelParams): Float32Array {
  checkQuantKernelParams(q, 'dequantize');
  const out = new Float32Array(levels.length);
  const { outer, channels, inner } = q;
  let i = 0;
  for (let o = 0; o < outer; o++) {
    for (let c = 0; c < channels; c++) {
      const scale = q.scale[c], zp = q.zeroPoint[c];
      for (let t = 0; t < inner; t++, i++) out[i] = (levels[i] - zp) * scale;
    }
  }
  return out;
}
