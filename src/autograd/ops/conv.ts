/**
 * 2-D convolution (cross-correlation) with stride, padding, dilation and groups, and 2-D max and
 * average pooling. The backend does the loops; these Functions carry the shapes and parameters
 * between forward and backward.
 *
 * Conv2d takes the bias, and optionally a relu after it, as one Function, so that a backend with
 * the fused primitive (Backend.conv2dBias: the wasm backend adds the bias and applies relu while
 * the product is still in its memory) saves two passes over the activations and their arrays.
 * The result is the same as conv, then a broadcast add, then relu (the backend contract says so,
 * and backends without the primitive compute exactly that). Backward: relu's mask first (PyTorch's
 * threshold_backward, selecting), then the bias gradient as the sum of g over N, H, W (read in
 * place where the backend has sumOuterInner), and the two convolution gradients. A backend with
 * Backend.conv2dBackward (wasm) does all of that from one staged copy of g, with the same bits.
 */
import type { Conv2dParams, Pool2dParams } from '../../tensor/backend.js';
import * as raw from '../../tensor/raw.js';
import { fromBuffer, Tensor } from '../../tensor/tensor.js';
import { Context, Function } from '../function.js';

type ConvAttrs = { p: Conv2dParams; relu: boolean };

export class Conv2d extends Function {
  /** x [N, C, H, W], w [O, C/groups, KH, KW], bias [O] or null; relu (only with a bias) after the add. */
  static override forward(ctx: Context<ConvAttrs>, x: Tensor, w: Tensor, bias: Tensor | null, p: Conv2dParams, relu = false): Tensor {
    const outShape = raw.checkConv2d(x, w, p);
    if (relu && !bias) throw new Error('Conv2d: relu is fused only after a bias');
    const xc = raw.contiguous(x), wc = raw.contiguous(w);
    const be = x.backend;
    let y: Tensor | null = null;
    if (bias && bias.dtype === x.dtype && be.conv2dBias) {
      const bc = raw.contiguous(bias);
      const buf = be.conv2dBias(xc.buffer, xc.shape, wc.buffer, wc.shape, bc.buffer, p, relu);
      if (buf) y = fromBuffer(be, buf, outShape);
    }
    if (!y) {
      y = fromBuffer(be, be.conv2d(xc.buffer, xc.shape, wc.buffer, wc.shape, p), outShape);
      if (bias) y = raw.binary('add', y, raw.reshape(bias, [1, outShape[1], 1, 1]));
      if (relu) y = raw.unary('relu', y);
    }
    if (relu) ctx.saveForBackward(xc, wc, y);
    else ctx.saveForBackward(xc, wc);
    ctx.attrs = { p, relu };
    return y;
  }
  static override backward(ctx: Context<ConvAttrs>, g: Tensor) {
    const [x, w, y] = ctx.savedTensors;
    const b = x.backend;
    const fused = b.conv2dBackward ? Conv2d.fusedBackward(ctx, g, x, w, y ?? null) : null;
    if (fused) return fused;
    const gc = raw.contiguous(ctx.attrs.relu ? raw.binary('reluBackward', g, y) : g);
    const gx = ctx.needsInputGrad[0] ? fromBuffer(b, b.conv2dGradInput(gc.buffer, gc.shape, w.buffer, w.shape, x.shape, ctx.attrs.p), x.shape) : null;
    const gw = ctx.needsInputGrad[1] ? fromBuffer(b, b.conv2dGradWeight(x.buffer, x.shape, gc.buffer, gc.shape, w.shape, ctx.attrs.p), w.shape) : null;
    const gb = ctx.needsInputGrad[2] ? raw.reduce('sum', gc, [0, 2, 3]) : null;
    return [gx, gw, gb, null, null];
  }
  /**
   * The backend's fused backward (Backend.conv2dBackward), or null. It needs g as a buffer of its
   * own: the unfused bias gradient sums such a g in place (raw.reduce's sumOuterInner path) and
   * any other layout in another order, so anything else composes the separate ops.
   */
  private static fusedBackward(ctx: Context<ConvAttrs>, g: Tensor, x: Tensor, w: Tensor, y: Tensor | null): (Tensor | null)[] | null {
    const owns = (t: Tensor) => t.isContiguous && t.offset === 0 && t.buffer.size === t.size;
    const gc = raw.contiguous(g);
    if (!owns(gc) || (y && !owns(y)) || gc.dtype !== x.dtype) return null;
    const b = x.backend, p = ctx.attrs.p;
    const needs = { input: ctx.needsInputGrad[0], weight: ctx.needsInputGrad[1], bias: ctx.needsInputGrad[2] };
    const r = b.conv2dBackward!(gc.buffer, ctx.attrs.relu ? y!.buffer : null, x.buffer, x.shape, w.buffer, w.shape, p, needs);
    if (!r) return null;
    const wrap = (buf: typeof r.gx, shape: readonly number[]) => (buf ? fromBuffer(b, buf, shape) : null);
    return [wrap(r.gx, x.shape), wrap(r.gw, w.shape), wrap(r.gb, [w.shape[0]]), null, null];
  }
}

export class MaxPool2d extends Function {
  static override forward(ctx: Context<{ xShape: readonly number[]; p: Pool2dParams }>, x: Tensor, p: Pool2dParams): Tensor {
    const outShape = raw.checkPool('maxPool2d', x, p);
    const xc = raw.contiguous(x);
    const r = x.backend.maxPool2d(xc.buffer, xc.shape, p);
    ctx.saveForBackward(fromBuffer(x.backend, r.indices, outShape));
    ctx.attrs = { xShape: x.shape, p };
    return fromBuffer(x.backend, r.out, outShape);
  }
  static override backward(ctx: Context<{ xShape: readonly number[]; p: Pool2dParams }>, g: Tensor) {
    const [idx] = ctx.savedTensors;
    const gc = raw.contiguous(g);
    return [fromBuffer(g.backend, g.backend.maxPool2dGrad(gc.buffer, idx.buffer, gc.shape, ctx.attrs.xShape, ctx.attrs.p), ctx.attrs.xShape), null];
  }
}

export class AvgPool2d extends Function {
  static override forward(ctx: Context<{ xShape: readonly number[]; p: Pool2dParams }>, x: Tensor, p: Pool2dParams): Tensor {
    const outShape = raw.checkPool('avgPool2d', x, p);
    const xc = raw.contiguous(x);
    ctx.attrs = { xShape: x.shape, p };
    return fromBuffer(x.backend, x.backend.avgPool2d(xc.buffer, xc.shape, p), outShape);
  }
  static override backward(ctx: Context<{ xShape: readonly number[]; p: Pool2dParams }>, g: Tensor) {
    const gc = raw.contiguous(g);
    return [fromBuffer(g.backend, g.backend.avgPool2dGrad(gc.buffer, gc.shape, ctx.attrs.xShape, ctx.attrs.p), ctx.attrs.xShape), null];
  }
}
