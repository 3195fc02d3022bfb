/**
 * Public surface of quant: the pure reference numerics, the FakeQuantize autograd Function (STE)
 * and its learnable (LSQ) variant, observers, the FakeQuantize module, QAT modules, BN folding,
 * PTQ calibration, and conversion to an integer-only model.
 */
export * from './numerics/index.js';
export { FakeQuantizeFunction, fakeQuantizeTensor, quantizeTensor, dequantizeTensor, type FakeQuantizeArgs } from './fake-quantize.js';
export { LearnableFakeQuantizeFunction } from './lsq.js';
export {
  Observer, MinMaxObserver, MovingAverageMinMaxObserver, PerChannelMinMaxObserver, MovingAveragePerChannelMinMaxObserver, HistogramObserver, CALIBRATION_METHODS,
  type CalibrationMethod, type ObservedQParams, type QuantRange, type HistogramObserverOptions,
} from './observer.js';
export { FakeQuantize, makeObserver, OBSERVER_KINDS, type FakeQuantConfig, type ObserverKind } from './fake-quantize-module.js';
export { qconfig, type LayerQConfig, type QConfigOptions, type QatConfig } from './qat/config.js';
export { QuantStub, QConv2d, QLinear, QConvBn2d } from './qat/modules.js';
export { prepareQAT, fakeQuantizers, setQuantState, freezeBn } from './qat/prepare.js';
export { foldBatchNorm, fuseConvBn, fuseConvBnGraph } from './qat/fold.js';
export { calibrate } from './qat/calibrate.js';
export { convert } from './qat/convert.js';
export * from './int8/index.js';
export * from './export/index.js';
export { prepareQATGraph, prepareModuleQAT, quantizerOf, type PrepareOptions } from './qat/graph-prepare.js';
export { QFunctional, QAvgPool, type QuantizedFunction, type AvgPoolSpec } from './qat/functional-modules.js';
export { convertGraph, type ConvertGraphOptions } from './qat/graph-convert.js';
export * from './mixed-precision/index.js';
export { quantizeDynamic, dynamicLinear, type DynamicOptions } from './ptq/dynamic.js';
export { quantizeWeightOnly, weightOnlyLinear, weightOnlyConv, weightRange, type WeightOnlyOptions } from './ptq/weight-only.js';
