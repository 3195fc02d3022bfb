/**
 * The reference MNIST network of the seed tutorial (docs/seeds 004; PyTorch's QAT tutorial):
 * conv(1→40, k3) ReLU maxpool2, conv(40→40, k3) ReLU maxpool2, flatten, linear(5·5·40 → 10).
 * Optionally with BatchNorm2d after each convolution (the "better recipe", and what BN folding
 * and QConvBn2d act on). Built as a Sequential so quantization passes can swap layers by type.
 */
import { BatchNorm2d, Conv2d, Flatten, Linear, MaxPool2d, ReLU, Sequential } from '../layers.js';
import type { Generator } from '../../tensor/random.js';

export interface MnistCnnOptions {
  channels?: number;
  batchNorm?: boolean;
  generator?: Generator;
}

export function mnistCnn(opts: MnistCnnOptions = {}): Sequential {
  const c = opts.channels ?? 40;
  const bn = opts.batchNorm ?? false;
  const g = opts.generator;
  return new Sequential(
    new Conv2d(1, c, 3, { generator: g, bias: !bn }),
    ...(bn ? [new BatchNorm2d(c)] : []),
    new ReLU(),
    new MaxPool2d(2),
    new Conv2d(c, c, 3, { generator: g, bias: !bn }),
    ...(bn ? [new BatchNorm2d(c)] : []),
    new ReLU(),
    new MaxPool2d(2),
    new Flatten(),
    new Linear(5 * 5 * c, 10, { generator: g }),
  );
}

/** A small MLP, for quick tests and the toy example. */
export function mlp(sizes: number[], generator?: Generator): Sequential {
  const layers = [];
  for (let i = 0; i + 1 < sizes.length; i++) {
    layers.push(new Linear(sizes[i], sizes[i + 1], { generator }));
    if (i + 2 < sizes.length) layers.push(new ReLU());
  }
  return new Sequential(...layers);
}
