/**
 * Infinite and NaN values through forward and backward, against values measured with PyTorch
 * 1.13.1 (Debian's python3-torch, float64; the script that produced each line is quoted next to
 * it). Issue 11, item 13: masked backwards select instead of multiplying, crossEntropy gathers,
 * pow's exponent gradient at a = 0, empty softmax axes, flatten's argument order, NaN routing.
 */
import { describe, expect, it } from 'vitest';
import { F, fromArray, type Tensor } from '../../src/index.js';
import { fakeQuantizeTensor } from '../../src/quant/fake-quantize.js';
import { onEachDevice } from '../helpers/devices.js';

const inf = Infinity, nan = NaN;
const leaf = (v: number[], shape = [v.length]) => fromArray(v, shape, { dtype: 'float64', requiresGrad: true });
const arr = (t: Tensor | null) => Array.from(t!.toTypedArray());

/** Backward of y with upstream gradient `up` (ones by default); returns the inputs' gradients. */
function grads(f: (...xs: Tensor[]) => Tensor, inputs: number[][], up?: number[]): { y: number[]; g: number[][] } {
  const xs = inputs.map((v) => leaf(v));
  const y = f(...xs);
  y.backward(fromArray(up ?? new Array(y.size).fill(1), [...y.shape], { dtype: 'float64' }));
  return { y: arr(y), g: xs.map((x) => arr(x.grad)) };
}

onEachDevice(() => {
  describe('masked backwards select (an infinite upstream gradient gives 0 where the mask is 0)', () => {
    it('x.clamp(0).sqrt(): [-1, 4] -> grad [0, 0.25] (was [NaN, 0.25])', () => {
      // torch: x.clamp(0).sqrt().backward(ones) -> [0.0, 0.25]
      expect(grads((x) => F.sqrt(F.clamp(x, 0)), [[-1, 4]]).g[0]).toEqual([0, 0.25]);
    });
    it('relu(x).sqrt(): [-1, 4] -> grad [0, 0.25]', () => {
      expect(grads((x) => F.sqrt(F.relu(x)), [[-1, 4]]).g[0]).toEqual([0, 0.25]);
    });
    it('where(c, sqrt(a), sqrt(b)) with a = [0, 4], b = [4, 0], c = [1, 0]: grads [inf, 0] and [0, inf]', () => {
      const c = fromArray([1, 0], [2], { dtype: 'float64' });
      const r = grads((a, b) => F.where(c, F.sqrt(a), F.sqrt(b)), [[0, 4], [4, 0]]);
      expect(r.g).toEqual([[inf, 0], [0, inf]]);
    });
    it('maximum(a, b).sqrt() with a = [0, 4], b = [-1, 0]: grads [inf, 0.25] and [0, 0]', () => {
      expect(grads((a, b) => F.sqrt(F.maximum(a, b)), [[0, 4], [-1, 0]]).g).toEqual([[inf, 0.25], [0, 0]]);
    });
    it('minimum with an infinite upstream gradient: the loser gets 0', () => {
      // torch.minimum(a, b).backward(tensor([inf, inf])) with a = [1, 5], b = [2, 3]: a.grad [inf, 0], b.grad [0, inf]
      expect(grads((a, b) => F.minimum(a, b), [[1, 5], [2, 3]], [inf, inf]).g).toEqual([[inf, 0], [0, inf]]);
    });
    it('fakeQuantize STE: an infinite gradient outside the range is 0 (selected; PyTorch 1.13 multiplies and gives NaN)', () => {
      const x = fromArray([-100, 0.5, 100], [3], { requiresGrad: true });
      const y = fakeQuantizeTensor(x, { scale: [0.1], zeroPoint: [0], qmin: -128, qmax: 127 });
      y.backward(fromArray([inf, 1, nan], [3]));
      expect(arr(x.grad)).toEqual([0, 1, 0]);
    });
  });

  describe('NaN routing as PyTorch', () => {
    it('maximum / minimum with a NaN: the gradient goes to both inputs; ties split', () => {
      // torch.maximum(nan, 1) -> grads (1, 1); maximum(2, 2) -> (0.5, 0.5); minimum(nan, 1) -> (1, 1)
      expect(grads((a, b) => F.maximum(a, b), [[nan, 1, 2, nan], [1, nan, 2, nan]]).g).toEqual([[1, 1, 0.5, 1], [1, 1, 0.5, 1]]);
      expect(grads((a, b) => F.minimum(a, b), [[nan, 1, 2], [1, nan, 2]]).g).toEqual([[1, 1, 0.5], [1, 1, 0.5]]);
      expect(grads((a, b) => F.maximum(a, b), [[nan]], [1]).y.every(Number.isNaN)).toBe(true);
    });
    it('relu: NaN passes the gradient (threshold_backward: 0 only where x <= 0)', () => {
      // torch.relu([nan, -1, 0, 2]) -> grad [1, 0, 0, 1], values [nan, 0, 0, 2]
      const r = grads((x) => F.relu(x), [[nan, -1, 0, 2]]);
      expect(r.g[0]).toEqual([1, 0, 0, 1]);
      expect(r.y).toEqual([nan, 0, 0, 2]);
    });
    it('clamp: NaN gets 0, the bounds are inside', () => {
      // torch: x.clamp(0, 1) with x = [nan, -1, 0.5, 2, 0, 1] -> grad [0, 0, 1, 0, 1, 1], values [nan, 0, 0.5, 1, 0, 1]
      const r = grads((x) => F.clamp(x, 0, 1), [[nan, -1, 0.5, 2, 0, 1]]);
      expect(r.g[0]).toEqual([0, 0, 1, 0, 1, 1]);
      expect(r.y).toEqual([nan, 0, 0.5, 1, 0, 1]);
    });
    it('max pooling picks the last NaN of a window', () => {
      // torch max_pool2d([[[[1, nan, nan, 0]]]], (1, 4)) -> nan, grad [0, 0, 1, 0]
      const x = leaf([1, nan, nan, 0], [1, 1, 1, 4]);
      const y = F.maxPool2d(x, [1, 4]);
      y.backward(fromArray([1], [1, 1, 1, 1], { dtype: 'float64' }));
      expect(arr(y)).toEqual([nan]);
      expect(arr(x.grad)).toEqual([0, 0, 1, 0]);
      // torch max_pool2d([[[[nan, 2, nan, 0]]]], (1, 2)) -> [nan, nan], grad [1, 0, 1, 0]
      const x2 = leaf([nan, 2, nan, 0], [1, 1, 1, 4]);
      F.maxPool2d(x2, [1, 2]).backward(fromArray([1, 1], [1, 1, 1, 2], { dtype: 'float64' }));
      expect(arr(x2.grad)).toEqual([1, 0, 1, 0]);
    });
    it('max pooling 2x2 (the fast path) picks the last NaN too', () => {
      const x = leaf([nan, 1, nan, 2, 3, 4, 5, nan], [1, 1, 2, 4]);
      F.maxPool2d(x, 2).backward(fromArray([1, 1], [1, 1, 1, 2], { dtype: 'float64' }));
      // torch max_pool2d(tensor([nan,1,nan,2,3,4,5,nan]).reshape(1,1,2,4), 2): grad [1,0,0,0,0,0,0,1]
      expect(arr(x.grad)).toEqual([1, 0, 0, 0, 0, 0, 0, 1]);
    });
  });

  describe('losses, pow, softmax, flatten', () => {
    it('crossEntropy([-inf, 0, 1], [2]) = 0.3133 with grad [0, 0.2689, -0.2689] (was NaN)', () => {
      // torch.nn.functional.cross_entropy(tensor([[-inf, 0, 1.]]), tensor([2])) -> 0.31326168751822286
      const x = leaf([-inf, 0, 1], [1, 3]);
      const l = F.crossEntropy(x, [2]);
      expect(l.item()).toBeCloseTo(0.31326168751822286, 14);
      l.backward();
      const g = arr(x.grad);
      expect(g[0]).toBe(0);
      expect(g[1]).toBeCloseTo(0.2689414213699951, 14);
      expect(g[2]).toBeCloseTo(-0.2689414213699951, 14);
    });
    it('nllLoss picks the target even when other entries are -inf', () => {
      const lp = leaf([-inf, -0.5, -inf, -2], [2, 2]);
      const l = F.nllLoss(lp, [1, 1], 'sum');
      expect(l.item()).toBe(2.5);
      l.backward();
      expect(arr(lp.grad)).toEqual([0, -1, 0, -1]);
    });
    it('pow(a, b) at a = 0: exponent gradient -inf where b < 0, 0 where b >= 0', () => {
      // torch: a = [0, 0, 0, 2], b = [-1, 0, 1, -1]: a.grad [-inf, 0, 1, -0.25], b.grad [-inf, 0, 0, 0.34657359027997264]
      const r = grads((a, b) => F.pow(a, b), [[0, 0, 0, 2], [-1, 0, 1, -1]]);
      expect(r.g[0]).toEqual([-inf, 0, 1, -0.25]);
      expect(r.g[1].slice(0, 3)).toEqual([-inf, 0, 0]);
      expect(r.g[1][3]).toBeCloseTo(0.34657359027997264, 14);
      // torch: a = [0, 0], b = [-0.5, 2.5]: both grads [-inf, 0]
      expect(grads((a, b) => F.pow(a, b), [[0, 0], [-0.5, 2.5]]).g).toEqual([[-inf, 0], [-inf, 0]]);
    });
    it('softmax / logSoftmax over a zero-length axis return the empty tensor', () => {
      for (const f of [F.softmax, F.logSoftmax]) {
        const x = fromArray([], [2, 0], { dtype: 'float64', requiresGrad: true });
        const y = f(x, 1);
        expect([...y.shape]).toEqual([2, 0]);
        F.sum(y).backward();
        expect([...x.grad!.shape]).toEqual([2, 0]);
      }
    });
    it('flatten(2, 1) is refused (start after end), as PyTorch', () => {
      expect(() => F.flatten(fromArray(new Array(24).fill(0), [2, 3, 4]), 2, 1)).toThrow(/start dim 2 comes after end dim 1/);
      expect([...F.flatten(fromArray(new Array(24).fill(0), [2, 3, 4]), 1, 1).shape]).toEqual([2, 3, 4]);
    });
  });
});
