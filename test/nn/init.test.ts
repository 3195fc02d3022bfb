/**
 * Initialisation (torch.nn.init): fans, gains, the bounds of the uniform initialisers, and the
 * empirical mean and standard deviation of large samples against the intended distribution,
 * within a few standard errors. Also the default init of Linear and Conv2d: U(−1/√fan_in, 1/√fan_in).
 */
import { describe, expect, it } from 'vitest';
import { Generator, zeros, type Tensor } from '../../src/index.js';
import { Conv2d, init, Linear } from '../../src/nn/index.js';
import { errorOf } from '../helpers/assert.js';
import { values } from './ref.js';

interface Moments {
  n: number;
  mean: number;
  std: number;
  maxAbs: number;
}

function moments(xs: readonly number[]): Moments {
  const n = xs.length;
  const mean = xs.reduce((a, b) => a + b, 0) / n;
  const std = Math.sqrt(xs.reduce((a, b) => a + (b - mean) ** 2, 0) / (n - 1));
  return { n, mean, std, maxAbs: xs.reduce((a, b) => Math.max(a, Math.abs(b)), 0) };
}

/**
 * Samples from U(−b, b): all inside the bound (up to float32 rounding), the largest close to it,
 * mean ≈ 0 and std ≈ b/√3. Standard errors: mean σ/√n; std σ·√(0.8/n)/2 for a uniform (its
 * kurtosis is 9/5, so var(s²) = σ⁴(9/5 − 1)/n). Six standard errors each.
 */
function expectUniform(t: Tensor, bound: number, label: string): void {
  const m = moments(values(t));
  const sigma = bound / Math.sqrt(3);
  expect(m.maxAbs, `${label}: max |w|`).toBeLessThanOrEqual(bound * (1 + 1e-6));
  expect(m.maxAbs, `${label}: max |w| reaches the bound`).toBeGreaterThan(bound * (1 - 20 / m.n));
  expect(Math.abs(m.mean), `${label}: mean`).toBeLessThan((6 * sigma) / Math.sqrt(m.n));
  expect(Math.abs(m.std - sigma), `${label}: std ${m.std} vs ${sigma}`).toBeLessThan(6 * sigma * Math.sqrt(0.8 / m.n) / 2);
}

/** Samples from N(0, σ²): mean and std within six standard errors (std's is σ/√(2n)). */
function expectNormal(t: Tensor, sigma: number, label: string): void {
  const m = moments(values(t));
  expect(Math.abs(m.mean), `${label}: mean`).toBeLessThan((6 * sigma) / Math.sqrt(m.n));
  expect(Math.abs(m.std - sigma), `${label}: std ${m.std} vs ${sigma}`).toBeLessThan((6 * sigma) / Math.sqrt(2 * m.n));
}

describe('fans and gains', () => {
  it('fan_in / fan_out of linear and conv weights', () => {
    expect(init.fans([300, 400])).toEqual({ fanIn: 400, fanOut: 300 });
    // Conv [O, C/g, KH, KW]: fan_in = C/g·KH·KW, fan_out = O·KH·KW.
    expect(init.fans([16, 4, 3, 5])).toEqual({ fanIn: 60, fanOut: 240 });
    expect(errorOf(() => init.fans([7]))).toMatch(/at least a 2-D weight, got rank 1/);
  });

  it('calculateGain matches torch.nn.init.calculate_gain', () => {
    expect(init.calculateGain('linear')).toBe(1);
    expect(init.calculateGain('sigmoid')).toBe(1);
    expect(init.calculateGain('tanh')).toBeCloseTo(5 / 3, 15);
    expect(init.calculateGain('relu')).toBeCloseTo(Math.SQRT2, 15);
    expect(init.calculateGain('leaky_relu')).toBeCloseTo(Math.sqrt(2 / (1 + 0.01 ** 2)), 15);
    expect(init.calculateGain('leaky_relu', Math.sqrt(5))).toBeCloseTo(Math.sqrt(1 / 3), 15);
  });
});

describe('initialisers on a large tensor', () => {
  const shape = [512, 256]; // 131 072 samples: fan_in 256, fan_out 512

  it('kaimingUniform_ default (leaky_relu a = 0, fan_in): U(±√(6 / fan_in))', () => {
    expectUniform(init.kaimingUniform_(zeros(shape), { generator: new Generator(1) }), Math.sqrt(6 / 256), 'kaiming fan_in');
  });

  it('kaimingUniform_ with mode fanOut and nonlinearity relu: U(±√(6 / fan_out))', () => {
    expectUniform(init.kaimingUniform_(zeros(shape), { mode: 'fanOut', nonlinearity: 'relu', generator: new Generator(2) }), Math.sqrt(6 / 512), 'kaiming fan_out');
  });

  it('kaimingUniform_ with a = √5 (the Linear/Conv default): U(±1/√fan_in)', () => {
    expectUniform(init.kaimingUniform_(zeros(shape), { a: Math.sqrt(5), generator: new Generator(3) }), 1 / 16, 'kaiming a=√5');
  });

  it('kaimingUniform_ on a conv weight uses the receptive field', () => {
    // [64, 32, 3, 3]: fan_in = 288.
    expectUniform(init.kaimingUniform_(zeros([64, 32, 3, 3]), { generator: new Generator(4) }), Math.sqrt(6 / 288), 'kaiming conv');
  });

  it('kaimingNormal_: N(0, 2 / fan_in)', () => {
    expectNormal(init.kaimingNormal_(zeros(shape), { nonlinearity: 'relu', generator: new Generator(5) }), Math.sqrt(2 / 256), 'kaiming normal');
  });

  it('xavierUniform_: U(±gain·√(6 / (fan_in + fan_out)))', () => {
    expectUniform(init.xavierUniform_(zeros(shape), 1, new Generator(6)), Math.sqrt(6 / 768), 'xavier');
    expectUniform(init.xavierUniform_(zeros([32, 16, 5, 5]), 2, new Generator(7)), 2 * Math.sqrt(6 / (400 + 800)), 'xavier conv, gain 2');
  });

  it('xavierNormal_: N(0, gain²·2 / (fan_in + fan_out))', () => {
    expectNormal(init.xavierNormal_(zeros(shape), 1, new Generator(8)), Math.sqrt(2 / 768), 'xavier normal');
  });

  it('uniform_ and normal_ with explicit parameters', () => {
    const u = values(init.uniform_(zeros([20000]), 2, 5, new Generator(9)));
    expect(Math.min(...u)).toBeGreaterThanOrEqual(2);
    expect(Math.max(...u)).toBeLessThanOrEqual(5);
    const m = moments(u);
    expect(Math.abs(m.mean - 3.5)).toBeLessThan((6 * Math.sqrt(0.75)) / Math.sqrt(20000));
    const nm = moments(values(init.normal_(zeros([20000]), -1, 0.5, new Generator(10))));
    expect(Math.abs(nm.mean + 1)).toBeLessThan((6 * 0.5) / Math.sqrt(20000));
    expect(Math.abs(nm.std - 0.5)).toBeLessThan((6 * 0.5) / Math.sqrt(40000));
  });

  it('fills in place (same tensor) and is reproducible from the generator seed', () => {
    const t = zeros([50, 40]);
    expect(init.kaimingUniform_(t, { generator: new Generator(11) })).toBe(t);
    const again = init.kaimingUniform_(zeros([50, 40]), { generator: new Generator(11) });
    const other = init.kaimingUniform_(zeros([50, 40]), { generator: new Generator(12) });
    expect(values(again)).toEqual(values(t));
    expect(values(other)).not.toEqual(values(t));
  });

  it('keeps the tensor dtype (float64 stays float64)', () => {
    const t = zeros([10, 10], { dtype: 'float64' });
    init.xavierUniform_(t, 1, new Generator(13));
    expect(t.dtype).toBe('float64');
  });
});

describe('default init of Linear and Conv2d: U(−1/√fan_in, 1/√fan_in)', () => {
  it('Linear(400, 300): weight and bias bound 1/√400', () => {
    const lin = new Linear(400, 300, { generator: new Generator(20) });
    expectUniform(lin.weight, 1 / 20, 'Linear weight');
    const b = values(lin.bias!);
    expect(Math.max(...b.map(Math.abs))).toBeLessThanOrEqual((1 / 20) * (1 + 1e-6));
    expect(Math.max(...b.map(Math.abs))).toBeGreaterThan(0.9 / 20);
  });

  it('Conv2d(64, 64, 3): bound 1/√(64·9)', () => {
    const conv = new Conv2d(64, 64, 3, { generator: new Generator(21) });
    expectUniform(conv.weight, 1 / 24, 'Conv2d weight');
    const b = values(conv.bias!);
    expect(Math.max(...b.map(Math.abs))).toBeLessThanOrEqual((1 / 24) * (1 + 1e-6));
    expect(Math.max(...b.map(Math.abs))).toBeGreaterThan(0.8 / 24);
  });

  it('Conv2d with groups: fan_in counts one group’s channels', () => {
    // groups 4: weight [32, 2, 3, 3], fan_in = 18.
    const conv = new Conv2d(8, 32, 3, { groups: 4, generator: new Generator(22) });
    expect(conv.weight.shape).toEqual([32, 2, 3, 3]);
    const bound = 1 / Math.sqrt(18);
    const w = values(conv.weight).map(Math.abs);
    expect(Math.max(...w)).toBeLessThanOrEqual(bound * (1 + 1e-6));
    expect(Math.max(...w)).toBeGreaterThan(0.97 * bound); // 576 samples: P(all < 0.97 b) = 0.97^576 ≈ 2e-8
    expect(Math.max(...values(conv.bias!).map(Math.abs))).toBeLessThanOrEqual(bound * (1 + 1e-6));
  });

  it('is reproducible from the generator and differs between seeds', () => {
    const a = new Linear(8, 4, { generator: new Generator(30) });
    const b = new Linear(8, 4, { generator: new Generator(30) });
    const c = new Linear(8, 4, { generator: new Generator(31) });
    expect(values(b.weight)).toEqual(values(a.weight));
    expect(values(b.bias!)).toEqual(values(a.bias!));
    expect(values(c.weight)).not.toEqual(values(a.weight));
  });
});
