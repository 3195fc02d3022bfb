/**
 * Matrix product with batch broadcasting (torch.matmul semantics for >= 2-D operands;
 * 1-D operands are treated as a row/column vector). For C = A·B: dA = dC·Bᵀ and dB = Aᵀ·dC,
 * summed over broadcast batch dims. The transposes are views: the backend reads them strided.
 */
import * as raw from '../../tensor/raw.js';
import { Tensor } from '../../tensor/tensor.js';
import { Context, Function } from '../function.js';
import { unbroadcast } from './util.js';

function mT(t: Tensor): Tensor {
  const n = t.ndim;
  const dims = t.shape.map((_, i) => i);
  [dims[n - 2], dims[n - 1]] = [dims[n - 1], dims[n - 2]];
  return raw.permute(t, dims);
}

export class MatMul extends Function {
  static override forward(ctx: Context, a: Tensor, b: Tensor): Tensor {
    ctx.saveForBackward(a, b);
    return raw.matmul(a, b);
  }
  static override backward(ctx: Context, g: Tensor) {
    const [a, b] = ctx.savedTensors;
    // Promote 1-D operands (and g) to 2-D so the formulas hold, then shape back.
    const a2 = a.ndim === 1 ? raw.reshape(a, [1, a.shape[0]]) : a;
    const b2 = b.ndim === 1 ? raw.reshape(b, [b.shape[0], 1]) : b;
    let g2 = g;
    if (a.ndim === 1 && b.ndim === 1) g2 = raw.reshape(g, [1, 1]); // a dot product: g is 0-d
    else if (a.ndim === 1) g2 = raw.reshape(g, [...g.shape.slice(0, -1), 1, g.shape[g.ndim - 1]]);
    else if (b.ndim === 1) g2 = raw.reshape(g, [...g.shape, 1]);
    const ga = ctx.needsInputGrad[0] ? raw.reshape(unbroadcast(raw.matmul(g2, mT(b2)), a2.shape), a.shape) : null;
    const gb = ctx.needsInputGrad[1] ? raw.reshape(unbroadcast(raw.matmul(mT(a2), g2), b2.shape), b.shape) : null;
    return [ga, gb];
  }
}
