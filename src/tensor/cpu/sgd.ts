/**
 * One SGD step for one parameter as a single loop (PyTorch's "fused"/foreach SGD): the same
 * values as src/nn/optim/sgd.ts's tensor ops, each of which rounds its result to the dtype:
 *
 *   g1 = weightDecay ? g + p·wd : g
 *   b  = momentum ? (prev ? prev·m + g1·(1 − dampening) : g1) : —
 *   g2 = momentum ? (nesterov ? g1 + b·m : b) : g1
 *   p' = p − g2·lr
 *
 * (torch.optim.SGD's update, Sutskever et al. 2013 for the momentum form.) In float32 every
 * product and sum is rounded to float32 as the separate ops round it: JavaScript computes in
 * double, and rounding a double product or sum of float32 values to float32 gives the correctly
 * rounded float32 result (53 >= 2·24 + 2), so Math.fround after each operation reproduces each op,
 * scalars included (an op multiplies by the double scalar and rounds once). In float64 nothing is
 * rounded beyond the double arithmetic itself. What the loop saves is the five or six arrays and
 * passes of the separate ops, per parameter and step.
 */
import type { TypedArray } from '../dtype.js';

export interface SgdHyper {
  lr: number;
  momentum: number;
  dampening: number;
  nesterov: boolean;
  weightDecay: number;
}

/**
 * Writes p' into `pOut` and, with momentum, the new buffer into `bufOut`; `prev` is the previous
 * momentum buffer (null on the first step: the buffer starts as g1, as `g.clone()` does). All
 * arrays have p's length and dtype (Float32Array or Float64Array).
 */
export function sgdUpdateInto(
  p: TypedArray, g: TypedArray, prev: TypedArray | null, h: SgdHyper, pOut: TypedArray, bufOut: TypedArray | null,
): void {
  // One loop per dtype, each seeing one array type (a loop over mixed typed-array types runs
  // several times slower in V8).
  if (p instanceof Float32Array) sgdF32(p, g as Float32Array, prev as Float32Array | null, h, pOut as Float32Array, bufOut as Float32Array | null);
  else sgdF64(p as Float64Array, g as Float64Array, prev as Float64Array | null, h, pOut as Float64Array, bufOut as Float64Array | null);
}

function sgdF32(p: Float32Array, g: Float32Array, prev: Float32Array | null, h: SgdHyper, pOut: Float32Array, bufOut: Float32Array | null): void {
  const { lr, momentum: m, weightDecay: wd, nesterov } = h;
  const keep = 1 - h.dampening, r = Math.fround;
  for (let i = 0; i < p.length; i++) {
    let gi = g[i];
    if (wd) gi = r(gi + r(p[i] * wd));
    if (m) {
      const b = prev ? r(r(prev[i] * m) + r(gi * keep)) : gi;
      bufOut![i] = b;
      gi = nesterov ? r(gi + r(b * m)) : b;
    }
    pOut[i] = r(p[i] - r(gi * lr));
  }
}

function sgdF64(p: Float64Array, g: Float64Array, prev: Float64Array | null, h: SgdHyper, pOut: Float64Array, bufOut: Float64Array | null): void {
  const { lr, momentum: m, weightDecay: wd, nesterov } = h;
  const keep = 1 - h.dampening;
  for (let i = 0; i < p.length; i++) {
    let gi = g[i];
    if (wd) gi += p[i] * wd;
    if (m) {
      const b = prev ? prev[i] * m + gi * keep : gi;
      bufOut![i] = b;
      gi = nesterov ? gi + b * m : b;
    }
    pOut[i] = p[i] - gi * lr;
  }
}
