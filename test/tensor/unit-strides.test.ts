/**
 * Size-1 dims may carry any stride (no address depends on it). matmul once took its batch stride
 * from such a dim and read out of bounds (NaN), or read the wrong batch (finite wrong values), and
 * its backward, which matmuls transposed views, returned wrong gradients (issue 11, item 12).
 *
 * The oracle here gathers element by element from shape, strides and offset alone, over the base
 * values, without the library's kernels: a view's logical values are what such a walk reads.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { fromArray, type Tensor } from '../../src/index.js';
import { anyTensorCaseArb, buildCase, DEFAULT_VALUES, tensorCaseArb } from '../helpers/arbitraries.js';
import { expectClose, expectGradOk, runs } from '../helpers/assert.js';
import * as R from '../helpers/reference.js';
import { onEachDevice } from '../helpers/devices.js';

/** The values a view reads: element (i0, i1, ...) at offset + sum(ik * strides[k]) of `storage`. */
function gather(storage: readonly number[], shape: readonly number[], strides: readonly number[], offset: number): number[] {
  const n = shape.reduce((p, d) => p * d, 1);
  const out: number[] = [];
  for (let f = 0; f < n; f++) {
    let rest = f, addr = offset;
    for (let k = shape.length - 1; k >= 0; k--) {
      addr += (rest % shape[k]) * strides[k];
      rest = Math.floor(rest / shape[k]);
    }
    if (addr < 0 || addr >= storage.length) throw new Error(`address ${addr} outside the storage of ${storage.length}`);
    out.push(storage[addr]);
  }
  return out;
}

const seventyFour = Array.from({ length: 74 }, (_, i) => Math.sin(i + 1));

/** The first reproduction: shape [2,1,1,37], strides [37,74,37,1]. */
function permutedUnitView(): Tensor {
  return fromArray(seventyFour, [1, 2, 1, 37], { dtype: 'float64' }).permute([1, 0, 2, 3]);
}

describe('view arbitraries', () => {
  it("the 'unit' layout gives size-1 dims strides that are not the row-major ones, contiguous in memory", () => {
    for (let seed = 0; seed < 10; seed++) {
      const c = buildCase([2, 1, 3], 'float64', DEFAULT_VALUES, seed, seed, false, ['unit']);
      const t = c.make();
      expect(t.strides[1], c.layout).not.toBe(3);
      expect(t.isContiguous).toBe(true);
      expect(Array.from(t.toTypedArray())).toEqual(c.values);
    }
  });

  it('every drawn view reads, walked through its strides from its offset, the logical values of its case', () => {
    fc.assert(
      fc.property(anyTensorCaseArb({ maxRank: 4, maxDim: 3 }), (c) => {
        const t = c.make();
        expect(gather(c.baseValues, t.shape, t.strides, t.offset)).toEqual(c.values);
      }),
      runs(200),
    );
  });
});

onEachDevice(() => {
  describe('size-1 dims with arbitrary strides', () => {
    it('the oracle agrees with the reproduction layout', () => {
      const a = permutedUnitView();
      expect([...a.shape]).toEqual([2, 1, 1, 37]);
      expect([...a.strides]).toEqual([37, 74, 37, 1]);
      expect(gather(seventyFour, a.shape, a.strides, a.offset)).toEqual(seventyFour);
    });

    it('matmul of [2,1,1,37] strides [37,74,37,1] by a transposed [2,37] is finite and right (was NaN)', () => {
      const a = permutedUnitView();
      const b = fromArray(seventyFour, [2, 37], { dtype: 'float64' }).transpose(0, 1);
      const y = a.matmul(b);
      const want = R.matmul(R.nd([2, 1, 1, 37], seventyFour), R.transpose(R.nd([2, 37], seventyFour), 0, 1));
      expectClose(y, want, { rtol: 1e-12, atol: 1e-12 });
      expect(Array.from(y.toTypedArray()).every(Number.isFinite)).toBe(true);
    });

    it('float32 and the fast kernels take the same path', () => {
      const a = fromArray(seventyFour, [1, 2, 1, 37]).permute([1, 0, 2, 3]);
      const b = fromArray(seventyFour, [2, 37]).transpose(0, 1);
      const f = seventyFour.map(Math.fround);
      const want = R.matmul(R.nd([2, 1, 1, 37], f), R.transpose(R.nd([2, 37], f), 0, 1));
      expectClose(a.matmul(b), want, { rtol: 1e-5, atol: 1e-5 });
    });

    it('contiguous() of such a view has the canonical strides and the same values, and matmul of it is right', () => {
      const a = permutedUnitView();
      const c = a.contiguous();
      expect([...c.strides]).toEqual([37, 37, 37, 1]);
      expect(Array.from(c.toTypedArray())).toEqual(seventyFour);
      const b = fromArray(seventyFour, [2, 37], { dtype: 'float64' }).transpose(0, 1);
      expectClose(c.matmul(b), a.matmul(b).toTypedArray(), { rtol: 0, atol: 0 });
      expectClose(c.matmul(b), R.matmul(R.nd([2, 1, 1, 37], seventyFour), R.transpose(R.nd([2, 37], seventyFour), 0, 1)), { rtol: 1e-12, atol: 1e-12 });
    });

    it('finite wrong values: [2,1,3,1].transpose(1,3) @ [1,2] reads the second batch', () => {
      const a = fromArray([1, 2, 3, 4, 5, 6], [2, 1, 3, 1], { dtype: 'float64' }).transpose(1, 3);
      const y = a.matmul(fromArray([1, 10], [1, 2], { dtype: 'float64' }));
      // By hand: batch 0 is the column [1,2,3], batch 1 the column [4,5,6], each times [1, 10].
      expect(y.toArray()).toEqual([[[[1, 10], [2, 20], [3, 30]]], [[[4, 40], [5, 50], [6, 60]]]]);
    });

    it.each([[[4, 4]], [[4, 1, 4, 4]], [[1, 1, 4, 4]]])('gradients through the internal transposes: A %j @ X.transpose(3, 1) with X of shape [4,4,4,1]', (aShape) => {
      const n = aShape.reduce((p, d) => p * d, 1);
      const aVals = Array.from({ length: n }, (_, i) => Math.cos(i)), xVals = Array.from({ length: 64 }, (_, i) => Math.sin(2 * i + 1));
      const A = fromArray(aVals, aShape, { dtype: 'float64', requiresGrad: true });
      const X = fromArray(xVals, [4, 4, 4, 1], { dtype: 'float64', requiresGrad: true });
      const y = A.matmul(X.transpose(3, 1));
      expectClose(y, R.matmul(R.nd(aShape, aVals), R.transpose(R.nd([4, 4, 4, 1], xVals), 3, 1)), { rtol: 1e-12, atol: 1e-12 });
      expectGradOk((a, x) => a.matmul(x.transpose(3, 1)), [A, X]);
    });

    it('matmul with batch dims of size 1 at any stride matches the reference', () => {
      const shapes = fc.tuple(fc.constantFrom([2, 1], [1, 2], [1, 1], [2, 1, 3], [3, 1, 1]), fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 3 }));
      fc.assert(
        fc.property(
          shapes.chain(([batch, m, k, n]) => fc.record({
            a: tensorCaseArb([...batch, m, k], { layouts: ['unit', 'permute', 'slice'] }),
            b: tensorCaseArb([...batch.slice(1), k, n], { layouts: ['unit', 'permute'] }),
          })),
          ({ a, b }) => {
            expectClose(a.make().matmul(b.make()), R.matmul(a.ref(), b.ref()), { rtol: 1e-12, atol: 1e-12, label: `${a.layout} @ ${b.layout}` });
            expectGradOk((x, y) => a.view(x).matmul(b.view(y)), [a.makeBase({ requiresGrad: true }), b.makeBase({ requiresGrad: true })]);
          },
        ),
        runs(40),
      );
    });
  });
});
