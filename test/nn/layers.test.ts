/**
 * Every layer's forward against the loop definitions in ./ref.ts (PyTorch's documented formulas):
 * Linear, Conv2d (stride, padding, dilation, groups, bias), BatchNorm1d/2d in train and eval mode
 * with PyTorch's running-statistics update, ReLU, MaxPool2d, AvgPool2d, Flatten, Dropout and
 * Sequential.
 */
import { describe, expect, it } from 'vitest';
import { fromArray, Generator, tensor } from '../../src/index.js';
import {
  AvgPool2d, BatchNorm1d, BatchNorm2d, Conv2d, Dropout, Flatten, Identity, Linear, MaxPool2d, ReLU, Sequential,
  type Conv2dLayerOptions,
} from '../../src/nn/index.js';
import { errorOf, expectClose } from '../helpers/assert.js';
import { channelStats, conv2dRef, distinctVals, linearRef, normalizeRef, poolRef, setValues, vals, values, type PoolRefOptions } from './ref.js';

const F32 = { rtol: 1e-5, atol: 1e-5 };
const relu = (xs: readonly number[]): number[] => xs.map((v) => (v > 0 ? v : 0));
const pairOf = (v: number | [number, number] | undefined, d: number): [number, number] => (v === undefined ? [d, d] : typeof v === 'number' ? [v, v] : v);

describe('Linear', () => {
  it('computes x Wᵀ + b for a batch of rows', () => {
    const lin = new Linear(5, 3, { generator: new Generator(1) });
    const x = vals(10, 4 * 5);
    const y = lin.call(fromArray(x, [4, 5]));
    expect(y.shape).toEqual([4, 3]);
    expectClose(y, linearRef(x, 4, 5, values(lin.weight), 3, values(lin.bias!)), F32);
  });

  it('applies to the last dim of a 3-D input and of a single 1-D sample', () => {
    const lin = new Linear(4, 2, { generator: new Generator(2) });
    const x = vals(11, 2 * 3 * 4);
    const y = lin.call(fromArray(x, [2, 3, 4]));
    expect(y.shape).toEqual([2, 3, 2]);
    expectClose(y.toTypedArray(), linearRef(x, 6, 4, values(lin.weight), 2, values(lin.bias!)), F32);
    const one = lin.call(fromArray(x.slice(0, 4), [4]));
    expect(one.shape).toEqual([2]);
    expectClose(one, linearRef(x.slice(0, 4), 1, 4, values(lin.weight), 2, values(lin.bias!)), F32);
  });

  it('without bias has no bias parameter and computes x Wᵀ', () => {
    const lin = new Linear(3, 4, { bias: false, generator: new Generator(3) });
    expect(lin.bias).toBeNull();
    expect(lin.namedParameters().map(([n]) => n)).toEqual(['weight']);
    const x = vals(12, 2 * 3);
    expectClose(lin.call(fromArray(x, [2, 3])), linearRef(x, 2, 3, values(lin.weight), 4, null), F32);
  });

  it('rejects an input with the wrong number of features, naming both', () => {
    const msg = errorOf(() => new Linear(5, 3).call(fromArray(vals(1, 8), [2, 4])));
    expect(msg).toContain('Linear(5, 3)');
    expect(msg).toContain('4 features');
  });
});

describe('Conv2d', () => {
  const cases: { name: string; inC: number; outC: number; k: number | [number, number]; opts: Conv2dLayerOptions; x: [number, number, number, number] }[] = [
    { name: 'defaults (stride 1, no padding, bias)', inC: 3, outC: 4, k: 3, opts: {}, x: [2, 3, 6, 5] },
    { name: 'rectangular kernel, stride (2, 1), padding (1, 0)', inC: 3, outC: 4, k: [3, 2], opts: { stride: [2, 1], padding: [1, 0] }, x: [2, 3, 7, 6] },
    { name: 'dilation 2 with padding 2', inC: 2, outC: 3, k: 3, opts: { dilation: 2, padding: 2 }, x: [1, 2, 7, 7] },
    { name: 'mixed per-axis stride, padding and dilation', inC: 2, outC: 3, k: [2, 3], opts: { stride: [1, 2], padding: [1, 2], dilation: [2, 1] }, x: [2, 2, 5, 6] },
    { name: 'groups 2', inC: 4, outC: 6, k: 3, opts: { groups: 2, padding: 1 }, x: [2, 4, 5, 5] },
    { name: 'depthwise (groups = channels), no bias, stride 2', inC: 4, outC: 4, k: 3, opts: { groups: 4, bias: false, stride: 2 }, x: [1, 4, 7, 7] },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const conv = new Conv2d(c.inC, c.outC, c.k, { ...c.opts, generator: new Generator(7) });
      const groups = c.opts.groups ?? 1;
      const [kh, kw] = pairOf(c.k, 1);
      expect(conv.weight.shape).toEqual([c.outC, c.inC / groups, kh, kw]);
      expect(conv.bias === null).toBe(c.opts.bias === false);
      const x = vals(20, c.x.reduce((a, b) => a * b, 1));
      const want = conv2dRef(x, c.x, values(conv.weight), conv.weight.shape, conv.bias ? values(conv.bias) : null, {
        stride: pairOf(c.opts.stride, 1), padding: pairOf(c.opts.padding, 0), dilation: pairOf(c.opts.dilation, 1), groups,
      });
      const y = conv.call(fromArray(x, c.x));
      expect(y.shape).toEqual(want.shape);
      expectClose(y.toTypedArray(), want.data, F32);
    });
  }

  it('rejects channel counts not divisible by groups', () => {
    expect(errorOf(() => new Conv2d(3, 4, 3, { groups: 2 }))).toMatch(/divisible by groups 2/);
  });
});

describe('BatchNorm', () => {
  const EPS = 1e-5;

  function affineBn<T extends BatchNorm1d | BatchNorm2d>(bn: T, seed: number): { gamma: number[]; beta: number[] } {
    const gamma = vals(seed, bn.numFeatures, 0.5, 1.5), beta = vals(seed + 1, bn.numFeatures);
    setValues(bn.weight!, gamma);
    setValues(bn.bias!, beta);
    return { gamma, beta };
  }

  it('BatchNorm1d in training normalises with the batch mean and biased variance', () => {
    const bn = new BatchNorm1d(3);
    const { gamma, beta } = affineBn(bn, 30);
    const shape = [6, 3];
    const x = vals(31, 18, -3, 5);
    const s = channelStats(x, shape);
    expectClose(bn.call(fromArray(x, shape)), normalizeRef(x, shape, s.mean, s.varBiased, EPS, gamma, beta), F32);
  });

  it('BatchNorm1d updates running stats with momentum 0.1 and the unbiased variance, over several steps', () => {
    const bn = new BatchNorm1d(3);
    expect(values(bn.runningMean)).toEqual([0, 0, 0]);
    expect(values(bn.runningVar)).toEqual([1, 1, 1]);
    let rm = [0, 0, 0], rv = [1, 1, 1];
    for (let step = 0; step < 3; step++) {
      const x = vals(40 + step, 5 * 3, -2 + step, 3 + 2 * step);
      bn.call(fromArray(x, [5, 3]));
      const s = channelStats(x, [5, 3]);
      // PyTorch: running = (1 − momentum)·running + momentum·batch, with the unbiased (n − 1) variance.
      rm = rm.map((r, c) => 0.9 * r + 0.1 * s.mean[c]);
      rv = rv.map((r, c) => 0.9 * r + 0.1 * s.varUnbiased[c]);
      expectClose(bn.runningMean, rm, { rtol: 1e-5, atol: 1e-6, label: `running_mean after ${step + 1}` });
      expectClose(bn.runningVar, rv, { rtol: 1e-5, atol: 1e-6, label: `running_var after ${step + 1}` });
    }
    expect(values(bn.numBatchesTracked)).toEqual([3]);
  });

  it('BatchNorm2d in training uses per-channel statistics over N, H, W', () => {
    const bn = new BatchNorm2d(3);
    const { gamma, beta } = affineBn(bn, 50);
    const shape = [2, 3, 4, 5];
    const x = vals(51, 2 * 3 * 4 * 5, -1, 4);
    const s = channelStats(x, shape);
    expect(s.count).toBe(40);
    const y = bn.call(fromArray(x, shape));
    expect(y.shape).toEqual(shape);
    expectClose(y, normalizeRef(x, shape, s.mean, s.varBiased, EPS, gamma, beta), F32);
    expectClose(bn.runningMean, s.mean.map((m) => 0.1 * m), { rtol: 1e-5, atol: 1e-6 });
    expectClose(bn.runningVar, s.varUnbiased.map((v) => 0.9 + 0.1 * v), { rtol: 1e-5, atol: 1e-6 });
  });

  it('honours a custom momentum and eps', () => {
    const bn = new BatchNorm2d(2, 1e-3, 0.3);
    const shape = [3, 2, 2, 2];
    const x = vals(60, 24, 0, 6);
    const s = channelStats(x, shape);
    expectClose(bn.call(fromArray(x, shape)), normalizeRef(x, shape, s.mean, s.varBiased, 1e-3, [1, 1], [0, 0]), F32);
    expectClose(bn.runningMean, s.mean.map((m) => 0.3 * m), { rtol: 1e-5, atol: 1e-6 });
    expectClose(bn.runningVar, s.varUnbiased.map((v) => 0.7 + 0.3 * v), { rtol: 1e-5, atol: 1e-6 });
  });

  it('in eval mode normalises with the running statistics and leaves them unchanged', () => {
    const bn = new BatchNorm2d(3);
    const { gamma, beta } = affineBn(bn, 70);
    const rm = vals(71, 3), rv = vals(72, 3, 0.5, 2);
    setValues(bn.runningMean, rm);
    setValues(bn.runningVar, rv);
    bn.eval();
    const shape = [2, 3, 3, 3];
    const x = vals(73, 54);
    expectClose(bn.call(fromArray(x, shape)), normalizeRef(x, shape, rm, rv, EPS, gamma, beta), F32);
    expect(values(bn.runningMean)).toEqual(rm);
    expect(values(bn.runningVar)).toEqual(rv);
    expect(values(bn.numBatchesTracked)).toEqual([0]);
    // A single sample is fine in eval mode.
    const one = vals(74, 9 * 3);
    expectClose(bn.call(fromArray(one, [1, 3, 3, 3])), normalizeRef(one, [1, 3, 3, 3], rm, rv, EPS, gamma, beta), F32);
  });

  it('without affine parameters only normalises', () => {
    const bn = new BatchNorm1d(2, 1e-5, 0.1, false);
    expect(bn.weight).toBeNull();
    expect(bn.namedParameters()).toEqual([]);
    const x = vals(80, 8);
    const s = channelStats(x, [4, 2]);
    expectClose(bn.call(fromArray(x, [4, 2])), normalizeRef(x, [4, 2], s.mean, s.varBiased, EPS, null, null), F32);
  });

  it('rejects the wrong rank, the wrong channel count, and one value per channel in training', () => {
    expect(errorOf(() => new BatchNorm1d(3).call(fromArray(vals(1, 12), [1, 3, 2, 2])))).toMatch(/BatchNorm1d: expected \[N, C\]/);
    expect(errorOf(() => new BatchNorm2d(3).call(fromArray(vals(1, 6), [2, 3])))).toMatch(/BatchNorm2d: expected \[N, C, H, W\]/);
    expect(errorOf(() => new BatchNorm2d(4).call(fromArray(vals(1, 24), [2, 3, 2, 2])))).toMatch(/3 channels/);
    expect(errorOf(() => new BatchNorm1d(3).call(fromArray(vals(1, 3), [1, 3])))).toMatch(/more than 1 value per channel/);
  });
});

describe('ReLU, Identity', () => {
  it('ReLU is max(x, 0) elementwise, keeping the shape', () => {
    const x = [-2, -0.5, 0, 0.25, 3, -1e-7];
    const y = new ReLU().call(fromArray(x, [2, 3]));
    expect(y.shape).toEqual([2, 3]);
    expect(values(y)).toEqual(relu(x.map(Math.fround)));
  });

  it('Identity returns its input', () => {
    const x = tensor([1, 2]);
    expect(new Identity().call(x)).toBe(x);
  });
});

describe('pooling', () => {
  const poolCases: { name: string; kernel: number | [number, number]; opts: { stride?: number | [number, number]; padding?: number | [number, number]; dilation?: number | [number, number] }; x: [number, number, number, number] }[] = [
    { name: 'kernel 2 (stride defaults to the kernel)', kernel: 2, opts: {}, x: [2, 3, 6, 6] },
    { name: 'kernel 2 on an odd size (floor)', kernel: 2, opts: {}, x: [1, 2, 5, 7] },
    { name: 'kernel 3, stride 2, padding 1', kernel: 3, opts: { stride: 2, padding: 1 }, x: [1, 2, 7, 7] },
    { name: 'kernel (2, 3), stride (1, 2)', kernel: [2, 3], opts: { stride: [1, 2] }, x: [2, 1, 5, 7] },
  ];
  const refOpts = (c: (typeof poolCases)[number]): PoolRefOptions => {
    const k = pairOf(c.kernel, 1);
    return { kernel: k, stride: c.opts.stride === undefined ? k : pairOf(c.opts.stride, 1), padding: pairOf(c.opts.padding, 0), dilation: pairOf(c.opts.dilation, 1) };
  };

  for (const c of poolCases) {
    it(`MaxPool2d ${c.name}`, () => {
      const x = distinctVals(90, c.x.reduce((a, b) => a * b, 1));
      const want = poolRef('max', x, c.x, refOpts(c));
      const y = new MaxPool2d(c.kernel, c.opts).call(fromArray(x, c.x));
      expect(y.shape).toEqual(want.shape);
      expect(values(y)).toEqual(want.data);
    });
    it(`AvgPool2d ${c.name}`, () => {
      const x = vals(91, c.x.reduce((a, b) => a * b, 1));
      const want = poolRef('avg', x, c.x, refOpts(c));
      const y = new AvgPool2d(c.kernel, c.opts).call(fromArray(x, c.x));
      expect(y.shape).toEqual(want.shape);
      expectClose(y.toTypedArray(), want.data, F32);
    });
  }

  it('MaxPool2d with dilation 2', () => {
    const shape = [1, 2, 7, 6];
    const x = distinctVals(92, 84);
    const want = poolRef('max', x, shape, { kernel: [2, 2], stride: [1, 1], dilation: [2, 2] });
    const y = new MaxPool2d(2, { stride: 1, dilation: 2 }).call(fromArray(x, shape));
    expect(y.shape).toEqual(want.shape);
    expect(values(y)).toEqual(want.data);
  });

  it('AvgPool2d counts the zero padding in the divisor (count_include_pad)', () => {
    // A 2x2 plane of ones, kernel 2, stride 1, padding 1: the corner windows hold one input (1/4).
    const y = new AvgPool2d(2, { stride: 1, padding: 1 }).call(fromArray([1, 1, 1, 1], [1, 1, 2, 2]));
    expect(values(y)).toEqual([0.25, 0.5, 0.25, 0.5, 1, 0.5, 0.25, 0.5, 0.25]);
  });
});

describe('Flatten', () => {
  const x = vals(100, 2 * 3 * 4 * 5);
  it('flattens dims 1.. by default, keeping row-major order', () => {
    const y = new Flatten().call(fromArray(x, [2, 3, 4, 5]));
    expect(y.shape).toEqual([2, 60]);
    expect(values(y)).toEqual(x);
  });
  it('flattens a chosen range of dims', () => {
    expect(new Flatten(1, 2).call(fromArray(x, [2, 3, 4, 5])).shape).toEqual([2, 12, 5]);
    expect(new Flatten(0).call(fromArray(x, [2, 3, 4, 5])).shape).toEqual([120]);
    expect(new Flatten(-2).call(fromArray(x, [2, 3, 4, 5])).shape).toEqual([2, 3, 20]);
  });
  it('flattens a non-contiguous (permuted) input in its logical order', () => {
    const t = fromArray(x, [2, 3, 4, 5]).permute(0, 2, 3, 1); // [2, 4, 5, 3]
    const want: number[] = [];
    for (let n = 0; n < 2; n++) for (let h = 0; h < 4; h++) for (let w = 0; w < 5; w++) for (let c = 0; c < 3; c++) want.push(x[((n * 3 + c) * 4 + h) * 5 + w]);
    const y = new Flatten().call(t);
    expect(y.shape).toEqual([2, 60]);
    expect(values(y)).toEqual(want);
  });
});

describe('Dropout', () => {
  const N = 100_000;
  const x = vals(110, N, 0.5, 1.5); // never zero, so zeros in the output come from the mask

  for (const p of [0.1, 0.3, 0.8]) {
    it(`p = ${p}: zeros a fraction ≈ p and scales survivors by 1/(1 − p)`, () => {
      const y = values(new Dropout(p, new Generator(5)).call(fromArray(x, [100, 1000])));
      let zeros = 0;
      const keep = 1 / (1 - p);
      for (let i = 0; i < N; i++) {
        if (y[i] === 0) zeros++;
        else if (Math.abs(y[i] - x[i] * keep) > 1e-6 * Math.abs(x[i] * keep)) expect.fail(`element ${i}: ${y[i]} is not ${x[i]} · ${keep}`);
      }
      // Binomial(N, p): 6 standard deviations.
      expect(Math.abs(zeros / N - p)).toBeLessThan(6 * Math.sqrt((p * (1 - p)) / N));
    });
  }

  it('keeps float64 precision: survivors are x / (1 − p) to the last bit of a double', () => {
    const xs = x.slice(0, 2000);
    const y = new Dropout(0.3, new Generator(6)).call(fromArray(Float64Array.from(xs), [2000], { dtype: 'float64' }));
    expect(y.dtype).toBe('float64');
    const yv = values(y);
    expect(yv.filter((v) => v !== 0).length).toBeGreaterThan(1000);
    yv.forEach((v, i) => {
      if (v !== 0) expect(v, `element ${i}`).toBe(xs[i] * (1 / 0.7));
    });
  });

  it('is reproducible from its generator seed, and draws a new mask on every call', () => {
    const run = (seed: number) => {
      const d = new Dropout(0.5, new Generator(seed));
      const xt = fromArray(x.slice(0, 1000), [1000]);
      return [values(d.call(xt)), values(d.call(xt))];
    };
    const [a1, a2] = run(9), [b1, b2] = run(9), [c1] = run(10);
    expect(b1).toEqual(a1);
    expect(b2).toEqual(a2);
    expect(a2).not.toEqual(a1);
    expect(c1).not.toEqual(a1);
  });

  it('backpropagates through the mask: dy/dx is 1/(1 − p) where kept, 0 where dropped', () => {
    const xt = fromArray(x.slice(0, 500), [500], { requiresGrad: true });
    const y = new Dropout(0.25, new Generator(3)).call(xt);
    y.sum().backward();
    const yv = values(y), g = values(xt.grad!);
    expect(g).toEqual(yv.map((v) => (v === 0 ? 0 : Math.fround(1 / 0.75))));
  });

  it('is the identity in eval mode and for p = 0', () => {
    const xt = fromArray(x.slice(0, 100), [100]);
    const d = new Dropout(0.5, new Generator(1)).eval();
    expect(values(d.call(xt))).toEqual(values(xt));
    expect(values(new Dropout(0, new Generator(1)).call(xt))).toEqual(values(xt));
  });

  it('rejects p outside [0, 1)', () => {
    for (const p of [1, -0.1, 1.5, NaN]) expect(errorOf(() => new Dropout(p))).toMatch(/p must be in \[0, 1\)/);
  });
});

describe('Sequential', () => {
  it('composes Linear → ReLU → Linear like the nested reference', () => {
    const g = new Generator(120);
    const net = new Sequential(new Linear(4, 5, { generator: g }), new ReLU(), new Linear(5, 2, { generator: g }));
    const l1 = net.at(0) as Linear, l2 = net.at(2) as Linear;
    const x = vals(121, 3 * 4);
    const h = relu(linearRef(x, 3, 4, values(l1.weight), 5, values(l1.bias!)));
    expectClose(net.call(fromArray(x, [3, 4])), linearRef(h, 3, 5, values(l2.weight), 2, values(l2.bias!)), F32);
  });

  it('composes a small CNN: conv → relu → maxpool → flatten → linear', () => {
    const g = new Generator(130);
    const net = new Sequential(new Conv2d(1, 2, 3, { padding: 1, generator: g }), new ReLU(), new MaxPool2d(2), new Flatten(), new Linear(8, 3, { generator: g }));
    const conv = net.at(0) as Conv2d, lin = net.at(4) as Linear;
    const x = vals(131, 2 * 16);
    const c = conv2dRef(x, [2, 1, 4, 4], values(conv.weight), conv.weight.shape, values(conv.bias!), { padding: [1, 1] });
    const p = poolRef('max', relu(c.data), c.shape, { kernel: [2, 2] });
    expect(p.shape).toEqual([2, 2, 2, 2]);
    expectClose(net.call(fromArray(x, [2, 1, 4, 4])), linearRef(p.data, 2, 8, values(lin.weight), 3, values(lin.bias!)), F32);
  });

  it('has a length and indexed access, with a clear error out of range; empty is the identity', () => {
    const net = new Sequential(new Linear(2, 2), new ReLU(), new Flatten());
    expect(net.length).toBe(3);
    expect(net.at(1)).toBeInstanceOf(ReLU);
    expect(errorOf(() => net.at(3))).toMatch(/index 3 out of range \(length 3\)/);
    const x = tensor([[1, 2]]);
    expect(new Sequential().call(x)).toBe(x);
  });
});
