/**
 * Bad input fails loudly with a message that names what was wrong; values that are defined but
 * not finite (log(0), 0/0, ...) are returned as in PyTorch, not thrown.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { F, fromArray, ones, randint, tensor, zeros } from '../../src/index.js';
import { shapeArb } from '../helpers/arbitraries.js';
import { errorOf, expectClose, runs } from '../helpers/assert.js';
import * as R from '../helpers/reference.js';

const str = (s: readonly number[]) => `[${s.join(', ')}]`;

describe('shape errors', () => {
  it('a binary op on shapes that do not broadcast names both shapes', () => {
    fc.assert(
      fc.property(shapeArb({ minRank: 1, maxRank: 3, maxDim: 4 }), shapeArb({ minRank: 1, maxRank: 3, maxDim: 4 }), (a, b) => {
        let compatible = true;
        try {
          R.broadcastShape(a, b);
        } catch {
          compatible = false;
        }
        fc.pre(!compatible);
        for (const op of ['add', 'sub', 'mul', 'div'] as const) {
          const msg = errorOf(() => F[op](ones(a), ones(b)));
          expect(msg).toContain(str(a));
          expect(msg).toContain(str(b));
        }
        const msg = errorOf(() => ones(a).maximum(ones(b)));
        expect(msg).toContain(str(a));
        expect(msg).toContain(str(b));
      }),
      runs(25),
    );
  });

  it('matmul with mismatched inner dims names both shapes', () => {
    const msg = errorOf(() => ones([2, 3]).matmul(ones([4, 5])));
    expect(msg).toContain('[2, 3]');
    expect(msg).toContain('[4, 5]');
    const vec = errorOf(() => ones([3]).matmul(ones([2])));
    expect(vec).toContain('[3]');
    expect(vec).toContain('[2]');
    const batch = errorOf(() => ones([2, 1, 3]).matmul(ones([3, 3, 1])));
    expect(batch).toContain('[2, 1, 3]');
    expect(batch).toContain('[3, 3, 1]');
    expect(() => tensor(1).matmul(ones([1]))).toThrow(/at least 1 dim/);
  });

  it('invalid axes are rejected with the rank in the message', () => {
    const x = ones([2, 3]);
    for (const bad of [2, -3, 1.5]) {
      expect(errorOf(() => x.sum(bad))).toMatch(/axis .* out of range .* rank 2/);
      expect(errorOf(() => x.max(bad))).toMatch(/out of range/);
      expect(errorOf(() => x.softmax(bad))).toMatch(/out of range/);
    }
    expect(errorOf(() => x.argmax(2))).toMatch(/out of range/);
    expect(errorOf(() => x.sum([0, -2]))).toMatch(/repeated axis/);
    expect(errorOf(() => x.permute([0, 0]))).toMatch(/not a permutation/);
    expect(errorOf(() => x.permute([0]))).toMatch(/rank 2/);
    expect(errorOf(() => x.transpose(0, 2))).toMatch(/out of range/);
    expect(errorOf(() => x.slice(2, 0, 1))).toMatch(/out of range/);
    expect(errorOf(() => x.select(1, 3))).toMatch(/index 3 is out of range/);
    expect(errorOf(() => x.select(0, -3))).toMatch(/out of range/);
    expect(errorOf(() => x.slice(0, 0, 2, 0))).toMatch(/step must be a positive integer/);
    expect(errorOf(() => x.unsqueeze(4))).toMatch(/out of range/);
  });

  it('reshape to an incompatible shape names both shapes', () => {
    const x = ones([2, 3]);
    const msg = errorOf(() => x.reshape([4, 2]));
    expect(msg).toContain('[2, 3]');
    expect(msg).toContain('[4, 2]');
    expect(errorOf(() => x.reshape([-1, 4]))).toContain('[-1, 4]');
    expect(errorOf(() => x.reshape([-1, -1]))).toMatch(/only one dimension can be -1/);
    expect(errorOf(() => x.view([5]))).toContain('[5]');
  });

  it('expand to an incompatible shape names both shapes', () => {
    const msg = errorOf(() => ones([2, 3]).expand([2, 4]));
    expect(msg).toContain('[2, 3]');
    expect(msg).toContain('[2, 4]');
    expect(errorOf(() => ones([2, 3]).expand([3]))).toMatch(/fewer dims/);
    // -1 keeps an existing dim; a new leading dim has nothing to keep
    expect(errorOf(() => ones([3]).expand([-1, 3]))).toContain('[-1, 3]');
    expect(errorOf(() => ones([1]).expand([-2]))).toMatch(/invalid size -2/);
    expect(ones([1, 3]).expand([2, -1]).shape).toEqual([2, 3]);
  });

  it('concat of mismatched parts names their shapes', () => {
    const msg = errorOf(() => F.concat([ones([2, 3]), ones([2, 4])], 0));
    expect(msg).toContain('[2, 3]');
    expect(msg).toContain('[2, 4]');
    expect(errorOf(() => F.concat([ones([2]), ones([2, 1])], 0))).toMatch(/differ/);
    expect(errorOf(() => F.concat([], 0))).toMatch(/at least one/);
    expect(errorOf(() => F.concat([tensor(1), tensor(2)], 0))).toMatch(/zero-dimensional/);
    expectClose(F.stack([tensor(1), tensor(2)]), [1, 2]);
  });

  it('conv2d with a channel mismatch names the input and weight shapes', () => {
    const msg = errorOf(() => F.conv2d(ones([1, 3, 5, 5]), ones([4, 2, 3, 3])));
    expect(msg).toContain('[1, 3, 5, 5]');
    expect(msg).toContain('[4, 2, 3, 3]');
    expect(errorOf(() => F.conv2d(ones([1, 4, 5, 5]), ones([3, 2, 3, 3]), null, { groups: 2 }))).toMatch(/divisible by groups/);
    expect(errorOf(() => F.conv2d(ones([3, 5, 5]), ones([4, 3, 3, 3])))).toMatch(/4-D/);
    expect(errorOf(() => F.conv2d(ones([1, 1, 2, 2]), ones([1, 1, 3, 3])))).toMatch(/larger than/);
    expect(errorOf(() => F.conv2d(ones([1, 1, 4, 4]), ones([2, 1, 3, 3]), ones([3])))).toMatch(/bias .*\[2\]/);
    expect(errorOf(() => F.conv2d(ones([1, 1, 4, 4]), ones([1, 1, 3, 3]), null, { stride: 0 }))).toMatch(/stride/);
    expect(errorOf(() => F.conv2d(ones([1, 1, 4, 4]), ones([1, 1, 3, 3], { dtype: 'float64' })))).toMatch(/dtype/);
  });

  it('pooling rejects padding over half the kernel and windows larger than the input', () => {
    expect(errorOf(() => F.maxPool2d(ones([1, 1, 4, 4]), 2, { padding: 2 }))).toMatch(/padding/);
    expect(errorOf(() => F.avgPool2d(ones([1, 1, 2, 2]), 3))).toMatch(/larger than/);
    expect(errorOf(() => F.maxPool2d(ones([4, 4]), 2))).toMatch(/4-D/);
    const x = ones([1, 1, 4, 4]);
    expect(errorOf(() => F.maxPool2d(x, 2, { stride: 0 }))).toMatch(/positive integers/);
    expect(errorOf(() => F.maxPool2d(x, 2, { stride: 1.5 }))).toMatch(/positive integers/);
    expect(errorOf(() => F.maxPool2d(x, 0))).toMatch(/positive integers/);
    expect(errorOf(() => F.avgPool2d(x, 0))).toMatch(/positive integers/);
    expect(errorOf(() => F.maxPool2d(x, 2, { dilation: 0 }))).toMatch(/positive integers/);
    expect(errorOf(() => F.maxPool2d(x, 2, { padding: -1 }))).toMatch(/non-negative/);
  });

  it('crossEntropy labels out of range (or not integers, or the wrong count) are rejected', () => {
    const logits = zeros([2, 3]);
    expect(errorOf(() => F.crossEntropy(logits, [0, 3]))).toMatch(/label 3 .*position 1.*\[0, 3\)/);
    expect(errorOf(() => F.crossEntropy(logits, [-1, 0]))).toMatch(/label -1/);
    expect(errorOf(() => F.crossEntropy(logits, [0.5, 0]))).toMatch(/label 0.5/);
    expect(errorOf(() => F.crossEntropy(logits, [0]))).toMatch(/1 labels for 2 rows/);
    expect(errorOf(() => F.crossEntropy(logits, fromArray([0, 1], [1, 2], { dtype: 'int32' })))).toMatch(/1-D/);
    expect(errorOf(() => F.crossEntropy(zeros([2, 3, 1]), [0, 1]))).toContain('[2, 3, 1]');
  });

  it('creation rejects values that do not fill the shape, and ragged arrays', () => {
    expect(errorOf(() => fromArray([1, 2, 3], [2, 2]))).toContain('[2, 2]');
    expect(errorOf(() => tensor([[1, 2], [3]]))).toMatch(/ragged/);
    expect(errorOf(() => ones([2, -1]))).toMatch(/invalid shape/);
    expect(errorOf(() => tensor([1, 2]).item())).toContain('[2]');
    expect(errorOf(() => randint(5, 2, [4]))).toMatch(/low < high/);
  });

  it('clamp with min > max is an error', () => {
    expect(errorOf(() => ones([2]).clamp(1, 0))).toMatch(/min 1 is greater than max 0/);
  });
});

describe('non-finite values are values, as in PyTorch', () => {
  it('log(0) = -Infinity, log(-1) = NaN, sqrt(-1) = NaN, 0/0 = NaN, 1/0 = Infinity', () => {
    for (const dtype of ['float32', 'float64'] as const) {
      const x = fromArray([0, -1, 1], [3], { dtype });
      expectClose(x.log(), [-Infinity, NaN, 0]);
      expectClose(x.sqrt(), [0, NaN, 1]);
      const z = fromArray([0, 0, 1, -1], [4], { dtype });
      expectClose(z.div(fromArray([0, 0, 0, 0], [4], { dtype })), [NaN, NaN, Infinity, -Infinity]);
      expectClose(z.div(0), [NaN, NaN, Infinity, -Infinity]);
      expectClose(fromArray([-Infinity, Infinity, NaN], [3], { dtype }).exp(), [0, Infinity, NaN]);
      expectClose(fromArray([-Infinity, Infinity], [2], { dtype }).sigmoid(), [0, 1]);
    }
  });

  it('NaN propagates through reductions, maximum and relu', () => {
    const x = tensor([[1, NaN, 3], [4, 5, 6]], { dtype: 'float64' });
    expectClose(x.sum(1), [NaN, 15]);
    expectClose(x.max(1), [NaN, 6]);
    expectClose(x.min(1), [NaN, 4]);
    expectClose(x.maximum(2), [2, NaN, 3, 4, 5, 6]);
    expectClose(x.relu(), [1, NaN, 3, 4, 5, 6]);
  });

  it('the gradient of log at 0 is Infinity, of sqrt at 0 is Infinity (not a crash)', () => {
    const x = tensor([0, 1], { dtype: 'float64', requiresGrad: true });
    x.log().sum().backward();
    expectClose(x.grad!, [Infinity, 1]);
    const y = tensor([0, 4], { dtype: 'float64', requiresGrad: true });
    y.sqrt().sum().backward();
    expectClose(y.grad!, [Infinity, 0.25]);
  });
});
