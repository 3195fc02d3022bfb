/**
 * Batch-norm folding.
 *   - foldBatchNorm against the formula written out in float64 JavaScript;
 *   - fuseConvBn on a briefly trained mnistCnn({ batchNorm: true }) (running statistics, γ and β
 *     all moved from their initial values): the same eval-mode outputs within 1e-5;
 *   - QConvBn2d in eval mode and with frozen BN: conv(x, fq(w_fold)) + fq(b_fold) with the reference
 *     numerics (per-channel weight qparams from computeQParamsPerChannel of the folded weight);
 *   - QConvBn2d in training mode: PyTorch's ConvBn2d recipe computed independently (scale factor
 *     γ/σ from the running variance, fake-quantized folded weight, conv, divide by the scale factor,
 *     add the conv bias, batch norm with the biased batch statistics, ReLU, activation fake quant),
 *     and the running-statistics update.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { BatchNorm2d, Conv2d, F, fromArray, Generator, mnistCnn, noGrad, type Sequential, type Tensor } from '../../../src/index.js';
import {
  computeQParams,
  computeQParamsPerChannel,
  FakeQuantize,
  fakeQuantize,
  foldBatchNorm,
  freezeBn,
  fuseConvBn,
  prepareQAT,
  QConvBn2d,
  qconfig,
  setQuantState,
} from '../../../src/quant/index.js';
import { logitsOf, pretrain, prng, randomBatches, values } from './helpers.js';

const fround = Math.fround;

/** A Conv2d(C → O, k3, with bias) + BatchNorm2d(O) with every statistic and parameter non-trivial. */
function convBn(C: number, O: number, seed: number): { conv: Conv2d; bn: BatchNorm2d } {
  const rand = prng(seed);
  const conv = new Conv2d(C, O, 3, { generator: new Generator(seed), padding: 1 });
  const bn = new BatchNorm2d(O);
  const set = (t: Tensor, f: () => number) => t.assign_(fromArray(Float32Array.from({ length: t.size }, f), t.shape));
  set(bn.runningMean, () => rand() - 0.5);
  set(bn.runningVar, () => 0.2 + rand());
  set(bn.weight!, () => 0.5 + rand());
  set(bn.bias!, () => rand() - 0.5);
  return { conv, bn };
}

describe('foldBatchNorm', () => {
  it('w·γ/σ and (b − μ)·γ/σ + β, σ = √(running_var + ε), in float64 within float32 rounding', () => {
    const { conv, bn } = convBn(2, 3, 1);
    const { weight, bias } = foldBatchNorm(conv.weight, conv.bias, bn);
    const [w, b, mu, v, g, beta] = [conv.weight, conv.bias, bn.runningMean, bn.runningVar, bn.weight, bn.bias].map(values);
    const per = w.length / 3;
    const sf = v.map((vi, o) => g[o] / Math.sqrt(vi + bn.eps));
    values(weight).forEach((x, i) => expect(x).toBeCloseTo(w[i] * sf[Math.floor(i / per)], 6));
    values(bias).forEach((x, o) => expect(x).toBeCloseTo((b[o] - mu[o]) * sf[o] + beta[o], 6));
    // without a conv bias, b = 0
    const nb = foldBatchNorm(conv.weight, null, bn);
    values(nb.bias).forEach((x, o) => expect(x).toBeCloseTo(-mu[o] * sf[o] + beta[o], 6));
  });
});

describe('fuseConvBn', () => {
  let model: Sequential;
  beforeAll(() => {
    model = mnistCnn({ channels: 4, batchNorm: true, generator: new Generator(5) });
    pretrain(model, randomBatches(4, 8, [1, 28, 28], 21), 4);
  });

  it('the trained model has non-trivial BN statistics and parameters', () => {
    const bn = model.at(1) as BatchNorm2d;
    expect(values(bn.runningMean).some((v) => Math.abs(v) > 1e-3)).toBe(true);
    expect(values(bn.runningVar).some((v) => Math.abs(v - 1) > 1e-3)).toBe(true);
    expect(values(bn.weight).some((v) => Math.abs(v - 1) > 1e-4)).toBe(true);
  });

  it('gives the eval-mode outputs of the unfolded model within 1e-5, with the BNs gone', () => {
    model.eval();
    const fused = fuseConvBn(model);
    expect(fused.namedChildren().map(([, m]) => m.constructor.name)).toEqual(['Conv2d', 'ReLU', 'MaxPool2d', 'Conv2d', 'ReLU', 'MaxPool2d', 'Flatten', 'Linear']);
    expect(fused.training).toBe(false);
    const [b] = randomBatches(1, 6, [1, 28, 28], 22);
    const want = logitsOf(model, b);
    const got = logitsOf(fused, b);
    got.forEach((v, i) => expect(Math.abs(v - want[i]), `logit ${i}: ${v} vs ${want[i]}`).toBeLessThanOrEqual(1e-5 * (1 + Math.abs(want[i]))));
    // the fused convolutions are the folded ones
    const f0 = foldBatchNorm((model.at(0) as Conv2d).weight, (model.at(0) as Conv2d).bias, model.at(1) as BatchNorm2d);
    expect(values((fused.at(0) as Conv2d).weight)).toEqual(values(f0.weight));
    expect(values((fused.at(0) as Conv2d).bias)).toEqual(values(f0.bias));
  });
});

/** The expected QConvBn2d output in the folded form, from the reference numerics. */
function foldedReference(m: QConvBn2d, x: Tensor, inScale: number): Float32Array {
  const { weight, bias } = foldBatchNorm(m.conv.weight, m.conv.bias, m.bn);
  const O = m.conv.outChannels;
  const w = values(weight);
  const per = w.length / O;
  const mins = Array.from({ length: O }, (_, o) => Math.min(...w.slice(o * per, (o + 1) * per)));
  const maxs = Array.from({ length: O }, (_, o) => Math.max(...w.slice(o * per, (o + 1) * per)));
  const wp = computeQParamsPerChannel(mins, maxs, { qmin: -128, qmax: 127, scheme: 'symmetric' });
  const wq = fakeQuantize(w, { scale: wp.scale, zeroPoint: wp.zeroPoint, qmin: -128, qmax: 127, axis: 0, shape: weight.shape });
  const bScale = Array.from(wp.scale, (s) => fround(inScale * s));
  const bq = fakeQuantize(values(bias), { scale: bScale, zeroPoint: new Int32Array(O), qmin: -(2 ** 24), qmax: 2 ** 24, axis: 0, shape: [O] });
  const y = noGrad(() => F.relu(F.conv2d(x, fromArray(wq.y, weight.shape), fromArray(bq.y, [O]), m.conv.opts)));
  const yv = y.toTypedArray();
  const p = m.activationFq.qparams!;
  return fakeQuantize(yv, { scale: p.scale[0], zeroPoint: p.zeroPoint[0], qmin: 0, qmax: 255 }).y;
}

describe('QConvBn2d', () => {
  const C = 2, O = 3;
  const [batch] = randomBatches(1, 4, [C, 5, 5], 31);
  const x = () => fromArray(batch.x, batch.xShape);

  function make(seed: number): { m: QConvBn2d; inFq: FakeQuantize } {
    const { conv, bn } = convBn(C, O, seed);
    const inFq = new FakeQuantize(qconfig().activation);
    inFq.call(x()); // the input quantizer's scale feeds the bias scale s_in·s_w
    // the float formula of the folded form: simulateRequant off (the integer-faithful evaluation is requant-sim.test.ts's)
    return { m: new QConvBn2d(conv, bn, qconfig({ simulateRequant: false }), inFq, true), inFq };
  }

  for (const mode of ['eval', 'frozen'] as const) {
    it(`${mode === 'eval' ? 'in eval mode' : 'in training mode with frozen BN'}: conv(x, fq(w_fold)) + fq(b_fold), ReLU, activation fake quant`, () => {
      const { m, inFq } = make(mode === 'eval' ? 1 : 2);
      if (mode === 'eval') m.eval();
      else {
        m.train();
        freezeBn(m);
        expect(m.bnFrozen).toBe(true);
      }
      const before = [values(m.bn.runningMean), values(m.bn.runningVar)];
      const y = noGrad(() => m.call(x())).toTypedArray();
      const want = foldedReference(m, x(), inFq.qparams!.scale[0]);
      expect(Array.from(y)).toEqual(Array.from(want));
      // no statistics are updated in the folded form
      expect([values(m.bn.runningMean), values(m.bn.runningVar)]).toEqual(before);
    });
  }

  it('in training mode (unfrozen): PyTorch ConvBn2d recipe, computed independently, and the running-statistics update', () => {
    const { m } = make(3);
    m.train();
    const eps = m.bn.eps, momentum = m.bn.momentum;
    const [w, b, rm, rv, gamma, beta] = [m.conv.weight, m.conv.bias, m.bn.runningMean, m.bn.runningVar, m.bn.weight, m.bn.bias].map(values);
    const y = noGrad(() => m.call(x())).toTypedArray();

    // 1. scale factor from the running variance, folded weight, fake-quantized per output channel
    const sf = rv.map((v, o) => fround(gamma[o] / fround(Math.sqrt(fround(v + eps)))));
    const per = w.length / O;
    const wFold = w.map((v, i) => fround(v * sf[Math.floor(i / per)]));
    const chan = (a: number[], o: number) => a.slice(o * per, (o + 1) * per);
    const wp = computeQParamsPerChannel(
      Array.from({ length: O }, (_, o) => Math.min(...chan(wFold, o))),
      Array.from({ length: O }, (_, o) => Math.max(...chan(wFold, o))),
      { qmin: -128, qmax: 127, scheme: 'symmetric' },
    );
    const wq = fakeQuantize(wFold, { scale: wp.scale, zeroPoint: wp.zeroPoint, qmin: -128, qmax: 127, axis: 0, shape: m.conv.weight.shape });
    // 2. conv with no bias, divided by the scale factor, plus the conv bias
    const conv = values(noGrad(() => F.conv2d(x(), fromArray(wq.y, m.conv.weight.shape), null, m.conv.opts)));
    const [N, , H, W] = [4, O, 5, 5];
    const hw = H * W;
    const at = (n: number, o: number, k: number) => (n * O + o) * hw + k;
    const orig = conv.map((v, i) => v / sf[Math.floor(i / hw) % O] + b[Math.floor(i / hw) % O]);
    // 3. batch norm with the batch statistics (biased variance for normalising)
    const out = new Float64Array(orig.length);
    const batchMean: number[] = [], batchVarUnbiased: number[] = [];
    for (let o = 0; o < O; o++) {
      let s = 0, s2 = 0;
      for (let n = 0; n < N; n++) for (let k = 0; k < hw; k++) s += orig[at(n, o, k)];
      const mean = s / (N * hw);
      for (let n = 0; n < N; n++) for (let k = 0; k < hw; k++) s2 += (orig[at(n, o, k)] - mean) ** 2;
      const varB = s2 / (N * hw);
      batchMean.push(mean);
      batchVarUnbiased.push(s2 / (N * hw - 1));
      for (let n = 0; n < N; n++) for (let k = 0; k < hw; k++) out[at(n, o, k)] = ((orig[at(n, o, k)] - mean) / Math.sqrt(varB + eps)) * gamma[o] + beta[o];
    }
    // 4. ReLU, then the activation quantizer's first observation (min/max of this batch)
    const relu = Array.from(out, (v) => Math.max(v, 0));
    const ap = computeQParams(Math.min(...relu), Math.max(...relu), { qmin: 0, qmax: 255, scheme: 'affine' });
    expect([m.activationFq.qparams!.scale[0], m.activationFq.qparams!.zeroPoint[0]]).toEqual([ap.scale, ap.zeroPoint]);
    const want = fakeQuantize(relu, { ...ap, qmin: 0, qmax: 255 }).y;
    // float32 (module) vs float64 (oracle) BN may flip a level at a near-tie: at most one step, rarely
    let flips = 0;
    y.forEach((v, i) => {
      const d = Math.abs(v - want[i]);
      if (d > 1e-5) flips++;
      expect(d, `element ${i}`).toBeLessThanOrEqual(ap.scale * 1.0001 + 1e-6);
    });
    expect(flips, 'elements off by one level').toBeLessThanOrEqual(2);
    // 5. running statistics: (1 − m)·running + m·batch, unbiased variance (PyTorch)
    values(m.bn.runningMean).forEach((v, o) => expect(v).toBeCloseTo((1 - momentum) * rm[o] + momentum * batchMean[o], 5));
    values(m.bn.runningVar).forEach((v, o) => expect(v).toBeCloseTo((1 - momentum) * rv[o] + momentum * batchVarUnbiased[o], 5));
  });

  it('in training mode gradients reach the conv weight and the BN affine parameters', () => {
    const { m } = make(4);
    m.train();
    m.call(x()).sum().backward();
    for (const t of [m.conv.weight, m.bn.weight!, m.bn.bias!]) {
      const g = values(t.grad);
      expect(g.every(Number.isFinite) && g.some((v) => v !== 0), t.name).toBe(true);
    }
  });

  it('a prepared BN model in eval mode computes the folded form layer by layer', () => {
    const model = mnistCnn({ channels: 3, batchNorm: true, generator: new Generator(8) });
    pretrain(model, randomBatches(2, 8, [1, 28, 28], 41), 2);
    const q = prepareQAT(model, { default: qconfig({ simulateRequant: false }) });
    const [b] = randomBatches(1, 2, [1, 28, 28], 42);
    q.eval();
    logitsOf(q, b); // observe once in eval mode
    setQuantState(q, { observe: false });
    const first = q.at(1) as QConvBn2d;
    const stubOut = noGrad(() => q.at(0).call(fromArray(b.x, b.xShape)));
    const y = noGrad(() => first.call(stubOut)).toTypedArray();
    const want = foldedReference(first, stubOut, first.inputFq.qparams!.scale[0]);
    expect(Array.from(y)).toEqual(Array.from(want));
  });
});
