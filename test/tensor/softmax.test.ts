/**
 * softmax / log-softmax along any axis and cross-entropy (mean, sum, none) against the reference
 * definitions; gradients against finite differences; stability for large logits.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { F, fromArray, tensor } from '../../src/index.js';
import { anyTensorCaseArb, tensorCaseArb } from '../helpers/arbitraries.js';
import { expectClose, expectGradOk, runs } from '../helpers/assert.js';
import * as R from '../helpers/reference.js';
import { onEachDevice } from '../helpers/devices.js';

const axisCaseArb = anyTensorCaseArb({ minRank: 1, maxRank: 3, maxDim: 4 }, { values: { kind: 'uniform', min: -4, max: 4 } }).chain((c) =>
  fc.record({ c: fc.constant(c), axis: fc.integer({ min: -c.shape.length, max: c.shape.length - 1 }) }),
);

onEachDevice(() => {
describe('softmax and log-softmax', () => {
  for (const name of ['softmax', 'logSoftmax'] as const) {
    const f = name === 'softmax' ? F.softmax : F.logSoftmax;
    const ref = name === 'softmax' ? R.softmax : R.logSoftmax;

    it(`${name}: forward matches the definition along any axis, any layout`, () => {
      fc.assert(
        fc.property(axisCaseArb, ({ c, axis }) => {
          expectClose(f(c.make(), axis), ref(c.ref(), axis), { rtol: 1e-12, atol: 1e-14, label: `${name}(${axis}) ${c.layout}` });
        }),
        runs(50),
      );
    });

    it(`${name}: gradient matches finite differences`, () => {
      fc.assert(
        fc.property(axisCaseArb, ({ c, axis }) => {
          expectGradOk((b) => f(c.view(b), axis), [c.makeBase({ requiresGrad: true })], { label: `${name}(${axis}) ${c.layout}` });
        }),
        runs(30),
      );
    });
  }

  it('softmax rows sum to 1 and the default axis is the last', () => {
    fc.assert(
      fc.property(anyTensorCaseArb({ minRank: 1, maxDim: 4 }), (c) => {
        const s = c.make().softmax();
        expectClose(s.sum(-1), R.reduce(R.map(c.ref(), () => 1), 'max', -1), { rtol: 1e-12 });
        expectClose(c.make().logSoftmax(), R.logSoftmax(c.ref(), -1), { rtol: 1e-12, atol: 1e-14 });
      }),
      runs(30),
    );
  });

  it('is stable for huge logits (no overflow to NaN/Infinity)', () => {
    const x = tensor([[1000, 1000 + Math.log(3)], [-1000, -1000]], { dtype: 'float64' });
    expectClose(F.softmax(x), [0.25, 0.75, 0.5, 0.5], { rtol: 1e-9 });
    expectClose(F.logSoftmax(x), [Math.log(0.25), Math.log(0.75), Math.log(0.5), Math.log(0.5)], { rtol: 1e-9 });
    const x32 = tensor([[100, 0], [0, 100]]); // exp(100) overflows float32
    expectClose(F.softmax(x32), [1, Math.exp(-100), Math.exp(-100), 1], { rtol: 1e-5, atol: 1e-30 });
    expectClose(F.crossEntropy(x32, [0, 1]), [0], { atol: 1e-6 });
  });
});

describe('cross-entropy', () => {
  const ceArb = fc
    .record({ n: fc.integer({ min: 1, max: 4 }), c: fc.integer({ min: 1, max: 5 }), reduction: fc.constantFrom('mean' as const, 'sum' as const, 'none' as const), asTensor: fc.boolean() })
    .chain(({ n, c, reduction, asTensor }) =>
      fc.record({
        logits: tensorCaseArb([n, c], { values: { kind: 'uniform', min: -4, max: 4 } }),
        labels: fc.array(fc.integer({ min: 0, max: c - 1 }), { minLength: n, maxLength: n }),
        reduction: fc.constant(reduction),
        asTensor: fc.constant(asTensor),
      }),
    );

  it('forward matches -log softmax at the label, reduced by mean, sum or none; labels as array or int32 tensor', () => {
    fc.assert(
      fc.property(ceArb, ({ logits, labels, reduction, asTensor }) => {
        const y = asTensor ? fromArray(labels, [labels.length], { dtype: 'int32' }) : labels;
        const loss = F.crossEntropy(logits.make(), y, reduction);
        expectClose(loss, R.crossEntropy(logits.ref(), labels, reduction), { rtol: 1e-12, atol: 1e-14, label: `${reduction} ${logits.layout}` });
      }),
      runs(50),
    );
  });

  it('gradient matches finite differences (and is softmax - onehot, scaled, for mean)', () => {
    fc.assert(
      fc.property(ceArb, ({ logits, labels, reduction }) => {
        expectGradOk((b) => F.crossEntropy(logits.view(b), labels, reduction), [logits.makeBase({ requiresGrad: true })], { label: `${reduction} ${logits.layout}` });
        if (reduction === 'mean') {
          const x = logits.make({ requiresGrad: true });
          F.crossEntropy(x, labels).backward();
          const [n, c] = logits.shape;
          const sm = R.softmax(logits.ref());
          expectClose(x.grad!, R.build([n, c], ([i, j]) => (R.get(sm, [i, j]) - (labels[i] === j ? 1 : 0)) / n), { rtol: 1e-10, atol: 1e-14 });
        }
      }),
      runs(30),
    );
  });

  it('nllLoss of logSoftmax equals crossEntropy', () => {
    fc.assert(
      fc.property(ceArb, ({ logits, labels, reduction }) => {
        const x = logits.make();
        expectClose(F.nllLoss(F.logSoftmax(x, 1), labels, reduction), F.crossEntropy(x, labels, reduction), { rtol: 1e-14 });
      }),
      runs(20),
    );
  });

  it('has the expected shapes per reduction', () => {
    const x = tensor([[1, 2, 3], [1, 2, 3]]);
    expect(F.crossEntropy(x, [0, 2], 'none').shape).toEqual([2]);
    expect(F.crossEntropy(x, [0, 2], 'sum').shape).toEqual([]);
    expect(F.crossEntropy(x, [0, 2]).shape).toEqual([]);
  });
});
});
