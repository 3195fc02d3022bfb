/**
 * Dynamic activation quantization: the scale and zero point are measured from the values being
 * quantized, at run time, instead of calibrated ahead of time.
 *
 * The formulas are ONNX's DynamicQuantizeLinear (opset 11, https://onnx.ai/onnx/operators/onnx__DynamicQuantizeLinear.html),
 * whose function body computes, in float32:
 *
 *   x_min' = min(0, min(x)),  x_max' = max(0, max(x))          (the range always includes 0)
 *   y_scale = (x_max' - x_min') / (qmax - qmin)                 (Div by the float constant 255 for uint8)
 *   y_zero_point = round(clip(qmin - x_min' / y_scale, qmin, qmax))   (Clip, then Round: ties to even)
 *   y = saturate(round(x / y_scale) + y_zero_point)             (QuantizeLinear: a true division, ties to even)
 *
 * ONNX defines it for uint8 ([0, 255]) only. The int8 variant here uses the same formula over
 * [-128, 127], as DirectML's DML_DYNAMIC_QUANTIZE_LINEAR does ("For int8 output, Min = -128, Max = 127").
 *
 * Two degenerate inputs the spec leaves undefined (it would divide 0 by 0):
 *   - all values 0 (range 0): scale 1, zero point qmin (the limit of the formula); every x = 0
 *     then quantizes to the zero point and dequantizes to exactly 0;
 *   - a range so small that range / 255 underflows below the smallest normal float32 (2^-126):
 *     the scale is raised to 2^-126 so that x / scale stays finite.
 */
import { fround } from './float32.js';
import { roundHalfEven } from './rounding.js';

/** Activation level ranges of dynamic quantization. */
export const DYNAMIC_ACTIVATION_RANGES = {
  uint8: { qmin: 0, qmax: 255 },
  int8: { qmin: -128, qmax: 127 },
} as const;
export type DynamicActivationType = keyof typeof DYNAMIC_ACTIVATION_RANGES;

/** The smallest normal float32: the floor of a dynamic scale (see the file comment). */
const MIN_NORMAL_FLOAT32 = 2 ** -126;

/**
 * DynamicQuantizeLinear's (y_scale, y_zero_point) for values whose minimum and maximum are
 * `min` and `max` (float32). The scale is a float32; the zero point an integer in [qmin, qmax].
 */
export function dynamicQParams(min: number, max: number, qmin: number, qmax: number): { scale: number; zeroPoint: number } {
  if (!(min <= max) || !Number.isFinite(min) || !Number.isFinite(max)) {
    throw new Error(`dynamicQParams: needs finite min <= max, got min=${min}, max=${max} (NaN or infinite activations cannot be quantized)`);
  }
  const lo = Math.min(fround(min), 0);
  const hi = Math.max(fround(max), 0);
  const range = fround(hi - lo);
  if (range === 0) return { scale: 1, zeroPoint: qmin };
  const scale = Math.max(fround(range / (qmax - qmin)), MIN_NORMAL_FLOAT32);
  const zeroPointFloat = fround(qmin - fround(lo / scale));
  const clipped = Math.min(Math.max(zeroPointFloat, qmin), qmax);
  return { scale, zeroPoint: roundHalfEven(clipped) };
}

/** QuantizeLinear of one value: saturate(round(float32(x / scale)) + zeroPoint), ties to even. */
export function quantizeLinearValue(x: number, scale: number, zeroPoint: number, qmin: number, qmax: number): number {
  const q = roundHalfEven(fround(fround(x) / scale)) + zeroPoint;
  return q < qmin ? qmin : q > qmax ? qmax : q;
}

/**
 * DynamicQuantizeLinear on a whole tensor (one scale and zero point for all of x), as the ONNX
 * operator: returns the levels and the parameters measured.
 */
export function dynamicQuantizeLinear(
  x: ArrayLike<number>, type: DynamicActivationType = 'uint8',
): { levels: Int32Array; scale: number; zeroPoint: number } {
  const { qmin, qmax } = DYNAMIC_ACTIVATION_RANGES[type];
  let min = Infinity, max = -Infinity;
  for (let i = 0; i < x.length; i++) {
    const v = x[i];
    if (v < min) min = v;
    if (v > max) max = v;
    if (v !== v) min = max = NaN;
  }
  if (x.length === 0) min = max = 0;
  const { scale, zeroPoint } = dynamicQParams(min, max, qmin, qmax);
  const levels = new Int32Array(x.length);
  for (let i = 0; i < x.length; i++) levels[i] = quantizeLinearValue(x[i], scale, zeroPoint, qmin, qmax);
  return { levels, scale, zeroPoint };
}
