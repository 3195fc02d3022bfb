/**
 * Ternary weights, Ternary Weight Networks (Li & Liu 2016, eq. 7-9 approximated as in their §2.2):
 * per output channel a threshold Δ = 0.7·mean|W| and a scale α = mean{|w| : |w| > Δ};
 * w_t = α·sign(w) where |w| > Δ, else 0. Levels {−1, 0, +1} (a 2-bit code), trained with the
 * straight-through estimator (clipped at |w| ≤ 1 as BinaryConnect's, src/quant/binary.ts).
 *
 * Integer inference is the binary scheme's: levels in the narrow signed range [−1, 1], zero point
 * 0, α folded into the requantization multiplier s_in·α_o/s_out.
 */
import type { Context } from '../autograd/function.js';
import type { Tensor } from '../tensor/tensor.js';
import { ClippedSteFunction, codeForward, type WeightCode } from './binary.js';

/** TWN's threshold factor: Δ = 0.7·E|W| (Li & Liu 2016, eq. 9). */
export const TWN_THRESHOLD = 0.7;

export function ternaryCode(w: ArrayLike<number>, O: number): WeightCode {
  if (O <= 0 || w.length % O !== 0) throw new Error(`ternaryCode: ${w.length} weights do not split into ${O} output channels`);
  const per = w.length / O;
  const levels = new Int32Array(w.length), alpha = new Float32Array(O);
  for (let o = 0; o < O; o++) {
    let sum = 0;
    for (let k = o * per; k < (o + 1) * per; k++) sum += Math.abs(w[k]);
    const delta = (TWN_THRESHOLD * sum) / per;
    let kept = 0, keptSum = 0;
    for (let k = o * per; k < (o + 1) * per; k++) {
      const a = Math.abs(w[k]);
      if (a > delta) {
        levels[k] = w[k] > 0 ? 1 : -1;
        kept++;
        keptSum += a;
      }
    }
    alpha[o] = Math.max(Math.fround(kept ? keptSum / kept : 0), 1e-8);
  }
  return { levels, alpha };
}

/** TWN weight ternarization with the clipped straight-through estimator. */
export class TernaryWeightFunction extends ClippedSteFunction {
  static override forward(ctx: Context, w: Tensor, clip = 1): Tensor {
    return codeForward(ctx, w, ternaryCode, clip);
  }
}
