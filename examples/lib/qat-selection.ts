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
 * A second rule, chooseQatSnapshotByLoss, tests the per-image validation cross-entropy instead of
 * the 0/1 accuracy (see there; the residual network's sweep uses it, the CNN's keeps McNemar).
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


/**
 * ln Γ(x) for x > 0: Lanczos' approximation with g = 7 and the nine coefficients of Numerical
 * Recipes (3rd ed., §6.1, gammln), relative error below 1e-14 for the x used here.
 */
function logGamma(x: number): number {
  const c = [0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61502916214059,
    12.507343278686905, -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7];
  if (x < 0.5) return Math.log(Math.PI / Math.sin(Math.PI * x)) - logGamma(1 - x); // reflection
  x -= 1;
  let a = c[0];
  const t = x + 7.5;
  for (let i = 1; i < 9; i++) a += c[i] / (x + i);
  return 0.5 * Math.log(2 * Math.PI) + (x + 0.5) * Math.log(t) - t + Math.log(a);
}

/**
 * The regularized incomplete beta function I_x(a, b), by its continued fraction evaluated with
 * the modified Lentz method (Numerical Recipes, 3rd ed., §6.4, betai/betacf), using the symmetry
 * I_x(a, b) = 1 − I_{1−x}(b, a) where the fraction converges slowly.
 */
export function regularizedIncompleteBeta(x: number, a: number, b: number): number {
  if (!(a > 0 && b > 0)) throw new Error(`regularizedIncompleteBeta: a and b must be > 0, got a=${a}, b=${b}`);
  if (!(x >= 0 && x <= 1)) throw new Error(`regularizedIncompleteBeta: x must be in [0, 1], got ${x}`);
  if (x === 0 || x === 1) return x;
  const front = Math.exp(logGamma(a + b) - logGamma(a) - logGamma(b) + a * Math.log(x) + b * Math.log(1 - x));
  if (x > (a + 1) / (a + b + 2)) return 1 - regularizedIncompleteBeta(1 - x, b, a);
  const tiny = 1e-300;
  let c = 1, d = 1 - ((a + b) * x) / (a + 1);
  if (Math.abs(d) < tiny) d = tiny;
  d = 1 / d;
  let f = d;
  for (let m = 1; m <= 10_000; m++) {
    // even step d_{2m} = m(b−m)x / ((a+2m−1)(a+2m)), odd step d_{2m+1} = −(a+m)(a+b+m)x / ((a+2m)(a+2m+1))
    for (const num of [(m * (b - m) * x) / ((a + 2 * m - 1) * (a + 2 * m)), (-(a + m) * (a + b + m) * x) / ((a + 2 * m) * (a + 2 * m + 1))]) {
      d = 1 + num * d;
      if (Math.abs(d) < tiny) d = tiny;
      c = 1 + num / c;
      if (Math.abs(c) < tiny) c = tiny;
      d = 1 / d;
      f *= c * d;
    }
    if (Math.abs(c * d - 1) < 1e-15) break;
  }
  return (front * f) / a;
}

/**
 * P(T >= t) for T ~ Student's t with nu degrees of freedom: for t >= 0 it is
 * I_{nu/(nu+t^2)}(nu/2, 1/2) / 2 (Abramowitz & Stegun 26.7.1 with 26.5.27), and 1 − P(T >= −t) below 0.
 */
export function studentTUpperTail(t: number, nu: number): number {
  if (!(nu > 0)) throw new Error(`studentTUpperTail: degrees of freedom must be > 0, got ${nu}`);
  if (Number.isNaN(t)) throw new Error('studentTUpperTail: t is NaN');
  if (t === Infinity) return 0;
  if (t === -Infinity) return 1;
  const half = regularizedIncompleteBeta(nu / (nu + t * t), nu / 2, 0.5) / 2;
  return t >= 0 ? half : 1 - half;
}

export interface PairedLossTest {
  /** images compared */
  n: number;
  /** mean of baseline loss − candidate loss (positive: the candidate's loss is lower) */
  meanDiff: number;
  /** the paired t statistic mean / (sd / √n) */
  t: number;
  /** one-sided p-value for "the candidate's expected loss is lower": P(T >= t), T ~ t(n − 1) */
  p: number;
}

/**
 * The one-sided paired t-test (Student 1908; e.g. Rice, Mathematical Statistics and Data Analysis,
 * 3rd ed., §11.3) on per-image losses of two models over the same images: d_i = baseline_i −
 * candidate_i, t = mean(d) / (s_d / √n) with s_d the sample standard deviation (n − 1 divisor),
 * p = P(T >= t) for T ~ t(n − 1). The per-image cross-entropies are skewed (a few misclassified
 * images carry most of the loss); the test leans on the central limit theorem for their mean,
 * which with thousands of images is what it estimates. Constant differences (s_d = 0) give p = 0
 * if they are positive and 1 otherwise.
 */
export function pairedLossTTest(baseline: ArrayLike<number>, candidate: ArrayLike<number>): PairedLossTest {
  const n = baseline.length;
  if (candidate.length !== n) throw new Error(`pairedLossTTest: ${n} baseline losses but ${candidate.length} candidate losses`);
  if (n < 2) throw new Error(`pairedLossTTest: needs at least 2 paired losses, got ${n}`);
  let mean = 0;
  for (let i = 0; i < n; i++) {
    const d = baseline[i] - candidate[i];
    if (!Number.isFinite(d)) throw new Error(`pairedLossTTest: loss of image ${i} is not finite (${baseline[i]}, ${candidate[i]})`);
    mean += d;
  }
  mean /= n;
  let ss = 0;
  for (let i = 0; i < n; i++) ss += (baseline[i] - candidate[i] - mean) ** 2;
  const sd = Math.sqrt(ss / (n - 1));
  if (sd === 0) return { n, meanDiff: mean, t: mean > 0 ? Infinity : mean < 0 ? -Infinity : 0, p: mean > 0 ? 0 : 1 };
  const t = mean / (sd / Math.sqrt(n));
  return { n, meanDiff: mean, t, p: studentTUpperTail(t, n - 1) };
}

export interface LossCandidate extends Candidate {
  /** cross-entropy per validation image */
  losses: ArrayLike<number>;
}

export interface LossSelectionDecision {
  /** 'ptq' or the kept snapshot's step */
  kept: string;
  /** the QAT snapshot with the lowest mean validation loss (the earlier one on ties) */
  bestStep: string;
  /** the paired t-test of its per-image losses against PTQ's */
  lossTest: PairedLossTest;
  /** its paired accuracy counts against PTQ (b right where PTQ is wrong, c the reverse) */
  test: PairedCounts;
  alpha: number;
}

/**
 * Keep the QAT snapshot with the lowest mean validation cross-entropy if (1) the one-sided paired
 * t-test says its expected loss is below PTQ's at level alpha and (2) it is not less accurate than
 * PTQ on the validation split (c <= b); else keep PTQ.
 *
 * Why a loss test: McNemar's test uses only the images on which the two models disagree, a dozen
 * or two on 2,000-5,000 validation images when PTQ is already within half a point of float, so it
 * cannot resolve a gain of a few tenths of a point; the cross-entropy of every image carries
 * information. Why the accuracy condition: a lower cross-entropy alone can come from sharper
 * confidence on images both models already get right, so a snapshot whose validation accuracy is
 * below PTQ's is never kept whatever its loss. Where PTQ already matches float (high bit widths)
 * that condition is weak protection (b = c passes), which is why the CNN's sweep, whose 3-8-bit
 * rows are such cases, keeps the McNemar rule.
 */
export function chooseQatSnapshotByLoss(labels: ArrayLike<number>, ptq: { predictions: ArrayLike<number>; losses: ArrayLike<number> }, snapshots: readonly LossCandidate[], alpha: number): LossSelectionDecision {
  if (!(alpha > 0 && alpha < 1)) throw new Error(`chooseQatSnapshotByLoss: alpha must be in (0, 1), got ${alpha}`);
  if (snapshots.length === 0) throw new Error('chooseQatSnapshotByLoss: no QAT snapshot to choose from');
  const meanLoss = (l: ArrayLike<number>, who: string) => {
    if (l.length !== labels.length) throw new Error(`chooseQatSnapshotByLoss: ${labels.length} labels but ${l.length} losses for ${who}`);
    let s = 0;
    for (let i = 0; i < l.length; i++) s += l[i];
    return s / l.length;
  };
  meanLoss(ptq.losses, 'PTQ');
  let best = snapshots[0], bestLoss = meanLoss(best.losses, best.step);
  for (const s of snapshots.slice(1)) {
    const m = meanLoss(s.losses, s.step);
    if (m < bestLoss) { best = s; bestLoss = m; }
  }
  const lossTest = pairedLossTTest(ptq.losses, best.losses);
  const test = mcnemarExact(labels, ptq.predictions, best.predictions);
  const keep = lossTest.p <= alpha && test.c <= test.b;
  return { kept: keep ? best.step : 'ptq', bestStep: best.step, lossTest, test, alpha };
}
