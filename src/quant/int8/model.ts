/**
 * The integer-only model description that `convert()` produces and `Int8Model` executes.
 *
 * A model is a straight chain of layers over one activation tensor, NCHW and batch-major. Between
 * the first layer (`quantize`, float -> levels) and the last (`dequantize`, levels -> float32)
 * every value is an integer level and every operation is integer arithmetic (Jacob et al. 2018,
 * "Quantization and Training of Neural Networks for Efficient Integer-Arithmetic-Only Inference",
 * §2.2-2.4; the TFLite 8-bit quantization spec, https://www.tensorflow.org/lite/performance/quantization_spec):
 *
 *   quantize     q = clamp(zeroPoint + round(float32(x * float32(1 / scale))), qmin, qmax)
 *                (the reference `quantize` of src/quant/numerics, with the named rounding; default halfEven)
 *   conv2d /     acc[o] = bias[o] + Σ_k (x_q[k] - inZeroPoint) · (w_q[o, k] - weightZeroPoint[o])   exact int32
 *   linear       y_q[o] = clamp(outZeroPoint + multiplyByQuantizedMultiplier(acc[o], multiplier[o], shift[o]), qmin, qmax)
 *                Jacob eq. 7 with the zero-point terms left inside the sum; padded conv inputs equal
 *                inZeroPoint, so they contribute exactly 0. bias is int32 with scale s_in·s_w[o] and
 *                zero point 0 (TFLite spec: "int32 bias, scale = input_scale * weight_scale[o]");
 *                (multiplier[o], shift[o]) = quantizeMultiplier(s_in·s_w[o] / s_out). A fused ReLU is
 *                qmin = max(qmin, outZeroPoint) (TFLite's activation_min), ReLU6 likewise lowers qmax.
 *   maxpool2d    max over the window of the levels. Dequantization is increasing, so this equals
 *                dequantize -> float max pool -> quantize; padding never wins.
 *   relu         max(q, zeroPoint): a standalone ReLU on levels (real 0 is exactly the zero point).
 *   flatten      [C, H, W] -> [C·H·W] per example; a no-op on the data.
 *   dequantize   x' = float32((q - zeroPoint) · scale)   (Jacob eq. 1)
 *
 * Float segments (float-layers.ts) relax "first" and "last": the input and output are float, a
 * quantize may follow any float output and a dequantize may end any run of levels, and between
 * them run layers on float activations: dynamicLinear (dynamic.ts: int8 weights, activations
 * quantized at run time, int32 GEMM, float output) and weightOnlyLinear / weightOnlyConv2d
 * (weight-only.ts: int8/int4 weights per channel or per group, float activations); relu (zero
 * point 0), maxpool2d and flatten also run on float values.
 *
 * Every array is plain data, so a spec can be built by hand, by convert(), or by the file reader,
 * and `Int8Model` validates all of it before running anything.
 */
import type { JsonObject } from '../../io/container.js';
import type { Rounding } from '../numerics/index.js';
import type { DynamicLinearLayer } from './dynamic.js';
import type { WeightOnlyConv2dLayer, WeightOnlyLinearLayer } from './weight-only.js';

/** Float -> integer levels: the first layer, or after a layer with float output (float-layers.ts). */
export interface QuantizeLayer {
  kind: 'quantize';
  scale: number;
  zeroPoint: number;
  qmin: number;
  qmax: number;
  /** Tie rule of round(); default 'halfEven' (PyTorch). TFLite's reference uses 'halfAwayFromZero'. */
  rounding?: Rounding;
}

/** Fields conv2d and linear share: quantized weights, int32 bias and the fixed-point output stage. */
export interface WeightedLayerFields {
  /** Weight levels, row-major in `weightShape` ([O, ...] with the output channel first). */
  weight: Int8Array | Int32Array;
  /** The declared range of the weight levels (e.g. -127..127 for TFLite's narrow int8 weights). */
  weightQmin: number;
  weightQmax: number;
  /** One zero point per output channel; all 0 for symmetric weights. */
  weightZeroPoint: Int32Array;
  /** int32 bias per output channel, scale s_in·s_w[o], zero point 0; null for none. */
  bias: Int32Array | null;
  /** Zero point of the input levels; must equal the zero point the previous layers produce. */
  inZeroPoint: number;
  outZeroPoint: number;
  /** Per output channel: quantizeMultiplier(s_in·s_w[o] / s_out). multiplier 0 or in [2^30, 2^31). */
  multiplier: Int32Array;
  /** Per output channel, in [-31, 30]; the real multiplier is multiplier · 2^(shift - 31). */
  shift: Int32Array;
  /** Output clamp, outZeroPoint within it. */
  qmin: number;
  qmax: number;
  /** s_out, informational (describe(), debugging); the integer path never reads it. */
  outScale?: number;
  /**
   * 'pow2': every weight level is 0 or ±2^k and weightZeroPoint is 0 (pow2.ts); the engine then
   * computes each product as a shift (pow2-shift.ts), with results identical to the int8 GEMM's.
   */
  weightCode?: 'pow2';
}

export interface Conv2dLayer extends WeightedLayerFields {
  kind: 'conv2d';
  /** [O, C_in / groups, KH, KW], PyTorch's layout. */
  weightShape: [number, number, number, number];
  stride: [number, number];
  padding: [number, number];
  dilation: [number, number];
  groups: number;
}

export interface LinearLayer extends WeightedLayerFields {
  kind: 'linear';
  /** [O, I], PyTorch's layout. The input must be rank 1 per example (put a flatten before). */
  weightShape: [number, number];
}

export interface MaxPool2dLayer {
  kind: 'maxpool2d';
  kernel: [number, number];
  stride: [number, number];
  padding: [number, number];
  /** Default [1, 1]. */
  dilation?: [number, number];
}

export interface ReluLayer {
  kind: 'relu';
  /** Must equal the zero point of the input levels. */
  zeroPoint: number;
}

export interface FlattenLayer {
  kind: 'flatten';
}

/** Levels -> float32: the last layer, or before a float segment (float-layers.ts). */
export interface DequantizeLayer {
  kind: 'dequantize';
  scale: number;
  zeroPoint: number;
}

export type Int8Layer =
  | QuantizeLayer
  | Conv2dLayer
  | LinearLayer
  | MaxPool2dLayer
  | ReluLayer
  | FlattenLayer
  | DequantizeLayer
  // Float segments (float-layers.ts): float in, float out.
  | DynamicLinearLayer
  | WeightOnlyLinearLayer
  | WeightOnlyConv2dLayer;

export type Int8LayerKind = Int8Layer['kind'];

export interface Int8ModelSpec {
  /** Shape of one example, without the batch dimension, e.g. [1, 28, 28]. */
  inputShape: number[];
  layers: Int8Layer[];
  /** Free-form provenance (bits, scheme, source checkpoint, accuracy, ...); stored in the file as is. */
  meta?: JsonObject;
}
