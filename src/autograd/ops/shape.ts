/**
 * Differentiable shape operations. Forward makes a view (no copy) whenever the layout allows;
 * backward is the inverse movement: reshape back, permute by the inverse permutation, sum over
 * expanded dims, pad a slice back into zeros, split a concatenation.
 */
import * as raw from '../../tensor/raw.js';
import { shapeStr } from '../../tensor/shape.js';
import { Tensor } from '../../tensor/tensor.js';
import { Context, Function } from '../function.js';
import { unbroadcast } from './util.js';

export class Reshape extends Function {
  static override forward(ctx: Context<{ shape: readonly number[] }>, a: Tensor, shape: readonly number[]): Tensor {
    ctx.attrs = { shape: a.shape };
    return raw.reshape(a, shape);
  }
  static override backward(ctx: Context<{ shape: readonly number[] }>, g: Tensor) {
    return [raw.reshape(g, ctx.attrs.shape), null];
  }
}

export class Permute extends Function {
  static override forward(ctx: Context<{ dims: number[] }>, a: Tensor, dims: readonly number[]): Tensor {
    const out = raw.permute(a, dims);
    ctx.attrs = { dims: dims.map((d) => (d < 0 ? d + a.ndim : d)) };
    return out;
  }
  static override backward(ctx: Context<{ dims: number[] }>, g: Tensor) {
    const inv = new Array<number>(ctx.attrs.dims.length);
    ctx.attrs.dims.forEach((d, i) => (inv[d] = i));
    return [raw.permute(g, inv), null];
  }
}

export class Expand extends Function {
  static override forward(ctx: Context<{ shape: readonly number[] }>, a: Tensor, shape: readonly number[]): Tensor {
    ctx.attrs = { shape: a.shape };
    return raw.expand(a, shape);
  }
  static override backward(ctx: Context<{ shape: readonly number[] }>, g: Tensor) {
    return [unbroadcast(g, ctx.attrs.shape), null];
  }
}

export class Contiguous extends Function {
  static override forward(_ctx: Context, a: Tensor): Tensor {
    return raw.contiguous(a);
  }
  static override backward(_ctx: Context, g: Tensor) {
    return [g];
  }
}

/** a[..., start:end:step, ...] along one axis: a view; backward pads the gradient into zeros. */
export class Slice extends Function {
  static override forward(ctx: Context<{ shape: readonly number[]; axis: number; spec: raw.SliceSpec }>, a: Tensor, axis: number, start?: number, end?: number, step?: number): Tensor {
    const ax = axis < 0 ? axis + a.ndim : axis;
    if (ax < 0 || ax >= a.ndim) throw new Error(`slice: axis ${axis} is out of range for shape ${shapeStr(a.shape)}`);
    const spec = raw.normSlice(a.shape[ax], start, end, step);
    ctx.attrs = { shape: a.shape, axis: ax, spec };
    return raw.slice(a, ax, spec);
  }
  static override backward(ctx: Context<{ shape: readonly number[]; axis: number; spec: raw.SliceSpec }>, g: Tensor) {
    const { shape, axis, spec } = ctx.attrs;
    const begin = shape.map((_, i) => (i === axis ? spec.start : 0));
    const step = shape.map((_, i) => (i === axis ? spec.step : 1));
    return [raw.pad(g, shape, begin, step), null, null, null, null];
  }
}

export class Concat extends Function {
  static override forward(ctx: Context<{ axis: number; sizes: number[] }>, axis: number, ...parts: Tensor[]): Tensor {
    const out = raw.concat(parts, axis);
    const ax = axis < 0 ? axis + out.ndim : axis;
    ctx.attrs = { axis: ax, sizes: parts.map((p) => p.shape[ax]) };
    return out;
  }
  static override backward(ctx: Context<{ axis: number; sizes: number[] }>, g: Tensor) {
    let at = 0;
    const grads: (Tensor | null)[] = [null];
    for (const n of ctx.attrs.sizes) {
      grads.push(raw.slice(g, ctx.attrs.axis, { start: at, end: at + n, step: 1 }));
      at += n;
    }
    return grads;
  }
}
