/**
 * Requantization: int32 accumulators -> n-bit output levels, with integer arithmetic only.
 *
 * An integer conv / linear layer accumulates sum((x_q - x_zp) * (w_q - w_zp)) (+ bias) in int32; the
 * real value of the accumulator is s_x * s_w * acc, and the output level is
 *     y_q = clamp(y_zp + round(acc * M), qmin, qmax),   M = s_x * s_w / s_y
 * (Jacob et al. 2018, §2.2-2.3, eqs. 2-5; TFLite's reference_integer_ops FullyConnected / Conv output stage).
 * M is applied as a quantized multiplier (fixed-point.ts): per tensor, or per output channel when
 * the weights are quantized per channel (then M_c = s_x * s_w[c] / s_y).
 */
import { checkQuantizedMultiplier, multiplyByQuantizedMultiplier } from './fixed-point.js';
import { channelLayout, checkRange } from './qparams.js';

/** Where the channel index lives in row-major data, for per-channel multipliers. */
export interface ChannelAxis {
  shape: readonly number[];
  axis: number;
}

/**
 * out[i] = clamp(multiplyByQuantizedMultiplier(acc[i], multiplier, shift) + outZeroPoint, qmin, qmax).
 * `multiplier` and `shift` are numbers (per tensor) or arrays with one entry per channel, in which case
 * `channels` names the shape of `acc` and the channel axis. Each (multiplier, shift) comes from
 * quantizeMultiplier. A positive shift is a left shift of acc in int32, so acc * 2^shift must stay
 * within int32: that is checked here (TFLite leaves it undefined).
 */
export function requantize(
  acc: Int32Array,
  multiplier: number | ArrayLike<number>,
  shift: number | ArrayLike<number>,
  outZeroPoint: number,
  qmin: number,
  qmax: number,
  channels?: ChannelAxis,
): Int32Array {
  const who = 'requantize';
  if (!(acc instanceof Int32Array)) throw new Error(`${who}: acc must be an Int32Array`);
  checkRange(qmin, qmax, who);
  if (!Number.isInteger(outZeroPoint) || outZeroPoint < qmin || outZeroPoint > qmax) {
    throw new Error(`${who}: outZeroPoint must be an integer in [${qmin}, ${qmax}], got ${outZeroPoint}`);
  }
  const multipliers = typeof multiplier === 'number' ? [multiplier] : multiplier;
  const shifts = typeof shift === 'number' ? [shift] : shift;
  if (multipliers.length !== shifts.length) {
    throw new Error(`${who}: ${multipliers.length} multipliers but ${shifts.length} shifts`);
  }
  for (let c = 0; c < multipliers.length; c++) {
    checkQuantizedMultiplier(multipliers[c], shifts[c], multipliers.length > 1 ? `${who} (channel ${c})` : who);
  }

  let outer = 1;
  let inner = acc.length;
  let count = 1;
  if (channels !== undefined) {
    const layout = channelLayout(channels.shape, channels.axis, { multiplier: multipliers, shift: shifts }, acc.length, who);
    outer = layout.outer;
    inner = layout.inner;
    count = layout.channels;
  } else if (multipliers.length !== 1) {
    throw new Error(`${who}: ${multipliers.length} per-channel multipliers need { shape, axis } to locate the channel of each element`);
  }

  const out = new Int32Array(acc.length);
  let i = 0;
  for (let o = 0; o < outer; o++) {
    for (let c = 0; c < count; c++) {
      const m = multipliers[c];
      const s = shifts[c];
      if (s > 0) checkLeftShift(acc, i, inner, s, who);
      for (let t = 0; t < inner; t++, i++) {
        const v = multiplyByQuantizedMultiplier(acc[i], m, s) + outZeroPoint;
        out[i] = v < qmin ? qmin : v > qmax ? qmax : v;
      }
    }
  }
  return out;
}

/** Throw if acc[start .. start+count) * 2^leftShift would overflow int32. */
function checkLeftShift(acc: Int32Array, start: number, count: number, leftShift: number, who: string): void {
  const limit = 2 ** (31 - leftShift);
  for (let i = start; i < start + count; i++) {
    if (acc[i] >= limit || acc[i] < -limit) {
      throw new Error(`${who}: acc[${i}] = ${acc[i]} shifted left by ${leftShift} overflows int32`);
    }
  }
}
