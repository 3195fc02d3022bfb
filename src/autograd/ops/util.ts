/** Helpers shared by the differentiable ops. */
import * as raw from '../../tensor/raw.js';
import { sameShape } from '../../tensor/shape.js';
import { Tensor } from '../../tensor/tensor.js';

/**
 * The adjoint of broadcasting: a gradient of the broadcast shape is summed over the dims that
 * broadcasting created (leading dims, and dims where the input had size 1).
 */
export function unbroadcast(grad: Tensor, shape: readonly number[]): Tensor {
  if (sameShape(grad.shape, shape)) return grad;
  const lead = grad.ndim - shape.length;
  const axes: number[] = [];
  for (let i = 0; i < grad.ndim; i++) {
    if (i < lead || (shape[i - lead] === 1 && grad.shape[i] !== 1)) axes.push(i);
  }
  const summed = axes.length ? raw.reduce('sum', grad, axes, true) : grad;
  return raw.reshape(summed, shape);
}

export type TensorLike = Tensor | number;
