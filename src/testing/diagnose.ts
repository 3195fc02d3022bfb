/**
 * Naming the rule a wrong quantization level broke.
 *
 * A mismatch alone says "expected level 3, got 4". What a kernel author needs is why, and for the
 * usual bugs one counterexample cannot tell: at an exact tie, "Math.round instead of ties-to-even"
 * and "x / scale instead of x * float32(1 / scale)" can both produce the same wrong level. So the
 * diagnosis probes the implementation once more, at the same scale and zero point, on exact ties
 * (under both ways of forming the scaled value) and their float32 neighbours, and finds which
 * combination of
 *     scaled value: float32(x * float32(1/s)) | float32(x / s) | x / s in float64
 *     tie rule:     halfEven | halfAwayFromZero | halfUp (JavaScript's Math.round)
 * reproduces every probe. The broken rule is the one where that combination departs from the claim.
 */
import { roundHalfAwayFromZero, roundHalfEven, type QParams, type Rounding } from '../quant/numerics/index.js';
import { nextFloat32, tieInput } from './arbitraries.js';
import type { Convention } from './convention.js';

const fround = Math.fround;

export type FailureKind =
  /** Exact ties k + 0.5 go to the wrong neighbour (the tie rule differs from the claimed one). */
  | 'tie rounding'
  /** x / scale is formed differently from the convention (reciprocal product vs quotient, float32 vs float64). */
  | 'scale reciprocal'
  /** A level outside [qmin, qmax] is not saturated to the nearest end, or a level inside is clamped. */
  | 'clamp'
  /** The straight-through-estimator mask disagrees with the convention's rule. */
  | 'STE mask'
  /** The level is right but the float32 value (q - zp) * scale is not. */
  | 'dequantize'
  /** Fixed-point results off by one: the rounding of SaturatingRoundingDoublingHighMul / RoundingDivideByPOT. */
  | 'fixed-point rounding'
  /** A wrong level none of the rules above explains. */
  | 'level'
  /** The implementation returned the wrong number of values. */
  | 'output length'
  /** The implementation threw on valid input. */
  | 'exception';

export type Product = 'reciprocal32' | 'quotient32' | 'quotient64';
export type TieRule = Rounding | 'halfUp';

export const PRODUCT_WORDS: Record<Product, string> = {
  reciprocal32: 'float32(x * float32(1/scale))',
  quotient32: 'float32(x / scale)',
  quotient64: 'x / scale in float64',
};

export function claimedProduct(convention: Convention): Product {
  return convention === 'pytorch' ? 'reciprocal32' : 'quotient32';
}

export function scaled(x: number, s: number, product: Product): number {
  const xf = fround(x);
  if (product === 'reciprocal32') return fround(xf * fround(1 / s));
  if (product === 'quotient32') return fround(xf / s);
  return xf / s;
}

export function roundBy(t: number, rule: TieRule): number {
  if (rule === 'halfEven') return roundHalfEven(t);
  if (rule === 'halfAwayFromZero') return roundHalfAwayFromZero(t);
  return Math.round(t) + 0;
}

/** The unclamped level of x under one hypothesis. */
export function levelUnder(x: number, p: QParams, product: Product, rule: TieRule): number {
  const t = scaled(x, fround(p.scale), product);
  if (!Number.isFinite(t)) return t > 0 ? Infinity : -Infinity;
  return p.zeroPoint + roundBy(t, rule);
}

export function clampLevel(level: number, p: { qmin: number; qmax: number }): number {
  return level < p.qmin ? p.qmin : level > p.qmax ? p.qmax : level;
}

/** Inputs at the same scale and zero point that separate the hypotheses: ties around level k0, both signs. */
export function probeInputs(p: QParams, x: number): number[] {
  const s = fround(p.scale);
  const k0 = roundHalfEven(scaled(x, s, 'reciprocal32'));
  const out = [fround(x)];
  const kLo = Math.max(p.qmin - p.zeroPoint, Math.min(k0, p.qmax - p.zeroPoint) - 4);
  const kHi = Math.min(p.qmax - p.zeroPoint - 1, kLo + 8);
  const ks = new Set<number>();
  for (let k = kLo; k <= kHi; k++) ks.add(k);
  // Ties of both signs, whatever the window: Math.round and halfAwayFromZero differ only below 0.
  for (let k = -3; k <= 2; k++) if (k >= p.qmin - p.zeroPoint && k + 1 <= p.qmax - p.zeroPoint) ks.add(k);
  for (const k of ks) {
    for (const conv of ['pytorch', 'tflite'] as const) {
      const t = tieInput(s, k, conv);
      if (t !== undefined) out.push(t, nextFloat32(t, 1), nextFloat32(t, -1));
    }
  }
  return out;
}

export interface Hypothesis {
  product: Product;
  rule: TieRule;
}

/** Hypotheses that reproduce every probed level (levels clamped to the range). */
export function matchingHypotheses(p: QParams, probes: readonly number[], got: ArrayLike<number>): Hypothesis[] {
  const found: Hypothesis[] = [];
  for (const product of ['reciprocal32', 'quotient32', 'quotient64'] as const) {
    for (const rule of ['halfEven', 'halfAwayFromZero', 'halfUp'] as const) {
      if (probes.every((x, i) => clampLevel(levelUnder(x, p, product, rule), p) === got[i])) found.push({ product, rule });
    }
  }
  return found;
}

/**
 * Which rule explains a wrong level. `levelsOf` runs the implementation on a batch of inputs at the
 * counterexample's qparams and returns the levels it produced (for fakeQuantize, recovered from y).
 */
export function diagnoseLevel(
  x: number,
  p: QParams,
  expected: number,
  got: number,
  claimed: Hypothesis,
  levelsOf: (xs: number[]) => ArrayLike<number> | undefined,
): { kind: FailureKind; why: string } {
  const unclamped = levelUnder(x, p, claimed.product, claimed.rule);
  if ((unclamped < p.qmin || unclamped > p.qmax) && got !== expected) {
    return { kind: 'clamp', why: `the unclamped level ${unclamped} lies outside [${p.qmin}, ${p.qmax}] and must saturate to ${expected}` };
  }
  if (got < p.qmin || got > p.qmax) {
    return { kind: 'clamp', why: `level ${got} lies outside [${p.qmin}, ${p.qmax}]` };
  }
  const probes = probeInputs(p, x);
  let levels: ArrayLike<number> | undefined;
  try {
    levels = levelsOf(probes);
  } catch {
    levels = undefined;
  }
  if (levels !== undefined && levels.length === probes.length) {
    const hs = matchingHypotheses(p, probes, levels);
    if (!hs.some((h) => h.product === claimed.product && h.rule === claimed.rule) && hs.length > 0) {
      const sameProduct = hs.find((h) => h.product === claimed.product);
      if (sameProduct) {
        return { kind: 'tie rounding', why: `ties k + 0.5 are rounded ${ruleWords(sameProduct.rule)}, not ${ruleWords(claimed.rule)}` };
      }
      const h = hs.find((h) => h.rule === claimed.rule) ?? hs[0];
      return {
        kind: 'scale reciprocal',
        why: `x / scale is formed as ${PRODUCT_WORDS[h.product]}, not ${PRODUCT_WORDS[claimed.product]}` +
          (h.rule !== claimed.rule ? ` (and ties are rounded ${ruleWords(h.rule)})` : ''),
      };
    }
  }
  const t = scaled(x, fround(p.scale), claimed.product);
  if (Math.abs(t - Math.trunc(t)) === 0.5 && Math.abs(got - expected) === 1) {
    return { kind: 'tie rounding', why: `${PRODUCT_WORDS[claimed.product]} = ${t} is an exact tie, to be rounded ${ruleWords(claimed.rule)}` };
  }
  return { kind: 'level', why: `no tie rule or way of forming x / scale explains level ${got}` };
}

export function ruleWords(rule: TieRule): string {
  if (rule === 'halfEven') return 'to even (halfEven)';
  if (rule === 'halfAwayFromZero') return 'away from zero (halfAwayFromZero)';
  return 'towards +Infinity (halfUp, Math.round)';
}

/** probeInputs plus points within half a step outside both ends of the float range, where the mask rules differ. */
export function maskProbeInputs(p: QParams, x: number): number[] {
  const s = fround(p.scale);
  const lo = fround((p.qmin - p.zeroPoint) * s);
  const hi = fround((p.qmax - p.zeroPoint) * s);
  const out = probeInputs(p, x);
  for (const k of [p.qmin - p.zeroPoint - 1, p.qmax - p.zeroPoint]) {
    for (const conv of ['pytorch', 'tflite'] as const) {
      const t = tieInput(s, k, conv);
      if (t !== undefined) out.push(t, nextFloat32(t, 1), nextFloat32(t, -1));
    }
  }
  out.push(lo, hi, nextFloat32(lo, -1), nextFloat32(hi, 1), fround(lo - s / 4), fround(hi + s / 4));
  return out.filter((v) => Number.isFinite(v));
}

/**
 * Which rule explains a wrong STE mask: the float input tested against the float range
 * (TensorFlow's rule), or the rounded level tested against [qmin, qmax] under some way of forming
 * x / scale and some tie rule (PyTorch's rule, possibly with a broken level). `masksOf` runs the
 * implementation's fakeQuantize at the counterexample's qparams.
 */
export function diagnoseMask(
  x: number,
  p: QParams,
  convention: Convention,
  claimed: Hypothesis,
  masksOf: (xs: number[]) => ArrayLike<number> | undefined,
): { kind: FailureKind; why: string } {
  const s = fround(p.scale);
  const lo = fround((p.qmin - p.zeroPoint) * s);
  const hi = fround((p.qmax - p.zeroPoint) * s);
  const t = scaled(x, s, claimed.product);
  const claimedWords = convention === 'pytorch'
    ? `PyTorch tests the rounded, unclamped level: zp + round(${t}) = ${levelUnder(x, p, claimed.product, claimed.rule)} against [${p.qmin}, ${p.qmax}]`
    : `TFLite/TensorFlow test the float input against the float range [${lo}, ${hi}]`;
  const probes = maskProbeInputs(p, x);
  let masks: ArrayLike<number> | undefined;
  try {
    masks = masksOf(probes);
  } catch {
    masks = undefined;
  }
  if (masks !== undefined && masks.length === probes.length) {
    const got = Array.from(masks, Number);
    const floatRange = probes.every((v, i) => (v >= lo && v <= hi ? 1 : 0) === got[i]);
    const levelBased: Hypothesis[] = [];
    for (const product of ['reciprocal32', 'quotient32', 'quotient64'] as const) {
      for (const rule of ['halfEven', 'halfAwayFromZero', 'halfUp'] as const) {
        if (probes.every((v, i) => { const l = levelUnder(v, p, product, rule); return (l >= p.qmin && l <= p.qmax ? 1 : 0) === got[i]; })) {
          levelBased.push({ product, rule });
        }
      }
    }
    if (convention === 'pytorch') {
      if (floatRange && !levelBased.some((h) => h.product === claimed.product && h.rule === claimed.rule)) {
        return { kind: 'STE mask', why: `the mask tests the float input against [${lo}, ${hi}] (TensorFlow's rule); ${claimedWords}` };
      }
      const sameProduct = levelBased.find((h) => h.product === claimed.product);
      if (sameProduct && sameProduct.rule !== claimed.rule) {
        return { kind: 'tie rounding', why: `the mask is right for a level whose ties are rounded ${ruleWords(sameProduct.rule)}, not ${ruleWords(claimed.rule)}` };
      }
      if (!sameProduct && levelBased.length > 0) {
        return { kind: 'scale reciprocal', why: `the mask is right for a level formed from ${PRODUCT_WORDS[levelBased[0].product]}, not ${PRODUCT_WORDS[claimed.product]}` };
      }
    } else if (!floatRange && levelBased.length > 0) {
      return { kind: 'STE mask', why: `the mask tests the rounded level against [qmin, qmax] (PyTorch's rule); ${claimedWords}` };
    }
  }
  return { kind: 'STE mask', why: claimedWords };
}
