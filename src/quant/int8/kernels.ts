/**
 * Integer kernels of the int8 engine, over Int32Array levels in NCHW, batch-major layout.
 *
 * A quantized conv2d / linear is an integer GEMM followed by a fixed-point output stage
 * (Jacob et al. 2018, §2.3-2.4; TFLite reference_integer_ops conv.h / fully_connected.h):
 *
 *   acc[o, p] = bias[o] + Σ_k (x_q[k, p] - inZeroPoint) · (w_q[o, k] - weightZeroPoint[o])     (int32, exact)
 *   y_q[o, p] = clamp(outZeroPoint + multiplyByQuantizedMultiplier(acc[o, p], multiplier[o], shift[o]), qmin, qmax)
 *
 * The zero points are subtracted before the product: weights once when the model is built,
 * inputs while they are copied into the im2col buffer (padding is written as 0, i.e. a padded
 * input equals inZeroPoint). This costs one subtraction per copied input instead of Jacob's
 * eq. 7 expansion into four terms, and keeps the GEMM a plain dot-product kernel.
 *
 * The GEMM is a parameter of type `Int32Gemm` (gemm.ts), chosen per layer by the engine.
 * Products and sums are int32 arithmetic throughout, except inside gemmTwoLane, which uses
 * float64 registers as exact 53-bit integers (no value there is ever rounded).
 *
 * Overflow: every kernel here assumes that no partial sum leaves int32. The engine proves
 * that per output channel when the model is built (validate.ts: |bias| + max|x - zp| ·
 * Σ|w - wzp| ≤ 2^31 - 1), so the int32 results are exact, never wrapped.
 */
import { multiplyByQuantizedMultiplier } from '../numerics/index.js';
import type { Int32Gemm } from './gemm.js';
import { TWO_30 } from '../numerics/int-limits.js';

// ------------------------------------------------------------------------------ geometry

export interface Conv2dGeometry {
  /** Input channels, height, width. */
  C: number;
  H: number;
  W: number;
  /** Output channels and kernel size; weights are [O, C / groups, KH, KW]. */
  O: number;
  KH: number;
  KW: number;
  OH: number;
  OW: number;
  stride: readonly [number, number];
  padding: readonly [number, number];
  dilation: readonly [number, number];
  groups: number;
}

export interface Pool2dGeometry {
  /** Planes (batch · channels), height, width of the input. */
  planes: number;
  H: number;
  W: number;
  OH: number;
  OW: number;
  kernel: readonly [number, number];
  stride: readonly [number, number];
  padding: readonly [number, number];
  dilation: readonly [number, number];
}

/** PyTorch's output size, defined once on the ground floor (src/tensor/shape.ts). */
export { convOutSize } from '../../tensor/shape.js';

// ------------------------------------------------------------------------- output stage

/** Per-output-channel requantization parameters of a conv2d / linear layer. */
export interface OutputStage {
  /** int32 bias per channel (zeros when the layer has none). */
  bias: Int32Array;
  multiplier: Int32Array;
  shift: Int32Array;
  outZeroPoint: number;
  qmin: number;
  qmax: number;
}

/**
 * In place, for `count` accumulators of channel o starting at `start`:
 * buf[i] = clamp(outZeroPoint + multiplyByQuantizedMultiplier(buf[i] + bias[o], multiplier[o], shift[o]), qmin, qmax).
 * This is TFLite's output stage (MultiplyByQuantizedMultiplier, then the offset, then the
 * activation clamp) with the fixed-point primitives of src/quant/numerics, which are exact
 * without BigInt.
 */
export function requantizeChannel(buf: Int32Array, start: number, count: number, o: number, stage: OutputStage): void {
  const b = stage.bias[o], m = stage.multiplier[o], s = stage.shift[o];
  const zp = stage.outZeroPoint, qmin = stage.qmin, qmax = stage.qmax;
  const end = start + count;
  for (let i = start; i < end; i++) {
    const v = zp + multiplyByQuantizedMultiplierFast((buf[i] + b) | 0, m, s);
    buf[i] = v < qmin ? qmin : v > qmax ? qmax : v;
  }
}

const SMALL_ACC = 2 ** 22;
const INV_TWO_31 = 2 ** -31;

/**
 * multiplyByQuantizedMultiplier of src/quant/numerics, bit for bit, with a shortcut for the
 * common case of a right shift and |acc| < 2^22: then acc · multiplier < 2^22 · 2^31 = 2^53 is
 * exact in one float64 product, so SaturatingRoundingDoublingHighMul's floor((a·b + 2^30) / 2^31)
 * (the formula numerics documents; saturation needs a = b = -2^31) is evaluated directly
 * instead of through numerics' 16-bit split. RoundingDivideByPOT is the same bit arithmetic as
 * numerics'. Everything else goes to numerics. Tests check the two agree on both sides of 2^22.
 */
export function multiplyByQuantizedMultiplierFast(acc: number, multiplier: number, shift: number): number {
  if (shift > 0 || acc >= SMALL_ACC || acc <= -SMALL_ACC) return multiplyByQuantizedMultiplier(acc, multiplier, shift);
  const high = Math.floor((acc * multiplier + TWO_30) * INV_TWO_31);
  const exponent = -shift;
  const mask = ~(-1 << exponent);
  const threshold = (mask >> 1) + (high < 0 ? 1 : 0);
  return (high >> exponent) + ((high & mask) > threshold ? 1 : 0);
}

// --------------------------------------------------------------------------------- conv

/**
 * Copy the receptive fields of one image's channel group into `cols` as (x - zeroPoint):
 * cols[p · Kg + (c · KH + kh) · KW + kw] for output pixel p = oh · OW + ow, matching the weight
 * layout [O, Cg, KH, KW]. Padded positions are written as 0 (the input zero point).
 */
export function im2col(
  x: Int32Array, imageOffset: number, g: Conv2dGeometry, channelStart: number, zeroPoint: number, cols: Int32Array,
): void {
  const { H, W, KH, KW, OH, OW } = g;
  const Cg = g.C / g.groups;
  const [sh, sw] = g.stride, [ph, pw] = g.padding, [dh, dw] = g.dilation;
  let p = 0;
  if (ph === 0 && pw === 0) {
    // Without padding every receptive field lies inside the image (that is how OH, OW are defined).
    for (let oh = 0; oh < OH; oh++) {
      for (let ow = 0; ow < OW; ow++) {
        const corner = imageOffset + channelStart * H * W + oh * sh * W + ow * sw;
        for (let c = 0; c < Cg; c++) {
          for (let kh = 0; kh < KH; kh++) {
            let at = corner + c * H * W + kh * dh * W;
            for (let kw = 0; kw < KW; kw++, at += dw) cols[p++] = x[at] - zeroPoint;
          }
        }
      }
    }
    return;
  }
  for (let oh = 0; oh < OH; oh++) {
    const ih0 = oh * sh - ph;
    for (let ow = 0; ow < OW; ow++) {
      const iw0 = ow * sw - pw;
      for (let c = 0; c < Cg; c++) {
        const plane = imageOffset + (channelStart + c) * H * W;
        for (let kh = 0; kh < KH; kh++) {
          const ih = ih0 + kh * dh;
          if (ih < 0 || ih >= H) {
            for (let kw = 0; kw < KW; kw++) cols[p++] = 0;
            continue;
          }
          const row = plane + ih * W;
          for (let kw = 0; kw < KW; kw++) {
            const iw = iw0 + kw * dw;
            cols[p++] = iw >= 0 && iw < W ? x[row + iw] - zeroPoint : 0;
          }
        }
      }
    }
  }
}

/**
 * Integer conv2d of `batch` images: x [batch, C, H, W] levels -> out [batch, O, OH, OW] levels.
 * `weight` holds (w_q - weightZeroPoint[o]) as [O, Cg·KH·KW]; `cols` is scratch of at least
 * OH·OW·Cg·KH·KW elements. One GEMM per image and group writes the accumulators straight into
 * their NCHW place in `out`, then the output stage requantizes them in place.
 */
export function conv2dLevels(
  x: Int32Array, batch: number, g: Conv2dGeometry, weight: Int32Array, inZeroPoint: number,
  stage: OutputStage, gemm: Int32Gemm, cols: Int32Array, out: Int32Array,
): void {
  const P = g.OH * g.OW;
  const Cg = g.C / g.groups, Og = g.O / g.groups;
  const Kg = Cg * g.KH * g.KW;
  const inSize = g.C * g.H * g.W, outSize = g.O * P;
  for (let gi = 0; gi < g.groups; gi++) {
    const w = g.groups === 1 ? weight : weight.subarray(gi * Og * Kg, (gi + 1) * Og * Kg);
    for (let n = 0; n < batch; n++) {
      im2col(x, n * inSize, g, gi * Cg, inZeroPoint, cols);
      const at = n * outSize + gi * Og * P;
      gemm(Og, P, Kg, w, cols, out.subarray(at, at + Og * P));
      for (let o = 0; o < Og; o++) requantizeChannel(out, at + o * P, P, gi * Og + o, stage);
    }
  }
}

/**
 * conv2d immediately followed by maxpool2d, pooling the accumulators before requantizing them.
 * The output stage y(acc) = clamp(zp + MBQM(acc + bias, m, s), qmin, qmax) is non-decreasing in
 * acc (for m >= 0 each step, the doubling high multiply, the rounding shift and the clamp, is
 * non-decreasing, and the validated bound rules out wrap-around), so
 * max over a window of y(acc) = y(max over the window of acc): the same levels as conv2dLevels
 * then maxPool2dLevels, with a quarter of the requantization work for a 2x2 pool.
 * `acc` is scratch of at least (O / groups)·OH·OW elements; out is [batch, O, pool.OH, pool.OW].
 */
export function conv2dMaxPoolLevels(
  x: Int32Array, batch: number, g: Conv2dGeometry, weight: Int32Array, inZeroPoint: number,
  stage: OutputStage, gemm: Int32Gemm, cols: Int32Array, acc: Int32Array,
  pool: Omit<Pool2dGeometry, 'planes'>, out: Int32Array,
): void {
  const P = g.OH * g.OW, PP = pool.OH * pool.OW;
  const Cg = g.C / g.groups, Og = g.O / g.groups;
  const Kg = Cg * g.KH * g.KW;
  const inSize = g.C * g.H * g.W, outSize = g.O * PP;
  const planes: Pool2dGeometry = { ...pool, planes: Og };
  for (let gi = 0; gi < g.groups; gi++) {
    const w = g.groups === 1 ? weight : weight.subarray(gi * Og * Kg, (gi + 1) * Og * Kg);
    for (let n = 0; n < batch; n++) {
      im2col(x, n * inSize, g, gi * Cg, inZeroPoint, cols);
      gemm(Og, P, Kg, w, cols, acc);
      const at = n * outSize + gi * Og * PP;
      maxPool2dLevels(acc, planes, out.subarray(at, at + Og * PP));
      for (let o = 0; o < Og; o++) requantizeChannel(out, at + o * PP, PP, gi * Og + o, stage);
    }
  }
}

// ------------------------------------------------------------------------------- linear

/** Rows of the input handed to one GEMM call by linearLevels. */
export const LINEAR_ROWS_PER_GEMM = 64;

/**
 * Integer linear layer: x [batch, I] levels -> out [batch, O] levels, with `weight` holding
 * (w_q - weightZeroPoint[o]) as [O, I]. Computed as out = (x - zp) · weightᵀ, i.e. the GEMM with
 * M = rows, N = O, so each output row lands in place. `rows` is scratch of at least
 * min(batch, LINEAR_ROWS_PER_GEMM) · I elements.
 */
export function linearLevels(
  x: Int32Array, batch: number, I: number, O: number, weight: Int32Array, inZeroPoint: number,
  stage: OutputStage, gemm: Int32Gemm, rows: Int32Array, out: Int32Array,
): void {
  for (let n0 = 0; n0 < batch; n0 += LINEAR_ROWS_PER_GEMM) {
    const count = Math.min(LINEAR_ROWS_PER_GEMM, batch - n0);
    const src = n0 * I;
    for (let t = 0; t < count * I; t++) rows[t] = x[src + t] - inZeroPoint;
    gemm(count, O, I, rows, weight, out.subarray(n0 * O, (n0 + count) * O));
    // The channel is the column here, so requantize row by row with a per-element channel.
    const zp = stage.outZeroPoint, qmin = stage.qmin, qmax = stage.qmax;
    for (let r = 0; r < count; r++) {
      const base = (n0 + r) * O;
      for (let o = 0; o < O; o++) {
        const v = zp + multiplyByQuantizedMultiplierFast((out[base + o] + stage.bias[o]) | 0, stage.multiplier[o], stage.shift[o]);
        out[base + o] = v < qmin ? qmin : v > qmax ? qmax : v;
      }
    }
  }
}

// -------------------------------------------------------------------------- pooling, relu

/**
 * Max pooling on levels. Dequantization x = (q - zp)·s is increasing in q, so the largest level
 * is the level of the largest value: this equals dequantize -> max pool -> quantize exactly.
 * Padded positions are skipped (never win, as PyTorch's -inf padding); the model validation
 * guarantees every window holds at least one real input. The same code pools the float32 values
 * of a float segment (float-layers.ts): max commutes with any increasing map.
 */
export function maxPool2dLevels(x: Int32Array | Float32Array, g: Pool2dGeometry, out: Int32Array | Float32Array): void {
  const { planes, H, W, OH, OW } = g;
  const [kh, kw] = g.kernel, [sh, sw] = g.stride, [ph, pw] = g.padding, [dh, dw] = g.dilation;
  let o = 0;
  if (ph === 0 && pw === 0) {
    // Without padding every window lies inside the plane: no bounds checks.
    for (let pl = 0; pl < planes; pl++) {
      for (let oh = 0; oh < OH; oh++) {
        for (let ow = 0; ow < OW; ow++, o++) {
          const corner = pl * H * W + oh * sh * W + ow * sw;
          let best = x[corner];
          for (let i = 0; i < kh; i++) {
            let at = corner + i * dh * W;
            for (let j = 0; j < kw; j++, at += dw) if (x[at] > best) best = x[at];
          }
          out[o] = best;
        }
      }
    }
    return;
  }
  for (let pl = 0; pl < planes; pl++) {
    const plane = pl * H * W;
    for (let oh = 0; oh < OH; oh++) {
      for (let ow = 0; ow < OW; ow++, o++) {
        let best = -Infinity;
        for (let i = 0; i < kh; i++) {
          const ih = oh * sh - ph + i * dh;
          if (ih < 0 || ih >= H) continue;
          const row = plane + ih * W;
          for (let j = 0; j < kw; j++) {
            const iw = ow * sw - pw + j * dw;
            if (iw < 0 || iw >= W) continue;
            const v = x[row + iw];
            if (v > best) best = v;
          }
        }
        out[o] = best;
      }
    }
  }
}

/** out[i] = max(x[i], zeroPoint): ReLU on levels, since real 0 is exactly the zero point (and on float32 values with zeroPoint 0). */
export function reluLevels(x: Int32Array | Float32Array, count: number, zeroPoint: number, out: Int32Array | Float32Array): void {
  for (let i = 0; i < count; i++) {
    const v = x[i];
    out[i] = v > zeroPoint ? v : zeroPoint;
  }
}
