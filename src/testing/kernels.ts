/**
 * What an implementation under test declares: the convention and tie rule it claims, and the
 * kernels it provides. Every kernel is optional; the kit runs the suites of the ones present.
 * Kernels take a batch (a kernel author's GPU/WASM kernel is usually called on arrays) and return
 * any array-like of numbers. Parameters are qgrad's (src/quant/numerics/qparams.ts): scale is read
 * as float32, zeroPoint is an integer level, and `rounding` is set to the claimed tie rule.
 */
import type { AnyQParams, Int8ArithMode, QParams, Rounding } from '../quant/numerics/index.js';
import type { Convention } from './convention.js';

export interface Int8ArithKernel {
  /** 'float': the seed formula in float64 with the claimed tie rule; 'fixedPoint': TFLite's int8 kernel. */
  mode: Int8ArithMode;
  run(qa: Int32Array, a: QParams, qb: Int32Array, b: QParams, out: QParams): ArrayLike<number>;
}

export interface KernelsUnderTest {
  /** Shown in reports. */
  name: string;
  convention: Convention;
  /** Tie rule of round(x / scale) (and of int8 add / mul in mode 'float'); default: the convention's. */
  rounding?: Rounding;
  /** Bit widths the kernels support (default 1..16). */
  bits?: readonly number[];
  /** Whether quantize / dequantize / fakeQuantize accept per-channel qparams (QParamsPerChannel). */
  perChannel?: boolean;
  quantize?(x: Float32Array, p: AnyQParams): ArrayLike<number>;
  dequantize?(q: Int32Array, p: AnyQParams): ArrayLike<number>;
  /** y = dequantize(clamp(level)) and the straight-through-estimator mask (1 = gradient passes). */
  fakeQuantize?(x: Float32Array, p: AnyQParams): { y: ArrayLike<number>; mask: ArrayLike<number> };
  /** TFLite's MultiplyByQuantizedMultiplier applied to each accumulator. */
  multiplyByQuantizedMultiplier?(acc: Int32Array, multiplier: number, shift: number): ArrayLike<number>;
  /** clamp(MultiplyByQuantizedMultiplier(acc) + zeroPoint, qmin, qmax) for each accumulator. */
  requantize?(acc: Int32Array, multiplier: number, shift: number, zeroPoint: number, qmin: number, qmax: number): ArrayLike<number>;
  int8Add?: Int8ArithKernel;
  int8Mul?: Int8ArithKernel;
}
