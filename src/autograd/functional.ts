/**
 * The differentiable functional API (like torch.* / torch.nn.functional). Every function here
 * applies one autograd Function; Tensor methods (x.add(y), x.sum(1)) delegate to these.
 */
import type { Conv2dParams, Pool2dParams } from '../tensor/backend.js';
import * as raw from '../tensor/raw.js';
import { contiguousStrides, normAxis, shapeStr } from '../tensor/shape.js';
import { Tensor, viewOf } from '../tensor/tensor.js';
import { Abs, Add, Clamp, Div, Exp, Log, Maximum, Minimum, Mul, Neg, Pow, PowScalar, Relu, ScalarBinary, Sigmoid, Sqrt, Sub, Tanh, Where, lift } from './ops/elementwise.js';
import { Max, Mean, Sum } from './ops/reduce.js';
import { Concat, Contiguous, Expand, Permute, Reshape, Slice } from './ops/shape.js';
import { MatMul } from './ops/matmul.js';
import { AvgPool2d, Conv2d, MaxPool2d } from './ops/conv.js';
import { Conv2dReluPool, ReluMaxPool2d } from './ops/conv-pool.js';
import type { TensorLike } from './ops/util.js';
export { logSoftmax, softmax, crossEntropy, nllLoss, type Reduction } from './ops/softmax.js';
export type { TensorLike };

type Arith = 'add' | 'sub' | 'mul' | 'div';
const ARITH = { add: Add, sub: Sub, mul: Mul, div: Div };

function arith(op: Arith, a: TensorLike, b: TensorLike): Tensor {
  if (a instanceof Tensor && b instanceof Tensor) return ARITH[op].apply(a, b);
  if (a instanceof Tensor) return ScalarBinary.apply(a, op, b as number, 'a op s');
  if (b instanceof Tensor) return ScalarBinary.apply(b, op, a, 's op a');
  throw new Error(`${op}: at least one argument must be a Tensor`);
}

export const add = (a: TensorLike, b: TensorLike): Tensor => arith('add', a, b);
export const sub = (a: TensorLike, b: TensorLike): Tensor => arith('sub', a, b);
export const mul = (a: TensorLike, b: TensorLike): Tensor => arith('mul', a, b);
export const div = (a: TensorLike, b: TensorLike): Tensor => arith('div', a, b);
export function pow(a: Tensor, b: TensorLike): Tensor {
  return typeof b === 'number' ? PowScalar.apply(a, b) : Pow.apply(a, b);
}
export const neg = (a: Tensor): Tensor => Neg.apply(a);
export const exp = (a: Tensor): Tensor => Exp.apply(a);
export const log = (a: Tensor): Tensor => Log.apply(a);
export const sqrt = (a: Tensor): Tensor => Sqrt.apply(a);
export const abs = (a: Tensor): Tensor => Abs.apply(a);
export const relu = (a: Tensor): Tensor => Relu.apply(a);
export const sigmoid = (a: Tensor): Tensor => Sigmoid.apply(a);
export const tanh = (a: Tensor): Tensor => Tanh.apply(a);
export const square = (a: Tensor): Tensor => Mul.apply(a, a);
export function clamp(a: Tensor, min = -Infinity, max = Infinity): Tensor {
  return Clamp.apply(a, min, max);
}
export function maximum(a: Tensor, b: TensorLike): Tensor {
  return Maximum.apply(a, lift(b, a));
}
export function minimum(a: Tensor, b: TensorLike): Tensor {
  return Minimum.apply(a, lift(b, a));
}
export function where(cond: Tensor, a: TensorLike, b: TensorLike): Tensor {
  const like = a instanceof Tensor ? a : b instanceof Tensor ? b : cond;
  const ta = lift(a, like), tb = lift(b, like);
  return Where.apply(cond, ta, tb);
}

// Comparisons are not differentiable: they return 0/1 float32 tensors.
export const eq = (a: Tensor, b: TensorLike): Tensor => cmp('eq', a, b);
export const ne = (a: Tensor, b: TensorLike): Tensor => cmp('ne', a, b);
export const lt = (a: Tensor, b: TensorLike): Tensor => cmp('lt', a, b);
export const le = (a: Tensor, b: TensorLike): Tensor => cmp('le', a, b);
export const gt = (a: Tensor, b: TensorLike): Tensor => cmp('gt', a, b);
export const ge = (a: Tensor, b: TensorLike): Tensor => cmp('ge', a, b);
function cmp(op: 'eq' | 'ne' | 'lt' | 'le' | 'gt' | 'ge', a: Tensor, b: TensorLike): Tensor {
  return typeof b === 'number' ? raw.binaryScalar(op, a, b) : raw.binary(op, a, b);
}

type Axes = number | readonly number[];
export const sum = (a: Tensor, axes?: Axes, keepdim = false): Tensor => Sum.apply(a, axes, keepdim);
export const mean = (a: Tensor, axes?: Axes, keepdim = false): Tensor => Mean.apply(a, axes, keepdim);
export const max = (a: Tensor, axes?: Axes, keepdim = false): Tensor => Max.apply(a, axes, keepdim, false);
export const min = (a: Tensor, axes?: Axes, keepdim = false): Tensor => Max.apply(a, axes, keepdim, true);
/** Index of the maximum along one axis (first on ties), int32; over all elements when axis is omitted. */
export function argmax(a: Tensor, axis?: number, keepdim = false): Tensor {
  return axis === undefined ? raw.reduce('argmax', raw.reshape(a, [-1]), 0, false) : raw.reduce('argmax', a, axis, keepdim);
}
export function argmin(a: Tensor, axis?: number, keepdim = false): Tensor {
  return axis === undefined ? raw.reduce('argmin', raw.reshape(a, [-1]), 0, false) : raw.reduce('argmin', a, axis, keepdim);
}

export const reshape = (a: Tensor, shape: readonly number[]): Tensor => Reshape.apply(a, shape);
export const permute = (a: Tensor, dims: readonly number[]): Tensor => Permute.apply(a, dims);
export function transpose(a: Tensor, d0 = -2, d1 = -1): Tensor {
  const dims = a.shape.map((_, i) => i);
  const i0 = normAxis(d0, a.ndim), i1 = normAxis(d1, a.ndim);
  [dims[i0], dims[i1]] = [dims[i1], dims[i0]];
  return Permute.apply(a, dims);
}
export const expand = (a: Tensor, shape: readonly number[]): Tensor => Expand.apply(a, shape);
/**
 * A row-major tensor: `a` itself when its strides are already the canonical ones, a view with the
 * canonical strides when only size-1 dims carry other strides (no copy), else a copy.
 */
export function contiguous(a: Tensor): Tensor {
  if (!a.isContiguous) return Contiguous.apply(a);
  const canon = contiguousStrides(a.shape);
  return canon.every((s, i) => s === a.strides[i]) ? a : Reshape.apply(a, a.shape);
}
export function flatten(a: Tensor, startDim = 0, endDim = -1): Tensor {
  const s = normAxis(startDim, a.ndim), e = normAxis(endDim, a.ndim);
  if (s > e) throw new Error(`flatten: start dim ${startDim} comes after end dim ${endDim} (shape ${shapeStr(a.shape)})`);
  const shape = [...a.shape.slice(0, s), a.shape.slice(s, e + 1).reduce((x, y) => x * y, 1), ...a.shape.slice(e + 1)];
  return Reshape.apply(a, shape);
}
export function squeeze(a: Tensor, axis?: number): Tensor {
  const ax = axis === undefined ? undefined : normAxis(axis, a.ndim);
  return Reshape.apply(a, a.shape.filter((d, i) => !(d === 1 && (ax === undefined || ax === i))));
}
export function unsqueeze(a: Tensor, axis: number): Tensor {
  const ax = normAxis(axis, a.ndim + 1);
  const shape = [...a.shape];
  shape.splice(ax, 0, 1);
  return Reshape.apply(a, shape);
}
/** a[start:end:step] along axis (negative indices count from the end), as a view. */
export function slice(a: Tensor, axis: number, start?: number, end?: number, step?: number): Tensor {
  return Slice.apply(a, axis, start, end, step);
}
/** a[..., i, ...]: selects one index along axis and drops that dim. */
export function select(a: Tensor, axis: number, index: number): Tensor {
  const ax = normAxis(axis, a.ndim);
  const n = a.shape[ax];
  if (!Number.isInteger(index) || index < -n || index >= n) throw new Error(`select: index ${index} is out of range for dim ${ax} of size ${n} (shape ${shapeStr(a.shape)})`);
  const i = index < 0 ? index + n : index;
  return squeeze(Slice.apply(a, ax, i, i + 1, 1), ax);
}
export function concat(parts: readonly Tensor[], axis = 0): Tensor {
  return Concat.apply(axis, ...parts);
}
export function stack(parts: readonly Tensor[], axis = 0): Tensor {
  return concat(parts.map((p) => unsqueeze(p, axis)), axis);
}

export const matmul = (a: Tensor, b: Tensor): Tensor => MatMul.apply(a, b);

type Pair = number | [number, number];
const pair = (v: Pair): [number, number] => (typeof v === 'number' ? [v, v] : v);

export interface Conv2dOptions {
  stride?: Pair;
  padding?: Pair;
  dilation?: Pair;
  groups?: number;
}

/** conv2d(x [N,C,H,W], w [O,C/groups,KH,KW], bias [O]?) like torch.nn.functional.conv2d. */
export function conv2d(x: Tensor, w: Tensor, bias?: Tensor | null, opts: Conv2dOptions = {}): Tensor {
  return convBias('conv2d', x, w, bias ?? null, opts, false);
}

/**
 * relu(conv2d(x, w, bias)) as one Function: the same values and gradients as the two calls
 * (the fast backend fuses the bias and the relu into the convolution's epilogue).
 */
export function conv2dRelu(x: Tensor, w: Tensor, bias: Tensor, opts: Conv2dOptions = {}): Tensor {
  return convBias('conv2dRelu', x, w, bias, opts, true);
}

/**
 * maxPool2d(relu(conv2d(x, w, bias)), 2) as one Function (./ops/conv-pool.ts): the same values
 * and gradients as the three calls; the fast backend pools the convolution's product in its own
 * memory and never writes the activations out. Where the convolution's output is smaller than
 * 2 x 2 it is the three calls (whose pooling reports the error).
 */
export function conv2dReluPool(x: Tensor, w: Tensor, bias: Tensor, opts: Conv2dOptions = {}): Tensor {
  const p = convParamsOf(opts);
  const [, , OH, OW] = raw.checkConv2d(x, w, p);
  if (OH < 2 || OW < 2) return maxPool2d(conv2dRelu(x, w, bias, opts), 2);
  checkBias('conv2dReluPool', x, w, bias);
  return Conv2dReluPool.apply(x, w, bias, p);
}

const convParamsOf = (opts: Conv2dOptions): Conv2dParams => ({ stride: pair(opts.stride ?? 1), padding: pair(opts.padding ?? 0), dilation: pair(opts.dilation ?? 1), groups: opts.groups ?? 1 });

function checkBias(name: string, x: Tensor, w: Tensor, bias: Tensor): void {
  if (bias.ndim !== 1 || bias.shape[0] !== w.shape[0]) throw new Error(`${name}: bias must have shape [${w.shape[0]}], got ${shapeStr(bias.shape)}`);
  if (bias.device !== x.device) throw new Error(`${name}: tensors are on different devices (${x.device} vs ${bias.device}); move them with .to(device)`);
}

function convBias(name: string, x: Tensor, w: Tensor, bias: Tensor | null, opts: Conv2dOptions, relu: boolean): Tensor {
  const p = convParamsOf(opts);
  raw.checkConv2d(x, w, p);
  if (bias) checkBias(name, x, w, bias);
  return Conv2d.apply(x, w, bias, p, relu);
}

export interface Pool2dOptions {
  stride?: Pair;
  padding?: Pair;
  dilation?: Pair;
}

function poolParams(kernel: Pair, opts: Pool2dOptions): Pool2dParams {
  const k = pair(kernel);
  return { kernel: k, stride: pair(opts.stride ?? k), padding: pair(opts.padding ?? 0), dilation: pair(opts.dilation ?? 1) };
}

/**
 * maxPool2d(relu(x), 2) as one Function (./ops/conv-pool.ts): the same values and gradient as
 * the two calls, without relu(x) as an array on a backend that fuses them.
 */
export function reluMaxPool2d(x: Tensor): Tensor {
  return ReluMaxPool2d.apply(x);
}

/** Max pooling; stride defaults to the kernel size, as in PyTorch. */
export function maxPool2d(x: Tensor, kernel: Pair, opts: Pool2dOptions = {}): Tensor {
  return MaxPool2d.apply(x, poolParams(kernel, opts));
}
export function avgPool2d(x: Tensor, kernel: Pair, opts: Omit<Pool2dOptions, 'dilation'> = {}): Tensor {
  return AvgPool2d.apply(x, poolParams(kernel, opts));
}

/** A tensor sharing storage but cut from the graph. */
export function detach(a: Tensor): Tensor {
  return viewOf(a, a.shape, a.strides, a.offset);
}
/** A differentiable copy with its own storage. */
export function clone(a: Tensor): Tensor {
  return ScalarBinary.apply(a, 'mul', 1, 'a op s');
}
