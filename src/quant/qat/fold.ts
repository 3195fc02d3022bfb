/**
 * Batch-norm folding for inference (seed document 000; Jacob et al. 2018 §3.2):
 *   BN(conv(x, w) + b) = conv(x, w·γ/σ) + (b − μ)·γ/σ + β,   σ = √(running_var + ε)
 * fuseConvBn replaces every Conv2d followed by BatchNorm2d in a Sequential with one Conv2d holding
 * the folded weight and bias; in eval mode the outputs agree to float rounding.
 */
import { noGrad } from '../../autograd/grad-mode.js';
import * as F from '../../autograd/functional.js';
import { BatchNorm2d, Conv2d, Sequential } from '../../nn/layers.js';
import type { Module } from '../../nn/module.js';
import type { Tensor } from '../../tensor/tensor.js';

export function foldBatchNorm(weight: Tensor, bias: Tensor | null, bn: BatchNorm2d): { weight: Tensor; bias: Tensor } {
  return noGrad(() => {
    const O = weight.shape[0];
    const std = F.sqrt(F.add(bn.runningVar, bn.eps));
    const sf = bn.weight ? F.div(bn.weight, std) : F.div(1, std);
    const w = F.contiguous(F.mul(weight, F.reshape(sf, [O, 1, 1, 1])));
    let b = F.mul(F.sub(bias ?? F.mul(bn.runningMean, 0), bn.runningMean), sf);
    if (bn.bias) b = F.add(b, bn.bias);
    return { weight: w, bias: F.contiguous(b) };
  });
}

export function fuseConvBn(model: Sequential): Sequential {
  const kids = model.namedChildren();
  const out: Module[] = [];
  for (let i = 0; i < kids.length; i++) {
    const m = kids[i][1];
    const next = kids[i + 1]?.[1];
    if (m instanceof Conv2d && next instanceof BatchNorm2d) {
      const { weight, bias } = foldBatchNorm(m.weight, m.bias, next);
      const fused = new Conv2d(m.inChannels, m.outChannels, [m.weight.shape[2], m.weight.shape[3]], {
        stride: m.opts.stride, padding: m.opts.padding, dilation: m.opts.dilation, groups: m.opts.groups,
      });
      fused.weight.assign_(weight.to({ device: m.weight.device }));
      fused.bias!.assign_(bias.to({ device: m.weight.device }));
      out.push(fused);
      i++;
    } else out.push(m);
  }
  const s = new Sequential(...out);
  s.train(model.training);
  return s;
}
