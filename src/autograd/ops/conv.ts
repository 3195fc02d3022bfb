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
import type { Conv2dParams, DeviceBuffer, Pool2dParams } from '../../tensor/backend.js';
import * as raw from '../../tensor/raw.js';
import { fromBuffer, Tensor } from '../../tensor/tensor.js';
import { Context, Function } from '../function.js';

type ConvAttrs = { p: Conv2dParams; relu: boolean };

export class Conv2d extends Function {
  /** x [N, C, H, W], w [O, C/groups, KH, KW], bias [O] or null; relu (only with a bias) after the add. */
  static override forward(ctx: Context<ConvAttrs>, x: Tensor, w: Tensor, bias: Tensor | null, p: Conv2dParams, relu = false): Tensor {
    if (relu && !bias) throw new Error('Conv2d: relu is fused only after a bias');
    const xc = raw.contiguous(x), wc = raw.contiguous(w);
    const y = convForward(xc, wc, bias, p, relu);
    if (relu) ctx.saveForBackward(xc, wc, y);
    else ctx.saveForBackward(xc, wc);
    ctx.attrs = { p, relu };
    return y;
  }
  static override backward(ctx: Context<ConvAttrs>, g: Tensor) {
    const [x, w, y] = ctx.savedTensors;
    const [gx, gw, gb] = convBackward(g, x, w, ctx.attrs.relu ? y : null, ctx.attrs.p, ctx.needsInputGrad);
    return [gx, gw, gb, null, null];
  }
}

/**
 * conv(x, w) (+ bias, then relu) on contiguous x and w: the backend's fused primitive
 * (Backend.conv2dBias) where it has one for these operands, else the separate ops.
 */
export function convForward(xc: Tensor, wc: Tensor, bias: Tensor | null, p: Conv2dParams, relu: boolean): Tensor {
  const outShape = raw.checkConv2d(xc, wc, p);
  const be = xc.backend;
  if (bias && bias.dtype === xc.dtype && be.conv2dBias) {
    const bc = raw.contiguous(bias);
    const buf = be.conv2dBias(xc.buffer, xc.shape, wc.buffer, wc.shape, bc.buffer, p, relu);
    if (buf) return fromBuffer(be, buf, outShape);
  }
  let y = fromBuffer(be, be.conv2d(xc.buffer, xc.shape, wc.buffer, wc.shape, p), outShape);
  if (bias) y = raw.binary('add', y, raw.reshape(bias, [1, outShape[1], 1, 1]));
  if (relu) y = raw.unary('relu', y);
  return y;
}

/**
 * The gradients of x, w and the bias (those `needs` asks for; null for the others) of
 * conv(x, w) + bias, then relu where y, relu's output, is given, from g, the gradient of the
 * output: relu's mask, then the bias gradient as the sum of g over N, H, W and the two
 * convolution gradients, by the backend's fused backward (Backend.conv2dBackward) where it has
 * one, else by the separate ops (the same bits either way).
 */
export function convBackward(g: Tensor, x: Tensor, w: Tensor, y: Tensor | null, p: Conv2dParams, needs: readonly boolean[]): (Tensor | null)[] {
  const b = x.backend;
  const fused = b.conv2dBackward ? fusedConvBackward(g, x, w, y, p, needs) : null;
  if (fused) return fused;
  const gc = raw.contiguous(y ? raw.binary('reluBackward', g, y) : g);
  const gx = needs[0] ? fromBuffer(b, b.conv2dGradInput(gc.buffer, gc.shape, w.buffer, w.shape, x.shape, p), x.shape) : null;
  const gw = needs[1] ? fromBuffer(b, b.conv2dGradWeight(x.buffer, x.shape, gc.buffer, gc.shape, w.shape, p), w.shape) : null;
  const gb = needs[2] ? raw.reduce('sum', gc, [0, 2, 3]) : null;
  return [gx, gw, gb];
}

/** True if t is contiguous and alone in its buffer (what a fused backward may stage as a whole). */
export const ownsBuffer = (t: Tensor): boolean => t.isContiguous && t.offset === 0 && t.buffer.size === t.size;

/**
 * The backend's fused backward (Backend.conv2dBackward), or null. It needs g as a buffer of its
 * own: the unfused bias gradient sums such a g in place (raw.reduce's sumOuterInner path) and
 * any other layout in another order, so anything else composes the separate ops.
 */
function fusedConvBackward(g: Tensor, x: Tensor, w: Tensor, y: Tensor | null, p: Conv2dParams, needsInputGrad: readonly boolean[]): (Tensor | null)[] | null {
  const gc = raw.contiguous(g);
  if (!ownsBuffer(gc) || (y && !ownsBuffer(y)) || gc.dtype !== x.dtype) return null;
  const r = x.backend.conv2dBackward!(gc.buffer, y ? y.buffer : null, x.buffer, x.shape, w.buffer, w.shape, p, gradNeeds(needsInputGrad));
  return r && gradTensors(r, x, w);
}

/** Which gradients a fused backward computes (Backend.conv2dBackward's `needs`), from ctx.needsInputGrad of (x, w, bias). */
export const gradNeeds = (n: readonly boolean[]) => ({ input: n[0], weight: n[1], bias: n[2] });

/** A fused backward's gradient buffers as tensors of x's, w's and the bias's shapes; a buffer not computed stays null. */
export function gradTensors(r: { gx: DeviceBuffer | null; gw: DeviceBuffer | null; gb: DeviceBuffer | null }, x: Tensor, w: Tensor): (Tensor | null)[] {
  const b = x.backend;
  const wrap = (buf: DeviceBuffer | null, shape: readonly number[]) => (buf ? fromBuffer(b, buf, shape) : null);
  return [wrap(r.gx, x.shape), wrap(r.gw, w.shape), wrap(r.gb, [w.shape[0]])];
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
