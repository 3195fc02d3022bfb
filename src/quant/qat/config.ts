/**
 * What to quantize and how, per layer (PyTorch's QConfig): a FakeQuantConfig for weights and one
 * for activations. Defaults follow current practice for int8 (PyTorch's fbgemm QAT qconfig and
 * TFLite's spec): weights signed, symmetric, per output channel; activations unsigned, affine,
 * per tensor, ranges tracked by a moving average. Anything can be overridden per layer, which is
 * how mixed precision is expressed.
 */
import type { FakeQuantConfig, ObserverKind } from '../fake-quantize-module.js';
import type { CalibrationMethod } from '../observer.js';
import type { QScheme, Rounding } from '../numerics/index.js';

export interface LayerQConfig {
  weight: FakeQuantConfig;
  activation: FakeQuantConfig;
  /** Simulate int32 bias quantization (scale s_in·s_w, zero point 0) so fake-quant matches the integer model. */
  quantizeBias: boolean;
}

export interface QConfigOptions {
  bits?: number;
  weightBits?: number;
  activationBits?: number;
  weightScheme?: QScheme;
  activationScheme?: QScheme;
  perChannel?: boolean;
  activationObserver?: ObserverKind;
  calibration?: CalibrationMethod;
  averagingConstant?: number;
  rounding?: Rounding;
  learnable?: boolean;
  quantizeBias?: boolean;
}

export function qconfig(o: QConfigOptions = {}): LayerQConfig {
  const bits = o.bits ?? 8;
  const rounding = o.rounding ?? 'halfEven';
  return {
    weight: {
      bits: o.weightBits ?? bits,
      signed: true,
      scheme: o.weightScheme ?? 'symmetric',
      channelAxis: o.perChannel === false ? null : 0,
      // averaging constant 1: the range of the current weights, recomputed every step.
      observer: 'movingAverage',
      averagingConstant: 1,
      rounding,
    },
    activation: {
      bits: o.activationBits ?? bits,
      signed: false,
      scheme: o.activationScheme ?? 'affine',
      channelAxis: null,
      observer: o.activationObserver ?? 'movingAverage',
      averagingConstant: o.averagingConstant ?? 0.01,
      calibration: o.calibration,
      rounding,
      learnable: o.learnable,
    },
    quantizeBias: o.quantizeBias ?? true,
  };
}

export interface QatConfig {
  /** Applied to every layer without an override. */
  default: LayerQConfig;
  /** The input quantizer's config (its activation part); default: the default's. */
  input?: LayerQConfig;
  /** Overrides by layer name (the child's name in the Sequential, e.g. '0', '3'). */
  layers?: Record<string, LayerQConfig>;
}
