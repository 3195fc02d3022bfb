/**
 * FakeQuantize as a custom autograd Function (the design card's requirement; PyTorch's
 * fake_quantize_per_tensor_affine / per_channel_affine, seed documents 001 and 004):
 *
 *   forward:  level = zp + round(x · (1/s)),  y = (clamp(level, qmin, qmax) − zp) · s
 *   backward: dx = dy where qmin ≤ level ≤ qmax, 0 elsewhere   (the straight-through estimator;
 *             selected, so an infinite dy outside the range is 0, not inf · 0 = NaN)
 *
 * The mask is PyTorch's: it tests the rounded, unclamped level with both ends inclusive (not the
 * float input against the range, as TensorFlow does). The backend kernel computes y and the mask
 * together; both agree bit for bit with src/quant/numerics (fakeQuantize), which the tests check.
 */
import type { Rounding } from '../tensor/backend.js';
import { full } from '../tensor/creation.js';
import * as raw from '../tensor/raw.js';
import { normAxis, shapeStr } from '../tensor/shape.js';
import { fromBuffer, Tensor } from '../tensor/tensor.js';
import { Context, Function } from '../autograd/function.js';
import { INT32_MAX, INT32_MIN } from './numerics/int-limits.js';
import { checkRange, checkScaleZeroPoint } from './numerics/qparams.js';

export interface FakeQuantizeArgs {
  scale: ArrayLike<number>;
  zeroPoint: ArrayLike<number>;
  qmin: number;
  qmax: number;
  /** Channel axis for per-channel parameters; null (or omitted) for per-tensor. */
  axis?: number | null;
  rounding?: Rounding;
}

/**
 * qmin < qmax, integers. The reference numerics (checkRange) allow [-2^24, 2^24]; the tensor ops
 * also take the int32 range, which QAT's simulated int32 biases need (qat/modules.ts), and refuse
 * anything wider (a qmax of 2^40 has no int32 level). See src/tensor/quant-check.ts.
 */
function checkTensorRange(qmin: number, qmax: number, who: string): void {
  if (Number.isInteger(qmin) && Number.isInteger(qmax) && qmin >= INT32_MIN && qmax <= INT32_MAX && qmin < qmax) return;
  // Not in the int32 range: word the error as the reference does where it applies.
  if (Number.isInteger(qmin) && Number.isInteger(qmax) && qmin < qmax) {
    throw new Error(`${who}: qmin and qmax must lie in the int32 range [-2^31, 2^31 - 1] (levels are int32; the reference numerics allow [-2^24, 2^24]), got ${qmin}..${qmax}`);
  }
  checkRange(qmin, qmax, who);
}

/**
 * Validates the range (checkTensorRange) and every (scale, zero point) as the reference numerics
 * do (checkScaleZeroPoint): the kernels use
 * float32(scale) and float32(1/scale), so a scale that is positive in float64 but 0, subnormal
 * with an overflowing reciprocal, or infinite in float32 would silently produce NaN.
 */
function checkQParams(a: FakeQuantizeArgs, ndim: number, who: string): { axis: number | null } {
  checkTensorRange(a.qmin, a.qmax, who);
  const axis = a.axis === undefined || a.axis === null ? null : normAxis(a.axis, ndim);
  for (let i = 0; i < a.scale.length; i++) {
    checkScaleZeroPoint(a.scale[i], a.zeroPoint[i], a.qmin, a.qmax, a.scale.length > 1 ? `${who} (channel ${i})` : who);
  }
  return { axis };
}

function checkArgs(x: Tensor, a: FakeQuantizeArgs): { axis: number | null } {
  const checked = checkQParams(a, x.ndim, 'fakeQuantize');
  if (x.dtype === 'int32') throw new Error(`fakeQuantize: input must be floating point, got ${x.dtype} (shape ${shapeStr(x.shape)})`);
  return checked;
}

export class FakeQuantizeFunction extends Function {
  static override forward(ctx: Context, x: Tensor, args: FakeQuantizeArgs): Tensor {
    const { axis } = checkArgs(x, args);
    const xc = raw.cast(raw.contiguous(x), 'float32');
    const q = raw.quantKernelParams(x.shape, args.scale, args.zeroPoint, args.qmin, args.qmax, axis, args.rounding ?? 'halfEven');
    const { y, mask } = x.backend.fakeQuantize(xc.buffer, q);
    ctx.saveForBackward(fromBuffer(x.backend, mask, x.shape));
    const out = fromBuffer(x.backend, y, x.shape);
    return x.dtype === 'float32' ? out : raw.cast(out, x.dtype);
  }
  static override backward(ctx: Context, g: Tensor) {
    const [mask] = ctx.savedTensors;
    // Select, not g * mask: an infinite or NaN upstream gradient is 0 where the mask is 0, as for
    // relu and clamp. A departure from PyTorch 1.13 on purpose: its fake_quantize backward is
    // grad * mask (measured: an infinite grad outside the range gives NaN there), which would let
    // one NaN reach the weights through a clamped element that has no influence on the output.
    return [straightThrough(mask, g), null];
  }
}

/**
 * The straight-through estimator's backward: g where the mask is set, 0 elsewhere. Selected, not
 * g * mask, so that an infinite or NaN upstream gradient stays out of the masked-off elements
 * (shared by every fake-quant Function: affine, binary, ternary, power-of-two).
 */
export function straightThrough(mask: Tensor, g: Tensor): Tensor {
  return raw.where(mask, g, full([], 0, { dtype: g.dtype, device: g.device }));
}

/**
 * Differentiable fake quantization (STE), per tensor or per channel: the tensor op. The typed-array
 * reference is numerics' fakeQuantize; the module is FakeQuantize (fake-quantize-module.ts).
 */
export function fakeQuantizeTensor(x: Tensor, args: FakeQuantizeArgs): Tensor {
  return FakeQuantizeFunction.apply(x, args);
}

/** Integer levels as an int32 tensor (not differentiable). */
export function quantizeTensor(x: Tensor, args: FakeQuantizeArgs): Tensor {
  const { axis } = checkArgs(x, args);
  const xc = raw.cast(raw.contiguous(x), 'float32');
  const q = raw.quantKernelParams(x.shape, args.scale, args.zeroPoint, args.qmin, args.qmax, axis, args.rounding ?? 'halfEven');
  return fromBuffer(x.backend, x.backend.quantize(xc.buffer, q), x.shape);
}

/** Float32 values (q − zp)·s of an int32 level tensor. */
export function dequantizeTensor(q: Tensor, args: FakeQuantizeArgs): Tensor {
  const { axis } = checkQParams(args, q.ndim, 'dequantize');
  const qc = raw.contiguous(q);
  const p = raw.quantKernelParams(q.shape, args.scale, args.zeroPoint, args.qmin, args.qmax, axis, args.rounding ?? 'halfEven');
  return fromBuffer(q.backend, q.backend.dequantize(qc.buffer, p), q.shape);
}
