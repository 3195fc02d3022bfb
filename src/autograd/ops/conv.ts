/**
 * 2-D convolution (cross-correlation) with stride, padding, dilation and groups, and 2-D max and
 * average pooling. The backend does the loops; these Functions carry the shapes and parameters
 * between forward and backward. Bias is added by broadcasting, so its gradient comes from Add.
 */
import type { Conv2dParams, Pool2dParams } from '../../tensor/backend.js';
import * as raw from '../../tensor/raw.js';
import { fromBuffer, Tensor } from '../../tensor/tensor.js';
import { Context, Function } from '../function.js';

export class Conv2d extends Function {
  static override forward(ctx: Context<{ p: Conv2dParams }>, x: Tensor, w: Tensor, p: Conv2dParams): Tensor {
    const outShape = raw.checkConv2d(x, w, p);
    const xc = raw.contiguous(x), wc = raw.contiguous(w);
    ctx.saveForBackward(xc, wc);
    ctx.attrs = { p };
    return fromBuffer(x.backend, x.backend.conv2d(xc.buffer, xc.shape, wc.buffer, wc.shape, p), outShape);
  }
  static override backward(ctx: Context<{ p: Conv2dParams }>, g: Tensor) {
    const [x, w] = ctx.savedTensors;
    const gc = raw.contiguous(g);
    const b = x.backend;
    const gx = ctx.needsInputGrad[0] ? fromBuffer(b, b.conv2dGradInput(gc.buffer, gc.shape, w.buffer, w.shape, x.shape, ctx.attrs.p), x.shape) : null;
    const gw = ctx.needsInputGrad[1] ? fromBuffer(b, b.conv2dGradWeight(x.buffer, x.shape, gc.buffer, gc.shape, w.shape, ctx.attrs.p), w.shape) : null;
    return [gx, gw, null];
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
