/**
 * Affine quantize / dequantize / fake-quantize, per tensor or per channel.
 *
 *     level(x) = zeroPoint + round(float32(x * float32(1 / scale)))      (unclamped)
 *     q(x)     = clamp(level(x), qmin, qmax)                             (quantize)
 *     x'(q)    = float32((q - zeroPoint) * scale)                        (dequantize)
 *     fakeQuantize(x) = x'(q(x)),   mask(x) = [qmin <= level(x) <= qmax]
 *
 * This is Jacob et al. 2018, eq. 1 (and the seed document 001's FakeQuant), written exactly as
 * PyTorch 1.13's CPU kernels compute it (fake_quantize_tensor_cachemask_kernel and
 * fake_quant_per_channel_cachemask_cpu in aten/src/ATen/native/quantized/cpu/kernels/QuantizedOpKernels.cpp):
 *   - scale is converted to float32, and x is multiplied by the float32 reciprocal inv = 1.0f / scale,
 *     with the product rounded to float32. It does NOT divide x by scale: near a tie the two differ
 *     by one level (e.g. scale = 0.00214854861f, x = 0.273939937f gives 127.5 times the reciprocal
 *     but 127.49999 divided). torch.quantize_per_tensor / quantize_per_channel use the same
 *     x * inv expression (measured on Debian's 1.13.1 build; see the fixtures), so quantize and
 *     fakeQuantize agree level for level.
 *   - round is std::nearbyint: ties to even. qgrad lets the caller name 'halfAwayFromZero' instead.
 *   - The dequantized value is (q - zeroPoint) * scale rounded to float32 (torch.dequantize agrees).
 *   - The straight-through-estimator mask is tested on the rounded but unclamped level, both ends
 *     inclusive (fake_quantize_per_tensor_affine_cachemask). TensorFlow instead tests the float input
 *     against the (nudged) float range [min, max]; the two differ for x within half a step outside
 *     the range, where PyTorch's mask is 1 (x still rounds to an edge level) and TensorFlow's is 0.
 *
 * Where qgrad departs from PyTorch 1.13 on purpose:
 *   - NaN in the input throws (PyTorch silently returns the qmin edge with mask 0).
 *   - |x / scale| >= 2^63 and +-Infinity saturate to the nearest edge with mask 0. PyTorch's
 *     static_cast<int64_t> of such a float overflows, and on x86 every one of them lands on qmin
 *     (fake_quantize(+1e30) returns the negative edge).
 * Inputs are read as float32 (PyTorch tensors are float32): x is rounded with Math.fround first.
 */
import { fround } from './float32.js';
import {
  type AnyQParams,
  type ChannelLayout,
  channelLayout,
  checkRange,
  checkScaleZeroPoint,
  isPerChannel,
} from './qparams.js';
import { DEFAULT_ROUNDING, rounderFor } from './rounding.js';

/** Per-channel float32 scale, reciprocal and zero point, validated, plus the layout to walk. */
interface Resolved {
  layout: ChannelLayout;
  scale: Float64Array; // float32 values
  inv: Float64Array; // float32(1 / scale)
  zeroPoint: Float64Array;
  qmin: number;
  qmax: number;
  round: (x: number) => number;
}

function resolve(p: AnyQParams, dataLength: number, who: string): Resolved {
  checkRange(p.qmin, p.qmax, who);
  const round = rounderFor(p.rounding ?? DEFAULT_ROUNDING);
  let scales: ArrayLike<number>;
  let zeroPoints: ArrayLike<number>;
  let layout: ChannelLayout;
  if (isPerChannel(p)) {
    layout = channelLayout(p.shape, p.axis, { scale: p.scale, zeroPoint: p.zeroPoint }, dataLength, who);
    scales = p.scale;
    zeroPoints = p.zeroPoint;
  } else {
    layout = { outer: 1, channels: 1, inner: dataLength, size: dataLength };
    scales = [p.scale];
    zeroPoints = [p.zeroPoint];
  }
  const n = scales.length;
  const scale = new Float64Array(n);
  const inv = new Float64Array(n);
  const zeroPoint = new Float64Array(n);
  for (let c = 0; c < n; c++) {
    const where = isPerChannel(p) ? `${who} (channel ${c})` : who;
    scale[c] = checkScaleZeroPoint(scales[c], zeroPoints[c], p.qmin, p.qmax, where);
    inv[c] = fround(1 / scale[c]);
    zeroPoint[c] = zeroPoints[c];
  }
  return { layout, scale, inv, zeroPoint, qmin: p.qmin, qmax: p.qmax, round };
}

function throwNaN(x: ArrayLike<number>, who: string): never {
  let count = 0;
  let first = -1;
  for (let i = 0; i < x.length; i++) {
    if (Number.isNaN(x[i])) {
      count++;
      if (first < 0) first = i;
    }
  }
  throw new Error(`${who}: input contains ${count} NaN value(s) (first at index ${first}); NaN has no quantization level`);
}

/** Quantize float data to integer levels in [qmin, qmax] (per tensor or per channel). */
export function quantize(x: ArrayLike<number>, p: AnyQParams): Int32Array {
  const r = resolve(p, x.length, 'quantize');
  const out = new Int32Array(x.length);
  const { outer, channels, inner } = r.layout;
  const { qmin, qmax, round } = r;
  let i = 0;
  for (let o = 0; o < outer; o++) {
    for (let c = 0; c < channels; c++) {
      const inv = r.inv[c];
      const zp = r.zeroPoint[c];
      for (let t = 0; t < inner; t++, i++) {
        const xi = x[i];
        if (xi !== xi) throwNaN(x, 'quantize');
        const level = zp + round(fround(fround(xi) * inv));
        out[i] = level < qmin ? qmin : level > qmax ? qmax : level;
      }
    }
  }
  return out;
}

/** Map integer levels back to float32 values, (q - zeroPoint) * scale. Levels must lie in [qmin, qmax]. */
export function dequantize(q: ArrayLike<number>, p: AnyQParams): Float32Array {
  const r = resolve(p, q.length, 'dequantize');
  const out = new Float32Array(q.length);
  const { outer, channels, inner } = r.layout;
  let i = 0;
  for (let o = 0; o < outer; o++) {
    for (let c = 0; c < channels; c++) {
      const scale = r.scale[c];
      const zp = r.zeroPoint[c];
      for (let t = 0; t < inner; t++, i++) {
        const qi = q[i];
        if (!Number.isInteger(qi) || qi < r.qmin || qi > r.qmax) {
          throw new Error(`dequantize: level at index ${i} must be an integer in [${r.qmin}, ${r.qmax}], got ${qi}`);
        }
        // (q - zp) is an exact integer below 2^25 and scale a float32, so the float64 product is
        // exact and the Float32Array store rounds it once, as PyTorch's float32 product does.
        out[i] = (qi - zp) * scale;
      }
    }
  }
  return out;
}

export interface FakeQuantizeResult {
  /** dequantize(quantize(x)), as float32. */
  y: Float32Array;
  /** Straight-through-estimator mask: 1 where qmin <= unclamped level <= qmax, else 0. */
  mask: Uint8Array;
}

/**
 * Quantize then dequantize (the forward of a FakeQuant node) and return the STE mask its backward
 * multiplies the incoming gradient by (PyTorch's fake_quantize_*_cachemask).
 */
export function fakeQuantize(x: ArrayLike<number>, p: AnyQParams): FakeQuantizeResult {
  const r = resolve(p, x.length, 'fakeQuantize');
  const y = new Float32Array(x.length);
  const mask = new Uint8Array(x.length);
  const { outer, channels, inner } = r.layout;
  const { qmin, qmax, round } = r;
  let i = 0;
  for (let o = 0; o < outer; o++) {
    for (let c = 0; c < channels; c++) {
      const inv = r.inv[c];
      const scale = r.scale[c];
      const zp = r.zeroPoint[c];
      for (let t = 0; t < inner; t++, i++) {
        const xi = x[i];
        if (xi !== xi) throwNaN(x, 'fakeQuantize');
        const level = zp + round(fround(fround(xi) * inv));
        if (level < qmin) {
          y[i] = (qmin - zp) * scale;
        } else if (level > qmax) {
          y[i] = (qmax - zp) * scale;
        } else {
          y[i] = (level - zp) * scale;
          mask[i] = 1;
        }
      }
    }
  }
  return { y, mask };
}

/**
 * One value through fake quantization, for callers that loop themselves (calibration searches).
 * `scale` and `inv` must already be float32 (inv = fround(1 / scale)). Not validated.
 * @internal
 */
export function fakeQuantizeValue(
  x: number,
  scale: number,
  inv: number,
  zeroPoint: number,
  qmin: number,
  qmax: number,
  round: (v: number) => number,
): number {
  const level = zeroPoint + round(fround(fround(x) * inv));
  const clamped = level < qmin ? qmin : level > qmax ? qmax : level;
  return fround((clamped - zeroPoint) * scale);
}
