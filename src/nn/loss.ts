/** Loss functions as modules and functions (cross-entropy and NLL live in autograd's softmax ops). */
import { Tensor } from '../tensor/tensor.js';
import { shapeStr } from '../tensor/shape.js';
import * as F from '../autograd/functional.js';

/** Mean (or summed) squared error, like torch.nn.functional.mse_loss. */
export function mseLoss(input: Tensor, target: Tensor, reduction: F.Reduction = 'mean'): Tensor {
  if (input.shape.length !== target.shape.length || input.shape.some((d, i) => d !== target.shape[i])) {
    throw new Error(`mseLoss: input ${shapeStr(input.shape)} and target ${shapeStr(target.shape)} differ in shape`);
  }
  const se = F.square(F.sub(input, target));
  return reduction === 'none' ? se : reduction === 'sum' ? F.sum(se) : F.mean(se);
}

export class CrossEntropyLoss {
  constructor(readonly reduction: F.Reduction = 'mean') {}
  call(logits: Tensor, labels: Tensor | ArrayLike<number>): Tensor {
    return F.crossEntropy(logits, labels, this.reduction);
  }
}

export class NLLLoss {
  constructor(readonly reduction: F.Reduction = 'mean') {}
  call(logProbs: Tensor, labels: Tensor | ArrayLike<number>): Tensor {
    return F.nllLoss(logProbs, labels, this.reduction);
  }
}

export class MSELoss {
  constructor(readonly reduction: F.Reduction = 'mean') {}
  call(input: Tensor, target: Tensor): Tensor {
    return mseLoss(input, target, this.reduction);
  }
}

export const crossEntropy = F.crossEntropy;
export const nllLoss = F.nllLoss;
