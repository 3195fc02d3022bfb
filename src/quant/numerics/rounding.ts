/**
 * Rounding to an integer, with the tie rule named.
 *
 * Quantization rounds x/scale to a level; the only place two correct implementations can disagree is
 * an exact tie k + 0.5. The frameworks qgrad is checked against settle ties differently:
 *
 * - PyTorch (fake_quantize_*, quantize_per_tensor, torch.round in observers) calls std::nearbyint in
 *   the default floating-point environment: ties go to the even neighbour ('halfEven', IEEE 754's
 *   roundTiesToEven). This is qgrad's default.
 * - TFLite rounds with TfLiteRound = std::round: ties go away from zero ('halfAwayFromZero'). Its
 *   fixed-point RoundingDivideByPOT also rounds ties away from zero (see fixed-point.ts).
 *
 * JavaScript's Math.round is neither: it rounds ties toward +Infinity (Math.round(-2.5) === -2), so
 * it must never be used for quantization on its own.
 */

export { DEFAULT_ROUNDING, roundHalfAwayFromZero, roundHalfEven, rounderFor, type Rounding } from '../../tensor/rounding.js';
import { DEFAULT_ROUNDING, roundHalfAwayFromZero, roundHalfEven, type Rounding } from '../../tensor/rounding.js';

/** Round `x` with the named tie rule. */
export function roundWith(x: number, rounding: Rounding = DEFAULT_ROUNDING): number {
  return rounding === 'halfEven' ? roundHalfEven(x) : roundHalfAwayFromZero(x);
}
