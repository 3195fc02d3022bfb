/**
 * Quantization-aware modules: each wraps a float layer and inserts FakeQuantize where an integer
 * inference engine quantizes (seed document 004's QConv2d; Jacob et al. 2018 §3):
 *
 *   QuantStub     fake-quantizes the network input (the engine's only float→int step)
 *   QConv2d       y = afq( [relu]( conv(x, wfq(w)) + bfq(b) ) )
 *   QLinear       the same with a matrix product
 *   QConvBn2d     conv followed by batch norm, with the fold simulated in training (PyTorch's
 *                 ConvBn2d, Jacob et al. 2018 §3.2): w_fold = w·γ/σ is fake-quantized, the
 *                 conv output is divided by γ/σ again and batch-normalised with batch statistics;
 *                 once frozen, it runs the folded form conv(x, wfq(w_fold)) + b_fold exactly as
 *                 the converted integer model will.
 *
 * Pooling, flatten and a ReLU that follows a fake-quantized value keep values on the same grid,
 * so they need no FakeQuantize of their own (max and relu commute with a monotone quantizer).
 * The bias is fake-quantized to int32 with scale s_in·s_w (zero point 0), the bias the integer
 * model uses, so the fake-quant model and the converted model differ only by requantization;
 * in evaluation even that is simulated (requant-sim.ts), so the two agree level for level.
 */
import { Tensor } from '../../tensor/tensor.js';
import { fromArray } from '../../tensor/creation.js';
import * as F from '../../autograd/functional.js';
import { Module } from '../../nn/module.js';
import type { BatchNorm2d, Conv2d, Linear } from '../../nn/layers.js';
import { FakeQuantize } from '../fake-quantize-module.js';
import { fakeQuantizeTensor } from '../fake-quantize.js';
import type { LayerQConfig } from './config.js';
import { INT32_MAX, INT32_MIN } from '../numerics/int-limits.js';
import { simulateRequant } from './requant-sim.js';
import { CodedWeightQuantize } from '../coded-weight-quantize.js';


/** Fake-quantizes a bias to int32 levels with scale s_in·s_w[o] (per output channel). */
function biasFakeQuant(bias: Tensor, inFq: FakeQuantize, wFq: FakeQuantize): Tensor {
  const sIn = inFq.computeQParams().scale[0];
  const w = wFq.computeQParams();
  const O = bias.shape[0];
  const scale = new Float32Array(O);
  for (let o = 0; o < O; o++) scale[o] = Math.fround(sIn * w.scale[w.scale.length === 1 ? 0 : o]);
  return fakeQuantizeTensor(bias, { scale, zeroPoint: new Int32Array(O), qmin: INT32_MIN, qmax: INT32_MAX, axis: 0 });
}

/** Quantizes the network input; the first link of the chain of activation quantizers. */
export class QuantStub extends Module {
  readonly activationFq: FakeQuantize;
  constructor(cfg: LayerQConfig) {
    super();
    // The input can be negative (normalised pixels): unsigned affine handles it with a zero point.
    this.activationFq = this.module('activation_fq', new FakeQuantize(cfg.activation));
  }
  forward(x: Tensor): Tensor {
    return this.activationFq.call(x);
  }
}

/** Shared by QConv2d and QLinear: weight/activation fake quantizers and the input's quantizer. */
abstract class QLayer extends Module {
  readonly weightFq: FakeQuantize;
  readonly activationFq: FakeQuantize;
  constructor(readonly cfg: LayerQConfig, readonly inputFq: FakeQuantize, readonly relu: boolean) {
    super();
    this.weightFq = this.module('weight_fq', cfg.weightCode ? new CodedWeightQuantize(cfg.weightCode, cfg.weight) : new FakeQuantize(cfg.weight));
    this.activationFq = this.module('activation_fq', new FakeQuantize(cfg.activation));
  }
  protected quantBias(b: Tensor | null): Tensor | null {
    return b && this.cfg.quantizeBias && this.inputFq.fakeQuantEnabled && this.weightFq.fakeQuantEnabled ? biasFakeQuant(b, this.inputFq, this.weightFq) : b;
  }
  /**
   * The activation quantizer after the optional ReLU. In evaluation, when every quantizer is on
   * (and the bias, if any, is on the int32 grid), the output is rounded the way the integer
   * engine's fixed-point multiplier rounds it (requant-sim.ts), so that the fake-quant model
   * predicts exactly what the converted model will; training keeps the float path (STE).
   */
  protected finish(y: Tensor, hasBias = false): Tensor {
    const simulate = !this.training && this.simulatesIntegerRequant(hasBias);
    // the float path still runs when the observer must see the output (its range may change)
    const out = !simulate || this.activationFq.observerEnabled ? this.activationFq.call(this.relu ? F.relu(y) : y) : null;
    if (simulate) {
      const a = this.activationFq.computeQParams();
      if (a.scale.length === 1) {
        const zOut = a.zeroPoint[0];
        return simulateRequant(y, {
          sIn: this.inputFq.computeQParams().scale[0], wScale: this.weightFq.computeQParams().scale, sOut: a.scale[0], zOut,
          qmin: this.relu ? Math.max(this.activationFq.qmin, zOut) : this.activationFq.qmin, qmax: this.activationFq.qmax,
        });
      }
    }
    return out ?? this.activationFq.call(this.relu ? F.relu(y) : y);
  }

  /** Integer-faithful evaluation applies: option on, every quantizer on, bias on the int32 grid. */
  private simulatesIntegerRequant(hasBias: boolean): boolean {
    return this.cfg.simulateRequant !== false && this.inputFq.fakeQuantEnabled && this.weightFq.fakeQuantEnabled && this.activationFq.fakeQuantEnabled &&
      (!hasBias || this.cfg.quantizeBias) && (this.inputFq.config.channelAxis ?? null) === null;
  }
}

export class QConv2d extends QLayer {
  constructor(readonly conv: Conv2d, cfg: LayerQConfig, inputFq: FakeQuantize, relu = false) {
    super(cfg, inputFq, relu);
    this.module('conv', conv);
  }
  forward(x: Tensor): Tensor {
    const w = this.weightFq.call(this.conv.weight);
    return this.finish(F.conv2d(x, w, this.quantBias(this.conv.bias), this.conv.opts), this.conv.bias !== null);
  }
}

export class QLinear extends QLayer {
  constructor(readonly linear: Linear, cfg: LayerQConfig, inputFq: FakeQuantize, relu = false) {
    super(cfg, inputFq, relu);
    this.module('linear', linear);
  }
  forward(x: Tensor): Tensor {
    const w = this.weightFq.call(this.linear.weight);
    const y = F.matmul(x, F.transpose(w, 0, 1));
    const b = this.quantBias(this.linear.bias);
    return this.finish(b ? F.add(y, b) : y, b !== null);
  }
}

export class QConvBn2d extends QLayer {
  /** Once true, batch statistics are no longer used or updated: training runs the folded form. */
  bnFrozen = false;
  constructor(readonly conv: Conv2d, readonly bn: BatchNorm2d, cfg: LayerQConfig, inputFq: FakeQuantize, relu = false) {
    super(cfg, inputFq, relu);
    this.module('conv', conv);
    this.module('bn', bn);
  }

  protected override extraState(): [string, Tensor][] {
    return [['bn_frozen', fromArray(Int32Array.of(this.bnFrozen ? 1 : 0), [1], { dtype: 'int32' })]];
  }

  protected override loadExtraState(state: Map<string, Tensor>): () => void {
    const v = state.get('bn_frozen')!.toTypedArray();
    if (v.length !== 1 || (v[0] !== 0 && v[0] !== 1)) throw new Error("'bn_frozen' must be one 0 or 1");
    return () => {
      this.bnFrozen = v[0] === 1;
    };
  }

  /** γ/σ per output channel, with σ from the running variance (PyTorch's ConvBn2d). */
  private scaleFactor(): Tensor {
    const std = F.sqrt(F.add(this.bn.runningVar, this.bn.eps));
    return this.bn.weight ? F.div(this.bn.weight, std) : F.div(1, std);
  }

  /** The folded weight and bias: w·γ/σ and (b − μ)·γ/σ + β. */
  folded(): { weight: Tensor; bias: Tensor } {
    const sf = this.scaleFactor();
    const O = this.conv.outChannels;
    const weight = F.mul(this.conv.weight, F.reshape(sf, [O, 1, 1, 1]));
    const b0 = this.conv.bias ?? F.mul(this.bn.runningMean, 0);
    let bias = F.mul(F.sub(b0, this.bn.runningMean), sf);
    if (this.bn.bias) bias = F.add(bias, this.bn.bias);
    return { weight, bias };
  }

  forward(x: Tensor): Tensor {
    const O = this.conv.outChannels;
    if (!this.training || this.bnFrozen) {
      const { weight, bias } = this.folded();
      const w = this.weightFq.call(weight);
      return this.finish(F.conv2d(x, w, this.quantBias(bias), this.conv.opts), true);
    }
    const sf = this.scaleFactor();
    const w = this.weightFq.call(F.mul(this.conv.weight, F.reshape(sf, [O, 1, 1, 1])));
    let y = F.conv2d(x, w, null, this.conv.opts);
    y = F.div(y, F.reshape(sf, [1, O, 1, 1]));
    if (this.conv.bias) y = F.add(y, F.reshape(this.conv.bias, [1, O, 1, 1]));
    return this.finish(this.bn.call(y));
  }
}
