/**
 * Learned step-size quantization (LSQ, Esser et al. 2019), as PyTorch's _LearnableFakeQuantize:
 * scale s and zero point z are trained with the network. With u = x/s + z (z rounded and clamped
 * to an integer in the forward, as PyTorch does),
 * level = clamp(round(u), qmin, qmax), y = (level − z)·s, and round's derivative taken as 1 (STE):
 *
 *   inside  (qmin ≤ round(u) ≤ qmax): ∂y/∂x = 1,  ∂y/∂s = round(u) − u,   ∂y/∂z = 0
 *   below   (round(u) < qmin):        ∂y/∂x = 0,  ∂y/∂s = qmin − z,      ∂y/∂z = −s
 *   above   (round(u) > qmax):        ∂y/∂x = 0,  ∂y/∂s = qmax − z,      ∂y/∂z = −s
 *
 * The scale and zero-point gradients are multiplied by gradFactor (as PyTorch does for both) (LSQ uses 1/√(numel·qmax) to balance its step
 * size against the weights'). Away from the rounding discontinuities these are exact derivatives
 * in s and z of the piecewise expression, which the tests check by finite differences.
 * Per tensor: s and z are 1-element tensors.
 */
import * as raw from '../tensor/raw.js';
import { fromArray, full } from '../tensor/creation.js';
import { Tensor } from '../tensor/tensor.js';
import { Context, Function } from '../autograd/function.js';
import type { Rounding } from '../tensor/backend.js';
import { roundWith } from './numerics/rounding.js';

interface LsqAttrs {
  scaleShape: readonly number[];
  zpShape: readonly number[];
  qmin: number;
  qmax: number;
  gradFactor: number;
}

function roundTensor(u: Tensor, rounding: Rounding): Tensor {
  // Exact ties handled on the host: u is a small per-batch tensor; correctness over speed here.
  const data = u.toTypedArray();
  const out = new Float32Array(data.length);
  for (let i = 0; i < data.length; i++) out[i] = roundWith(data[i], rounding);
  return fromArray(out, u.shape, { dtype: u.dtype, device: u.device });
}

export class LearnableFakeQuantizeFunction extends Function {
  static override forward(ctx: Context<LsqAttrs>, x: Tensor, scale: Tensor, zeroPoint: Tensor, qmin: number, qmax: number, gradFactor: number, rounding: Rounding = 'halfEven'): Tensor {
    if (scale.size !== 1 || zeroPoint.size !== 1) throw new Error('learnableFakeQuantize: scale and zeroPoint must have one element each (per-tensor)');
    const s = raw.binaryScalar('maximum', raw.reshape(scale, []), 1e-8);
    // Like PyTorch, the zero point used in the forward is the learned value rounded and clamped
    // (rounded with the named mode, as computeQParams rounds zero points; never Math.round).
    const zv = Math.min(Math.max(roundWith(zeroPoint.item(), rounding), qmin), qmax);
    const z = full([], zv, { dtype: x.dtype, device: x.device });
    const u = raw.binary('add', raw.binary('div', x, s), z);
    // The level exactly as fakeQuantize computes it, z + round(float32(x · float32(1/s))) (PyTorch's
    // learnable forward calls fake_quantize_per_tensor_affine): rounding x/s + z instead differs by
    // one level near ties. u above is only the STE's ∂y/∂s term.
    const sv = s.item();
    const inv = x.dtype === 'float32' ? Math.fround(1 / Math.fround(sv)) : 1 / sv;
    const r = raw.binaryScalar('add', roundTensor(raw.binaryScalar('mul', x, inv), rounding), zv);
    const level = raw.binaryScalar('minimum', raw.binaryScalar('maximum', r, qmin), qmax);
    ctx.saveForBackward(u, r, s, z);
    ctx.attrs = { scaleShape: scale.shape, zpShape: zeroPoint.shape, qmin, qmax, gradFactor };
    return raw.binary('mul', raw.binary('sub', level, z), s);
  }

  static override backward(ctx: Context<LsqAttrs>, g: Tensor) {
    const [u, r, s, z] = ctx.savedTensors;
    const { qmin, qmax, gradFactor } = ctx.attrs;
    const below = raw.binaryScalar('lt', r, qmin);
    const above = raw.binaryScalar('gt', r, qmax);
    const inside = raw.scalarBinary('sub', 1, raw.binary('add', below, above));
    const gx = raw.binary('mul', g, inside);
    // ∂y/∂s per element
    // where, not a product with the mask: a clamped u = ±Infinity (x/s overflowed) would make r − u NaN.
    const dsIn = raw.where(inside, raw.binary('sub', r, u), raw.binaryScalar('mul', inside, 0));
    const dsBelow = raw.binary('mul', below, raw.scalarBinary('sub', qmin, z));
    const dsAbove = raw.binary('mul', above, raw.scalarBinary('sub', qmax, z));
    const ds = raw.binary('add', raw.binary('add', dsIn, dsBelow), dsAbove);
    const gs = raw.binaryScalar('mul', raw.reduce('sum', raw.binary('mul', g, ds)), gradFactor);
    const gz = raw.binaryScalar('mul', raw.reduce('sum', raw.binary('mul', g, raw.binary('mul', raw.binary('add', below, above), raw.unary('neg', s)))), gradFactor);
    return [
      gx,
      ctx.needsInputGrad[1] ? raw.reshape(gs, ctx.attrs.scaleShape) : null,
      ctx.needsInputGrad[2] ? raw.reshape(gz, ctx.attrs.zpShape) : null,
      null, null, null, null,
    ];
  }
}
