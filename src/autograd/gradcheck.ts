/**
 * gradCheck: compares the analytic gradient (backward) of fn with central finite differences,
 * (f(x + eps) - f(x - eps)) / 2eps, element by element. Inputs should be float64 for the
 * differences to be meaningful. A non-scalar output is reduced to a scalar with fixed random
 * weights, so every output element's gradient is checked at once: L = Σ w ⊙ fn(x).
 */
import { Tensor } from '../tensor/tensor.js';
import { fromArray } from '../tensor/creation.js';
import { Generator } from '../tensor/random.js';
import * as raw from '../tensor/raw.js';
import { backward } from './engine.js';
import { noGrad } from './grad-mode.js';

export interface GradCheckOptions {
  eps?: number;
  atol?: number;
  rtol?: number;
  seed?: number;
}

export interface GradCheckResult {
  ok: boolean;
  maxAbsError: number;
  /** The worst mismatch, for an error message: input index, flat element, analytic, numeric. */
  worst: { input: number; index: number; analytic: number; numeric: number } | null;
}

export function gradCheck(fn: (...xs: Tensor[]) => Tensor, inputs: Tensor[], opts: GradCheckOptions = {}): GradCheckResult {
  const eps = opts.eps ?? 1e-6, atol = opts.atol ?? 1e-5, rtol = opts.rtol ?? 1e-3;
  const gen = new Generator(opts.seed ?? 1234);
  const leaves = inputs.map((x) => {
    const t = fromArray(x.toTypedArray(), x.shape, { dtype: x.dtype, device: x.device });
    t.requiresGrad = x.requiresGrad;
    return t;
  });
  const probe = noGrad(() => fn(...leaves));
  const w = fromArray(Float64Array.from({ length: probe.size }, () => gen.uniform() * 2 - 1), probe.shape, { dtype: probe.dtype, device: probe.device });
  const scalar = (out: Tensor): number => {
    const a = out.toTypedArray(), b = w.toTypedArray();
    let s = 0;
    for (let i = 0; i < a.length; i++) s += a[i] * b[i];
    return s;
  };
  const out = fn(...leaves);
  backward(out, raw.cast(w, out.dtype));

  let maxAbsError = 0;
  let worst: GradCheckResult['worst'] = null;
  let ok = true;
  leaves.forEach((leaf, li) => {
    if (!leaf.requiresGrad) return;
    const analytic = leaf.grad ? leaf.grad.toTypedArray() : new Float64Array(leaf.size);
    const base = leaf.toTypedArray();
    for (let i = 0; i < base.length; i++) {
      const bumped = (delta: number): number => {
        const data = base.slice();
        data[i] += delta;
        const xs = leaves.map((l, k) => (k === li ? fromArray(data, l.shape, { dtype: l.dtype, device: l.device }) : l));
        return noGrad(() => scalar(fn(...xs)));
      };
      const numeric = (bumped(eps) - bumped(-eps)) / (2 * eps);
      const err = Math.abs(numeric - analytic[i]);
      const bad = !(err <= atol + rtol * Math.abs(numeric));
      if (err > maxAbsError || (bad && ok) || Number.isNaN(err)) {
        if (!(err <= maxAbsError)) maxAbsError = err;
        if (bad || worst === null) worst = { input: li, index: i, analytic: analytic[i], numeric };
      }
      if (bad) ok = false;
    }
  });
  return { ok, maxAbsError, worst };
}
