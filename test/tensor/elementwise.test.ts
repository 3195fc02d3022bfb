/**
 * Elementwise ops, forward against the naive reference and backward against finite differences,
 * on random shapes, broadcast pairs and non-contiguous layouts (permuted, stepped, offset, expanded).
 * Gradient inputs are drawn away from each op's kinks (0 for relu/abs, the bounds for clamp,
 * ties for maximum/minimum) where the derivative is a convention, not a limit.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { F, fromArray, tensor, type Tensor } from '../../src/index.js';
import {
  anyTensorCaseArb, broadcastShapesArb, tensorCaseArb, type ValueSpec,
} from '../helpers/arbitraries.js';
import { expectClose, expectGradOk, runs, tolFor } from '../helpers/assert.js';
import * as R from '../helpers/reference.js';
import { onEachDevice } from '../helpers/devices.js';

const uniform = (min: number, max: number): ValueSpec => ({ kind: 'uniform', min, max });
const signed = (min: number, max: number): ValueSpec => ({ kind: 'signed', min, max });

interface UnaryCase {
  name: string;
  f: (t: Tensor) => Tensor;
  ref: (x: number) => number;
  values: ValueSpec;
}

const UNARY: UnaryCase[] = [
  { name: 'neg', f: (t) => t.neg(), ref: R.scalar.neg, values: uniform(-3, 3) },
  { name: 'exp', f: (t) => t.exp(), ref: R.scalar.exp, values: uniform(-3, 3) },
  { name: 'log', f: (t) => t.log(), ref: R.scalar.log, values: uniform(0.2, 4) },
  { name: 'sqrt', f: (t) => t.sqrt(), ref: R.scalar.sqrt, values: uniform(0.2, 4) },
  { name: 'abs', f: (t) => t.abs(), ref: R.scalar.abs, values: signed(0.05, 3) },
  { name: 'relu', f: (t) => t.relu(), ref: R.scalar.relu, values: signed(0.05, 3) },
  { name: 'sigmoid', f: (t) => t.sigmoid(), ref: R.scalar.sigmoid, values: uniform(-5, 5) },
  { name: 'tanh', f: (t) => t.tanh(), ref: R.scalar.tanh, values: uniform(-3, 3) },
  { name: 'square', f: (t) => t.square(), ref: (x) => x * x, values: uniform(-3, 3) },
  // clamp bounds on 0.1k; values on the lattice 0.05 + 0.1k never touch them
  { name: 'clamp(-0.5, 0.5)', f: (t) => t.clamp(-0.5, 0.5), ref: R.scalar.clamp(-0.5, 0.5), values: { kind: 'lattice', step: 0.1, offset: 0.05, min: -2, max: 2 } },
  { name: 'clamp(min 0.2)', f: (t) => t.clamp(0.2), ref: R.scalar.clamp(0.2, Infinity), values: { kind: 'lattice', step: 0.1, offset: 0.05, min: -2, max: 2 } },
  { name: 'clamp(max -0.2)', f: (t) => F.clamp(t, -Infinity, -0.2), ref: R.scalar.clamp(-Infinity, -0.2), values: { kind: 'lattice', step: 0.1, offset: 0.05, min: -2, max: 2 } },
  { name: 'pow(x, 3)', f: (t) => t.pow(3), ref: (x) => x ** 3, values: uniform(-2, 2) },
  { name: 'pow(x, 0.5)', f: (t) => t.pow(0.5), ref: Math.sqrt, values: uniform(0.2, 4) },
  { name: 'pow(x, -2)', f: (t) => t.pow(-2), ref: (x) => x ** -2, values: signed(0.3, 2) },
  { name: 'x + 2.5', f: (t) => t.add(2.5), ref: (x) => x + 2.5, values: uniform(-3, 3) },
  { name: '1.5 - x', f: (t) => F.sub(1.5, t), ref: (x) => 1.5 - x, values: uniform(-3, 3) },
  { name: 'x * -3', f: (t) => t.mul(-3), ref: (x) => x * -3, values: uniform(-3, 3) },
  { name: 'x / 4', f: (t) => t.div(4), ref: (x) => x / 4, values: uniform(-3, 3) },
  { name: '2 / x', f: (t) => F.div(2, t), ref: (x) => 2 / x, values: signed(0.3, 3) },
  { name: 'maximum(x, 0.3)', f: (t) => t.maximum(0.3), ref: (x) => Math.max(x, 0.3), values: { kind: 'lattice', step: 0.1, offset: 0.05, min: -2, max: 2 } },
  { name: 'minimum(x, -0.3)', f: (t) => t.minimum(-0.3), ref: (x) => Math.min(x, -0.3), values: { kind: 'lattice', step: 0.1, offset: 0.05, min: -2, max: 2 } },
];

onEachDevice(() => {
describe('unary ops', () => {
  for (const op of UNARY) {
    it(`${op.name}: forward matches the reference on any layout (float64, float32)`, () => {
      fc.assert(
        fc.property(anyTensorCaseArb({}, { values: op.values }), fc.constantFrom('float64' as const, 'float32' as const), (c, dtype) => {
          const x = c.make({ dtype });
          const y = op.f(x);
          expect(y.dtype).toBe(dtype);
          const xs = dtype === 'float32' ? c.values.map(Math.fround) : c.values;
          expectClose(y, R.map(R.nd(c.shape, xs), op.ref), { ...tolFor(dtype), rtol: dtype === 'float32' ? 2e-6 : 1e-12, label: `${op.name} ${c.layout}` });
        }),
        runs(40),
      );
    });

    it(`${op.name}: gradient matches finite differences through the view`, () => {
      fc.assert(
        fc.property(anyTensorCaseArb({ maxRank: 3, maxDim: 4 }, { values: op.values }), (c) => {
          expectGradOk((b) => op.f(c.view(b)), [c.makeBase({ requiresGrad: true })], { label: `${op.name} ${c.layout}` });
        }),
        runs(20),
      );
    });
  }
});

interface BinaryCase {
  name: string;
  f: (a: Tensor, b: Tensor) => Tensor;
  ref: (x: number, y: number) => number;
  a: ValueSpec;
  b: ValueSpec;
}

// maximum/minimum: a on the lattice 0.05 + 0.1k, b on 0.1k, so a != b by at least 0.05 (no ties).
const LAT_A: ValueSpec = { kind: 'lattice', step: 0.1, offset: 0.05, min: -2, max: 2 };
const LAT_B: ValueSpec = { kind: 'lattice', step: 0.1, offset: 0, min: -2, max: 2 };

const BINARY: BinaryCase[] = [
  { name: 'add', f: (a, b) => a.add(b), ref: R.scalar.add, a: uniform(-3, 3), b: uniform(-3, 3) },
  { name: 'sub', f: (a, b) => a.sub(b), ref: R.scalar.sub, a: uniform(-3, 3), b: uniform(-3, 3) },
  { name: 'mul', f: (a, b) => a.mul(b), ref: R.scalar.mul, a: uniform(-3, 3), b: uniform(-3, 3) },
  { name: 'div', f: (a, b) => a.div(b), ref: R.scalar.div, a: uniform(-3, 3), b: signed(0.3, 3) },
  { name: 'pow', f: (a, b) => a.pow(b), ref: R.scalar.pow, a: uniform(0.3, 3), b: uniform(-2, 2) },
  { name: 'maximum', f: (a, b) => a.maximum(b), ref: R.scalar.maximum, a: LAT_A, b: LAT_B },
  { name: 'minimum', f: (a, b) => a.minimum(b), ref: R.scalar.minimum, a: LAT_A, b: LAT_B },
];

/** Two tensor cases with broadcast-compatible shapes. */
function pairArb(a: ValueSpec, b: ValueSpec, maxRank = 4, maxDim = 4) {
  return broadcastShapesArb(2, { maxRank, maxDim }).chain(({ out, inputs: [sa, sb] }) =>
    fc.record({ out: fc.constant(out), a: tensorCaseArb(sa, { values: a }), b: tensorCaseArb(sb, { values: b }) }),
  );
}

describe('binary ops (broadcasting)', () => {
  for (const op of BINARY) {
    it(`${op.name}: forward matches the reference on broadcast pairs and any layout`, () => {
      fc.assert(
        fc.property(pairArb(op.a, op.b), ({ out, a, b }) => {
          const y = op.f(a.make(), b.make());
          expect([...y.shape]).toEqual(out);
          expectClose(y, R.zip(a.ref(), b.ref(), op.ref), { label: `${op.name} ${a.layout} | ${b.layout}` });
        }),
        runs(40),
      );
    });

    it(`${op.name}: gradients reduce over broadcast dims and match finite differences`, () => {
      fc.assert(
        fc.property(pairArb(op.a, op.b, 3, 3), ({ a, b }) => {
          const ba = a.makeBase({ requiresGrad: true }), bb = b.makeBase({ requiresGrad: true });
          expectGradOk((x, y) => op.f(a.view(x), b.view(y)), [ba, bb], { label: `${op.name} ${a.layout} | ${b.layout}` });
        }),
        runs(20),
      );
    });
  }

  it('gradient of one operand when the other needs none (every binary op)', () => {
    fc.assert(
      fc.property(fc.constantFrom(...BINARY), fc.boolean(), (op, left) =>
        fc.assert(
          fc.property(pairArb(op.a, op.b, 3, 3), ({ a, b }) => {
            expectGradOk((x, y) => op.f(a.view(x), b.view(y)), [a.makeBase({ requiresGrad: left }), b.makeBase({ requiresGrad: !left })], { label: `${op.name} ${left ? 'left' : 'right'} only` });
          }),
          runs(3),
        ),
      ),
      runs(14),
    );
  });

  it('float32 forward agrees with the float64 reference within float32 rounding', () => {
    fc.assert(
      fc.property(pairArb(uniform(-3, 3), signed(0.3, 3)), ({ a, b }) => {
        const x = a.make({ dtype: 'float32' }), y = b.make({ dtype: 'float32' });
        const fa = R.map(a.ref(), Math.fround), fb = R.map(b.ref(), Math.fround);
        expectClose(x.div(y), R.zip(fa, fb, R.scalar.div), { rtol: 1e-6, atol: 0 });
        expectClose(x.mul(y), R.zip(fa, fb, R.scalar.mul), { rtol: 1e-6, atol: 0 });
      }),
      runs(25),
    );
  });

  it('where: three-way broadcast, forward and gradients (condition not differentiated)', () => {
    const arb = broadcastShapesArb(3, { maxRank: 3, maxDim: 3 }).chain(({ out, inputs: [sc, sa, sb] }) =>
      fc.record({
        out: fc.constant(out),
        c: tensorCaseArb(sc, { values: { kind: 'int', min: 0, max: 1 } }),
        a: tensorCaseArb(sa),
        b: tensorCaseArb(sb),
      }),
    );
    fc.assert(
      fc.property(arb, ({ out, c, a, b }) => {
        const y = F.where(c.make(), a.make(), b.make());
        expect([...y.shape]).toEqual(out);
        expectClose(y, R.where(c.ref(), a.ref(), b.ref()));
        const cond = c.make();
        expectGradOk((x, z) => F.where(cond, a.view(x), b.view(z)), [a.makeBase({ requiresGrad: true }), b.makeBase({ requiresGrad: true })]);
      }),
      runs(30),
    );
  });

  it('where with scalar branches', () => {
    const cond = tensor([[1, 0], [0, 1]]);
    expectClose(F.where(cond, 5, -1), [5, -1, -1, 5]);
    const x = tensor([1, 2], { dtype: 'float64', requiresGrad: true });
    const y = F.where(tensor([1, 0]), x, 0);
    y.sum().backward();
    expectClose(x.grad!, [1, 0]);
  });

  it('promotes dtypes as PyTorch does', () => {
    const i = fromArray([1, 2], [2], { dtype: 'int32' });
    const f32 = fromArray([0.5, 0.5], [2], { dtype: 'float32' });
    const f64 = fromArray([0.25, 0.25], [2], { dtype: 'float64' });
    expect(i.add(i).dtype).toBe('int32');
    expect(i.add(f32).dtype).toBe('float32');
    expect(f32.add(f64).dtype).toBe('float64');
    expect(i.div(i).dtype).toBe('float32'); // true division
    expectClose(i.div(fromArray([2, 4], [2], { dtype: 'int32' })), [0.5, 0.5]);
    expectClose(f32.mul(f64), [0.125, 0.125]);
  });
});
});
