/**
 * Shape movement: reshape/view, permute/transpose, expand, slice (steps, negative and out-of-range
 * indices), select, concat/stack, flatten/squeeze/unsqueeze. Forward against the reference on any
 * layout; backward (the inverse movement: pad, sum over expanded dims, split) against finite
 * differences.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { F, type Tensor } from '../../src/index.js';
import { anyTensorCaseArb, shapeArb, tensorCaseArb, broadcastShapesArb, type TensorCase } from '../helpers/arbitraries.js';
import { errorOf, expectClose, expectGradOk, runs } from '../helpers/assert.js';
import * as R from '../helpers/reference.js';

/** A random shape with n elements (prime factors grouped into dims, 1s sprinkled in), maybe with one -1. */
function reshapeTargetArb(n: number): fc.Arbitrary<number[]> {
  const primes: number[] = [];
  for (let m = n, p = 2; m > 1; ) {
    if (m % p === 0) {
      primes.push(p);
      m /= p;
    } else p++;
  }
  return fc
    .record({
      order: fc.shuffledSubarray(primes, { minLength: primes.length, maxLength: primes.length }),
      cuts: fc.array(fc.boolean(), { minLength: primes.length, maxLength: primes.length }),
      ones: fc.array(fc.integer({ min: 0, max: 4 }), { maxLength: 2 }),
      infer: fc.option(fc.nat(), { nil: undefined }),
    })
    .map(({ order, cuts, ones, infer }) => {
      const dims: number[] = [];
      order.forEach((p, i) => {
        if (i === 0 || cuts[i]) dims.push(p);
        else dims[dims.length - 1] *= p;
      });
      for (const at of ones) dims.splice(Math.min(at, dims.length), 0, 1);
      if (infer !== undefined && dims.length > 0) dims[infer % dims.length] = -1;
      return dims;
    });
}

function resolve(target: number[], n: number): number[] {
  const known = target.filter((d) => d !== -1).reduce((p, d) => p * d, 1);
  return target.map((d) => (d === -1 ? n / known : d));
}

const caseAndPermArb = anyTensorCaseArb({ maxDim: 4 }).chain((c) =>
  fc.record({ c: fc.constant(c), dims: fc.shuffledSubarray(c.shape.map((_, i) => i), { minLength: c.shape.length, maxLength: c.shape.length }) }),
);

const sliceArb = anyTensorCaseArb({ minRank: 1, maxDim: 5 }).chain((c) =>
  fc.integer({ min: -c.shape.length, max: c.shape.length - 1 }).chain((axis) => {
    const n = c.shape[axis < 0 ? axis + c.shape.length : axis];
    return fc.record({
      c: fc.constant(c),
      axis: fc.constant(axis),
      start: fc.option(fc.integer({ min: -n - 2, max: n + 2 }), { nil: undefined }),
      end: fc.option(fc.integer({ min: -n - 2, max: n + 2 }), { nil: undefined }),
      step: fc.integer({ min: 1, max: 3 }),
    });
  }),
);

const selectArb = anyTensorCaseArb({ minRank: 1, maxDim: 4 }).chain((c) =>
  fc.integer({ min: -c.shape.length, max: c.shape.length - 1 }).chain((axis) => {
    const n = c.shape[axis < 0 ? axis + c.shape.length : axis];
    return fc.record({ c: fc.constant(c), axis: fc.constant(axis), index: fc.integer({ min: -n, max: n - 1 }) });
  }),
);

/** Parts that agree on every dim but `axis` (concat), or on every dim (stack, when `same`). */
function partsArb(same: boolean) {
  return fc
    .record({ shape: shapeArb({ minRank: 1, maxRank: 3, maxDim: 3 }), count: fc.integer({ min: 1, max: 3 }), pick: fc.nat() })
    .chain(({ shape, count, pick }) => {
      const axis = pick % (shape.length + (same ? 1 : 0)) - (pick % 2 ? shape.length + (same ? 1 : 0) : 0);
      const ax = axis < 0 ? axis + shape.length + (same ? 1 : 0) : axis;
      const partShape = (len: number) => shape.map((d, i) => (!same && i === ax ? len : d));
      return fc.record({
        axis: fc.constant(axis),
        parts: fc.array(
          fc.integer({ min: 1, max: 3 }).chain((len) => tensorCaseArb(partShape(len))),
          { minLength: count, maxLength: count },
        ),
      });
    });
}

const views = (cs: TensorCase[], bases: Tensor[]) => cs.map((c, i) => c.view(bases[i]));
const bases = (cs: TensorCase[]) => cs.map((c) => c.makeBase({ requiresGrad: true }));

describe('reshape and view', () => {
  it('reshape to any compatible shape (with -1) keeps the row-major order, on any layout', () => {
    const arb = anyTensorCaseArb({ maxDim: 4 }).chain((c) => fc.record({ c: fc.constant(c), target: reshapeTargetArb(c.values.length) }));
    fc.assert(
      fc.property(arb, ({ c, target }) => {
        const y = c.make().reshape(target);
        expectClose(y, R.reshape(c.ref(), resolve(target, c.values.length)), { label: `${c.layout} -> [${target}]` });
        expectGradOk((b) => c.view(b).reshape(target), [c.makeBase({ requiresGrad: true })]);
      }),
      runs(40),
    );
  });

  it('view works on contiguous tensors and shares their storage; refuses non-contiguous ones', () => {
    fc.assert(
      fc.property(anyTensorCaseArb({ minRank: 2, minDim: 2, maxDim: 4 }, { layouts: ['contiguous', 'offset'] }), (c) => {
        const x = c.make();
        expect(x.isContiguous).toBe(true);
        const v = x.view([-1]);
        expect(v.storage).toBe(x.storage);
        expectClose(v, c.values);
        const p = x.permute(x.shape.map((_, i) => x.ndim - 1 - i));
        expect(errorOf(() => p.view([-1]))).toMatch(/not contiguous/);
      }),
      runs(20),
    );
  });

  it('flatten, squeeze and unsqueeze are reshapes', () => {
    fc.assert(
      fc.property(anyTensorCaseArb({ minRank: 1, maxDim: 3 }), fc.nat(), (c, k) => {
        const r = c.shape.length;
        const s = k % r, e = s + ((k >> 3) % (r - s));
        const flat = [...c.shape.slice(0, s), c.shape.slice(s, e + 1).reduce((p, d) => p * d, 1), ...c.shape.slice(e + 1)];
        expectClose(c.make().flatten(s, e), R.reshape(c.ref(), flat));
        const at = k % (r + 1);
        const un = [...c.shape];
        un.splice(at, 0, 1);
        expectClose(c.make().unsqueeze(at), R.reshape(c.ref(), un));
        expectClose(c.make().unsqueeze(at).squeeze(at), c.ref());
        expectClose(c.make().squeeze(), R.reshape(c.ref(), c.shape.filter((d) => d !== 1)));
      }),
      runs(30),
    );
  });
});

describe('permute, transpose, expand', () => {
  it('permute by any permutation is a view matching the reference; gradient permutes back', () => {
    fc.assert(
      fc.property(caseAndPermArb, ({ c, dims }) => {
        const x = c.make();
        const y = x.permute(dims);
        expect(y.storage).toBe(x.storage);
        expectClose(y, R.permute(c.ref(), dims), { label: `${c.layout} permute(${dims})` });
        expectGradOk((b) => c.view(b).permute(dims).mul(c.view(b).permute(dims)), [c.makeBase({ requiresGrad: true })]);
      }),
      runs(40),
    );
  });

  it('transpose(d0, d1) with negative dims', () => {
    const arb = anyTensorCaseArb({ minRank: 1, maxDim: 4 }).chain((c) =>
      fc.record({ c: fc.constant(c), d0: fc.integer({ min: -c.shape.length, max: c.shape.length - 1 }), d1: fc.integer({ min: -c.shape.length, max: c.shape.length - 1 }) }),
    );
    fc.assert(
      fc.property(arb, ({ c, d0, d1 }) => {
        expectClose(c.make().transpose(d0, d1), R.transpose(c.ref(), d0, d1));
        expectGradOk((b) => c.view(b).transpose(d0, d1).pow(3), [c.makeBase({ requiresGrad: true })]);
      }),
      runs(30),
    );
  });

  it('expand broadcasts size-1 and new leading dims (stride 0); gradient sums over them', () => {
    const arb = broadcastShapesArb(1, { maxDim: 4 }).chain(({ out, inputs: [s] }) =>
      fc.record({ out: fc.constant(out), c: tensorCaseArb(s), minusOne: fc.boolean() }),
    );
    fc.assert(
      fc.property(arb, ({ out, c, minusOne }) => {
        const lead = out.length - c.shape.length;
        // -1 keeps an existing dim, as in torch.Tensor.expand
        const target = minusOne ? out.map((d, i) => (i >= lead && c.shape[i - lead] === d ? -1 : d)) : out;
        const y = c.make().expand(target);
        expect([...y.shape]).toEqual(out);
        expectClose(y, R.expand(c.ref(), out), { label: `${c.layout} expand([${target}])` });
        expectGradOk((b) => c.view(b).expand(target).mul(c.view(b).expand(target)), [c.makeBase({ requiresGrad: true })]);
      }),
      runs(30),
    );
  });
});

describe('slice and select', () => {
  it('slice with steps, negative and out-of-range indices matches Python slicing; gradient pads back', () => {
    fc.assert(
      fc.property(sliceArb, ({ c, axis, start, end, step }) => {
        const x = c.make();
        const y = x.slice(axis, start, end, step);
        expect(y.storage).toBe(x.storage);
        expectClose(y, R.slice(c.ref(), axis, start, end, step), { label: `${c.layout} [${start}:${end}:${step}] on ax${axis}` });
        expectGradOk((b) => c.view(b).slice(axis, start, end, step).square(), [c.makeBase({ requiresGrad: true })]);
      }),
      runs(50),
    );
  });

  it('select drops the dim; negative indices count from the end', () => {
    fc.assert(
      fc.property(selectArb, ({ c, axis, index }) => {
        expectClose(c.make().select(axis, index), R.select(c.ref(), axis, index), { label: `${c.layout} select(${axis}, ${index})` });
        expectGradOk((b) => c.view(b).select(axis, index).square(), [c.makeBase({ requiresGrad: true })]);
      }),
      runs(40),
    );
  });

  it('slices of slices compose (views on views)', () => {
    fc.assert(
      fc.property(anyTensorCaseArb({ minRank: 2, minDim: 3, maxDim: 5 }), (c) => {
        const y = c.make().slice(0, 1, undefined, 2).slice(-1, undefined, -1).slice(0, -1);
        const ref = R.slice(R.slice(R.slice(c.ref(), 0, 1, undefined, 2), -1, undefined, -1), 0, -1);
        expectClose(y, ref);
      }),
      runs(20),
    );
  });
});

describe('concat and stack', () => {
  it('concat along any axis (negative too) of any layouts; gradient splits', () => {
    fc.assert(
      fc.property(partsArb(false), ({ axis, parts }) => {
        const y = F.concat(parts.map((p) => p.make()), axis);
        expectClose(y, R.concat(parts.map((p) => p.ref()), axis), { label: `concat ax${axis}` });
        expectGradOk((...bs) => F.concat(views(parts, bs), axis), bases(parts));
      }),
      runs(40),
    );
  });

  it('stack inserts a new axis (negative too); gradient splits', () => {
    fc.assert(
      fc.property(partsArb(true), ({ axis, parts }) => {
        const y = F.stack(parts.map((p) => p.make()), axis);
        expectClose(y, R.stack(parts.map((p) => p.ref()), axis), { label: `stack ax${axis}` });
        expectGradOk((...bs) => F.stack(views(parts, bs), axis), bases(parts));
      }),
      runs(40),
    );
  });

  it('contiguous() of any layout copies the logical values into row-major order', () => {
    fc.assert(
      fc.property(anyTensorCaseArb(), (c) => {
        const y = c.make().contiguous();
        expect(y.isContiguous).toBe(true);
        expectClose(y, c.values);
        expectGradOk((b) => c.view(b).contiguous().square(), [c.makeBase({ requiresGrad: true })]);
      }),
      runs(30),
    );
  });
});
