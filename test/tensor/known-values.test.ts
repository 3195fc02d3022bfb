/**
 * Closed-form values: results a person can derive on paper, independent of any implementation.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { arange, F, fromArray, full, ones, tensor, zeros, type Tensor } from '../../src/index.js';
import { anyTensorCaseArb, tensorCaseArb } from '../helpers/arbitraries.js';
import { expectClose, runs } from '../helpers/assert.js';
import * as R from '../helpers/reference.js';

/** d/dx of f at x0 (float64), by backward. */
function derivative(f: (x: Tensor) => Tensor, x0: number): number {
  const x = tensor(x0, { dtype: 'float64', requiresGrad: true });
  f(x).backward();
  return x.grad!.item();
}

describe('closed forms', () => {
  it('softmax of n equal logits is 1/n; cross-entropy of equal logits is ln C', () => {
    for (const n of [1, 2, 3, 7, 10]) {
      expectClose(F.softmax(full([2, n], 3.7, { dtype: 'float64' })), new Array(2 * n).fill(1 / n), { rtol: 1e-15 });
      expectClose(F.crossEntropy(zeros([4, n], { dtype: 'float64' }), [0, n - 1, 0, 0]), [Math.log(n)], { rtol: 1e-15, atol: 1e-15 });
      expectClose(F.crossEntropy(full([3, n], -2, { dtype: 'float64' }), [0, 0, 0], 'sum'), [3 * Math.log(n)], { rtol: 1e-14, atol: 1e-15 });
    }
  });

  it('conv2d with a delta kernel returns the input, shifted by the padding', () => {
    fc.assert(
      fc.property(
        anyTensorCaseArb({ minRank: 4, maxRank: 4, maxDim: 4 }),
        fc.integer({ min: 0, max: 2 }),
        fc.integer({ min: 0, max: 2 }),
        (c, p, q) => {
          const [N, C, H, W] = c.shape;
          // w[o, i, p, q] = (o == i) with a 3x3 kernel whose one 1 sits at (p, q): y[i, j] = x[i + p - 1, j + q - 1]
          const w = R.build([C, C, 3, 3], ([o, i, a, b]) => (o === i && a === p && b === q ? 1 : 0));
          const y = F.conv2d(c.make(), fromArray(w.data, w.shape, { dtype: 'float64' }), null, { padding: 1 });
          expect(y.shape).toEqual([N, C, H, W]);
          const want = R.build([N, C, H, W], ([n, ch, i, j]) => {
            const si = i + p - 1, sj = j + q - 1;
            return si >= 0 && si < H && sj >= 0 && sj < W ? R.get(c.ref(), [n, ch, si, sj]) : 0;
          });
          expectClose(y, want, { rtol: 0, atol: 0 });
        },
      ),
      runs(25),
    );
  });

  it('sum of arange(n) is n(n-1)/2; mean is (n-1)/2', () => {
    for (const n of [1, 2, 10, 100, 1000]) {
      expect(arange(n, undefined, 1, { dtype: 'float64' }).sum().item()).toBe((n * (n - 1)) / 2);
      expect(arange(n, undefined, 1, { dtype: 'float64' }).mean().item()).toBe((n - 1) / 2);
    }
    expect(arange(0, 1, 0.25).toArray()).toEqual([0, 0.25, 0.5, 0.75]);
  });

  it('derivatives at a point', () => {
    expect(derivative((x) => x.pow(3), 2)).toBeCloseTo(12, 12);
    expect(derivative((x) => x.mul(x).mul(x), 2)).toBeCloseTo(12, 12);
    expect(derivative((x) => x.sigmoid(), 0)).toBeCloseTo(0.25, 15);
    expect(derivative((x) => x.tanh(), 0)).toBeCloseTo(1, 15);
    expect(derivative((x) => x.exp(), 1)).toBeCloseTo(Math.E, 14);
    expect(derivative((x) => x.log(), 4)).toBeCloseTo(0.25, 15);
    expect(derivative((x) => x.sqrt(), 4)).toBeCloseTo(0.25, 15);
    expect(derivative((x) => F.div(1, x), 2)).toBeCloseTo(-0.25, 15);
    expect(derivative((x) => x.abs(), -3)).toBe(-1);
    // PyTorch's conventions at the kinks: relu'(0) = 0, abs'(0) = 0, clamp' = 1 on the bounds
    expect(derivative((x) => x.relu(), 0)).toBe(0);
    expect(derivative((x) => x.abs(), 0)).toBe(0);
    expect(derivative((x) => x.clamp(0, 1), 1)).toBe(1);
    expect(derivative((x) => x.clamp(0, 1), 2)).toBe(0);
    // d/db a^b = a^b ln a; d/dx 2^x at 3 = 8 ln 2
    expect(derivative((x) => F.pow(tensor(2, { dtype: 'float64' }), x), 3)).toBeCloseTo(8 * Math.LN2, 13);
  });

  it('x^0 has derivative 0 everywhere, including at 0 (PyTorch)', () => {
    expect(derivative((x) => x.pow(0), 0)).toBe(0);
    expect(derivative((x) => x.pow(0), 3)).toBe(0);
    const a = tensor([0, 2, 0], { dtype: 'float64', requiresGrad: true });
    a.pow(tensor([0, 0, 2], { dtype: 'float64' })).sum().backward();
    expectClose(a.grad!, [0, 0, 0]);
  });

  it('maximum and minimum split the gradient at ties', () => {
    const a = tensor([1, 2, 3], { dtype: 'float64', requiresGrad: true });
    const b = tensor([1, 0, 5], { dtype: 'float64', requiresGrad: true });
    a.maximum(b).sum().backward();
    expectClose(a.grad!, [0.5, 1, 0]);
    expectClose(b.grad!, [0.5, 0, 1]);
  });

  it('matmul of identity is identity; ones(1,n) @ x sums columns', () => {
    fc.assert(
      fc.property(anyTensorCaseArb({ minRank: 2, maxRank: 2 }), (c) => {
        const m = c.shape[0];
        const eye = R.build([m, m], ([i, j]) => (i === j ? 1 : 0));
        expectClose(fromArray(eye.data, [m, m], { dtype: 'float64' }).matmul(c.make()), c.ref(), { rtol: 0, atol: 0 });
        expectClose(ones([1, m], { dtype: 'float64' }).matmul(c.make()), R.reduce(c.ref(), 'sum', 0, true), { rtol: 1e-14 });
      }),
      runs(20),
    );
  });

  it('average pooling of a constant is the constant (without padding)', () => {
    fc.assert(
      fc.property(tensorCaseArb([1, 2, 4, 4], { layouts: ['contiguous'] }), fc.double({ min: -5, max: 5, noNaN: true }), (_c, v) => {
        expectClose(F.avgPool2d(full([1, 2, 4, 4], v, { dtype: 'float64' }), 2), new Array(8).fill(v), { rtol: 1e-15, atol: 1e-15 });
      }),
      runs(10),
    );
  });

  it('sigmoid(x) + sigmoid(-x) = 1; tanh(x) = 2 sigmoid(2x) - 1', () => {
    fc.assert(
      fc.property(anyTensorCaseArb({ maxRank: 2 }), (c) => {
        const x = c.make();
        expectClose(x.sigmoid().add(x.neg().sigmoid()), R.map(c.ref(), () => 1), { rtol: 1e-15 });
        expectClose(x.tanh(), x.mul(2).sigmoid().mul(2).sub(1), { rtol: 1e-12, atol: 1e-15 });
      }),
      runs(20),
    );
  });
});
