/**
 * Reductions over given axes (positive or negative, several at once, or all), with and without
 * keepdim, on any layout. argmax/argmin are checked on integer data full of ties: the first
 * occurrence must win. max/min gradients use tie-free data.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { F, tensor, type Tensor } from '../../src/index.js';
import { shapeArb, tensorCaseArb, type TensorCaseOptions } from '../helpers/arbitraries.js';
import { expectClose, expectGradOk, runs } from '../helpers/assert.js';
import * as R from '../helpers/reference.js';
import { onEachDevice } from '../helpers/devices.js';

/** A shape, a case of it, a set of axes (each maybe written negative, or undefined for all) and keepdim. */
function reduceArb(caseOpts: TensorCaseOptions = {}, maxRank = 4, maxDim = 4) {
  return shapeArb({ maxRank, maxDim }).chain((shape) =>
    fc.record({
      c: tensorCaseArb(shape, caseOpts),
      axes: shape.length === 0
        ? fc.constant(undefined)
        : fc.option(
          fc.shuffledSubarray(shape.map((_, i) => i), { minLength: 1 }).chain((ax) =>
            fc.tuple(...ax.map((a) => fc.constantFrom(a, a - shape.length))),
          ),
          { nil: undefined },
        ),
      keepdim: fc.boolean(),
    }),
  );
}

type Kind = 'sum' | 'mean' | 'max' | 'min';
const METHOD: Record<Kind, (t: Tensor, axes: number[] | undefined, keepdim: boolean) => Tensor> = {
  sum: (t, a, k) => t.sum(a, k),
  mean: (t, a, k) => t.mean(a, k),
  max: (t, a, k) => t.max(a, k),
  min: (t, a, k) => t.min(a, k),
};

onEachDevice(() => {
describe('reductions', () => {
  for (const kind of ['sum', 'mean', 'max', 'min'] as const) {
    it(`${kind}: forward matches the reference over any axes, keepdim or not`, () => {
      fc.assert(
        fc.property(reduceArb(), ({ c, axes, keepdim }) => {
          const y = METHOD[kind](c.make(), axes, keepdim);
          expectClose(y, R.reduce(c.ref(), kind, axes, keepdim), { rtol: 1e-12, label: `${kind}(${axes}, ${keepdim}) ${c.layout}` });
        }),
        runs(50),
      );
    });

    it(`${kind}: gradient matches finite differences`, () => {
      // max/min on distinct values: the extreme is unique, so the gradient is well defined.
      const opts: TensorCaseOptions = kind === 'max' || kind === 'min' ? { values: { kind: 'distinct', spacing: 0.1 } } : {};
      fc.assert(
        fc.property(reduceArb(opts, 3, 4), ({ c, axes, keepdim }) => {
          expectGradOk((b) => METHOD[kind](c.view(b), axes, keepdim), [c.makeBase({ requiresGrad: true })], { label: `${kind}(${axes}) ${c.layout}` });
        }),
        runs(25),
      );
    });
  }

  it('float32 reductions accumulate in float64 and round once', () => {
    fc.assert(
      fc.property(reduceArb({ dtype: 'float32' }), fc.constantFrom('sum' as const, 'mean' as const, 'max' as const, 'min' as const), ({ c, axes, keepdim }, kind) => {
        const y = METHOD[kind](c.make({ dtype: 'float32' }), axes, keepdim);
        expect(y.dtype).toBe('float32');
        const want = R.map(R.reduce(c.ref(), kind, axes, keepdim), Math.fround);
        expectClose(y, want, { rtol: 1e-6, atol: 1e-6, label: `${kind}(${axes}) ${c.layout}` });
      }),
      runs(30),
    );
  });

  for (const kind of ['argmax', 'argmin'] as const) {
    it(`${kind}: first occurrence on ties, int32 result, along any axis and over everything`, () => {
      const arb = shapeArb({ minRank: 1, maxDim: 4 }).chain((shape) =>
        fc.record({
          c: tensorCaseArb(shape, { values: { kind: 'int', min: 0, max: 2 } }),
          axis: fc.integer({ min: -shape.length, max: shape.length - 1 }),
          keepdim: fc.boolean(),
        }),
      );
      fc.assert(
        fc.property(arb, ({ c, axis, keepdim }) => {
          const y = kind === 'argmax' ? c.make().argmax(axis, keepdim) : c.make().argmin(axis, keepdim);
          expect(y.dtype).toBe('int32');
          expectClose(y, R.reduce(c.ref(), kind, axis, keepdim), { rtol: 0, atol: 0, label: `${kind}(${axis}) ${c.layout}` });
          const all = kind === 'argmax' ? F.argmax(c.make()) : F.argmin(c.make());
          expect(all.item()).toBe(R.reduce(R.nd([c.values.length], c.values), kind, 0).data[0]);
        }),
        runs(50),
      );
    });
  }

  it('max/min gradients split evenly among tied extremes (PyTorch amax convention)', () => {
    const x = tensor([[3, 1, 3], [2, 2, 0]], { dtype: 'float64', requiresGrad: true });
    x.max(1).sum().backward();
    expectClose(x.grad!, [0.5, 0, 0.5, 0.5, 0.5, 0]);
    const y = tensor([[3, 1, 3], [2, 2, 0]], { dtype: 'float64', requiresGrad: true });
    y.min().backward();
    expectClose(y.grad!, [0, 0, 0, 0, 0, 1]);
  });

  it('reductions of a 0-d tensor and over all axes', () => {
    const s = tensor(4, { dtype: 'float64' });
    expect(s.sum().item()).toBe(4);
    expect(s.max().item()).toBe(4);
    // as PyTorch: a 0-d tensor reduces along dim 0 or -1 over its one element
    for (const axis of [0, -1]) {
      for (const keepdim of [false, true]) {
        for (const y of [s.sum(axis, keepdim), s.mean(axis, keepdim), s.max(axis, keepdim), s.min(axis, keepdim)]) {
          expect(y.shape).toEqual([]);
          expect(y.item()).toBe(4);
        }
      }
      expect(s.argmax(axis).item()).toBe(0);
      expect(s.softmax(axis).item()).toBe(1);
      expect(s.logSoftmax(axis).item()).toBe(0);
    }
    expect(() => s.sum(1)).toThrow(/out of range/);
    expect(() => s.sum([0, -1])).toThrow(/repeated axis/);
    const g = tensor(3, { dtype: 'float64', requiresGrad: true });
    g.mean(0).mul(g.max(-1)).backward();
    expect(g.grad!.item()).toBe(6);
    expect(s.flatten().shape).toEqual([1]);
    const x = tensor([[1, 2], [3, 4]]);
    expect(x.sum().shape).toEqual([]);
    expect(x.sum(undefined, true).shape).toEqual([1, 1]);
    expect(x.mean([0, 1]).item()).toBe(2.5);
  });
});
});
