/**
 * The two conventions an implementation may claim, and the reference it is held to under each.
 *
 * 'pytorch' (fake_quantize_per_{tensor,channel}_affine, quantize_per_tensor; PyTorch 1.13 CPU):
 *     level = zp + round(float32(x * float32(1 / scale))),  ties to even by default
 *     fakeQuantize(x) = float32((clamp(level) - zp) * scale)
 *     mask = [qmin <= level <= qmax]                         (tested on the rounded level)
 *   The reference is qgrad's own src/quant/numerics, which the PyTorch fixtures pin bit for bit.
 *
 * 'tflite' (TFLite reference_ops: AffineQuantize in quantize.h, FakeQuant in fake_quant.h;
 * TensorFlow's FakeQuantWithMinMaxVarsGradient for the mask):
 *     level = zp + round(float32(x / scale)),                 ties away from zero by default (TfLiteRound)
 *     fakeQuantize: lo = float32((qmin - zp) * scale), hi = float32((qmax - zp) * scale),
 *       y = float32(float32(round(float32(float32(clamp(x, lo, hi) - lo) * float32(1 / scale))) * scale) + lo)
 *     mask = [lo <= x <= hi]                                   (tested on the float input)
 *   qgrad's qparams are already "nudged" (zp is an integer level), so TensorFlow's nudging step
 *   leaves lo and hi as written.
 *
 * Dequantize is float32((q - zp) * scale) in both.
 */
import {
  dequantize as refDequantize,
  fakeQuantize as refFakeQuantize,
  isPerChannel,
  quantize as refQuantize,
  roundWith,
  type AnyQParams,
  type FakeQuantizeResult,
  type Rounding,
} from '../quant/numerics/index.js';

export type Convention = 'pytorch' | 'tflite';

export const CONVENTIONS: readonly Convention[] = ['pytorch', 'tflite'];

/** The tie rule a convention uses unless the implementation names another. */
export function defaultRounding(convention: Convention): Rounding {
  return convention === 'pytorch' ? 'halfEven' : 'halfAwayFromZero';
}

const fround = Math.fround;

/** Calls f(i, scale, zeroPoint) for every element with its channel's parameters. */
function eachElement(n: number, p: AnyQParams, f: (i: number, scale: number, zp: number) => void): void {
  if (!isPerChannel(p)) {
    for (let i = 0; i < n; i++) f(i, fround(p.scale), p.zeroPoint);
    return;
  }
  const inner = p.shape.slice(p.axis + 1).reduce((a, b) => a * b, 1);
  const channels = p.shape[p.axis];
  for (let i = 0; i < n; i++) {
    const c = Math.floor(i / inner) % channels;
    f(i, fround(p.scale[c]), p.zeroPoint[c]);
  }
}

/** The reference ops of one convention with one tie rule. */
export interface Reference {
  convention: Convention;
  rounding: Rounding;
  quantize(x: ArrayLike<number>, p: AnyQParams): Int32Array;
  dequantize(q: ArrayLike<number>, p: AnyQParams): Float32Array;
  fakeQuantize(x: ArrayLike<number>, p: AnyQParams): FakeQuantizeResult;
}

export function reference(convention: Convention, rounding: Rounding = defaultRounding(convention)): Reference {
  if (convention === 'pytorch') {
    return {
      convention,
      rounding,
      quantize: (x, p) => refQuantize(x, { ...p, rounding }),
      dequantize: (q, p) => refDequantize(q, { ...p, rounding }),
      fakeQuantize: (x, p) => refFakeQuantize(x, { ...p, rounding }),
    };
  }
  const tfQuantize = (x: ArrayLike<number>, p: AnyQParams): Int32Array => {
    // Validation (range, scales, NaN) is the same as PyTorch's; borrow it from the reference.
    refQuantize(x, { ...p, rounding });
    const out = new Int32Array(x.length);
    eachElement(x.length, p, (i, s, zp) => {
      const level = zp + roundWith(fround(fround(x[i]) / s), rounding);
      out[i] = Math.min(p.qmax, Math.max(p.qmin, level));
    });
    return out;
  };
  const tfFakeQuantize = (x: ArrayLike<number>, p: AnyQParams): FakeQuantizeResult => {
    refQuantize(x, { ...p, rounding });
    const y = new Float32Array(x.length);
    const mask = new Uint8Array(x.length);
    eachElement(x.length, p, (i, s, zp) => {
      const lo = fround((p.qmin - zp) * s);
      const hi = fround((p.qmax - zp) * s);
      const inv = fround(1 / s);
      const xi = fround(x[i]);
      const clamped = xi < lo ? lo : xi > hi ? hi : xi;
      const shifted = fround(clamped - lo);
      y[i] = fround(fround(roundWith(fround(shifted * inv), rounding) * s) + lo);
      mask[i] = xi >= lo && xi <= hi ? 1 : 0;
    });
    return { y, mask };
  };
  return {
    convention,
    rounding,
    quantize: tfQuantize,
    dequantize: (q, p) => refDequantize(q, { ...p, rounding }),
    fakeQuantize: tfFakeQuantize,
  };
}
