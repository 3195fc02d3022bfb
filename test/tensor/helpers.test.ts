/**
 * Tests of the test helpers themselves: the reference implementation against hand-computed values
 * (so it is an oracle worth trusting), and the generators against their contracts (a TensorCase
 * realises exactly its logical values, in the layout it claims).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { broadcastShapes } from '../../src/index.js';
import {
  anyTensorCaseArb, broadcastShapesArb, shapeArb, tensorCaseArb, valuesFromSeed, type ValueSpec,
} from '../helpers/arbitraries.js';
import * as R from '../helpers/reference.js';
import { expectClose, runs } from '../helpers/assert.js';

describe('reference implementation (hand-computed values)', () => {
  it('broadcasts, zips and reduces', () => {
    const a = R.nd([2, 1], [1, 2]);
    const b = R.nd([3], [10, 20, 30]);
    expect(R.zip(a, b, R.scalar.add)).toEqual({ shape: [2, 3], data: [11, 21, 31, 12, 22, 32] });
    expect(() => R.broadcastShape([2, 3], [4])).toThrow();
    const x = R.nd([2, 3], [1, 5, 3, 4, 2, 6]);
    expect(R.reduce(x, 'sum', 1)).toEqual({ shape: [2], data: [9, 12] });
    expect(R.reduce(x, 'max', 0, true)).toEqual({ shape: [1, 3], data: [4, 5, 6] });
    expect(R.reduce(x, 'argmax', 1)).toEqual({ shape: [2], data: [1, 2] });
    expect(R.reduce(x, 'mean')).toEqual({ shape: [], data: [3.5] });
    expect(R.reduce(x, 'min', [0, 1], true)).toEqual({ shape: [1, 1], data: [1] });
  });

  it('moves shapes: permute, slice with negative indices, concat, stack, select', () => {
    const x = R.nd([2, 3], [0, 1, 2, 3, 4, 5]);
    expect(R.permute(x, [1, 0])).toEqual({ shape: [3, 2], data: [0, 3, 1, 4, 2, 5] });
    expect(R.slice(x, 1, -3, undefined, 2)).toEqual({ shape: [2, 2], data: [0, 2, 3, 5] });
    expect(R.sliceIndices(10, -4, -1, 2)).toEqual([6, 8]);
    expect(R.sliceIndices(5, 7, 9)).toEqual([]);
    expect(R.concat([x, R.nd([2, 1], [9, 9])], 1)).toEqual({ shape: [2, 4], data: [0, 1, 2, 9, 3, 4, 5, 9] });
    expect(R.stack([R.nd([2], [1, 2]), R.nd([2], [3, 4])], 1)).toEqual({ shape: [2, 2], data: [1, 3, 2, 4] });
    expect(R.select(x, 0, -1)).toEqual({ shape: [3], data: [3, 4, 5] });
  });

  it('multiplies matrices with torch.matmul semantics', () => {
    const a = R.nd([2, 2], [1, 2, 3, 4]);
    const b = R.nd([2, 2], [5, 6, 7, 8]);
    expect(R.matmul(a, b)).toEqual({ shape: [2, 2], data: [19, 22, 43, 50] });
    expect(R.matmul(R.nd([2], [1, 1]), b)).toEqual({ shape: [2], data: [12, 14] });
    expect(R.matmul(a, R.nd([2], [1, 0]))).toEqual({ shape: [2], data: [1, 3] });
    expect(R.matmul(R.nd([2], [1, 2]), R.nd([2], [3, 4]))).toEqual({ shape: [], data: [11] });
    const batched = R.matmul(R.nd([2, 1, 1, 2], [1, 0, 0, 1]), R.nd([3, 2, 1], [1, 2, 3, 4, 5, 6]));
    expect(batched.shape).toEqual([2, 3, 1, 1]);
    expect(batched.data).toEqual([1, 3, 5, 2, 4, 6]);
  });

  it('convolves by the definition (stride, padding, dilation, groups, bias)', () => {
    // 1x1x3x3 input, 2x2 all-ones kernel: sums of 2x2 windows.
    const x = R.nd([1, 1, 3, 3], [1, 2, 3, 4, 5, 6, 7, 8, 9]);
    const ones = R.nd([1, 1, 2, 2], [1, 1, 1, 1]);
    expect(R.conv2d(x, ones, null).data).toEqual([12, 16, 24, 28]);
    expect(R.conv2d(x, ones, R.nd([1], [1]), { stride: [2, 2], padding: [1, 1] })).toEqual({ shape: [1, 1, 2, 2], data: [2, 6, 12, 29] });
    // dilation 2: corners of the 3x3 input.
    expect(R.conv2d(x, ones, null, { dilation: [2, 2] }).data).toEqual([1 + 3 + 7 + 9]);
    // groups 2: channel 0 scaled by 1, channel 1 by 10, no mixing.
    const x2 = R.nd([1, 2, 1, 1], [3, 4]);
    expect(R.conv2d(x2, R.nd([2, 1, 1, 1], [1, 10]), null, { groups: 2 }).data).toEqual([3, 40]);
  });

  it('pools with padding (max ignores it, average counts it)', () => {
    const x = R.nd([1, 1, 2, 2], [1, 2, 3, 4]);
    expect(R.maxPool2d(x, { kernel: [2, 2] }).data).toEqual([4]);
    expect(R.avgPool2d(x, { kernel: [2, 2], stride: [1, 1], padding: [1, 1] }).data).toEqual([0.25, 0.75, 0.5, 1, 2.5, 1.5, 0.75, 1.75, 1]);
    expect(R.maxPool2d(R.nd([1, 1, 2, 2], [-1, -2, -3, -4]), { kernel: [2, 2], stride: [1, 1], padding: [1, 1] }).data).toEqual([-1, -1, -2, -1, -1, -2, -3, -3, -4]);
  });

  it('computes softmax, log-softmax and cross-entropy from their definitions', () => {
    const x = R.nd([1, 2], [0, Math.log(3)]);
    expectClose(R.softmax(x), [0.25, 0.75]);
    expectClose(R.logSoftmax(x), [Math.log(0.25), Math.log(0.75)]);
    expectClose(R.crossEntropy(x, [1]), [-Math.log(0.75)]);
    expectClose(R.crossEntropy(R.nd([2, 2], [0, 0, 0, Math.log(3)]), [0, 0], 'sum'), [Math.log(2) + Math.log(4)]);
  });
});

describe('generators', () => {
  it('broadcast shapes are compatible and broadcast to the drawn output shape', () => {
    fc.assert(
      fc.property(broadcastShapesArb(3), ({ out, inputs }) => {
        expect(R.broadcastShape(...inputs)).toEqual(out);
        for (const s of inputs) {
          // each dim of each input equals the output's or is 1 (trailing alignment)
          s.forEach((d, k) => expect(d === 1 || d === out[out.length - s.length + k]).toBe(true));
        }
      }),
      runs(100),
    );
  });

  it('shapes respect rank and dim bounds', () => {
    fc.assert(
      fc.property(shapeArb({ minRank: 1, maxRank: 3, minDim: 2, maxDim: 4 }), (s) => {
        expect(s.length).toBeGreaterThanOrEqual(1);
        expect(s.length).toBeLessThanOrEqual(3);
        for (const d of s) expect(d >= 2 && d <= 4).toBe(true);
      }), runs(100),
    );
  });

  it('value specs hold their promises', () => {
    fc.assert(
      fc.property(fc.integer(), fc.integer({ min: 1, max: 50 }), (seed, n) => {
        const signed = valuesFromSeed(seed, n, { kind: 'signed', min: 0.5, max: 2 });
        for (const v of signed) expect(Math.abs(v) >= 0.5 && Math.abs(v) < 2).toBe(true);
        const distinct = valuesFromSeed(seed, n, { kind: 'distinct', spacing: 0.1 });
        expect(new Set(distinct).size).toBe(n);
        const lat: ValueSpec = { kind: 'lattice', step: 0.2, offset: 0.1, min: -1, max: 1 };
        for (const v of valuesFromSeed(seed, n, lat)) {
          expect(v >= -1 && v <= 1).toBe(true);
          expect(Math.abs((v - 0.1) / 0.2 - Math.round((v - 0.1) / 0.2))).toBeLessThan(1e-9);
        }
        const ints = valuesFromSeed(seed, n, { kind: 'int', min: -3, max: 3 }, 'int32');
        for (const v of ints) expect(Number.isInteger(v) && v >= -3 && v <= 3).toBe(true);
        expect(valuesFromSeed(seed, n)).toEqual(valuesFromSeed(seed, n));
      }), runs(100),
    );
  });

  it('a TensorCase realises its logical values through its view steps (float64 and float32)', () => {
    fc.assert(
      fc.property(anyTensorCaseArb(), fc.constantFrom('float64' as const, 'float32' as const), (c, dtype) => {
        const t = c.make({ dtype });
        expect([...t.shape]).toEqual(c.shape);
        expectClose(t.toTypedArray(), c.values.map((v) => (dtype === 'float32' ? Math.fround(v) : v)), { rtol: 0, atol: 0, label: c.layout });
        // the base holds NaN outside the view, so the values above were not read from padding
        expect(c.values.some(Number.isNaN)).toBe(false);
      }),
      runs(150),
    );
  });

  it('layouts are what they claim: permuted and stepped views are not contiguous, expanded views have stride 0', () => {
    const seen = new Set<string>();
    fc.assert(
      fc.property(anyTensorCaseArb({ minRank: 2, maxRank: 3, minDim: 2 }), (c) => {
        const t = c.make();
        const last = c.steps[c.steps.length - 1];
        if (last?.op === 'expand') {
          expect(t.strides.some((s, i) => s === 0 && t.shape[i] > 1)).toBe(true);
          seen.add('expand');
        }
        if (c.steps.length === 1 && last.op === 'permute') {
          expect(t.isContiguous).toBe(false);
          seen.add('permute');
        }
        if (c.steps.length === 1 && last.op === 'slice' && last.step > 1) {
          expect(t.isContiguous).toBe(false);
          seen.add('slice');
        }
        if (c.steps.length === 1 && last.op === 'select') {
          expect(t.offset).toBeGreaterThan(0);
          expect(t.isContiguous).toBe(true);
          seen.add('select');
        }
      }),
      runs(200),
    );
    expect([...seen].sort()).toEqual(['expand', 'permute', 'select', 'slice']);
  });

  it('most drawn cases really are in a non-trivial layout (strided, offset or broadcast)', () => {
    const samples = fc.sample(anyTensorCaseArb({ minRank: 1, minDim: 2, maxDim: 4 }), { numRuns: 300, seed: 7 });
    const nonTrivial = samples.filter((c) => {
      const t = c.make();
      return !t.isContiguous || t.offset > 0 || t.strides.some((st, i) => st === 0 && t.shape[i] > 1);
    });
    expect(nonTrivial.length / samples.length).toBeGreaterThan(0.6);
  });

  it('restricting layouts to contiguous gives contiguous tensors', () => {
    fc.assert(
      fc.property(shapeArb().chain((s) => tensorCaseArb(s, { layouts: ['contiguous'] })), (c) => {
        const t = c.make();
        expect(t.isContiguous).toBe(true);
        expect(c.baseShape).toEqual(c.shape);
      }), runs(100),
    );
  });

  it('src broadcastShapes agrees with the reference on compatible and incompatible pairs', () => {
    fc.assert(
      fc.property(shapeArb({ maxRank: 3, maxDim: 3 }), shapeArb({ maxRank: 3, maxDim: 3 }), (a, b) => {
        let ref: number[] | null = null;
        try {
          ref = R.broadcastShape(a, b);
        } catch {
          ref = null;
        }
        if (ref === null) expect(() => broadcastShapes(a, b)).toThrow(/cannot be broadcast/);
        else expect(broadcastShapes(a, b)).toEqual(ref);
      }), runs(100),
    );
  });
});
