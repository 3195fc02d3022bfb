/**
 * What to quantize and how, per layer (PyTorch's QConfig): a FakeQuantConfig for weights and one
 * for activations. Defaults follow current practice for int8 (PyTorch's fbgemm QAT qconfig and
 * TFLite's spec): weights signed, symmetric, per output channel; activations unsigned, affine,
 * per tensor, ranges tracked by a moving average. Anything can be overridden per layer, which is
 * how mixed precision is expressed.
 */
import { OBSERVER_KINDS, type FakeQuantConfig, type ObserverKind } from '../fake-quantize-module.js';
import { CALIBRATION_METHODS, type CalibrationMethod } from '../observer.js';
import type { QScheme, Rounding } from '../numerics/index.js';
import { WEIGHT_CODES, type WeightCodeKind } from '../coded-weight-quantize.js';

export interface LayerQConfig {
  weight: FakeQuantConfig;
  activation: FakeQuantConfig;
  /** Simulate int32 bias quantization (scale s_in·s_w, zero point 0) so fake-quant matches the integer model. */
  quantizeBias: boolean;
  /**
   * In evaluation, round each layer's output with the integer engine's fixed-point multiplier
   * (requant-sim.ts) instead of float; default true. Training always uses the float path.
   */
  simulateRequant?: boolean;
  /** Weights as a code instead of uniform levels: 'binary' (XNOR-Net α·sign) or 'ternary' (TWN); see coded-weight-quantize.ts. */
  weightCode?: WeightCodeKind;
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
  simulateRequant?: boolean;
  weightCode?: WeightCodeKind;
  /** Per-channel weight ranges: 'minmax' (default) or 'mse' (least squared weight error; mse-weight-observer.ts). */
  weightRange?: 'minmax' | 'mse';
}

const OPTION_CHOICES: Record<keyof QConfigOptions, readonly unknown[] | null> = {
  bits: null, weightBits: null, activationBits: null, perChannel: null, averagingConstant: null, learnable: null, quantizeBias: null, simulateRequant: null, weightCode: WEIGHT_CODES, weightRange: ['minmax', 'mse'],
  weightScheme: ['affine', 'symmetric'], activationScheme: ['affine', 'symmetric'],
  activationObserver: OBSERVER_KINDS, calibration: CALIBRATION_METHODS, rounding: ['halfEven', 'halfAwayFromZero'],
};

/**
 * Run-time check of the options (TypeScript's types are gone for JavaScript callers and JSON
 * configs): an unknown key (a misspelt `rounding` would silently mean halfEven) or a string
 * option outside its choices is an error naming the option and the allowed values. Numbers are
 * checked where they are used (qrange for bits, the observers for the averaging constant).
 */
function checkOptions(o: QConfigOptions): void {
  for (const [k, v] of Object.entries(o)) {
    if (!(k in OPTION_CHOICES)) throw new Error(`qconfig: unknown option '${k}'; known: ${Object.keys(OPTION_CHOICES).join(', ')}`);
    const choices = OPTION_CHOICES[k as keyof QConfigOptions];
    if (choices && v !== undefined && !choices.includes(v)) {
      throw new Error(`qconfig: ${k} must be one of ${choices.join(', ')}; got ${JSON.stringify(v)}`);
    }
  }
}

export function qconfig(o: QConfigOptions = {}): LayerQConfig {
  checkOptions(o);
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
      ...(o.weightRange !== undefined ? { rangeMethod: o.weightRange } : {}),
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
    simulateRequant: o.simulateRequant ?? true,
    ...(o.weightCode !== undefined ? { weightCode: o.weightCode } : {}),
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
