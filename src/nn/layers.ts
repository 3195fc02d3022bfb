/**
 * The standard layers. Each is a thin Module over the functional ops, with PyTorch's parameter
 * shapes, defaults and initialisation, so state dicts and hyper-parameters carry over.
 */
import { Tensor } from '../tensor/tensor.js';
import { fromArray, ones, zeros } from '../tensor/creation.js';
import { Generator, globalGenerator } from '../tensor/random.js';
import { shapeStr } from '../tensor/shape.js';
import * as F from '../autograd/functional.js';
import { noGrad } from '../autograd/grad-mode.js';
import { BatchNormTrain, type BatchStats } from '../autograd/ops/batchnorm.js';
import { Module } from './module.js';
import { activeTracer } from './graph/context.js';
import { fans, kaimingUniform_, uniform_ } from './init.js';

type Pair = number | [number, number];

export interface LayerOptions {
  bias?: boolean;
  generator?: Generator;
}

/** y = x Wᵀ + b, W: [out, in]. */
export class Linear extends Module {
  readonly weight: Tensor;
  readonly bias: Tensor | null;
  constructor(readonly inFeatures: number, readonly outFeatures: number, opts: LayerOptions = {}) {
    super();
    this.weight = this.param('weight', zeros([outFeatures, inFeatures]));
    kaimingUniform_(this.weight, { a: Math.sqrt(5), generator: opts.generator });
    const b = 1 / Math.sqrt(inFeatures);
    this.bias = this.param('bias', opts.bias === false ? null : uniform_(zeros([outFeatures]), -b, b, opts.generator));
  }
  forward(x: Tensor): Tensor {
    if (x.shape[x.ndim - 1] !== this.inFeatures) {
      throw new Error(`Linear(${this.inFeatures}, ${this.outFeatures}): input has ${x.shape[x.ndim - 1]} features (shape ${shapeStr(x.shape)})`);
    }
    const y = F.matmul(x, F.transpose(this.weight, 0, 1));
    return this.bias ? F.add(y, this.bias) : y;
  }
  protected override extraRepr(): string {
    return `(${this.inFeatures} -> ${this.outFeatures}${this.bias ? '' : ', bias=false'})`;
  }
}

export interface Conv2dLayerOptions extends LayerOptions {
  stride?: Pair;
  padding?: Pair;
  dilation?: Pair;
  groups?: number;
}

/** 2-D convolution, weight [out, in/groups, KH, KW]. */
export class Conv2d extends Module {
  readonly weight: Tensor;
  readonly bias: Tensor | null;
  readonly opts: F.Conv2dOptions;
  constructor(readonly inChannels: number, readonly outChannels: number, kernelSize: Pair, opts: Conv2dLayerOptions = {}) {
    super();
    const [kh, kw] = typeof kernelSize === 'number' ? [kernelSize, kernelSize] : kernelSize;
    const groups = opts.groups ?? 1;
    if (inChannels % groups || outChannels % groups) throw new Error(`Conv2d: channels ${inChannels} -> ${outChannels} must be divisible by groups ${groups}`);
    this.opts = { stride: opts.stride ?? 1, padding: opts.padding ?? 0, dilation: opts.dilation ?? 1, groups };
    this.weight = this.param('weight', zeros([outChannels, inChannels / groups, kh, kw]));
    kaimingUniform_(this.weight, { a: Math.sqrt(5), generator: opts.generator });
    const b = 1 / Math.sqrt(fans(this.weight.shape).fanIn);
    this.bias = this.param('bias', opts.bias === false ? null : uniform_(zeros([outChannels]), -b, b, opts.generator));
  }
  forward(x: Tensor): Tensor {
    return F.conv2d(x, this.weight, this.bias, this.opts);
  }
  protected override extraRepr(): string {
    return `(${this.inChannels} -> ${this.outChannels}, kernel ${shapeStr(this.weight.shape.slice(2))})`;
  }
}

/**
 * Batch normalisation (Ioffe & Szegedy 2015) over the channel dim 1 of [N, C] or [N, C, H, W].
 * Training: normalise with the batch mean and biased variance; update running stats with the
 * unbiased variance: running = (1 - momentum)·running + momentum·batch (PyTorch's convention).
 * Eval: normalise with the running statistics.
 */
export class BatchNorm extends Module {
  readonly weight: Tensor | null;
  readonly bias: Tensor | null;
  readonly runningMean: Tensor;
  readonly runningVar: Tensor;
  readonly numBatchesTracked: Tensor;
  constructor(readonly numFeatures: number, readonly eps = 1e-5, readonly momentum = 0.1, affine = true) {
    super();
    this.weight = this.param('weight', affine ? ones([numFeatures]) : null);
    this.bias = this.param('bias', affine ? zeros([numFeatures]) : null);
    this.runningMean = this.buffer('running_mean', zeros([numFeatures]))!;
    this.runningVar = this.buffer('running_var', ones([numFeatures]))!;
    this.numBatchesTracked = this.buffer('num_batches_tracked', zeros([1]))!;
  }

  protected expectRank(x: Tensor): void {
    if (x.shape[1] !== this.numFeatures) throw new Error(`${this.constructor.name}(${this.numFeatures}): input has ${x.shape[1]} channels (shape ${shapeStr(x.shape)})`);
  }

  forward(x: Tensor): Tensor {
    this.expectRank(x);
    const bshape = x.shape.map((d, i) => (i === 1 ? d : 1));
    if (this.training) {
      const n = x.size / this.numFeatures;
      if (n < 2) throw new Error(`${this.constructor.name}: expected more than 1 value per channel when training, got input ${shapeStr(x.shape)}`);
      const stats: BatchStats = {};
      const y = BatchNormTrain.apply(x, this.weight, this.bias, this.eps, stats);
      noGrad(() => {
        const m = this.momentum;
        // Statistics stay in the buffers' dtype whatever the input's (PyTorch keeps them too);
        // the running variance is the unbiased one, as in PyTorch.
        const dt = this.runningMean.dtype;
        const bm = stats.mean!.to(dt);
        const bv = stats.variance!.mul(n / (n - 1)).to(dt);
        this.runningMean.assign_(this.runningMean.mul(1 - m).add(bm.mul(m)));
        this.runningVar.assign_(this.runningVar.mul(1 - m).add(bv.mul(m)));
        this.numBatchesTracked.assign_(this.numBatchesTracked.add(1));
      });
      return y;
    }
    // Eval: an affine map per channel, y = x·s + t with s = γ/√(var + ε), t = β − μ·s.
    let scale = F.div(1, F.sqrt(F.add(this.runningVar, this.eps)));
    if (this.weight) scale = F.mul(scale, this.weight);
    let shift = F.neg(F.mul(this.runningMean, scale));
    if (this.bias) shift = F.add(shift, this.bias);
    return F.add(F.mul(x, F.reshape(scale, bshape)), F.reshape(shift, bshape));
  }
}

export class BatchNorm1d extends BatchNorm {
  protected override expectRank(x: Tensor): void {
    if (x.ndim !== 2) throw new Error(`BatchNorm1d: expected [N, C] input, got ${shapeStr(x.shape)}`);
    super.expectRank(x);
  }
}

export class BatchNorm2d extends BatchNorm {
  protected override expectRank(x: Tensor): void {
    if (x.ndim !== 4) throw new Error(`BatchNorm2d: expected [N, C, H, W] input, got ${shapeStr(x.shape)}`);
    super.expectRank(x);
  }
}

export class ReLU extends Module {
  forward(x: Tensor): Tensor {
    return F.relu(x);
  }
}

export class MaxPool2d extends Module {
  constructor(readonly kernelSize: Pair, readonly opts: F.Pool2dOptions = {}) {
    super();
  }
  forward(x: Tensor): Tensor {
    return F.maxPool2d(x, this.kernelSize, this.opts);
  }
  /** 2 x 2 windows, stride 2, no padding, no dilation: MaxPool2d(2), what Sequential fuses with a ReLU (and a convolution) before it. */
  isPool2x2(): boolean {
    const is = (v: Pair | undefined, want: number) => (v === undefined || typeof v === 'number' ? [v, v] : v).every((e) => (e ?? want) === want);
    return this.kernelSize !== undefined && is(this.kernelSize, 2) && is(this.opts.stride, 2) && is(this.opts.padding, 0) && is(this.opts.dilation, 1);
  }
}

export class AvgPool2d extends Module {
  constructor(readonly kernelSize: Pair, readonly opts: Omit<F.Pool2dOptions, 'dilation'> = {}) {
    super();
  }
  forward(x: Tensor): Tensor {
    return F.avgPool2d(x, this.kernelSize, this.opts);
  }
}

export class Flatten extends Module {
  constructor(readonly startDim = 1, readonly endDim = -1) {
    super();
  }
  forward(x: Tensor): Tensor {
    return F.flatten(x, this.startDim, this.endDim);
  }
}

/** Inverted dropout: zero with probability p in training and scale survivors by 1/(1-p); identity in eval. */
export class Dropout extends Module {
  constructor(readonly p = 0.5, readonly generator: Generator = globalGenerator) {
    super();
    if (!(p >= 0 && p < 1)) throw new Error(`Dropout: p must be in [0, 1), got ${p}`);
  }
  forward(x: Tensor): Tensor {
    if (!this.training || this.p === 0) return x;
    const keep = 1 / (1 - this.p);
    // The mask in x's precision: a float32 mask would round 1/(1-p) for float64 inputs.
    const mask = x.dtype === 'float64' ? new Float64Array(x.size) : new Float32Array(x.size);
    for (let i = 0; i < mask.length; i++) mask[i] = this.generator.uniform() >= this.p ? keep : 0;
    return F.mul(x, fromArray(mask, x.shape, { dtype: x.dtype, device: x.device }));
  }
}

export class Identity extends Module {
  forward(x: Tensor): Tensor {
    return x;
  }
}

export class Sequential extends Module {
  constructor(...layers: Module[]) {
    super();
    layers.forEach((l, i) => this.module(String(i), l));
  }
  /**
   * Runs the children in order. A Conv2d (with a bias) directly followed by a ReLU, both exactly
   * these classes, runs as one F.conv2dRelu: the same values and gradients as the two calls, and
   * a backend with the fused primitive adds the bias and applies relu in the convolution's
   * epilogue (no pass over the activations for either). When a MaxPool2d(2) (2 x 2, stride 2, no
   * padding or dilation) follows them, the three run as one F.conv2dReluPool, which pools the
   * product before it leaves the backend's memory; any other ReLU directly followed by a
   * MaxPool2d(2) (after a BatchNorm2d, say) runs as one F.reluMaxPool2d. Not while a tracer
   * records module calls: a traced graph keeps every node (quantization passes act on them).
   */
  forward(x: Tensor): Tensor {
    const children = this.namedChildren();
    const fuse = !activeTracer();
    for (let i = 0; i < children.length; i++) {
      const m = children[i][1], next = children[i + 1]?.[1];
      if (fuse && m.constructor === Conv2d && next?.constructor === ReLU && (m as Conv2d).bias) {
        const c = m as Conv2d, pool = children[i + 2]?.[1];
        if (pool?.constructor === MaxPool2d && (pool as MaxPool2d).isPool2x2()) {
          x = F.conv2dReluPool(x, c.weight, c.bias!, c.opts);
          i += 2;
        } else {
          x = F.conv2dRelu(x, c.weight, c.bias!, c.opts);
          i++;
        }
      } else if (fuse && m.constructor === ReLU && next?.constructor === MaxPool2d && (next as MaxPool2d).isPool2x2()) {
        x = F.reluMaxPool2d(x);
        i++;
      } else x = m.call(x);
    }
    return x;
  }
  get length(): number {
    return this.namedChildren().length;
  }
  at(i: number): Module {
    const c = this.namedChildren()[i];
    if (!c) throw new Error(`Sequential: index ${i} out of range (length ${this.length})`);
    return c[1];
  }
}
