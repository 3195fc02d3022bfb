/**
 * Installs the differentiable operations as Tensor methods (x.add(y).relu().sum()), the way
 * PyTorch and tfjs's chained API read. The tensor layer cannot import autograd (it sits below),
 * so the methods are declared here by interface merging and attached to the prototype.
 */
import { Tensor } from '../tensor/tensor.js';
import { getBackend, type Device } from '../tensor/backend.js';
import type { DType } from '../tensor/dtype.js';
import * as raw from '../tensor/raw.js';
import * as F from './functional.js';
import { backward, type BackwardOptions } from './engine.js';
import type { TensorLike } from './ops/util.js';
import { fromArray } from '../tensor/creation.js';
import { Function, Context } from './function.js';

type Axes = number | readonly number[];

declare module '../tensor/tensor.js' {
  interface Tensor {
    add(o: TensorLike): Tensor;
    sub(o: TensorLike): Tensor;
    mul(o: TensorLike): Tensor;
    div(o: TensorLike): Tensor;
    pow(o: TensorLike): Tensor;
    neg(): Tensor;
    exp(): Tensor;
    log(): Tensor;
    sqrt(): Tensor;
    abs(): Tensor;
    relu(): Tensor;
    sigmoid(): Tensor;
    tanh(): Tensor;
    square(): Tensor;
    clamp(min?: number, max?: number): Tensor;
    maximum(o: TensorLike): Tensor;
    minimum(o: TensorLike): Tensor;
    eq(o: TensorLike): Tensor;
    ne(o: TensorLike): Tensor;
    lt(o: TensorLike): Tensor;
    le(o: TensorLike): Tensor;
    gt(o: TensorLike): Tensor;
    ge(o: TensorLike): Tensor;
    sum(axes?: Axes, keepdim?: boolean): Tensor;
    mean(axes?: Axes, keepdim?: boolean): Tensor;
    max(axes?: Axes, keepdim?: boolean): Tensor;
    min(axes?: Axes, keepdim?: boolean): Tensor;
    argmax(axis?: number, keepdim?: boolean): Tensor;
    argmin(axis?: number, keepdim?: boolean): Tensor;
    matmul(o: Tensor): Tensor;
    reshape(...shape: number[] | [readonly number[]]): Tensor;
    view(...shape: number[] | [readonly number[]]): Tensor;
    permute(...dims: number[] | [readonly number[]]): Tensor;
    transpose(d0?: number, d1?: number): Tensor;
    /** The transpose of a 2-D tensor (torch's .T). */
    readonly T: Tensor;
    expand(...shape: number[] | [readonly number[]]): Tensor;
    flatten(startDim?: number, endDim?: number): Tensor;
    squeeze(axis?: number): Tensor;
    unsqueeze(axis: number): Tensor;
    slice(axis: number, start?: number, end?: number, step?: number): Tensor;
    select(axis: number, index: number): Tensor;
    contiguous(): Tensor;
    logSoftmax(axis?: number): Tensor;
    softmax(axis?: number): Tensor;
    detach(): Tensor;
    clone(): Tensor;
    /** A non-differentiable conversion to another dtype. */
    to(target: DType | Device | { dtype?: DType; device?: Device }): Tensor;
    backward(grad?: Tensor, opts?: BackwardOptions): void;
    /** Sets requiresGrad on a leaf and returns it. */
    requiresGrad_(flag?: boolean): Tensor;
  }
}

const shapeArgs = (args: number[] | [readonly number[]]): readonly number[] =>
  (Array.isArray(args[0]) ? args[0] : args) as readonly number[];

const DTYPES: readonly string[] = ['float32', 'float64', 'int32'];

/** Moves between devices: read to host, upload on the target (differentiable: grads move back). */
class ToDevice extends Function {
  static override forward(ctx: Context<{ from: Device }>, a: Tensor, device: Device): Tensor {
    ctx.attrs = { from: a.device };
    return fromArray(a.toTypedArray(), a.shape, { dtype: a.dtype, device });
  }
  static override backward(ctx: Context<{ from: Device }>, g: Tensor) {
    return [fromArray(g.toTypedArray(), g.shape, { dtype: g.dtype, device: ctx.attrs.from }), null];
  }
}

/** A dtype conversion; the gradient is converted back. */
class Cast extends Function {
  static override forward(ctx: Context<{ from: DType }>, a: Tensor, dtype: DType): Tensor {
    ctx.attrs = { from: a.dtype };
    return raw.cast(a, dtype);
  }
  static override backward(ctx: Context<{ from: DType }>, g: Tensor) {
    return [raw.cast(g, ctx.attrs.from), null];
  }
}

const methods: Partial<Record<keyof Tensor, unknown>> = {
  add(this: Tensor, o: TensorLike) { return F.add(this, o); },
  sub(this: Tensor, o: TensorLike) { return F.sub(this, o); },
  mul(this: Tensor, o: TensorLike) { return F.mul(this, o); },
  div(this: Tensor, o: TensorLike) { return F.div(this, o); },
  pow(this: Tensor, o: TensorLike) { return F.pow(this, o); },
  neg(this: Tensor) { return F.neg(this); },
  exp(this: Tensor) { return F.exp(this); },
  log(this: Tensor) { return F.log(this); },
  sqrt(this: Tensor) { return F.sqrt(this); },
  abs(this: Tensor) { return F.abs(this); },
  relu(this: Tensor) { return F.relu(this); },
  sigmoid(this: Tensor) { return F.sigmoid(this); },
  tanh(this: Tensor) { return F.tanh(this); },
  square(this: Tensor) { return F.square(this); },
  clamp(this: Tensor, lo?: number, hi?: number) { return F.clamp(this, lo, hi); },
  maximum(this: Tensor, o: TensorLike) { return F.maximum(this, o); },
  minimum(this: Tensor, o: TensorLike) { return F.minimum(this, o); },
  eq(this: Tensor, o: TensorLike) { return F.eq(this, o); },
  ne(this: Tensor, o: TensorLike) { return F.ne(this, o); },
  lt(this: Tensor, o: TensorLike) { return F.lt(this, o); },
  le(this: Tensor, o: TensorLike) { return F.le(this, o); },
  gt(this: Tensor, o: TensorLike) { return F.gt(this, o); },
  ge(this: Tensor, o: TensorLike) { return F.ge(this, o); },
  sum(this: Tensor, axes?: Axes, keepdim?: boolean) { return F.sum(this, axes, keepdim); },
  mean(this: Tensor, axes?: Axes, keepdim?: boolean) { return F.mean(this, axes, keepdim); },
  max(this: Tensor, axes?: Axes, keepdim?: boolean) { return F.max(this, axes, keepdim); },
  min(this: Tensor, axes?: Axes, keepdim?: boolean) { return F.min(this, axes, keepdim); },
  argmax(this: Tensor, axis?: number, keepdim?: boolean) { return F.argmax(this, axis, keepdim); },
  argmin(this: Tensor, axis?: number, keepdim?: boolean) { return F.argmin(this, axis, keepdim); },
  matmul(this: Tensor, o: Tensor) { return F.matmul(this, o); },
  reshape(this: Tensor, ...s: number[] | [readonly number[]]) { return F.reshape(this, shapeArgs(s)); },
  view(this: Tensor, ...s: number[] | [readonly number[]]) {
    if (!this.isContiguous) throw new Error('view: the tensor is not contiguous; use reshape() (which copies) or contiguous() first');
    return F.reshape(this, shapeArgs(s));
  },
  permute(this: Tensor, ...d: number[] | [readonly number[]]) { return F.permute(this, shapeArgs(d)); },
  transpose(this: Tensor, d0?: number, d1?: number) { return F.transpose(this, d0, d1); },
  expand(this: Tensor, ...s: number[] | [readonly number[]]) { return F.expand(this, shapeArgs(s)); },
  flatten(this: Tensor, s?: number, e?: number) { return F.flatten(this, s, e); },
  squeeze(this: Tensor, a?: number) { return F.squeeze(this, a); },
  unsqueeze(this: Tensor, a: number) { return F.unsqueeze(this, a); },
  slice(this: Tensor, axis: number, start?: number, end?: number, step?: number) { return F.slice(this, axis, start, end, step); },
  select(this: Tensor, axis: number, index: number) { return F.select(this, axis, index); },
  contiguous(this: Tensor) { return F.contiguous(this); },
  logSoftmax(this: Tensor, axis?: number) { return F.logSoftmax(this, axis); },
  softmax(this: Tensor, axis?: number) { return F.softmax(this, axis); },
  detach(this: Tensor) { return F.detach(this); },
  clone(this: Tensor) { return F.clone(this); },
  to(this: Tensor, target: DType | Device | { dtype?: DType; device?: Device }) {
    const spec = typeof target === 'string' ? (DTYPES.includes(target) ? { dtype: target as DType } : { device: target }) : target;
    let t: Tensor = this;
    if (spec.device !== undefined && spec.device !== t.device) {
      getBackend(spec.device);
      t = ToDevice.apply(t, spec.device);
    }
    if (spec.dtype !== undefined && spec.dtype !== t.dtype) t = Cast.apply(t, spec.dtype);
    return t;
  },
  backward(this: Tensor, grad?: Tensor, opts?: BackwardOptions) { backward(this, grad, opts); },
  requiresGrad_(this: Tensor, flag = true) {
    if (!this.isLeaf) throw new Error('requiresGrad_ can only be set on leaf tensors');
    this.requiresGrad = flag;
    return this;
  },
};

for (const [name, fn] of Object.entries(methods)) {
  Object.defineProperty(Tensor.prototype, name, { value: fn, writable: true, configurable: true });
}
Object.defineProperty(Tensor.prototype, 'T', {
  get(this: Tensor) {
    if (this.ndim !== 2) throw new Error(`.T needs a 2-D tensor, got rank ${this.ndim}`);
    return F.transpose(this, 0, 1);
  },
  configurable: true,
});
