/**
 * Losses against hand computation: cross-entropy (log-sum-exp minus the true logit), NLL (minus
 * the picked log-probability) and MSE, with the 'none' / 'sum' / 'mean' reductions, their
 * gradients, the module forms, and bad input.
 */
import { describe, expect, it } from 'vitest';
import { F, fromArray, tensor, type Tensor } from '../../src/index.js';
import { CrossEntropyLoss, MSELoss, mseLoss, NLLLoss } from '../../src/nn/index.js';
import { crossEntropy, nllLoss } from '../../src/nn/loss.js';
import { errorOf, expectClose } from '../helpers/assert.js';
import { crossEntropyRow, vals } from './ref.js';

const F64 = { rtol: 1e-12, atol: 1e-14 };
const f64 = (data: readonly number[], shape: readonly number[], requiresGrad = false): Tensor => fromArray(Float64Array.from(data), shape, { dtype: 'float64', requiresGrad });

const N = 3, C = 4;
const LOGITS = vals(1, N * C, -3, 3);
const LABELS = [0, 3, 1];
const rows = (xs: readonly number[], c: number): number[][] => Array.from({ length: xs.length / c }, (_, i) => xs.slice(i * c, (i + 1) * c));
const PER_ROW = rows(LOGITS, C).map((r, i) => crossEntropyRow(r, LABELS[i]));
const sum = (xs: readonly number[]): number => xs.reduce((a, b) => a + b, 0);

describe('crossEntropy', () => {
  it('worked by hand: logits (1, 2, 3), label 2 → log(1 + e⁻¹ + e⁻²)', () => {
    expect(F.crossEntropy(tensor([[1, 2, 3]], { dtype: 'float64' }), [2]).item()).toBeCloseTo(0.40760596444438, 13);
    // Uniform logits: log C.
    expect(F.crossEntropy(tensor([[5, 5, 5, 5]], { dtype: 'float64' }), [1]).item()).toBeCloseTo(Math.log(4), 14);
  });

  it('reductions none / sum / mean against log Σ exp − z_label per row', () => {
    const z = f64(LOGITS, [N, C]);
    expectClose(F.crossEntropy(z, LABELS, 'none'), PER_ROW, F64);
    expectClose([F.crossEntropy(z, LABELS, 'sum').item()], [sum(PER_ROW)], F64);
    expectClose([F.crossEntropy(z, LABELS).item()], [sum(PER_ROW) / N], F64);
    expectClose([crossEntropy(z, LABELS, 'mean').item()], [sum(PER_ROW) / N], F64);
  });

  it('accepts labels as an int32 tensor, an Int32Array or an array', () => {
    const z = f64(LOGITS, [N, C]);
    const want = [sum(PER_ROW) / N];
    expectClose([F.crossEntropy(z, fromArray(LABELS, [N], { dtype: 'int32' })).item()], want, F64);
    expectClose([F.crossEntropy(z, Int32Array.from(LABELS)).item()], want, F64);
  });

  it('is stable for large logits', () => {
    const v = F.crossEntropy(tensor([[1000, 0], [-1000, 1000]]), [1, 1], 'none');
    expectClose(v, [1000, 0], { rtol: 0, atol: 0 });
  });

  it('gradient of the mean: (softmax(z) − onehot(y)) / N', () => {
    const z = f64(LOGITS, [N, C], true);
    F.crossEntropy(z, LABELS).backward();
    const want = rows(LOGITS, C).flatMap((r, i) => {
      const m = Math.max(...r), e = r.map((v) => Math.exp(v - m)), s = sum(e);
      return e.map((v, c) => (v / s - (c === LABELS[i] ? 1 : 0)) / N);
    });
    expectClose(z.grad!, want, F64);
  });

  it('CrossEntropyLoss applies its reduction', () => {
    const z = f64(LOGITS, [N, C]);
    expectClose([new CrossEntropyLoss().call(z, LABELS).item()], [sum(PER_ROW) / N], F64);
    expectClose([new CrossEntropyLoss('sum').call(z, LABELS).item()], [sum(PER_ROW)], F64);
    expectClose(new CrossEntropyLoss('none').call(z, LABELS), PER_ROW, F64);
  });

  it('rejects out-of-range or non-integer labels, a wrong label count, and non-2-D logits', () => {
    const z = f64(LOGITS, [N, C]);
    expect(errorOf(() => F.crossEntropy(z, [0, 4, 1]))).toMatch(/label 4 at position 1 is outside \[0, 4\)/);
    expect(errorOf(() => F.crossEntropy(z, [0, -1, 1]))).toMatch(/label -1/);
    expect(errorOf(() => F.crossEntropy(z, [0, 1.5, 1]))).toMatch(/label 1\.5/);
    expect(errorOf(() => F.crossEntropy(z, [0, 1]))).toMatch(/got 2 labels for 3 rows/);
    expect(errorOf(() => F.crossEntropy(f64(LOGITS, [N * C]), [0]))).toMatch(/logits must be \[N, C\]/);
  });
});

describe('nllLoss', () => {
  const LP = vals(2, 2 * 3, -4, 0); // any numbers: NLL just picks and negates
  const Y = [2, 0];
  const picked = [-LP[0 * 3 + 2], -LP[1 * 3 + 0]];

  it('reductions none / sum / mean: −logp[i, y_i]', () => {
    const lp = f64(LP, [2, 3]);
    expectClose(F.nllLoss(lp, Y, 'none'), picked, F64);
    expectClose([F.nllLoss(lp, Y, 'sum').item()], [sum(picked)], F64);
    expectClose([nllLoss(lp, Y).item()], [sum(picked) / 2], F64);
    expectClose([new NLLLoss().call(lp, Y).item()], [sum(picked) / 2], F64);
    expectClose(new NLLLoss('none').call(lp, Y), picked, F64);
  });

  it('of log_softmax equals crossEntropy', () => {
    const z = f64(LOGITS, [N, C]);
    expectClose(F.nllLoss(F.logSoftmax(z, 1), LABELS, 'none'), PER_ROW, F64);
  });

  it('gradient of the mean: −onehot(y) / N', () => {
    const lp = f64(LP, [2, 3], true);
    F.nllLoss(lp, Y).backward();
    expectClose(lp.grad!, [0, 0, -0.5, -0.5, 0, 0], { rtol: 0, atol: 0 });
  });
});

describe('mseLoss', () => {
  const A = vals(3, 6), B = vals(4, 6);
  const sq = A.map((a, i) => (a - B[i]) ** 2);

  it('reductions none / sum / mean of (x − y)²', () => {
    const x = f64(A, [2, 3]), y = f64(B, [2, 3]);
    const none = mseLoss(x, y, 'none');
    expect(none.shape).toEqual([2, 3]);
    expectClose(none.toTypedArray(), sq, F64);
    expectClose([mseLoss(x, y, 'sum').item()], [sum(sq)], F64);
    expectClose([mseLoss(x, y).item()], [sum(sq) / 6], F64);
    expectClose([new MSELoss().call(x, y).item()], [sum(sq) / 6], F64);
    expectClose([new MSELoss('sum').call(x, y).item()], [sum(sq)], F64);
  });

  it('worked by hand', () => {
    expect(mseLoss(tensor([1, 2, 3]), tensor([1, 0, 6])).item()).toBeCloseTo((0 + 4 + 9) / 3, 6);
  });

  it('gradient of the mean: 2(x − y) / n for x, −2(x − y) / n for y', () => {
    const x = f64(A, [2, 3], true), y = f64(B, [2, 3], true);
    mseLoss(x, y).backward();
    expectClose(x.grad!.toTypedArray(), A.map((a, i) => (2 * (a - B[i])) / 6), F64);
    expectClose(y.grad!.toTypedArray(), A.map((a, i) => (-2 * (a - B[i])) / 6), F64);
  });

  it('rejects different shapes, naming both', () => {
    expect(errorOf(() => mseLoss(f64(A, [2, 3]), f64(A, [3, 2])))).toMatch(/input \[2, 3\] and target \[3, 2\] differ in shape/);
  });
});
