/**
 * Batch normalisation in training mode as one Function with its closed-form backward
 * (Ioffe & Szegedy 2015, §3), instead of a dozen composed ops: fewer passes over the activations
 * and fewer intermediates, for the layer every "better recipe" uses. Over the channel dim 1,
 * with n = elements per channel, μ and σ² the batch mean and biased variance:
 *
 *   x̂ = (x − μ) / √(σ² + ε),   y = γ x̂ + β
 *   ∂L/∂γ = Σ g x̂,   ∂L/∂β = Σ g,   ĝ = g γ
 *   ∂L/∂x = (1 / (n √(σ² + ε))) · (n ĝ − Σ ĝ − x̂ Σ ĝ x̂)
 *
 * The batch statistics are handed back through `stats` so the module can update its running
 * averages without computing them twice.
 *
 * A backend may fuse the ops below (Backend.batchNormTrain / batchNormTrainBackward: the wasm
 * backend does, in three passes over the activations); it must return exactly their values, so
 * the composed ops here stay the definition and run wherever it declines.
 */
import * as raw from '../../tensor/raw.js';
import { fromBuffer, Tensor } from '../../tensor/tensor.js';
import { Context, Function } from '../function.js';

export interface BatchStats {
  mean?: Tensor;
  variance?: Tensor;
}

interface Attrs {
  axes: number[];
  bshape: number[];
  n: number;
}

export class BatchNormTrain extends Function {
  static override forward(ctx: Context<Attrs>, x: Tensor, weight: Tensor | null, bias: Tensor | null, eps: number, stats: BatchStats): Tensor {
    const C = x.shape[1];
    const axes = x.shape.map((_, i) => i).filter((i) => i !== 1);
    const bshape = x.shape.map((d, i) => (i === 1 ? d : 1));
    const n = x.size / C;
    const fused = fusedForward(x, weight, bias, eps);
    if (fused) {
      stats.mean = fused.mean;
      stats.variance = fused.variance;
      ctx.saveForBackward(fused.xhat, fused.invstd, weight!);
      ctx.attrs = { axes, bshape, n };
      return fused.y;
    }
    const mean = raw.binaryScalar('div', raw.reduce('sum', x, axes, true), n);
    const xc = raw.binary('sub', x, mean);
    const variance = raw.binaryScalar('div', raw.reduce('sum', raw.unary('square', xc), axes, true), n);
    const invstd = raw.unary('reciprocal', raw.unary('sqrt', raw.binaryScalar('add', variance, eps)));
    const xhat = raw.binary('mul', xc, invstd);
    let y = xhat;
    if (weight) y = raw.binary('mul', y, raw.reshape(weight, bshape));
    if (bias) y = raw.binary('add', y, raw.reshape(bias, bshape));
    stats.mean = raw.reshape(mean, [C]);
    stats.variance = raw.reshape(variance, [C]);
    ctx.saveForBackward(xhat, invstd, ...(weight ? [weight] : []));
    ctx.attrs = { axes, bshape, n };
    return y === xhat ? raw.contiguous(raw.unary('identity', xhat)) : y;
  }

  static override backward(ctx: Context<Attrs>, g: Tensor) {
    const [xhat, invstd, weight] = ctx.savedTensors;
    const { axes, bshape, n } = ctx.attrs;
    const C = bshape[1];
    const fused = weight ? fusedBackward(g, xhat, invstd, weight) : null;
    if (fused) return [ctx.needsInputGrad[0] ? fused.gx : null, ctx.needsInputGrad[1] ? fused.gw : null, ctx.needsInputGrad[2] ? fused.gb : null, null, null];
    const gw = ctx.needsInputGrad[1] ? raw.reshape(raw.reduce('sum', raw.binary('mul', g, xhat), axes), [C]) : null;
    const gb = ctx.needsInputGrad[2] ? raw.reshape(raw.reduce('sum', g, axes), [C]) : null;
    let gx: Tensor | null = null;
    if (ctx.needsInputGrad[0]) {
      const gh = weight ? raw.binary('mul', g, raw.reshape(weight, bshape)) : g;
      const sumGh = raw.reduce('sum', gh, axes, true);
      const sumGhXh = raw.reduce('sum', raw.binary('mul', gh, xhat), axes, true);
      const inner = raw.binary('sub', raw.binary('sub', raw.binaryScalar('mul', gh, n), sumGh), raw.binary('mul', xhat, sumGhXh));
      gx = raw.binary('mul', inner, raw.binaryScalar('div', invstd, n));
    }
    return [gx, gw, gb, null, null];
  }
}

/** A tensor that owns its contiguous buffer (what raw.reduce's in-place sum requires). */
const ownsBuffer = (t: Tensor) => t.isContiguous && t.offset === 0 && t.buffer.size === t.size;

function fusedForward(x: Tensor, weight: Tensor | null, bias: Tensor | null, eps: number) {
  const b = x.backend;
  if (!b.batchNormTrain || !weight || !bias || x.dtype !== 'float32' || x.ndim < 2 || !ownsBuffer(x)) return null;
  const [N, C] = x.shape, HW = x.size / Math.max(N * C, 1);
  const r = b.batchNormTrain(x.buffer, N, C, HW, raw.contiguous(weight).buffer, raw.contiguous(bias).buffer, eps);
  if (!r) return null;
  const bshape = x.shape.map((d, i) => (i === 1 ? d : 1));
  return {
    y: fromBuffer(b, r.y, x.shape), xhat: fromBuffer(b, r.xhat, x.shape), invstd: fromBuffer(b, r.invstd, bshape),
    mean: fromBuffer(b, r.mean, [C]), variance: fromBuffer(b, r.variance, [C]),
  };
}

function fusedBackward(g: Tensor, xhat: Tensor, invstd: Tensor, weight: Tensor) {
  const b = g.backend;
  if (!b.batchNormTrainBackward || g.dtype !== 'float32' || !ownsBuffer(g) || !ownsBuffer(xhat) || !ownsBuffer(invstd)) return null;
  const [N, C] = g.shape, HW = g.size / Math.max(N * C, 1);
  const r = b.batchNormTrainBackward(g.buffer, xhat.buffer, invstd.buffer, raw.contiguous(weight).buffer, N, C, HW);
  if (!r) return null;
  return { gx: fromBuffer(b, r.gx, g.shape), gw: fromBuffer(b, r.gw, [C]), gb: fromBuffer(b, r.gb, [C]) };
}
