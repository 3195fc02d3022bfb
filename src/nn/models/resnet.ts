/**
 * A small ResNet for MNIST (He et al. 2016, "Deep Residual Learning", the basic block of §3-4):
 *
 *   stem     conv3x3(1 -> c) BN ReLU, maxpool 2                      28x28 -> 14x14
 *   block 1  [conv3x3 BN ReLU conv3x3 BN] + x, ReLU                   c,  14x14
 *   block 2  the same with stride 2 and 2c channels; the skip is a 1x1 conv (stride 2) + BN
 *   block 3  like block 1, at 2c                                       2c, 7x7
 *   head     global average pool, linear(2c -> 10)
 *
 * The skip add and the global pool are written with qf (src/nn/graph/functional.ts), so the
 * forward traces into a graph that prepareQAT and convert can quantize; eagerly they are the
 * ordinary autograd ops.
 */
import { Tensor } from '../../tensor/tensor.js';
import type { Generator } from '../../tensor/random.js';
import { Module } from '../module.js';
import { BatchNorm2d, Conv2d, Linear, MaxPool2d, ReLU, Sequential } from '../layers.js';
import * as qf from '../graph/functional.js';

export class BasicBlock extends Module {
  readonly conv1: Conv2d;
  readonly bn1: BatchNorm2d;
  readonly relu1: ReLU;
  readonly conv2: Conv2d;
  readonly bn2: BatchNorm2d;
  readonly downsample: Sequential | null;
  readonly relu2: ReLU;
  constructor(inChannels: number, outChannels: number, stride = 1, generator?: Generator) {
    super();
    const g = generator;
    this.conv1 = this.module('conv1', new Conv2d(inChannels, outChannels, 3, { stride, padding: 1, bias: false, generator: g }));
    this.bn1 = this.module('bn1', new BatchNorm2d(outChannels));
    this.relu1 = this.module('relu1', new ReLU());
    this.conv2 = this.module('conv2', new Conv2d(outChannels, outChannels, 3, { padding: 1, bias: false, generator: g }));
    this.bn2 = this.module('bn2', new BatchNorm2d(outChannels));
    this.downsample = stride !== 1 || inChannels !== outChannels
      ? this.module('downsample', new Sequential(new Conv2d(inChannels, outChannels, 1, { stride, bias: false, generator: g }), new BatchNorm2d(outChannels)))
      : null;
    this.relu2 = this.module('relu2', new ReLU());
  }
  forward(x: Tensor): Tensor {
    const out = this.bn2.call(this.conv2.call(this.relu1.call(this.bn1.call(this.conv1.call(x)))));
    const skip = this.downsample ? this.downsample.call(x) : x;
    return this.relu2.call(qf.add(out, skip));
  }
}

export interface MnistResNetOptions {
  /** Channels of the stem and first block (the later blocks use twice as many); default 16. */
  channels?: number;
  generator?: Generator;
}

export class MnistResNet extends Module {
  readonly stem: Sequential;
  readonly layer1: BasicBlock;
  readonly layer2: BasicBlock;
  readonly layer3: BasicBlock;
  readonly fc: Linear;
  constructor(opts: MnistResNetOptions = {}) {
    super();
    const c = opts.channels ?? 16, g = opts.generator;
    this.stem = this.module('stem', new Sequential(new Conv2d(1, c, 3, { padding: 1, bias: false, generator: g }), new BatchNorm2d(c), new ReLU(), new MaxPool2d(2)));
    this.layer1 = this.module('layer1', new BasicBlock(c, c, 1, g));
    this.layer2 = this.module('layer2', new BasicBlock(c, 2 * c, 2, g));
    this.layer3 = this.module('layer3', new BasicBlock(2 * c, 2 * c, 1, g));
    this.fc = this.module('fc', new Linear(2 * c, 10, { generator: g }));
  }
  forward(x: Tensor): Tensor {
    const h = this.layer3.call(this.layer2.call(this.layer1.call(this.stem.call(x))));
    return this.fc.call(qf.globalAvgPool(h));
  }
}

export function mnistResNet(opts: MnistResNetOptions = {}): MnistResNet {
  return new MnistResNet(opts);
}
