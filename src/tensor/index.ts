/** Public surface of the tensor layer. */
export { Tensor, type NestedArray, type GradNode } from './tensor.js';
export type { DType, TypedArray } from './dtype.js';
export {
  registerBackend, getBackend, registeredBackends, setDefaultDevice, getDefaultDevice,
  type Backend, type DeviceBuffer, type View, type UnaryOp, type BinaryOp, type ReduceOp,
  type Conv2dParams, type Pool2dParams, type QuantKernelParams, type Rounding, type Device, type ScalarOrder,
} from './backend.js';
export { tensor, fromArray, zeros, ones, full, zerosLike, onesLike, arange, rand, randn, randint, type TensorOptions } from './creation.js';
export { Generator, manualSeed, globalGenerator } from './random.js';
export { tidy } from './scope.js';
export { broadcastShapes, numel, shapeStr, contiguousStrides } from './shape.js';
export * as raw from './raw.js';
import './devices.js';
export { chooseDefaultDevice } from './devices.js';
export { convOutSize } from './shape.js';
