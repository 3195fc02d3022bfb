/**
 * One Adam (or AdamW) step for one parameter as a single loop (PyTorch's fused/foreach Adam): the
 * same values as src/nn/optim/adam.ts's tensor ops (Kingma & Ba 2015, Algorithm 1, with the bias
 * corrections folded as torch.optim.Adam folds them; AdamW's decoupled decay, Loshchilov & Hutter
 * 2019), each of which rounds its result to the dtype:
 *
 *   g  = decoupled ? g : g + p·wd               (L2 weight decay: Adam)
 *   p  = decoupled ? p·(1 − lr·wd) : p          (decoupled weight decay: AdamW)
 *   m  = m·β1 + g·(1 − β1)                      (m = 0 before the first step)
 *   v  = v·β2 + (g·g)·(1 − β2)
 *   p' = p − (m / (√v / √(1 − β2^t) + ε)) · (lr / (1 − β1^t))
 *
 * In float32 every operation is rounded to float32 as the separate op rounds it (Math.fround of
 * the double result: correctly rounded for +, −, ·, / and √ of float32 values, and one rounding
 * of an op with a double scalar, as the ops do; see ./sgd.ts). Scalars that the ops compute in
 * double (1 − β1, lr / (1 − β1^t), √(1 − β2^t), ...) are computed the same way here.
 */
import type { TypedArray } from '../dtype.js';

export interface AdamHyper {
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
  decoupled: boolean;
  /** The step number t, from 1. */
  step: number;
}

/**
 * Writes the new parameter, first and second moments into pOut, mOut, vOut (mPrev and vPrev null
 * before the first step). All arrays have p's length and dtype (Float32Array or Float64Array).
 */
export function adamUpdateInto(
  p: TypedArray, g: TypedArray, mPrev: TypedArray | null, vPrev: TypedArray | null, h: AdamHyper,
  pOut: TypedArray, mOut: TypedArray, vOut: TypedArray,
): void {
  // The step's scalars, computed in double as the ops compute them.
  const { lr, beta1: b1, beta2: b2, weightDecay: wd, decoupled, step: t } = h;
  const k: Scalars = {
    b1, b2, wd, eps: h.eps, c1: 1 - b1, c2: 1 - b2, shrink: 1 - lr * wd,
    sq2: Math.sqrt(1 - Math.pow(b2, t)), rate: lr / (1 - Math.pow(b1, t)), l2: wd !== 0 && !decoupled, dec: wd !== 0 && decoupled,
  };
  // One loop per dtype, each seeing one array type (see ./sgd.ts).
  type F32 = Float32Array | null;
  type F64 = Float64Array | null;
  if (p instanceof Float32Array) adamF32(p, g as Float32Array, mPrev as F32, vPrev as F32, k, pOut as Float32Array, mOut as Float32Array, vOut as Float32Array);
  else adamF64(p as Float64Array, g as Float64Array, mPrev as F64, vPrev as F64, k, pOut as Float64Array, mOut as Float64Array, vOut as Float64Array);
}

interface Scalars {
  b1: number; b2: number; wd: number; eps: number;
  /** 1 − β1, 1 − β2, 1 − lr·wd, √(1 − β2^t), lr / (1 − β1^t). */
  c1: number; c2: number; shrink: number; sq2: number; rate: number;
  /** L2 (Adam) or decoupled (AdamW) weight decay in use. */
  l2: boolean; dec: boolean;
}

function adamF32(
  p: Float32Array, g: Float32Array, mPrev: Float32Array | null, vPrev: Float32Array | null, k: Scalars,
  pOut: Float32Array, mOut: Float32Array, vOut: Float32Array,
): void {
  const r = Math.fround;
  const { b1, b2, wd, eps, c1, c2, shrink, sq2, rate, l2, dec } = k;
  for (let i = 0; i < p.length; i++) {
    let gi = g[i], pi = p[i];
    if (l2) gi = r(gi + r(pi * wd));
    if (dec) pi = r(pi * shrink);
    const m = r(r((mPrev ? mPrev[i] : 0) * b1) + r(gi * c1));
    const v = r(r((vPrev ? vPrev[i] : 0) * b2) + r(r(gi * gi) * c2));
    mOut[i] = m;
    vOut[i] = v;
    const denom = r(r(r(Math.sqrt(v)) / sq2) + eps);
    pOut[i] = r(pi - r(r(m / denom) * rate));
  }
}

function adamF64(
  p: Float64Array, g: Float64Array, mPrev: Float64Array | null, vPrev: Float64Array | null, k: Scalars,
  pOut: Float64Array, mOut: Float64Array, vOut: Float64Array,
): void {
  const { b1, b2, wd, eps, c1, c2, shrink, sq2, rate, l2, dec } = k;
  for (let i = 0; i < p.length; i++) {
    let gi = g[i], pi = p[i];
    if (l2) gi = gi + pi * wd;
    if (dec) pi = pi * shrink;
    const m = (mPrev ? mPrev[i] : 0) * b1 + gi * c1;
    const v = (vPrev ? vPrev[i] : 0) * b2 + gi * gi * c2;
    mOut[i] = m;
    vOut[i] = v;
    pOut[i] = pi - (m / (Math.sqrt(v) / sq2 + eps)) * rate;
  }
}
