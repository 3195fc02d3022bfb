/**
 * A convolution block as one Function: maxPool2d(relu(conv2d(x, w) + bias), 2), the
 * conv → ReLU → MaxPool2d(2) of the seed tutorial's CNN (and of LeNet-style networks), the
 * pattern oneDNN and TFLite fuse into a convolution's post-ops. The values and gradients are
 * those of the three separate Functions; what fusing saves is memory traffic: the convolution's
 * activations are four times the pooled output, and a backend with the fused primitive
 * (Backend.conv2dReluPool: the wasm backend pools the product while it is still in the gemm's
 * memory) never writes them out, never reads them back to pool them, and keeps nothing of them
 * for the backward.
 *
 * Why the backward needs only the pooled output and the winners' indices. With y = relu(z),
 * P = maxpool(y), the separate backwards give ∂L/∂z = reluBackward(maxPool2dGrad(gP), y):
 * maxPool2dGrad routes gP[w] to the winner i of window w (2 x 2 windows with stride 2 do not
 * overlap, so each input element receives at most one term) and 0 elsewhere, and reluBackward
 * keeps a gradient where y > 0 (PyTorch's threshold_backward, `y <= 0 ? 0 : g`). At a winner
 * y[i] = P[w], so masking there by y[i] is masking gP[w] by P[w]; everywhere else the gradient is
 * +0 either way. Hence ∂L/∂z = maxPool2dGrad(reluBackward(gP, P)): the mask runs on a quarter of
 * the elements, before the unpooling, and y is never saved. The bias gradient, the sum of
 * ∂L/∂z over N, H, W, is the sum of that masked pooled gradient (the unpooling only adds zeros);
 * the rest is the convolution's backward without relu (./conv.ts convBackward).
 *
 * ReluMaxPool2d, at the end of the file, is the same fusion without the convolution, for the
 * ReLU → MaxPool2d(2) that follows a BatchNorm2d.
 */
import type { Conv2dParams, Pool2dParams } from '../../tensor/backend.js';
import * as raw from '../../tensor/raw.js';
import { fromBuffer, Tensor } from '../../tensor/tensor.js';
import { Context, Function } from '../function.js';
import { convBackward, convForward, gradNeeds, gradTensors, ownsBuffer } from './conv.js';

/** MaxPool2d(2): 2 x 2 windows, stride 2, no padding, no dilation. */
export const POOL_2X2: Pool2dParams = { kernel: [2, 2], stride: [2, 2], padding: [0, 0], dilation: [1, 1] };

type Attrs = { p: Conv2dParams; yShape: readonly number[] };

export class Conv2dReluPool extends Function {
  /** x [N, C, H, W], w [O, C/groups, KH, KW], bias [O] -> [N, O, floor(OH / 2), floor(OW / 2)]. */
  static override forward(ctx: Context<Attrs>, x: Tensor, w: Tensor, bias: Tensor, p: Conv2dParams): Tensor {
    const yShape = raw.checkConv2d(x, w, p);
    const xc = raw.contiguous(x), wc = raw.contiguous(w);
    const be = x.backend;
    const pooledShape = [yShape[0], yShape[1], yShape[2] >> 1, yShape[3] >> 1];
    let out: Tensor | null = null, indices: Tensor | null = null;
    if (bias.dtype === x.dtype && be.conv2dReluPool) {
      const r = be.conv2dReluPool(xc.buffer, xc.shape, wc.buffer, wc.shape, raw.contiguous(bias).buffer, p);
      if (r) [out, indices] = [fromBuffer(be, r.out, pooledShape), fromBuffer(be, r.indices, pooledShape)];
    }
    if (!out || !indices) {
      // The separate ops: conv + bias + relu, then the pooling.
      const y = convForward(xc, wc, bias, p, true);
      const r = be.maxPool2d(y.buffer, y.shape, POOL_2X2);
      [out, indices] = [fromBuffer(be, r.out, pooledShape), fromBuffer(be, r.indices, pooledShape)];
    }
    ctx.saveForBackward(xc, wc, out, indices);
    ctx.attrs = { p, yShape };
    return out;
  }

  static override backward(ctx: Context<Attrs>, gP: Tensor) {
    const [x, w, pooled, indices] = ctx.savedTensors;
    const { p, yShape } = ctx.attrs;
    const b = x.backend, needs = ctx.needsInputGrad;
    const gc = raw.contiguous(gP);
    if (b.conv2dReluPoolBackward && ownsBuffer(gc) && ownsBuffer(pooled) && gc.dtype === x.dtype) {
      const r = b.conv2dReluPoolBackward(gc.buffer, pooled.buffer, indices.buffer, x.buffer, x.shape, w.buffer, w.shape, p, gradNeeds(needs));
      if (r) return [...gradTensors(r, x, w), null];
    }
    // The separate ops, the mask first (in pooled space, see the file comment); the bias
    // gradient sums gm, the same terms as the unpooled gradient without its zeros.
    const { gm, g } = unpoolRelu(gc, pooled, indices, yShape);
    const [gx, gw] = convBackward(g, x, w, null, p, [needs[0], needs[1], false]);
    return [gx, gw, needs[2] ? raw.reduce('sum', gm, [0, 2, 3]) : null, null];
  }
}

/**
 * maxPool2d(relu(x), 2) as one Function: the ReLU → MaxPool2d(2) that follows a batch-normalised
 * convolution (where the convolution cannot take the relu: BatchNorm2d sits between them). The
 * same argument as above: the backward masks the pooled gradient by the pooled values and
 * unpools it, so relu(x), as large as x, is never an array or saved. A backend with
 * Backend.reluMaxPool2d (wasm: the pooling reads x and applies relu as it reads) never writes it.
 */
export class ReluMaxPool2d extends Function {
  static override forward(ctx: Context<{ xShape: readonly number[] }>, x: Tensor): Tensor {
    const outShape = raw.checkPool('maxPool2d', x, POOL_2X2);
    const xc = raw.contiguous(x), be = x.backend;
    let r = be.reluMaxPool2d ? be.reluMaxPool2d(xc.buffer, xc.shape, POOL_2X2) : null;
    if (!r) {
      const y = raw.unary('relu', xc);
      r = be.maxPool2d(y.buffer, y.shape, POOL_2X2);
    }
    const out = fromBuffer(be, r.out, outShape), indices = fromBuffer(be, r.indices, outShape);
    ctx.saveForBackward(out, indices);
    ctx.attrs = { xShape: x.shape };
    return out;
  }

  static override backward(ctx: Context<{ xShape: readonly number[] }>, gP: Tensor) {
    const [pooled, indices] = ctx.savedTensors;
    const b = gP.backend, gc = raw.contiguous(gP), { xShape } = ctx.attrs;
    const fused = b.reluMaxPool2dGrad && ownsBuffer(gc) && ownsBuffer(pooled)
      ? b.reluMaxPool2dGrad(gc.buffer, pooled.buffer, indices.buffer, gc.shape, xShape, POOL_2X2) : null;
    if (fused) return [fromBuffer(b, fused, xShape)];
    return [unpoolRelu(gc, pooled, indices, xShape).g];
  }
}

/**
 * The separate ops' backward of relu then MaxPool2d(2), the mask first (see the file comment):
 * gm, the pooled gradient masked by the pooled values, and g, gm unpooled to `xShape`.
 */
function unpoolRelu(gP: Tensor, pooled: Tensor, indices: Tensor, xShape: readonly number[]): { gm: Tensor; g: Tensor } {
  const b = gP.backend;
  const gm = raw.contiguous(raw.binary('reluBackward', gP, pooled));
  return { gm, g: fromBuffer(b, b.maxPool2dGrad(gm.buffer, indices.buffer, gm.shape, xShape, POOL_2X2), xShape) };
}
