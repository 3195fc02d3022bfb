/**
 * Weight initialisation (torch.nn.init). fan_in/fan_out count the inputs/outputs of one unit:
 * for a conv weight [O, C/g, KH, KW], fan_in = C/g·KH·KW and fan_out = O·KH·KW.
 * Kaiming (He et al. 2015): std = gain / sqrt(fan), gain = sqrt(2 / (1 + a²)) for leaky relu slope a.
 * Xavier (Glorot & Bengio 2010): std = gain · sqrt(2 / (fan_in + fan_out)).
 * A uniform distribution U(-b, b) has std b/√3, hence the √3 in the bounds.
 * PyTorch's default for Linear and Conv2d weights is kaiming_uniform_(a = √5), which gives
 * U(-1/√fan_in, 1/√fan_in); biases are U(-1/√fan_in, 1/√fan_in).
 */
import { rand, randn } from '../tensor/creation.js';
import type { Generator } from '../tensor/random.js';
import type { Tensor } from '../tensor/tensor.js';
import { noGrad } from '../autograd/grad-mode.js';

export function fans(shape: readonly number[]): { fanIn: number; fanOut: number } {
  if (shape.length < 2) throw new Error(`fan in/out need at least a 2-D weight, got rank ${shape.length}`);
  const receptive = shape.slice(2).reduce((a, b) => a * b, 1);
  return { fanIn: shape[1] * receptive, fanOut: shape[0] * receptive };
}

export type Nonlinearity = 'linear' | 'relu' | 'leaky_relu' | 'tanh' | 'sigmoid';

export function calculateGain(nl: Nonlinearity, param = 0.01): number {
  switch (nl) {
    case 'linear':
    case 'sigmoid':
      return 1;
    case 'relu':
      return Math.SQRT2;
    case 'tanh':
      return 5 / 3;
    case 'leaky_relu':
      return Math.sqrt(2 / (1 + param * param));
  }
}

export interface InitOptions {
  mode?: 'fanIn' | 'fanOut';
  nonlinearity?: Nonlinearity;
  a?: number;
  generator?: Generator;
}

function fill(t: Tensor, sample: Tensor): Tensor {
  return noGrad(() => t.assign_(sample.to({ dtype: t.dtype, device: t.device })));
}

export function uniform_(t: Tensor, low: number, high: number, generator?: Generator): Tensor {
  return fill(t, rand(t.shape, { low, high, generator }));
}

export function normal_(t: Tensor, mean: number, std: number, generator?: Generator): Tensor {
  return fill(t, randn(t.shape, { mean, std, generator }));
}

function kaimingStd(t: Tensor, o: InitOptions): number {
  const { fanIn, fanOut } = fans(t.shape);
  const fan = (o.mode ?? 'fanIn') === 'fanIn' ? fanIn : fanOut;
  const gain = calculateGain(o.nonlinearity ?? 'leaky_relu', o.a ?? 0);
  return gain / Math.sqrt(fan);
}

export function kaimingUniform_(t: Tensor, o: InitOptions = {}): Tensor {
  const b = Math.sqrt(3) * kaimingStd(t, o);
  return uniform_(t, -b, b, o.generator);
}

export function kaimingNormal_(t: Tensor, o: InitOptions = {}): Tensor {
  return normal_(t, 0, kaimingStd(t, o), o.generator);
}

export function xavierUniform_(t: Tensor, gain = 1, generator?: Generator): Tensor {
  const { fanIn, fanOut } = fans(t.shape);
  const b = gain * Math.sqrt(6 / (fanIn + fanOut));
  return uniform_(t, -b, b, generator);
}

export function xavierNormal_(t: Tensor, gain = 1, generator?: Generator): Tensor {
  const { fanIn, fanOut } = fans(t.shape);
  return normal_(t, 0, gain * Math.sqrt(2 / (fanIn + fanOut)), generator);
}
