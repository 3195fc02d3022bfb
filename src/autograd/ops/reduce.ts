/**
 * Differentiable reductions. sum's backward broadcasts the gradient back over the reduced axes;
 * mean divides by the count; max/min route the gradient to the elements equal to the extreme,
 * shared evenly among ties (PyTorch's amax/amin convention).
 */
import * as raw from '../../tensor/raw.js';
import { normAxes } from '../../tensor/shape.js';
import { Tensor } from '../../tensor/tensor.js';
import { Context, Function } from '../function.js';

type Axes = number | readonly number[] | undefined;
interface ReduceAttrs {
  shape: readonly number[];
  axes: number[];
}

/** The gradient of a reduced tensor, reshaped with kept dims so it broadcasts over the input. */
function keepDims(g: Tensor, attrs: ReduceAttrs): Tensor {
  const shape = attrs.shape.map((d, i) => (attrs.axes.includes(i) ? 1 : d));
  return raw.reshape(g, shape);
}

export class Sum extends Function {
  static override forward(ctx: Context<ReduceAttrs>, a: Tensor, axes: Axes, keepdim: boolean): Tensor {
    ctx.attrs = { shape: a.shape, axes: normAxes(axes, a.ndim) };
    return raw.reduce('sum', a, axes, keepdim);
  }
  static override backward(ctx: Context<ReduceAttrs>, g: Tensor) {
    return [raw.contiguous(raw.expand(keepDims(g, ctx.attrs), ctx.attrs.shape)), null, null];
  }
}

export class Mean extends Function {
  static override forward(ctx: Context<ReduceAttrs & { count: number }>, a: Tensor, axes: Axes, keepdim: boolean): Tensor {
    const ax = normAxes(axes, a.ndim);
    const count = ax.reduce((n, i) => n * a.shape[i], 1);
    ctx.attrs = { shape: a.shape, axes: ax, count };
    return raw.binaryScalar('div', raw.reduce('sum', a, axes, keepdim), count);
  }
  static override backward(ctx: Context<ReduceAttrs & { count: number }>, g: Tensor) {
    const scaled = raw.binaryScalar('div', g, ctx.attrs.count);
    return [raw.contiguous(raw.expand(keepDims(scaled, ctx.attrs), ctx.attrs.shape)), null, null];
  }
}

export class Max extends Function {
  static override forward(ctx: Context<ReduceAttrs & { min: boolean }>, a: Tensor, axes: Axes, keepdim: boolean, min = false): Tensor {
    const out = raw.reduce(min ? 'min' : 'max', a, axes, keepdim);
    ctx.attrs = { shape: a.shape, axes: normAxes(axes, a.ndim), min };
    ctx.saveForBackward(a, out);
    return out;
  }
  static override backward(ctx: Context<ReduceAttrs & { min: boolean }>, g: Tensor) {
    const [a, out] = ctx.savedTensors;
    const isExt = raw.binary('eq', a, keepDims(out, ctx.attrs));
    const count = raw.reduce('sum', isExt, ctx.attrs.axes, true);
    const share = raw.binary('div', keepDims(g, ctx.attrs), count);
    return [raw.binary('mul', isExt, share), null, null, null];
  }
}
