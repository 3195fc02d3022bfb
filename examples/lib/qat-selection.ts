/**
 * Which model to keep after QAT: the PTQ starting point, or a QAT snapshot, judged on a validation
 * split. Picking the snapshot with the highest validation accuracy leaves PTQ on a gain of a single
 * image, and at 5-8 bits, where PTQ already matches float, the gains QAT finds are that small and
 * mostly noise: the kept snapshot can then be worse on the test set (the 2,000-image split once
 * chose a 5-bit snapshot 0.12 points below PTQ on 10,000 test images).
 *
 * So QAT leaves PTQ only when its best snapshot is better than PTQ with statistical evidence, by
 * the exact McNemar test on the paired validation predictions (McNemar 1947; the test Dietterich
 * 1998, "Approximate Statistical Tests for Comparing Supervised Classification Learning
 * Algorithms", Neural Computation 10(7), recommends for two classifiers on one test set). Only the
 * images the two models disagree on carry information: b where the snapshot is right and PTQ
 * wrong, c the reverse. If both were equally accurate, each of the n = b + c discordant images
 * would fall either way with probability 1/2, so b ~ Binomial(n, 1/2), and the one-sided p-value is
 * P(X >= b) = sum_{k=b..n} C(n, k) / 2^n (the exact, conditional form of McNemar's test, e.g.
 * Agresti, Categorical Data Analysis, 3rd ed., §11.1.4). The snapshot is kept when p <= alpha.
 *
 * Pure functions, no I/O: tested in test/examples/qat-selection.test.ts.
 */

/** P(X >= k) for X ~ Binomial(n, 1/2), summed in log space (n can be thousands: 2^n overflows). */
export function binomialHalfUpperTail(n: number, k: number): number {
  if (!Number.isInteger(n) || n < 0) throw new Error(`binomialHalfUpperTail: n must be an integer >= 0, got ${n}`);
  if (!Number.isInteger(k)) throw new Error(`binomialHalfUpperTail: k must be an integer, got ${k}`);
  if (k <= 0) return 1;
  if (k > n) return 0;
  // log C(n, j) for j = k..n, built from log C(n, k) by the ratio C(n, j+1)/C(n, j) = (n-j)/(j+1)
  let logC = 0;
  for (let i = 1; i <= k; i++) logC += Math.log((n - k + i) / i);
  const terms: number[] = [];
  for (let j = k; j <= n; j++) {
    terms.push(logC);
    logC += Math.log((n - j) / (j + 1));
  }
  const m = Math.max(...terms);
  let s = 0;
  for (const t of terms) s += Math.exp(t - m);
  return Math.min(1, Math.exp(m + Math.log(s) - n * Math.LN2));
}

export interface PairedCounts {
  /** images the candidate classifies correctly and the baseline does not */
  b: number;
  /** images the baseline classifies correctly and the candidate does not */
  c: number;
  /** one-sided exact McNemar p-value for "the candidate is more accurate": P(X >= b), X ~ Bin(b + c, 1/2) */
  p: number;
}

/** The exact McNemar test of `candidate` against `baseline` on the same labelled images. */
export function mcnemarExact(labels: ArrayLike<number>, baseline: ArrayLike<number>, candidate: ArrayLike<number>): PairedCounts {
  if (baseline.length !== labels.length || candidate.length !== labels.length) {
    throw new Error(`mcnemarExact: ${labels.length} labels but ${baseline.length} baseline and ${candidate.length} candidate predictions`);
  }
  let b = 0, c = 0;
  for (let i = 0; i < labels.length; i++) {
    const base = baseline[i] === labels[i], cand = candidate[i] === labels[i];
    if (cand && !base) b++;
    else if (base && !cand) c++;
  }
  return { b, c, p: binomialHalfUpperTail(b + c, b) };
}

export interface Candidate {
  /** name of the snapshot, e.g. the training step */
  step: string;
  /** predicted class per validation image */
  predictions: ArrayLike<number>;
}

export interface SelectionDecision {
  /** 'ptq' or the kept snapshot's step */
  kept: string;
  /** the QAT snapshot with the highest validation accuracy (the earlier one on ties) */
  bestStep: string;
  /** its paired counts against PTQ on the validation split and the p-value */
  test: PairedCounts;
  alpha: number;
}

/**
 * Keep the QAT snapshot with the highest validation accuracy if the exact McNemar test says it is
 * better than PTQ at level alpha, else keep PTQ. Testing only the best of several snapshots makes
 * the test a little optimistic (a multiple comparison); with two or three snapshots that are
 * strongly correlated (one training run) the effect is small, and a smaller alpha covers it.
 */
export function chooseQatSnapshot(labels: ArrayLike<number>, ptq: ArrayLike<number>, snapshots: readonly Candidate[], alpha: number): SelectionDecision {
  if (!(alpha > 0 && alpha < 1)) throw new Error(`chooseQatSnapshot: alpha must be in (0, 1), got ${alpha}`);
  if (snapshots.length === 0) throw new Error('chooseQatSnapshot: no QAT snapshot to choose from');
  const correct = (pred: ArrayLike<number>) => {
    if (pred.length !== labels.length) throw new Error(`chooseQatSnapshot: ${labels.length} labels but ${pred.length} predictions`);
    let n = 0;
    for (let i = 0; i < labels.length; i++) if (pred[i] === labels[i]) n++;
    return n;
  };
  let best = snapshots[0], bestCorrect = correct(best.predictions);
  for (const s of snapshots.slice(1)) {
    const n = correct(s.predictions);
    if (n > bestCorrect) { best = s; bestCorrect = n; }
  }
  const test = mcnemarExact(labels, ptq, best.predictions);
  return { kept: test.p <= alpha ? best.step : 'ptq', bestStep: best.step, test, alpha };
}
