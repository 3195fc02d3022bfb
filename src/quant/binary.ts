/**
 * Binary weights: w_b = α_o · sign(w), levels {−1, +1} with one scale per output channel.
 *
 *   BinaryConnect (Courbariaux, Bengio & David 2015): the forward uses sign(w); the backward is the
 *   straight-through estimator with clipping, ∂w_b/∂w = 1 where |w| ≤ 1 and 0 elsewhere, and the
 *   real-valued weights are the ones the optimizer updates.
 *   XNOR-Net (Rastegari et al. 2016, §3.1): the scale that minimises ‖W − α·sign(W)‖² is
 *   α = mean|W| (here per output channel, as their per-filter α).
 *
 * sign(0) is +1, so every weight has a level of ±1 (a 1-bit code). Integer inference stores the
 * levels in a narrow 2-bit signed range [−1, 1] with zero point 0 and folds α into the layer's
 * requantization multiplier s_in·α_o/s_out (convert.ts): accumulation stays exact in int32.
 * The clipping threshold |w| ≤ 1 is BinaryConnect's (an absolute bound, as in the paper; our
 * weights are well inside it, so it only stops weights that drift far out from learning further).
 */
import { Context, Function } from '../autograd/function.js';
import { fromArray } from '../tensor/creation.js';
import type { Tensor } from '../tensor/tensor.js';
import { straightThrough } from './fake-quantize.js';

export interface WeightCode {
  /** Integer level per element, in [−1, 1]. */
  levels: Int32Array;
  /** Scale per output channel (axis 0). */
  alpha: Float32Array;
}

/** sign levels and α_o = mean|W_o| per output channel (axis 0) of a weight with O channels. */
export function binaryCode(w: ArrayLike<number>, O: number): WeightCode {
  if (O <= 0 || w.length % O !== 0) throw new Error(`binaryCode: ${w.length} weights do not split into ${O} output channels`);
  const per = w.length / O;
  const levels = new Int32Array(w.length), alpha = new Float32Array(O);
  for (let o = 0; o < O; o++) {
    let sum = 0;
    for (let k = o * per; k < (o + 1) * per; k++) {
      sum += Math.abs(w[k]);
      levels[k] = w[k] >= 0 ? 1 : -1;
    }
    // an all-zero channel would have α = 0: keep a tiny positive scale so the multiplier is defined
    alpha[o] = Math.max(Math.fround(sum / per), 1e-8);
  }
  return { levels, alpha };
}

/** Shared by the binary and ternary functions: forward α·level, backward the clipped STE. */
export function codeForward(ctx: Context, w: Tensor, code: (v: Float32Array, O: number) => WeightCode, clip: number): Tensor {
  const v = Float32Array.from(w.toTypedArray());
  const O = w.shape[0];
  const { levels, alpha } = code(v, O);
  const per = v.length / O;
  const y = new Float32Array(v.length), mask = new Float32Array(v.length);
  for (let k = 0; k < v.length; k++) {
    y[k] = levels[k] * alpha[Math.floor(k / per)];
    mask[k] = Math.abs(v[k]) <= clip ? 1 : 0;
  }
  ctx.saveForBackward(fromArray(mask, w.shape, { device: w.device }));
  return fromArray(y, w.shape, { device: w.device });
}

/**
 * The backward shared by the weight-code Functions whose forward is `(w, clip)`: the clipped
 * straight-through estimator on the mask codeForward saved (no gradient for clip).
 */
export abstract class ClippedSteFunction extends Function {
  static override backward(ctx: Context, g: Tensor) {
    const [mask] = ctx.savedTensors;
    return [straightThrough(mask, g), null];
  }
}

/** BinaryConnect / XNOR-Net weight binarization with the clipped straight-through estimator. */
export class BinaryWeightFunction extends ClippedSteFunction {
  static override forward(ctx: Context, w: Tensor, clip = 1): Tensor {
    return codeForward(ctx, w, binaryCode, clip);
  }
}
