/**
 * prepareQAT: the module swap (QuantStub, QConv2d / QConvBn2d with ReLU fused, MaxPool2d, Flatten,
 * QLinear), per-layer configs, clear errors for unsupported layers, and the gradient path:
 *   - fake quantization off: the QAT model's gradients are the float model's, exactly;
 *   - fake quantization on: conv/linear weight gradients equal an independent oracle, a float
 *     network written with functional ops on leaf tensors holding the reference-fake-quantized
 *     weights and biases (src/quant/numerics), times the reference STE mask of each weight. The
 *     weight quantizer is given a deliberately narrow scale so that the mask has zeros.
 */
import { describe, expect, it } from 'vitest';
import {
  AvgPool2d,
  BatchNorm2d,
  Conv2d,
  F,
  Flatten,
  fromArray,
  Generator,
  Linear,
  mnistCnn,
  ReLU,
  Sequential,
  type Module,
  type Tensor,
} from '../../../src/index.js';
import {
  fakeQuantize,
  FakeQuantizeFunction,
  fakeQuantizers,
  prepareQAT,
  QConv2d,
  QConvBn2d,
  QLinear,
  qconfig,
  QuantStub,
  setQuantState,
  type FakeQuantize,
  type ObservedQParams,
} from '../../../src/quant/index.js';
import { randomBatches, values } from './helpers.js';

const kinds = (m: Sequential) => m.namedChildren().map(([, c]) => c.constructor.name);

describe('prepareQAT: module swap', () => {
  it('mnistCnn() -> QuantStub, QConv2d(relu), MaxPool2d, QConv2d(relu), MaxPool2d, Flatten, QLinear, sharing the float parameters', () => {
    const model = mnistCnn({ generator: new Generator(1) });
    const q = prepareQAT(model, { default: qconfig() });
    expect(kinds(q)).toEqual(['QuantStub', 'QConv2d', 'MaxPool2d', 'QConv2d', 'MaxPool2d', 'Flatten', 'QLinear']);
    const [c1, c2, lin] = [q.at(1) as QConv2d, q.at(3) as QConv2d, q.at(6) as QLinear];
    expect([c1.relu, c2.relu, lin.relu]).toEqual([true, true, false]);
    expect(c1.conv).toBe(model.at(0));
    expect(c1.conv.weight).toBe((model.at(0) as Conv2d).weight);
    expect(lin.linear).toBe(model.at(7));
    // the chain of activation quantizers: each layer knows the quantizer of its input
    expect(c1.inputFq).toBe((q.at(0) as QuantStub).activationFq);
    expect(c2.inputFq).toBe(c1.activationFq);
    expect(lin.inputFq).toBe(c2.activationFq);
    // stub + 2 per weighted layer
    expect(fakeQuantizers(q)).toHaveLength(1 + 2 * 3);
    expect(q.training).toBe(model.training);
  });

  it('mnistCnn({ batchNorm: true }) -> QConvBn2d (ReLU fused) for each Conv2d + BatchNorm2d', () => {
    const model = mnistCnn({ batchNorm: true, channels: 4, generator: new Generator(2) });
    const q = prepareQAT(model, { default: qconfig() });
    expect(kinds(q)).toEqual(['QuantStub', 'QConvBn2d', 'MaxPool2d', 'QConvBn2d', 'MaxPool2d', 'Flatten', 'QLinear']);
    const cb = q.at(1) as QConvBn2d;
    expect(cb.relu).toBe(true);
    expect(cb.bn).toBe(model.at(1));
    expect(cb.bnFrozen).toBe(false);
  });

  it('honours per-layer overrides by the float child name, and the input config', () => {
    const model = mnistCnn({ channels: 4, generator: new Generator(3) });
    const q = prepareQAT(model, { default: qconfig(), input: qconfig({ activationBits: 6 }), layers: { '0': qconfig({ bits: 4 }), '7': qconfig({ weightBits: 2 }) } });
    const bits = (fq: FakeQuantize) => fq.config.bits;
    expect(bits((q.at(0) as QuantStub).activationFq)).toBe(6);
    expect([bits((q.at(1) as QConv2d).weightFq), bits((q.at(1) as QConv2d).activationFq)]).toEqual([4, 4]);
    expect([bits((q.at(3) as QConv2d).weightFq), bits((q.at(3) as QConv2d).activationFq)]).toEqual([8, 8]);
    expect([bits((q.at(6) as QLinear).weightFq), bits((q.at(6) as QLinear).activationFq)]).toEqual([2, 8]);
    expect((q.at(1) as QConv2d).weightFq.range).toMatchObject({ qmin: -8, qmax: 7 });
  });

  it('an unsupported layer is a clear error naming it', () => {
    const avg = new Sequential(new Conv2d(1, 2, 3), new AvgPool2d(2), new Flatten(), new Linear(2, 2));
    expect(() => prepareQAT(avg, { default: qconfig() })).toThrow(/'1'.*AvgPool2d/);
    const loneBn = new Sequential(new BatchNorm2d(1), new Conv2d(1, 2, 3));
    expect(() => prepareQAT(loneBn, { default: qconfig() })).toThrow(/'0'.*BatchNorm2d/);
    const nested = new Sequential(new Sequential(new Conv2d(1, 2, 3)));
    expect(() => prepareQAT(nested, { default: qconfig() })).toThrow(/'0'.*Sequential/);
  });
});

/** Gradients of every parameter after one cross-entropy backward on a batch. */
function gradsAfterBackward(model: Module, x: Tensor, y: Int32Array): Map<Tensor, number[]> {
  model.zeroGrad();
  F.crossEntropy(model.call(x), y).backward();
  return new Map(model.parameters().map((p) => [p, values(p.grad)]));
}

function tinyModel(seed: number): Sequential {
  const g = new Generator(seed);
  return new Sequential(new Conv2d(1, 3, 3, { generator: g }), new ReLU(), new Flatten(), new Linear(3 * 4 * 4, 4, { generator: g }));
}

const qp = (fq: FakeQuantize): ObservedQParams => {
  if (!fq.qparams) throw new Error('no qparams');
  return fq.qparams;
};

describe('prepareQAT: gradients reach the float weights through the STE', () => {
  const [batch] = randomBatches(1, 2, [1, 6, 6], 7, 4);
  const x = () => fromArray(batch.x, batch.xShape);

  it('with fake quantization off, the QAT model has exactly the float model\'s outputs and gradients', () => {
    const model = tinyModel(1);
    const floatOut = values(model.call(x()));
    const floatGrads = gradsAfterBackward(model, x(), batch.y);
    const q = prepareQAT(model, { default: qconfig() });
    setQuantState(q, { fakeQuant: false });
    expect(values(q.call(x()))).toEqual(floatOut);
    const qGrads = gradsAfterBackward(q, x(), batch.y);
    for (const [p, g] of floatGrads) expect(qGrads.get(p), p.name).toEqual(g);
  });

  it('with fake quantization on, weight gradients are the oracle\'s gradient w.r.t. the quantized weight, masked by the STE', () => {
    const model = tinyModel(2);
    const q = prepareQAT(model, { default: qconfig() });
    const [stub, qconv, qlin] = [q.at(0) as QuantStub, q.at(1) as QConv2d, q.at(3) as QLinear];
    expect(kinds(q)).toEqual(['QuantStub', 'QConv2d', 'Flatten', 'QLinear']);
    q.call(x()); // observe once, then freeze every range
    setQuantState(q, { observe: false });
    // A conv weight scale 0.6x the observed one clips the largest weights: their STE mask is 0.
    const convW = values(qconv.conv.weight);
    const narrow = Float32Array.from(qp(qconv.weightFq).scale, (s) => Math.fround(0.6 * s));
    qconv.weightFq.qparams = { scale: narrow, zeroPoint: new Int32Array(3), axis: 0 };

    q.zeroGrad();
    F.crossEntropy(q.call(x()), batch.y).backward();

    // ---- the oracle: the same network on leaf tensors holding reference-fake-quantized values
    const sIn = qp(stub.activationFq).scale[0], zIn = qp(stub.activationFq).zeroPoint[0];
    const xq = fromArray(fakeQuantize(batch.x, { scale: sIn, zeroPoint: zIn, qmin: 0, qmax: 255 }).y, batch.xShape);
    const wRef = fakeQuantize(convW, { scale: narrow, zeroPoint: new Int32Array(3), qmin: -128, qmax: 127, axis: 0, shape: [3, 1, 3, 3] });
    expect(wRef.mask.filter((m) => m === 0).length, 'the narrow scale clips some weights').toBeGreaterThan(0);
    const wq = fromArray(wRef.y, [3, 1, 3, 3], { requiresGrad: true });
    // int32 bias with scale s_in * s_w[o], zero point 0 (levels far inside ±2^24, where the reference accepts the range)
    const biasRef = (b: number[], sOut: number, sW: ArrayLike<number>) =>
      fakeQuantize(b, { scale: sW.length === 1 ? [Math.fround(sOut * sW[0])] : Array.from(sW, (s) => Math.fround(sOut * s)), zeroPoint: new Int32Array(sW.length), qmin: -(2 ** 24), qmax: 2 ** 24, axis: 0, shape: [b.length] }).y;
    const bq = fromArray(biasRef(values(qconv.conv.bias), sIn, narrow), [3], { requiresGrad: true });
    const act = (t: Tensor, fq: FakeQuantize) => FakeQuantizeFunction.apply(t, { scale: qp(fq).scale, zeroPoint: qp(fq).zeroPoint, qmin: fq.qmin, qmax: fq.qmax });
    let h = act(F.relu(F.conv2d(xq, wq, bq)), qconv.activationFq);
    h = F.flatten(h, 1);
    const lw = values(qlin.linear.weight);
    const lwp = qp(qlin.weightFq);
    const lwRef = fakeQuantize(lw, { scale: lwp.scale, zeroPoint: lwp.zeroPoint, qmin: -128, qmax: 127, axis: 0, shape: [4, 48] });
    const lwq = fromArray(lwRef.y, [4, 48], { requiresGrad: true });
    const lbq = fromArray(biasRef(values(qlin.linear.bias), qp(qconv.activationFq).scale[0], lwp.scale), [4], { requiresGrad: true });
    const out = act(F.add(F.matmul(h, F.transpose(lwq, 0, 1)), lbq), qlin.activationFq);
    expect(values(out), 'oracle forward = QAT forward').toEqual(values(q.call(x())));
    F.crossEntropy(out, batch.y).backward();

    // (+ 0 folds -0 into 0: a masked gradient is g * 0, which keeps g's sign)
    const grad = (t: Tensor | null) => values(t).map((v) => v + 0);
    const masked = (g: Tensor | null, mask: Uint8Array) => grad(g).map((v, i) => (mask[i] ? v : 0));
    const convGrad = grad(qconv.conv.weight.grad);
    expect(convGrad).toEqual(masked(wq.grad, wRef.mask));
    expect(convGrad.some((v) => v !== 0)).toBe(true);
    expect(grad(qlin.linear.weight.grad)).toEqual(masked(lwq.grad, lwRef.mask));
    expect(grad(qconv.conv.bias!.grad)).toEqual(grad(bq.grad));
    expect(grad(qlin.linear.bias!.grad)).toEqual(grad(lbq.grad));
    // the check can fail: some clipped weight would get a non-zero gradient without the mask
    const unmasked = grad(wq.grad);
    expect(Array.from(wRef.mask).some((m, i) => !m && unmasked[i] !== 0)).toBe(true);
  });

  for (const batchNorm of [false, true]) {
    it(`mnistCnn${batchNorm ? '({ batchNorm: true })' : '()'}: after one QAT backward every conv/linear weight has a finite, non-zero gradient`, () => {
      const model = mnistCnn({ channels: 4, batchNorm, generator: new Generator(4) });
      const q = prepareQAT(model, { default: qconfig() });
      const [b] = randomBatches(1, 4, [1, 28, 28], 9);
      q.train();
      q.zeroGrad();
      F.crossEntropy(q.call(fromArray(b.x, b.xShape)), b.y).backward();
      for (const [name, p] of model.namedParameters()) {
        const g = values(p.grad);
        expect(g.every(Number.isFinite), name).toBe(true);
        if (name.endsWith('weight')) expect(g.some((v) => v !== 0), `${name} gradient is all zero`).toBe(true);
      }
    });
  }
});

