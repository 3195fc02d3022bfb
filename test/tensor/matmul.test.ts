/**
 * matmul with torch.matmul semantics: 2-D, batched with broadcast batch dims, and 1-D operands on
 * either side (vector-matrix, matrix-vector, dot product, vector against a batch), on any layout.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { tensor } from '../../src/index.js';
import { broadcastShapesArb, tensorCaseArb } from '../helpers/arbitraries.js';
import { expectClose, expectGradOk, runs } from '../helpers/assert.js';
import * as R from '../helpers/reference.js';
import { onEachDevice } from '../helpers/devices.js';

/** Operand shapes for one matmul: each side 1-D (a vector) or [...batch, rows, cols]. */
function matmulShapesArb(maxBatchRank = 2) {
  return fc
    .record({
      batch: broadcastShapesArb(2, { maxRank: maxBatchRank, maxDim: 3 }),
      m: fc.integer({ min: 1, max: 4 }),
      k: fc.integer({ min: 1, max: 4 }),
      n: fc.integer({ min: 1, max: 4 }),
      aVec: fc.boolean(),
      bVec: fc.boolean(),
    })
    .map(({ batch: { inputs: [ba, bb] }, m, k, n, aVec, bVec }) => ({
      a: aVec ? [k] : [...ba, m, k],
      b: bVec ? [k] : [...bb, k, n],
    }));
}

const casesArb = (maxBatchRank = 2) =>
  matmulShapesArb(maxBatchRank).chain(({ a, b }) => fc.record({ a: tensorCaseArb(a), b: tensorCaseArb(b) }));

onEachDevice(() => {
describe('matmul', () => {
  it('forward matches the reference (2-D, batched with broadcasting, 1-D operands, any layout)', () => {
    fc.assert(
      fc.property(casesArb(), ({ a, b }) => {
        const y = a.make().matmul(b.make());
        expectClose(y, R.matmul(a.ref(), b.ref()), { rtol: 1e-12, atol: 1e-12, label: `[${a.shape}] ${a.layout} @ [${b.shape}] ${b.layout}` });
      }),
      runs(60),
    );
  });

  it('float32 forward accumulates accurately', () => {
    fc.assert(
      fc.property(casesArb(1), ({ a, b }) => {
        const fa = R.map(a.ref(), Math.fround), fb = R.map(b.ref(), Math.fround);
        expectClose(a.make({ dtype: 'float32' }).matmul(b.make({ dtype: 'float32' })), R.matmul(fa, fb), { rtol: 1e-6, atol: 1e-6 });
      }),
      runs(25),
    );
  });

  it('gradients of both operands match finite differences (summed over broadcast batch dims)', () => {
    fc.assert(
      fc.property(casesArb(2), ({ a, b }) => {
        expectGradOk((x, y) => a.view(x).matmul(b.view(y)), [a.makeBase({ requiresGrad: true }), b.makeBase({ requiresGrad: true })], {
          label: `[${a.shape}] ${a.layout} @ [${b.shape}] ${b.layout}`,
        });
      }),
      runs(40),
    );
  });

  it('gradient of one operand when the other needs none', () => {
    fc.assert(
      fc.property(casesArb(2), fc.boolean(), ({ a, b }, left) => {
        expectGradOk((x, y) => a.view(x).matmul(b.view(y)), [a.makeBase({ requiresGrad: left }), b.makeBase({ requiresGrad: !left })]);
      }),
      runs(20),
    );
  });

  it('dot product of two vectors is a 0-d tensor, and its gradient is the other vector', () => {
    const a = tensor([1, 2, 3], { dtype: 'float64', requiresGrad: true });
    const b = tensor([4, 5, 6], { dtype: 'float64', requiresGrad: true });
    const y = a.matmul(b);
    expect(y.shape).toEqual([]);
    expect(y.item()).toBe(32);
    y.backward();
    expectClose(a.grad!, [4, 5, 6]);
    expectClose(b.grad!, [1, 2, 3]);
  });

  it('.T and transpose give the transposed product', () => {
    const a = tensor([[1, 2], [3, 4], [5, 6]]);
    expectClose(a.T.matmul(a), [35, 44, 44, 56]);
    expectClose(a.matmul(a.transpose(0, 1)), R.matmul(R.nd([3, 2], [1, 2, 3, 4, 5, 6]), R.nd([2, 3], [1, 3, 5, 2, 4, 6])));
  });
});
});
