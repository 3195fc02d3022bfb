/**
 * Power-of-two (logarithmic) weights: w_p = α_o · s · 2^k, levels {0, ±1, ±2, ±4, …, ±2^(K−1)}
 * (Miyashita, Lee & Murmann 2016, "Convolutional Neural Networks using Logarithmic Data
 * Representation"; Zhou et al. 2017, INQ). At b bits one bit is the sign and the other b − 1
 * encode K = 2^(b−1) − 1 exponents plus zero: 3 bits → {0, ±1, ±2, ±4}, 4 bits → {0, ±1, …, ±64}.
 *
 * Per output channel α_o = max|W_o| / 2^(K−1), so the largest weight lands on the top level; each
 * weight's exponent is its log2 magnitude in units of α rounded to nearest (Miyashita et al.: round
 * in the log domain), and magnitudes below α·2^−0.5 (halfway, in the log domain, to the virtual
 * level 2^−1) become 0. Training uses the straight-through estimator clipped at |w| ≤ 1 (as
 * BinaryConnect's, binary.ts).
 *
 * Integer inference: the levels are integers (|level| ≤ 64 at 4 bits, within int8), so the int8
 * engine accumulates them exactly as they are, with α folded into the requantization multiplier;
 * each product x·(±2^k) is what a shift kernel would compute (x << k), bit for bit.
 */
import { Context, Function } from '../autograd/function.js';
import type { Tensor } from '../tensor/tensor.js';
import { codeForward, type WeightCode } from './binary.js';
import { straightThrough } from './fake-quantize.js';

/** Number of nonzero magnitudes at b bits: 2^(b−1) − 1 (b in 2..8; 8 bits would need 2^126, so at most 4 here). */
export function pow2Exponents(bits: number): number {
  if (!Number.isInteger(bits) || bits < 2 || bits > 4) throw new Error(`pow2: bits must be 2, 3 or 4 (levels up to 2^6 fit int8), got ${bits}`);
  return 2 ** (bits - 1) - 1;
}

export function pow2Code(w: ArrayLike<number>, O: number, bits: number): WeightCode {
  if (O <= 0 || w.length % O !== 0) throw new Error(`pow2Code: ${w.length} weights do not split into ${O} output channels`);
  const K = pow2Exponents(bits);
  const top = 2 ** (K - 1);
  const per = w.length / O;
  const levels = new Int32Array(w.length), alpha = new Float32Array(O);
  for (let o = 0; o < O; o++) {
    let max = 0;
    for (let k = o * per; k < (o + 1) * per; k++) max = Math.max(max, Math.abs(w[k]));
    const a = Math.max(Math.fround(max / top), 1e-8);
    alpha[o] = a;
    for (let k = o * per; k < (o + 1) * per; k++) {
      const m = Math.abs(w[k]) / a;
      if (m < Math.SQRT1_2) continue; // level 0
      const e = Math.min(Math.max(Math.round(Math.log2(m)), 0), K - 1);
      levels[k] = (w[k] < 0 ? -1 : 1) * 2 ** e;
    }
  }
  return { levels, alpha };
}

/** Power-of-two weight quantization with the clipped straight-through estimator. */
export class Pow2WeightFunction extends Function {
  static override forward(ctx: Context, w: Tensor, bits: number, clip = 1): Tensor {
    return codeForward(ctx, w, (v, O) => pow2Code(v, O, bits), clip);
  }
  static override backward(ctx: Context, g: Tensor) {
    const [mask] = ctx.savedTensors;
    return [straightThrough(mask, g), null, null];
  }
}
