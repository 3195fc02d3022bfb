/**
 * qgrad's reference quantization numerics: pure functions over numbers and typed arrays, no tensors.
 * Tensor-level ops and backend kernels must agree with these exactly; docs/quantization.md walks
 * through the formulas.
 */
export { qrange, MIN_BITS, MAX_BITS, type QRange, type QRangeOptions } from './qrange.js';
export {
  roundHalfEven,
  roundHalfAwayFromZero,
  roundWith,
  DEFAULT_ROUNDING,
  type Rounding,
} from './rounding.js';
export { FLOAT32_EPS, float32Bits, float32FromBits } from './float32.js';
export {
  computeQParams,
  computeQParamsPerChannel,
  isPerChannel,
  type AnyQParams,
  type ComputeQParamsOptions,
  type QParams,
  type QParamsPerChannel,
  type QScheme,
  type ScaleZeroPoint,
} from './qparams.js';
export { quantize, dequantize, fakeQuantize, type FakeQuantizeResult } from './affine.js';
export {
  quantizeMultiplier,
  saturatingRoundingDoublingHighMul,
  roundingDivideByPOT,
  multiplyByQuantizedMultiplier,
  type QuantizedMultiplier,
} from './fixed-point.js';
export {
  saturatingRoundingDoublingHighMulBigInt,
  roundingDivideByPOTBigInt,
  multiplyByQuantizedMultiplierBigInt,
} from './fixed-point-bigint.js';
export { requantize, type ChannelAxis } from './requantize.js';
export {
  int8Add,
  int8Mul,
  addFixedPointParams,
  mulFixedPointParams,
  ADD_LEFT_SHIFT,
  type Int8ArithMode,
  type Int8ArithOptions,
  type AddFixedPointParams,
  type MulFixedPointParams,
} from './int8-arith.js';
export { minMaxRange, percentileRange, type FloatRange } from './calibration.js';
export { buildHistogram, buildAbsHistogram, mergeHistograms, binCenter, type Histogram } from './histogram.js';
export { mseRange, mseErrors, type MseRangeOptions, type MseRangeResult } from './mse-range.js';
export { klRange, klDivergences, type KlRangeResult } from './kl-range.js';
export { dynamicQParams, dynamicQuantizeLinear, quantizeLinearValue, DYNAMIC_ACTIVATION_RANGES, type DynamicActivationType } from './dynamic-range.js';
export { computeGroupQParams, quantizeGroups, dequantizeGroups, groupCount, type GroupQParams } from './group.js';
