/**
 * The FakeQuantize module: its two switches (observe, fake-quant) in all four states, as the docs
 * describe them; the error for fake quantization without qparams; state(); and learnable (LSQ)
 * mode, which takes its initial scale and zero point from the observer and then trains them.
 * Outputs are compared with the reference numerics (fakeQuantize, computeQParams).
 */
import { describe, expect, it } from 'vitest';
import { Adam, fromArray, type Tensor } from '../../src/index.js';
import {
  computeQParams,
  computeQParamsPerChannel,
  FakeQuantize,
  fakeQuantize,
  type FakeQuantConfig,
  type QuantRange,
} from '../../src/quant/index.js';
import { expectSameBits, gaussian, prng } from './helpers.js';

const ACT: FakeQuantConfig = { bits: 8, signed: false, scheme: 'affine', observer: 'minmax' };
const U8: QuantRange = { qmin: 0, qmax: 255, scheme: 'affine' };
const t1 = (xs: number[]): Tensor => fromArray(Float32Array.from(xs), [xs.length]);

function refFq(xs: number[], min: number, max: number): Float32Array {
  const p = computeQParams(min, max, U8);
  return fakeQuantize(xs, { ...p, qmin: 0, qmax: 255 }).y;
}

describe('FakeQuantize switches', () => {
  it('observe on, fake-quant on: the range is updated from the batch and the output is fake-quantized with it', () => {
    const fq = new FakeQuantize(ACT);
    expect([fq.observerEnabled, fq.fakeQuantEnabled]).toEqual([true, true]);
    const xs = [-1, 0.5, 2, 3.3, 0.01];
    expectSameBits(fq.call(t1(xs)).toTypedArray(), refFq(xs, -1, 3.3));
    const want = computeQParams(-1, 3.3, U8);
    expect([fq.qparams!.scale[0], fq.qparams!.zeroPoint[0]]).toEqual([want.scale, want.zeroPoint]);
    expect(fq.state()).toMatch(/observer on, fake-quant on/);
    expect(fq.state()).toContain(`zp ${want.zeroPoint}`);
  });

  it('observe on, fake-quant off (calibration): output is the input unchanged, qparams follow the data', () => {
    const fq = new FakeQuantize(ACT).enableFakeQuant(false);
    const xs = [-4, 0.123456, 5];
    const x = t1(xs);
    const y = fq.call(x);
    expectSameBits(y.toTypedArray(), Float32Array.from(xs));
    const want = computeQParams(-4, 5, U8);
    expect([fq.qparams!.scale[0], fq.qparams!.zeroPoint[0]]).toEqual([want.scale, want.zeroPoint]);
    expect(fq.state()).toMatch(/observer on, fake-quant off/);
  });

  it('observe off, fake-quant on (frozen QAT / evaluation): qparams stay, output uses them', () => {
    const fq = new FakeQuantize(ACT);
    fq.call(t1([-4, 5]));
    const frozen = JSON.stringify(fq.qparams);
    fq.enableObserver(false);
    const xs = [-100, -1, 0.3, 4.9, 100];
    expectSameBits(fq.call(t1(xs)).toTypedArray(), refFq(xs, -4, 5));
    expect(JSON.stringify(fq.qparams)).toBe(frozen);
    expect(fq.state()).toMatch(/observer off, fake-quant on/);
  });

  it('observe off, fake-quant off: identity, nothing learned', () => {
    const fq = new FakeQuantize(ACT);
    fq.call(t1([-4, 5]));
    const frozen = JSON.stringify(fq.qparams);
    fq.enableObserver(false).enableFakeQuant(false);
    const xs = [-100, 0.3, 100];
    expectSameBits(fq.call(t1(xs)).toTypedArray(), Float32Array.from(xs));
    expect(JSON.stringify(fq.qparams)).toBe(frozen);
    expect(fq.state()).toMatch(/observer off, fake-quant off/);
  });

  it('fake-quant on with no qparams (observer never ran) is a clear error; state() says so', () => {
    const fq = new FakeQuantize(ACT).enableObserver(false);
    expect(fq.state()).toMatch(/no qparams yet/);
    expect(() => fq.call(t1([1, 2]))).toThrow(/no quantization parameters/);
    // with fake quant off there is nothing to apply: identity, no error
    fq.enableFakeQuant(false);
    expect(Array.from(fq.call(t1([1, 2])).toTypedArray())).toEqual([1, 2]);
  });

  it('per-channel weights: qparams are computeQParamsPerChannel of each output channel, the STE passes the gradient', () => {
    const fq = new FakeQuantize({ bits: 4, signed: true, scheme: 'symmetric', channelAxis: 0, observer: 'minmax' });
    const w = [0.5, -0.25, 0.1, 3, -1, 2, -0.01, 0.02, 0];
    const x = fromArray(Float32Array.from(w), [3, 3], { requiresGrad: true });
    const y = fq.call(x);
    const p = computeQParamsPerChannel([-0.25, -1, -0.01], [0.5, 3, 0.02], { qmin: -8, qmax: 7, scheme: 'symmetric' });
    const ref = fakeQuantize(w, { scale: p.scale, zeroPoint: p.zeroPoint, qmin: -8, qmax: 7, axis: 0, shape: [3, 3] });
    expectSameBits(y.toTypedArray(), ref.y);
    expect(fq.state()).toMatch(/3 channels/);
    y.sum().backward();
    expect(Array.from((x.grad as Tensor).toTypedArray())).toEqual(Array.from(ref.mask));
    // PyTorch's symmetric scale amax / 7.5 can put a positive channel maximum on level 7.5 (here in
    // channels 1 and 2), which rounds to 8 > qmax: it is clamped and its STE gradient is 0.
    expect(Array.from(ref.mask)).toEqual([1, 1, 1, 0, 1, 1, 1, 0, 1]);
  });
});

describe('FakeQuantize learnable (LSQ) mode', () => {
  const LEARN: FakeQuantConfig = { ...ACT, learnable: true };

  it('registers scale and zero point as parameters and initialises them from the observer', () => {
    const fq = new FakeQuantize(LEARN);
    expect(fq.namedParameters().map(([n]) => n).sort()).toEqual(['scale', 'zero_point']);
    const xs = [-1, 0.5, 2, 3.3];
    const y = fq.call(t1(xs));
    const want = computeQParams(-1, 3.3, U8);
    expect(fq.learnedScale!.item()).toBe(want.scale);
    expect(fq.learnedZeroPoint!.item()).toBe(want.zeroPoint);
    expectSameBits(y.toTypedArray(), refFq(xs, -1, 3.3));
    expect(fq.state()).toMatch(/learnable/);
  });

  it('with the observer off, the scale receives a gradient and training moves it to a better clipping range', () => {
    const fq = new FakeQuantize({ ...LEARN, bits: 4 });
    // initialise from a batch with an outlier: a range far too wide for the data that follows
    fq.call(t1([0, 50]));
    const s0 = fq.learnedScale!.item();
    fq.enableObserver(false);
    const g = gaussian(prng(5));
    const data = Float32Array.from({ length: 512 }, () => Math.abs(g()));
    const x = fromArray(data, [512]);
    const lossOf = (): Tensor => fq.call(x).sub(x).square().mean();
    const opt = new Adam(fq.parameters(), { lr: 0.1 * s0 });
    const first = lossOf();
    const before = first.item();
    opt.zeroGrad();
    first.backward();
    const grad = fq.learnedScale!.grad as Tensor;
    expect(Number.isFinite(grad.item()) && grad.item() !== 0, `scale gradient ${grad.item()}`).toBe(true);
    opt.step();
    expect(fq.learnedScale!.item()).not.toBe(s0);
    for (let i = 0; i < 40; i++) {
      opt.zeroGrad();
      lossOf().backward();
      opt.step();
    }
    const after = lossOf().item();
    expect(fq.learnedScale!.item()).toBeLessThan(s0);
    expect(after, `loss ${before} -> ${after}`).toBeLessThan(0.5 * before);
    // the forward uses the trained parameters, exactly as computeQParams reports them
    const p = fq.computeQParams();
    expectSameBits(fq.call(x).toTypedArray(), fakeQuantize(data, { scale: p.scale[0], zeroPoint: p.zeroPoint[0], qmin: 0, qmax: 15 }).y);
  });

  it('computeQParams reports the zero point the forward uses (a learned 2.5 rounds as the forward rounds it)', () => {
    const fq = new FakeQuantize(LEARN);
    fq.call(t1([0, 1]));
    fq.enableObserver(false);
    fq.learnedScale!.assign_(fromArray([1], [1]));
    fq.learnedZeroPoint!.assign_(fromArray([2.5], [1]));
    // x = -2.6 clamps to the lower edge: y = (qmin - zp) * s = -zp
    const y = fq.call(t1([-2.6])).item();
    expect(fq.computeQParams().zeroPoint[0]).toBe(-y);
    expect(fq.computeQParams().zeroPoint[0]).toBe(2); // ties to even, the default rounding
  });

  it('fake-quant on with the observer off and nothing ever observed is a clear error, not a scale of 1e-8', () => {
    const fq = new FakeQuantize(LEARN).enableObserver(false);
    expect(() => fq.call(t1([0.5, 1]))).toThrow(/no quantization parameters/);
  });

  it('learned parameters loaded from a checkpoint are used without observing', () => {
    const fq = new FakeQuantize(LEARN).enableObserver(false);
    fq.loadStateDict({ scale: fromArray([0.5], [1]), zero_point: fromArray([3], [1]) });
    expectSameBits(fq.call(t1([-1.6, 0.2, 200])).toTypedArray(), fakeQuantize([-1.6, 0.2, 200], { scale: 0.5, zeroPoint: 3, qmin: 0, qmax: 255 }).y);
  });

  it('is per-tensor only', () => {
    expect(() => new FakeQuantize({ ...LEARN, channelAxis: 0 })).toThrow(/per-tensor/);
  });
});

