/**
 * Optimizers and LR schedulers against PyTorch's update rules written out here with plain
 * numbers (torch.optim.SGD / Adam / AdamW documentation, "Algorithm" sections), over three steps,
 * in float64 so the comparison is tight; a few steps are also worked by hand as literals.
 */
import { describe, expect, it } from 'vitest';
import { fromArray, type Tensor } from '../../src/index.js';
import { Adam, AdamW, CosineAnnealingLR, Optimizer, SGD, StepLR, type AdamOptions, type SGDOptions } from '../../src/nn/index.js';
import { errorOf, expectClose } from '../helpers/assert.js';
import { vals, values } from './ref.js';

const TIGHT = { rtol: 1e-12, atol: 1e-14 };

function param(data: readonly number[]): Tensor {
  return fromArray(Float64Array.from(data), [data.length], { dtype: 'float64', requiresGrad: true });
}

function setGrad(p: Tensor, g: readonly number[]): void {
  p.grad?.dispose();
  p.grad = fromArray(Float64Array.from(g), p.shape, { dtype: 'float64' });
}

/** Runs `steps` optimizer steps with the given gradients; returns the parameter after each. */
function runSteps(p: Tensor, opt: { step(): void }, grads: readonly (readonly number[])[]): number[][] {
  return grads.map((g) => {
    setGrad(p, g);
    opt.step();
    return values(p);
  });
}

/** torch.optim.SGD, per its documented algorithm (note: the first step sets b ← g, undampened). */
function sgdRef(p0: readonly number[], grads: readonly (readonly number[])[], o: Required<SGDOptions>): number[][] {
  let p = [...p0];
  let b = null as number[] | null;
  const out: number[][] = [];
  for (const grad of grads) {
    let g = grad.map((v, i) => v + o.weightDecay * p[i]);
    if (o.momentum !== 0) {
      const buf: number[] = b === null ? [...g] : b.map((bi, i) => o.momentum * bi + (1 - o.dampening) * g[i]);
      b = buf;
      g = o.nesterov ? g.map((v, i) => v + o.momentum * buf[i]) : [...buf];
    }
    p = p.map((v, i) => v - o.lr * g[i]);
    out.push([...p]);
  }
  return out;
}

/** torch.optim.Adam (decoupled = false) and AdamW (decoupled = true), amsgrad off. */
function adamRef(p0: readonly number[], grads: readonly (readonly number[])[], o: Required<AdamOptions>, decoupled: boolean): number[][] {
  const [b1, b2] = o.betas;
  let p = [...p0];
  let m = p.map(() => 0), v = p.map(() => 0);
  const out: number[][] = [];
  grads.forEach((grad, k) => {
    const t = k + 1;
    if (decoupled) p = p.map((x) => x * (1 - o.lr * o.weightDecay));
    const g = decoupled ? [...grad] : grad.map((x, i) => x + o.weightDecay * p[i]);
    m = m.map((mi, i) => b1 * mi + (1 - b1) * g[i]);
    v = v.map((vi, i) => b2 * vi + (1 - b2) * g[i] * g[i]);
    const mHat = m.map((mi) => mi / (1 - b1 ** t)), vHat = v.map((vi) => vi / (1 - b2 ** t));
    p = p.map((x, i) => x - (o.lr * mHat[i]) / (Math.sqrt(vHat[i]) + o.eps));
    out.push([...p]);
  });
  return out;
}

const P0 = [0.5, -1.25, 2, 0.03];
const GRADS = [vals(1, 4), vals(2, 4), vals(3, 4)];

describe('SGD', () => {
  const base: Required<SGDOptions> = { lr: 0.1, momentum: 0, dampening: 0, nesterov: false, weightDecay: 0 };
  const cases: [string, Partial<SGDOptions>][] = [
    ['plain', {}],
    ['momentum 0.9', { momentum: 0.9 }],
    ['momentum 0.9, dampening 0.5', { momentum: 0.9, dampening: 0.5 }],
    ['Nesterov momentum 0.9', { momentum: 0.9, nesterov: true }],
    ['weight decay 0.1', { weightDecay: 0.1 }],
    ['weight decay 0.05 with Nesterov momentum 0.8', { weightDecay: 0.05, momentum: 0.8, nesterov: true, lr: 0.3 }],
  ];
  for (const [name, o] of cases) {
    it(`${name}: three steps match torch.optim.SGD's update`, () => {
      const opts = { ...base, ...o };
      const p = param(P0);
      const got = runSteps(p, new SGD([p], opts), GRADS);
      const want = sgdRef(P0, GRADS, opts);
      got.forEach((g, k) => expectClose(g, want[k], { ...TIGHT, label: `step ${k + 1}` }));
    });
  }

  it('worked by hand: constant gradient 1 from 0, lr 0.1', () => {
    const run = (o: Partial<SGDOptions>) => {
      const p = param([0]);
      return runSteps(p, new SGD([p], { lr: 0.1, ...o }), [[1], [1], [1]]).map((x) => x[0]);
    };
    // plain: −0.1 per step. momentum: b = 1, 1.9, 2.71.
    expectClose(run({}), [-0.1, -0.2, -0.3], TIGHT);
    expectClose(run({ momentum: 0.9 }), [-0.1, -0.29, -0.561], TIGHT);
    // dampening 0.5: b = 1 (first step undampened), 0.9 + 0.5 = 1.4, 1.26 + 0.5 = 1.76.
    expectClose(run({ momentum: 0.9, dampening: 0.5 }), [-0.1, -0.24, -0.416], TIGHT);
    // Nesterov: step uses g + 0.9 b = 1.9, 2.71, 3.439.
    expectClose(run({ momentum: 0.9, nesterov: true }), [-0.19, -0.461, -0.8049], TIGHT);
  });

  it('worked by hand: weight decay alone shrinks p by (1 − lr·λ) per step', () => {
    const p = param([1]);
    const got = runSteps(p, new SGD([p], { lr: 0.1, weightDecay: 0.1 }), [[0], [0], [0]]).map((x) => x[0]);
    expectClose(got, [0.99, 0.9801, 0.970299], TIGHT);
  });

  it('with gradients from backward(): minimises Σ (p − target)² as the reference does', () => {
    const target = [1, -2, 0.5];
    const p = param([0, 0, 0]);
    const opt = new SGD([p], { lr: 0.05, momentum: 0.9, nesterov: true });
    let ref = [0, 0, 0];
    let buf = null as number[] | null;
    for (let k = 0; k < 3; k++) {
      opt.zeroGrad();
      p.sub(fromArray(Float64Array.from(target), [3], { dtype: 'float64' })).square().sum().backward();
      opt.step();
      const g = ref.map((v, i) => 2 * (v - target[i]));
      const b: number[] = buf === null ? [...g] : buf.map((bi, i) => 0.9 * bi + g[i]);
      buf = b;
      ref = ref.map((v, i) => v - 0.05 * (g[i] + 0.9 * b[i]));
      expectClose(values(p), ref, { ...TIGHT, label: `step ${k + 1}` });
    }
  });

  it('skips parameters without a gradient, and zeroGrad clears gradients', () => {
    const a = param([1, 2]), b = param([3]);
    const opt = new SGD([a, b], { lr: 0.5 });
    setGrad(a, [1, 1]);
    opt.step();
    expect(values(a)).toEqual([0.5, 1.5]);
    expect(values(b)).toEqual([3]);
    opt.zeroGrad();
    expect(a.grad).toBeNull();
    expect(b.grad).toBeNull();
  });

  it('updates the parameter in place (same Tensor object)', () => {
    const p = param([1]);
    const before = p;
    runSteps(p, new SGD([p], { lr: 1 }), [[1]]);
    expect(p).toBe(before);
    expect(p.requiresGrad).toBe(true);
    expect(values(p)).toEqual([0]);
  });
});

describe('Adam and AdamW', () => {
  const adamDefaults: Required<AdamOptions> = { lr: 1e-3, betas: [0.9, 0.999], eps: 1e-8, weightDecay: 0 };
  const cases: [string, boolean, Partial<AdamOptions>][] = [
    ['Adam, defaults', false, {}],
    ['Adam, lr 0.1, betas (0.8, 0.99), eps 1e-6', false, { lr: 0.1, betas: [0.8, 0.99], eps: 1e-6 }],
    ['Adam with L2 weight decay 0.05 (added to the gradient)', false, { lr: 0.1, weightDecay: 0.05 }],
    ['AdamW, defaults (weight decay 0.01)', true, {}],
    ['AdamW, lr 0.1, decoupled weight decay 0.1', true, { lr: 0.1, weightDecay: 0.1 }],
  ];
  for (const [name, decoupled, o] of cases) {
    it(`${name}: three steps match the reference`, () => {
      const opts = { ...adamDefaults, weightDecay: decoupled ? 0.01 : 0, ...o };
      const p = param(P0);
      const opt = decoupled ? new AdamW([p], o) : new Adam([p], o);
      const got = runSteps(p, opt, GRADS);
      const want = adamRef(P0, GRADS, opts, decoupled);
      got.forEach((g, k) => expectClose(g, want[k], { ...TIGHT, label: `step ${k + 1}` }));
    });
  }

  it('worked by hand: the first Adam step moves each parameter by lr·g/(|g| + eps)', () => {
    const g = [0.3, -2, 1e-3];
    const p = param([1, -1, 0.5]);
    runSteps(p, new Adam([p], { lr: 0.01 }), [g]);
    expectClose(values(p), [1 - 0.01 * (0.3 / (0.3 + 1e-8)), -1 + 0.01 * (2 / (2 + 1e-8)), 0.5 - 0.01 * (1e-3 / (1e-3 + 1e-8))], TIGHT);
  });

  it('AdamW decays the weights, Adam decays the gradient: with a zero gradient only AdamW moves', () => {
    const a = param([2]), w = param([2]);
    runSteps(a, new Adam([a], { lr: 0.1, weightDecay: 0.1 }), [[0]]);
    runSteps(w, new AdamW([w], { lr: 0.1, weightDecay: 0.1 }), [[0]]);
    // Adam: g = 0 + 0.1·2 = 0.2, so it takes a full lr-sized step: 2 − 0.1·0.2/(0.2 + 1e-8).
    expectClose(values(a), [2 - (0.1 * 0.2) / (0.2 + 1e-8)], TIGHT);
    // AdamW: p·(1 − 0.01) and no gradient step (m = 0).
    expectClose(values(w), [1.98], TIGHT);
  });

  it('counts steps per parameter: a parameter without a gradient does not advance its bias correction', () => {
    const a = param([1]), b = param([1]);
    const opt = new Adam([a, b], { lr: 0.1 });
    setGrad(a, [0.5]);
    setGrad(b, [0.5]);
    opt.step();
    b.grad = null; // b sits out step 2
    setGrad(a, [0.2]);
    opt.step();
    setGrad(a, [-0.1]);
    setGrad(b, [-0.3]);
    opt.step();
    const o = { ...adamDefaults, lr: 0.1 };
    expectClose(values(a), adamRef([1], [[0.5], [0.2], [-0.1]], o, false)[2], TIGHT);
    expectClose(values(b), adamRef([1], [[0.5], [-0.3]], o, false)[1], TIGHT);
  });

  it('an option passed as undefined takes its default', () => {
    const p = param(P0);
    runSteps(p, new Adam([p], { lr: undefined, eps: undefined }), GRADS.slice(0, 1));
    expectClose(values(p), adamRef(P0, GRADS.slice(0, 1), adamDefaults, false)[0], TIGHT);
  });
});

describe('invalid optimizer options give clear errors', () => {
  const p = param([1]);
  it('negative learning rate', () => {
    expect(errorOf(() => new SGD([p], { lr: -0.1 }))).toMatch(/SGD: invalid learning rate -0\.1/);
    expect(errorOf(() => new Adam([p], { lr: -1 }))).toMatch(/Adam: invalid learning rate -1/);
    expect(errorOf(() => new AdamW([p], { lr: NaN }))).toMatch(/AdamW: invalid learning rate NaN/);
  });
  it('Nesterov without momentum, or with dampening', () => {
    expect(errorOf(() => new SGD([p], { lr: 0.1, nesterov: true }))).toMatch(/Nesterov momentum requires a momentum and zero dampening/);
    expect(errorOf(() => new SGD([p], { lr: 0.1, nesterov: true, momentum: 0.9, dampening: 0.1 }))).toMatch(/Nesterov/);
  });
  it('negative momentum or weight decay (as torch.optim.SGD)', () => {
    expect(errorOf(() => new SGD([p], { lr: 0.1, momentum: -0.5 }))).toMatch(/SGD: invalid momentum -0\.5/);
    expect(errorOf(() => new SGD([p], { lr: 0.1, weightDecay: -1 }))).toMatch(/SGD: invalid weight decay -1/);
  });
  it('betas outside [0, 1), negative eps or weight decay (as torch.optim.Adam)', () => {
    expect(errorOf(() => new Adam([p], { betas: [1, 0.999] }))).toMatch(/Adam: invalid beta1 1/);
    expect(errorOf(() => new Adam([p], { betas: [0.9, -0.1] }))).toMatch(/Adam: invalid beta2 -0\.1/);
    expect(errorOf(() => new Adam([p], { eps: -1e-8 }))).toMatch(/Adam: invalid eps -1e-8/);
    expect(errorOf(() => new AdamW([p], { weightDecay: -0.01 }))).toMatch(/AdamW: invalid weight decay -0\.01/);
  });
  it('an empty parameter list', () => {
    expect(errorOf(() => new SGD([], { lr: 0.1 }))).toMatch(/SGD: got an empty parameter list/);
  });
});

/** A minimal plain-SGD Optimizer subclass, to exercise parameter groups with their own lr. */
class PlainSGD extends Optimizer<{ lr: number }> {
  constructor(groups: { params: Tensor[]; hyper?: Partial<{ lr: number }> }[], lr: number) {
    super(groups, { lr });
  }
  protected update(p: Tensor, grad: Tensor, _st: Record<string, Tensor | number>, h: { lr: number }): void {
    p.assign_(p.sub(grad.mul(h.lr)));
  }
}

describe('LR schedulers', () => {
  it('StepLR: lr = lr0 · γ^floor(t / stepSize)', () => {
    const opt = new SGD([param([0])], { lr: 0.1 });
    const sched = new StepLR(opt, 3, 0.5);
    const seen = [opt.lr];
    for (let t = 1; t <= 9; t++) {
      sched.step();
      expect(sched.lastEpoch).toBe(t);
      seen.push(opt.lr);
    }
    expectClose(seen, [0.1, 0.1, 0.1, 0.05, 0.05, 0.05, 0.025, 0.025, 0.025, 0.0125], TIGHT);
    const closed = seen.map((_, t) => 0.1 * 0.5 ** Math.floor(t / 3));
    expectClose(seen, closed, TIGHT);
  });

  it('StepLR defaults to γ = 0.1', () => {
    const opt = new SGD([param([0])], { lr: 1 });
    const sched = new StepLR(opt, 2);
    sched.step();
    sched.step();
    expectClose([opt.lr], [0.1], TIGHT);
  });

  it('CosineAnnealingLR: lr = ηmin + (lr0 − ηmin)(1 + cos(π t / Tmax)) / 2 for t ≤ Tmax', () => {
    const opt = new Adam([param([0])], { lr: 0.1 });
    const sched = new CosineAnnealingLR(opt, 8, 0.001);
    const seen = [opt.lr];
    for (let t = 1; t <= 8; t++) {
      sched.step();
      seen.push(opt.lr);
    }
    expectClose(seen, seen.map((_, t) => 0.001 + ((0.1 - 0.001) * (1 + Math.cos((Math.PI * t) / 8))) / 2), TIGHT);
    expectClose([seen[4], seen[8]], [(0.1 + 0.001) / 2, 0.001], TIGHT); // half-way, and the floor
    expect(seen.every((v, i) => i === 0 || v < seen[i - 1])).toBe(true);
  });

  it('CosineAnnealingLR anneals to 0 by default', () => {
    const opt = new SGD([param([0])], { lr: 0.2 });
    const sched = new CosineAnnealingLR(opt, 4);
    const seen: number[] = [];
    for (let t = 1; t <= 4; t++) {
      sched.step();
      seen.push(opt.lr);
    }
    expectClose(seen, [0.2 * (1 + Math.SQRT1_2) / 2, 0.1, 0.2 * (1 - Math.SQRT1_2) / 2, 0], { rtol: 1e-12, atol: 1e-15 });
  });

  it('the scheduled lr is the one the next step uses', () => {
    const p = param([0]);
    const opt = new SGD([p], { lr: 1 });
    const sched = new StepLR(opt, 1, 0.5);
    const got = [1, 2, 3].map(() => {
      const r = runSteps(p, opt, [[1]])[0][0];
      sched.step();
      return r;
    });
    expectClose(got, [-1, -1.5, -1.75], TIGHT);
  });

  it('each parameter group keeps its own base lr (as PyTorch base_lrs)', () => {
    const a = param([0]), b = param([0]);
    const opt = new PlainSGD([{ params: [a], hyper: { lr: 0.1 } }, { params: [b], hyper: { lr: 0.01 } }], 1);
    expect(opt.groups.map((g) => g.hyper.lr)).toEqual([0.1, 0.01]);
    const step = new StepLR(opt, 1, 0.5);
    step.step();
    expectClose(opt.groups.map((g) => g.hyper.lr), [0.05, 0.005], TIGHT);

    const c = param([0]), d = param([0]);
    const opt2 = new PlainSGD([{ params: [c], hyper: { lr: 0.4 } }, { params: [d], hyper: { lr: 0.2 } }], 1);
    const cos = new CosineAnnealingLR(opt2, 2, 0.1);
    cos.step();
    expectClose(opt2.groups.map((g) => g.hyper.lr), [0.1 + 0.3 / 2, 0.1 + 0.1 / 2], TIGHT);
    cos.step();
    expectClose(opt2.groups.map((g) => g.hyper.lr), [0.1, 0.1], TIGHT);
  });
});
