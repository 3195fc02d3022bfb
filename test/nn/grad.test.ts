/**
 * Gradients of the layers, in float64 against central finite differences: the input's gradient
 * through gradCheck, and every parameter's .grad (what optimizers consume) against differences
 * computed here by perturbing the module's own parameters in place. Batch norm is checked in
 * training mode, where the gradient flows through the batch statistics, and in eval mode.
 */
import { describe, expect, it } from 'vitest';
import { fromArray, Generator, noGrad, type Tensor } from '../../src/index.js';
import { AvgPool2d, BatchNorm1d, BatchNorm2d, Conv2d, Flatten, Linear, MaxPool2d, ReLU, Sequential, type Module } from '../../src/nn/index.js';
import { expectGradOk } from '../helpers/assert.js';
import { setValues, toFloat64, vals, values } from './ref.js';

const f64 = (data: readonly number[], shape: readonly number[], requiresGrad = false): Tensor => fromArray(Float64Array.from(data), shape, { dtype: 'float64', requiresGrad });

/**
 * Checks dL/dθ for every parameter θ of `model`, with L = Σ w ⊙ model(x) for fixed random w:
 * the .grad left by backward() against (L(θ + ε) − L(θ − ε)) / 2ε, element by element.
 */
function expectParamGradsOk(model: Module, x: Tensor, seed: number, zeroGrads: readonly string[] = [], eps = 1e-6): void {
  const outSize = noGrad(() => model.call(x)).size;
  const w = vals(seed, outSize, -1, 1);
  const scalarLoss = (): number => {
    const y = values(noGrad(() => model.call(x)));
    return y.reduce((s, v, i) => s + v * w[i], 0);
  };
  model.zeroGrad();
  const y = model.call(x);
  y.mul(f64(w, y.shape)).sum().backward();
  const params = model.namedParameters();
  expect(params.length).toBeGreaterThan(0);
  for (const [name, p] of params) {
    expect(p.grad, `${name}.grad`).not.toBeNull();
    expect(p.grad!.dtype).toBe('float64');
    const analytic = values(p.grad!);
    const base = values(p);
    let largest = 0;
    for (let i = 0; i < base.length; i++) {
      const bumped = base.slice();
      bumped[i] = base[i] + eps;
      setValues(p, bumped);
      const up = scalarLoss();
      bumped[i] = base[i] - eps;
      setValues(p, bumped);
      const down = scalarLoss();
      setValues(p, base);
      const numeric = (up - down) / (2 * eps);
      largest = Math.max(largest, Math.abs(numeric));
      if (!(Math.abs(numeric - analytic[i]) <= 1e-6 + 1e-5 * Math.abs(numeric))) {
        expect.fail(`${name}[${i}]: analytic ${analytic[i]}, numeric ${numeric}`);
      }
    }
    // Guard against a vacuous pass (an all-zero gradient on both sides), except where zero is
    // the right answer: a bias feeding a training-mode batch norm cancels in the mean.
    if (zeroGrads.includes(name)) expect(Math.max(...analytic.map(Math.abs)), `${name}: analytic`).toBeLessThan(1e-9);
    else expect(largest, `${name}: largest |dL/dθ|`).toBeGreaterThan(1e-3);
  }
}

function check(model: Module, xShape: number[], seed: number, zeroGrads: readonly string[] = []): void {
  toFloat64(model);
  const x = f64(vals(seed, xShape.reduce((a, b) => a * b, 1)), xShape, true);
  expectGradOk((xi) => model.call(xi), [x], { label: `${model.constructor.name} input`, atol: 1e-6, rtol: 1e-5 });
  expectParamGradsOk(model, f64(values(x), xShape), seed + 1, zeroGrads);
}

describe('gradients (float64, finite differences)', () => {
  it('Linear: input, weight and bias', () => {
    check(new Linear(4, 3, { generator: new Generator(1) }), [5, 4], 10);
  });

  it('Conv2d with stride 2, padding 1 and groups 2', () => {
    check(new Conv2d(4, 6, 3, { stride: 2, padding: 1, groups: 2, generator: new Generator(2) }), [2, 4, 5, 5], 20);
  });

  it('Conv2d with a rectangular kernel, dilation 2 and padding (1, 0)', () => {
    check(new Conv2d(2, 3, [2, 3], { dilation: 2, padding: [1, 0], generator: new Generator(3) }), [2, 2, 5, 7], 30);
  });

  it('BatchNorm1d in training mode (through the batch mean and variance)', () => {
    const bn = new BatchNorm1d(3);
    setValues(bn.weight!, vals(40, 3, 0.5, 1.5));
    setValues(bn.bias!, vals(41, 3));
    check(bn, [5, 3], 42);
  });

  it('BatchNorm2d in training mode', () => {
    const bn = new BatchNorm2d(2);
    setValues(bn.weight!, vals(50, 2, 0.5, 1.5));
    setValues(bn.bias!, vals(51, 2));
    check(bn, [3, 2, 2, 3], 52);
  });

  it('BatchNorm2d in eval mode (running statistics are constants)', () => {
    const bn = new BatchNorm2d(2);
    setValues(bn.weight!, vals(60, 2, 0.5, 1.5));
    setValues(bn.bias!, vals(61, 2));
    setValues(bn.runningMean, vals(62, 2));
    setValues(bn.runningVar, vals(63, 2, 0.5, 2));
    bn.eval();
    check(bn, [2, 2, 3, 3], 64);
  });

  it('a small model: conv → BN2d → relu → avgpool → flatten → linear → BN1d → relu → linear, in training mode', () => {
    const g = new Generator(70);
    const model = new Sequential(
      new Conv2d(2, 3, 3, { padding: 1, generator: g }), new BatchNorm2d(3), new ReLU(), new AvgPool2d(2), new Flatten(),
      new Linear(12, 4, { generator: g }), new BatchNorm1d(4), new ReLU(), new Linear(4, 2, { generator: g }),
    );
    check(model, [3, 2, 4, 4], 71, ['0.bias', '5.bias']);
  });

  it('a small model with max pooling and a conv without bias', () => {
    const g = new Generator(80);
    const model = new Sequential(new Conv2d(1, 2, 3, { bias: false, generator: g }), new BatchNorm2d(2), new MaxPool2d(2), new Flatten(), new Linear(8, 3, { generator: g }));
    check(model, [3, 1, 6, 6], 81);
  });
});
