/**
 * The integer engine's requantization, simulated in the fake-quant forward (evaluation only).
 *
 * The fake-quant layer computes y = conv(x̂, ŵ) + b̂ in float and rounds y / s_out to a level. The
 * integer engine (src/quant/int8/kernels.ts) computes the same accumulator exactly,
 *
 *   acc = Σ (x_q − z_in)(w_q − z_w) + b_q,       y = s_in·s_w[o]·acc,
 *
 * and rescales it with TFLite's fixed-point MultiplyByQuantizedMultiplier (Jacob et al. 2018
 * eq. 5-6): SaturatingRoundingDoublingHighMul rounds acc·m / 2^31 to an integer FIRST, and
 * RoundingDivideByPOT then divides by 2^-shift and rounds again. That double rounding is
 * harmless at 8 bits, where accumulators are large, but at 2-4 bits accumulators are small
 * integers (tens) and the multiplier's right shift is a few bits: acc = 15, M = 0.0317 is 0.475
 * to a float (level 0) but round(round(15·m/2^31)/16) = round(8/16) = 1 for the engine. Measured on
 * the quick MNIST CNN at 2 bits, 1.9% of the second conv's outputs differ by one level, and 2.7%
 * of predictions change.
 *
 * So that the fake-quant model predicts what the integer model will, evaluation (not training,
 * where the straight-through float path is what gradients need) recovers the integer accumulator
 * from the float result, acc = round(y / (s_in·s_w[o])) (exact: the float error of y is far below
 * half a unit for any accumulator below ~2^20), and applies the engine's output stage to it with
 * the multiplier and shift that convert() will store (computed here by the same formula).
 */
import { fromArray } from '../../tensor/creation.js';
import { CpuBackend, d } from '../../tensor/cpu/index.js';
import * as raw from '../../tensor/raw.js';
import { fromBuffer, type Tensor } from '../../tensor/tensor.js';
import { WasmBackend } from '../../tensor/wasm/index.js';
import { requantWasm } from './requant-kernel.js';
import { multiplyByQuantizedMultiplier, quantizeMultiplier } from '../numerics/index.js';
import { INT32_MAX, INT32_MIN, TWO_30 } from '../numerics/int-limits.js';

const INV_TWO_31 = 2 ** -31;
/** |acc| below this keeps acc·multiplier (< 2^31) under 2^52, where float64 is exact. */
const LIMIT = 2 ** 21;

/** The engine's (multiplier, shift) per output channel, as convert.ts computes them. */
export function requantMultipliers(sIn: number, wScale: ArrayLike<number>, sOut: number, channels: number): { multiplier: Int32Array; shift: Int32Array } {
  const multiplier = new Int32Array(channels), shift = new Int32Array(channels);
  for (let o = 0; o < channels; o++) {
    const m = quantizeMultiplier((sIn * Math.fround(wScale[wScale.length === 1 ? 0 : o])) / sOut);
    multiplier[o] = m.multiplier;
    shift[o] = m.shift;
  }
  return { multiplier, shift };
}

export interface RequantParams {
  sIn: number;
  /** Weight scale per output channel (or one for all). */
  wScale: ArrayLike<number>;
  sOut: number;
  zOut: number;
  /** Output clamp in levels (a fused ReLU raises qmin to zOut, as convert does). */
  qmin: number;
  qmax: number;
}

/**
 * y: the float pre-activation [N, O, ...] (channel axis 1) whose values are s_in·s_w[o]·(integer).
 * Returns the dequantized levels (level − zOut)·sOut, exactly what the integer engine's layer
 * followed by a dequantize would give, as a tensor on y's device without a gradient.
 *
 * On the cpu-side backends (typed-array buffers) a float32 y is read in place and the result
 * written into a buffer of the backend (its pool, on device wasm): no host copies. On device wasm
 * the WebAssembly kernel of requant-kernel.ts does the arithmetic where it applies, bit for bit the loop of
 * simulateRequantInto, which stays the definition and runs everywhere else.
 */
export function simulateRequant(y: Tensor, p: RequantParams): Tensor {
  const O = y.shape[1];
  const inner = y.shape.slice(2).reduce((a, b) => a * b, 1);
  if (y.backend instanceof CpuBackend && y.dtype === 'float32') {
    const v = d(raw.contiguous(y).buffer) as Float32Array;
    const buf = y.backend.alloc('float32', v.length);
    const out = d(buf) as Float32Array;
    const { multiplier, shift } = requantMultipliers(p.sIn, p.wScale, p.sOut, O);
    const inv = new Float64Array(O);
    for (let o = 0; o < O; o++) inv[o] = 1 / (p.sIn * Math.fround(p.wScale[p.wScale.length === 1 ? 0 : o]));
    const fast = y.backend instanceof WasmBackend && requantWasm(v, out, O, inner, { inv, multiplier, shift }, p);
    if (!fast) simulateRequantInto(v, out, O, inner, p);
    return fromBuffer(y.backend, buf, y.shape);
  }
  const v = y.toTypedArray();
  const out = new Float32Array(v.length);
  simulateRequantInto(v, out, O, inner, p);
  return fromArray(out, y.shape, { device: y.device });
}

/** The definition: out = simulateRequant's values for v laid out [N, O, inner]. */
export function simulateRequantInto(v: ArrayLike<number>, out: Float32Array, O: number, inner: number, p: RequantParams): void {
  const { multiplier, shift } = requantMultipliers(p.sIn, p.wScale, p.sOut, O);
  const sOut = Math.fround(p.sOut), zOut = p.zOut, qmin = p.qmin, qmax = p.qmax;
  const N = inner === 0 || O === 0 ? 0 : v.length / (O * inner);
  for (let o = 0; o < O; o++) {
    const inv = 1 / (p.sIn * Math.fround(p.wScale[p.wScale.length === 1 ? 0 : o]));
    const m = multiplier[o], sh = shift[o];
    const e = Math.max(-sh, 0), invPot = 1 / 2 ** e, half = 2 ** e / 2;
    // The float formula below is exact while |acc·m| < 2^52; beyond that (or a left shift) the primitive runs.
    const inline = sh <= 0;
    for (let n = 0; n < N; n++) {
      const base = (n * O + o) * inner;
      for (let i = base; i < base + inner; i++) {
        let acc = Math.round(v[i] * inv);
        let r: number;
        if (inline && acc < LIMIT && acc > -LIMIT) {
          // SaturatingRoundingDoublingHighMul = floor((acc·m + 2^30) / 2^31), then RoundingDivideByPOT
          // = x / 2^e rounded half away from zero (both exact in float64; division by 2^e is a product by 2^-e)
          const high = Math.floor((acc * m + TWO_30) * INV_TWO_31);
          r = high >= 0 ? Math.floor((high + half) * invPot) : -Math.floor((half - high) * invPot);
        } else {
          // the engine proves its accumulators fit int32 (validate.ts); clamp so the primitive's contract holds regardless
          acc = Math.min(Math.max(acc, INT32_MIN), INT32_MAX);
          r = multiplyByQuantizedMultiplier(acc, m, sh);
        }
        const level = r + zOut < qmin ? qmin : r + zOut > qmax ? qmax : r + zOut;
        out[i] = (level - zOut) * sOut;
      }
    }
  }
}
