/**
 * conv2d (stride, padding, dilation, groups, bias) and max/avg pooling against the direct
 * loop definitions in the reference, on any input layout; gradients of input, weight and bias
 * against finite differences.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { F, fromArray } from '../../src/index.js';
import { tensorCaseArb, type TensorCase } from '../helpers/arbitraries.js';
import { expectClose, expectGradOk, runs } from '../helpers/assert.js';
import * as R from '../helpers/reference.js';
import { onEachDevice } from '../helpers/devices.js';

interface ConvSetup {
  x: TensorCase;
  w: TensorCase;
  bias: TensorCase | null;
  stride: [number, number];
  padding: [number, number];
  dilation: [number, number];
  groups: number;
}

const pair = (min: number, max: number) => fc.tuple(fc.integer({ min, max }), fc.integer({ min, max }));

/** The smallest input size that leaves at least one output position. */
const minInput = (k: number, pad: number, dil: number) => Math.max(1, dil * (k - 1) + 1 - 2 * pad);

function convArb(maxExtra = 3): fc.Arbitrary<ConvSetup> {
  return fc
    .record({
      n: fc.integer({ min: 1, max: 2 }),
      groups: fc.integer({ min: 1, max: 3 }),
      cg: fc.integer({ min: 1, max: 2 }),
      og: fc.integer({ min: 1, max: 2 }),
      k: pair(1, 3),
      stride: pair(1, 3),
      padding: pair(0, 2),
      dilation: pair(1, 2),
      extra: pair(0, maxExtra),
      bias: fc.boolean(),
    })
    .chain(({ n, groups, cg, og, k, stride, padding, dilation, extra, bias }) => {
      const h = minInput(k[0], padding[0], dilation[0]) + extra[0];
      const w = minInput(k[1], padding[1], dilation[1]) + extra[1];
      return fc.record({
        x: tensorCaseArb([n, groups * cg, h, w]),
        w: tensorCaseArb([groups * og, cg, k[0], k[1]]),
        bias: bias ? tensorCaseArb([groups * og]) : fc.constant(null),
        stride: fc.constant(stride),
        padding: fc.constant(padding),
        dilation: fc.constant(dilation),
        groups: fc.constant(groups),
      });
    });
}

const label = (s: ConvSetup) =>
  `x[${s.x.shape}] ${s.x.layout}, w[${s.w.shape}] ${s.w.layout}, bias ${!!s.bias}, stride ${s.stride}, pad ${s.padding}, dil ${s.dilation}, groups ${s.groups}`;

onEachDevice(() => {
describe('conv2d', () => {
  it('forward matches the direct seven-loop definition', () => {
    fc.assert(
      fc.property(convArb(), (s) => {
        const opts = { stride: s.stride, padding: s.padding, dilation: s.dilation, groups: s.groups };
        const y = F.conv2d(s.x.make(), s.w.make(), s.bias?.make() ?? null, opts);
        expectClose(y, R.conv2d(s.x.ref(), s.w.ref(), s.bias?.ref() ?? null, opts), { rtol: 1e-12, atol: 1e-12, label: label(s) });
      }),
      runs(60),
    );
  });

  it('float32 forward agrees with the float64 reference on float32-rounded inputs', () => {
    fc.assert(
      fc.property(convArb(), (s) => {
        const opts = { stride: s.stride, padding: s.padding, dilation: s.dilation, groups: s.groups };
        const y = F.conv2d(s.x.make({ dtype: 'float32' }), s.w.make({ dtype: 'float32' }), s.bias?.make({ dtype: 'float32' }) ?? null, opts);
        expect(y.dtype).toBe('float32');
        const f = (c: TensorCase) => R.map(c.ref(), Math.fround);
        expectClose(y, R.conv2d(f(s.x), f(s.w), s.bias ? f(s.bias) : null, opts), { rtol: 1e-5, atol: 1e-5, label: label(s) });
      }),
      runs(20),
    );
  });

  it('gradients of input, weight and bias match finite differences', () => {
    fc.assert(
      fc.property(convArb(2), (s) => {
        const opts = { stride: s.stride, padding: s.padding, dilation: s.dilation, groups: s.groups };
        const inputs = [s.x.makeBase({ requiresGrad: true }), s.w.makeBase({ requiresGrad: true })];
        if (s.bias) inputs.push(s.bias.makeBase({ requiresGrad: true }));
        expectGradOk((x, w, b) => F.conv2d(s.x.view(x), s.w.view(w), b ? s.bias!.view(b) : null, opts), inputs, { label: label(s) });
      }),
      runs(30),
    );
  });
});

describe('conv2d with only some inputs requiring grad', () => {
  it('weight-only (the first layer: data needs no gradient) and input-only gradients', () => {
    fc.assert(
      fc.property(convArb(2), fc.boolean(), (s, weightOnly) => {
        const opts = { stride: s.stride, padding: s.padding, dilation: s.dilation, groups: s.groups };
        const inputs = [s.x.makeBase({ requiresGrad: !weightOnly }), s.w.makeBase({ requiresGrad: weightOnly })];
        expectGradOk((x, w) => F.conv2d(s.x.view(x), s.w.view(w), null, opts), inputs, { label: `${weightOnly ? 'weight' : 'input'} only: ${label(s)}` });
      }),
      runs(15),
    );
  });
});

interface PoolSetup {
  x: TensorCase;
  kernel: [number, number];
  stride: [number, number];
  padding: [number, number];
  dilation: [number, number];
}

function poolArb(withDilation: boolean, distinct: boolean): fc.Arbitrary<PoolSetup> {
  return fc
    .record({
      n: fc.integer({ min: 1, max: 2 }),
      c: fc.integer({ min: 1, max: 2 }),
      kernel: pair(1, 3),
      stride: pair(1, 3),
      padFrac: pair(0, 1),
      dilation: withDilation ? pair(1, 2) : fc.constant<[number, number]>([1, 1]),
      extra: pair(0, 3),
    })
    .chain(({ n, c, kernel, stride, padFrac, dilation, extra }) => {
      // PyTorch requires padding <= kernel / 2
      const padding: [number, number] = [padFrac[0] * Math.floor(kernel[0] / 2), padFrac[1] * Math.floor(kernel[1] / 2)];
      const h = minInput(kernel[0], padding[0], dilation[0]) + extra[0];
      const w = minInput(kernel[1], padding[1], dilation[1]) + extra[1];
      return fc.record({
        x: tensorCaseArb([n, c, h, w], distinct ? { values: { kind: 'distinct', spacing: 0.1 } } : {}),
        kernel: fc.constant(kernel),
        stride: fc.constant(stride),
        padding: fc.constant(padding),
        dilation: fc.constant(dilation),
      });
    });
}

const poolLabel = (s: PoolSetup) => `x[${s.x.shape}] ${s.x.layout}, k ${s.kernel}, stride ${s.stride}, pad ${s.padding}, dil ${s.dilation}`;

describe('pooling', () => {
  it('maxPool2d forward matches the reference (padding never wins)', () => {
    fc.assert(
      fc.property(poolArb(true, false), (s) => {
        const y = F.maxPool2d(s.x.make(), s.kernel, { stride: s.stride, padding: s.padding, dilation: s.dilation });
        expectClose(y, R.maxPool2d(s.x.ref(), s), { label: poolLabel(s) });
      }),
      runs(50),
    );
  });

  it('maxPool2d gradient matches finite differences (tie-free inputs)', () => {
    fc.assert(
      fc.property(poolArb(true, true), (s) => {
        // A window entirely in the padding outputs -Infinity: no derivative to check (tested below).
        fc.pre(!R.maxPool2d(s.x.ref(), s).data.includes(-Infinity));
        expectGradOk((b) => F.maxPool2d(s.x.view(b), s.kernel, { stride: s.stride, padding: s.padding, dilation: s.dilation }), [s.x.makeBase({ requiresGrad: true })], { label: poolLabel(s) });
      }),
      runs(30),
    );
  });

  it('avgPool2d forward matches the reference (padding counts in the divisor)', () => {
    fc.assert(
      fc.property(poolArb(false, false), (s) => {
        const y = F.avgPool2d(s.x.make(), s.kernel, { stride: s.stride, padding: s.padding });
        expectClose(y, R.avgPool2d(s.x.ref(), s), { label: poolLabel(s) });
      }),
      runs(50),
    );
  });

  it('avgPool2d gradient matches finite differences', () => {
    fc.assert(
      fc.property(poolArb(false, false), (s) => {
        expectGradOk((b) => F.avgPool2d(s.x.view(b), s.kernel, { stride: s.stride, padding: s.padding }), [s.x.makeBase({ requiresGrad: true })], { label: poolLabel(s) });
      }),
      runs(30),
    );
  });

  it('a window entirely in the padding gives -Infinity and routes no gradient (not into the previous plane)', () => {
    // W = 1, kernel 2 with dilation 2 and padding 1: the window reads columns -1 and 1, both padding.
    const x = fromArray([1, 2], [1, 2, 1, 1], { dtype: 'float64', requiresGrad: true });
    const y = F.maxPool2d(x, [1, 2], { stride: 1, padding: [0, 1], dilation: [1, 2] });
    expectClose(y, [-Infinity, -Infinity]);
    y.sum().backward();
    expectClose(x.grad!, [0, 0]);
  });

  it('stride defaults to the kernel size', () => {
    const x = fromArray(Array.from({ length: 16 }, (_, i) => i), [1, 1, 4, 4], { dtype: 'float64' });
    const y = F.maxPool2d(x, 2);
    expect(y.shape).toEqual([1, 1, 2, 2]);
    expectClose(y, [5, 7, 13, 15]);
    expectClose(F.avgPool2d(x, 2), [2.5, 4.5, 10.5, 12.5]);
  });
});
});
