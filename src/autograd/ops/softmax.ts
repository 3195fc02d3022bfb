/**
 * Numerically stable softmax / log-softmax and the classification losses built on them.
 * log_softmax(x)_i = (x_i - m) - log Σ_j exp(x_j - m), with m = max_j x_j, so exp never overflows.
 * Backward of log-softmax: dx = g - softmax(x) · Σ_j g_j.
 */
import * as raw from '../../tensor/raw.js';
import { normAxis, shapeStr } from '../../tensor/shape.js';
import { Tensor } from '../../tensor/tensor.js';
import { fromArray } from '../../tensor/creation.js';
import { Context, Function } from '../function.js';
import { full } from '../../tensor/creation.js';
import { Where } from './elementwise.js';
import { Mean, Sum } from './reduce.js';
import { ScalarBinary } from './elementwise.js';

export class LogSoftmax extends Function {
  static override forward(ctx: Context<{ axis: number }>, x: Tensor, axis: number): Tensor {
    const ax = normAxis(axis, x.ndim);
    ctx.attrs = { axis: ax };
    // Over a zero-length axis there is nothing to normalise: the empty result, as PyTorch.
    if (x.ndim > 0 && x.shape[ax] === 0) return raw.unary('identity', x);
    const m = raw.reduce('max', x, ax, true);
    const shifted = raw.binary('sub', x, m);
    const lse = raw.unary('log', raw.reduce('sum', raw.unary('exp', shifted), ax, true));
    const out = raw.binary('sub', shifted, lse);
    ctx.saveForBackward(out);
    return out;
  }
  static override backward(ctx: Context<{ axis: number }>, g: Tensor) {
    if (g.size === 0) return [g, null];
    const [out] = ctx.savedTensors;
    const sm = raw.unary('exp', out);
    const gsum = raw.reduce('sum', g, ctx.attrs.axis, true);
    return [raw.binary('sub', g, raw.binary('mul', sm, gsum)), null];
  }
}

export function logSoftmax(x: Tensor, axis = -1): Tensor {
  return LogSoftmax.apply(x, axis);
}

/** softmax = exp(log_softmax): inherits its stability; softmax of equal logits is exactly uniform. */
export class Softmax extends Function {
  static override forward(ctx: Context<{ axis: number }>, x: Tensor, axis: number): Tensor {
    const ax = normAxis(axis, x.ndim);
    ctx.attrs = { axis: ax };
    if (x.ndim > 0 && x.shape[ax] === 0) return raw.unary('identity', x); // empty, as PyTorch
    const m = raw.reduce('max', x, ax, true);
    const e = raw.unary('exp', raw.binary('sub', x, m));
    const out = raw.binary('div', e, raw.reduce('sum', e, ax, true));
    ctx.saveForBackward(out);
    return out;
  }
  static override backward(ctx: Context<{ axis: number }>, g: Tensor) {
    if (g.size === 0) return [g, null];
    const [s] = ctx.savedTensors;
    // dx = s * (g - Σ g s)
    const dot = raw.reduce('sum', raw.binary('mul', g, s), ctx.attrs.axis, true);
    return [raw.binary('mul', s, raw.binary('sub', g, dot)), null];
  }
}

export function softmax(x: Tensor, axis = -1): Tensor {
  return Softmax.apply(x, axis);
}

export type Reduction = 'mean' | 'sum' | 'none';

/** Labels as a host Int32Array, validated against the number of rows and classes. */
export function labelsToHost(labels: Tensor | ArrayLike<number>, n: number, classes: number, who: string): Int32Array {
  const arr = labels instanceof Tensor ? labels.toTypedArray() : labels;
  if (labels instanceof Tensor && labels.ndim !== 1) throw new Error(`${who}: labels must be 1-D, got shape ${shapeStr(labels.shape)}`);
  if (arr.length !== n) throw new Error(`${who}: got ${arr.length} labels for ${n} rows`);
  const out = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const v = arr[i];
    if (!Number.isInteger(v) || v < 0 || v >= classes) throw new Error(`${who}: label ${v} at position ${i} is outside [0, ${classes})`);
    out[i] = v;
  }
  return out;
}

/** One-hot rows [N, C] on the logits' device and dtype. */
export function oneHot(labels: Int32Array, classes: number, like: Tensor): Tensor {
  const data = new Float32Array(labels.length * classes);
  labels.forEach((l, i) => (data[i * classes + l] = 1));
  return fromArray(data, [labels.length, classes], { dtype: like.dtype === 'int32' ? 'float32' : like.dtype, device: like.device });
}

/** Negative log-likelihood of log-probabilities [N, C] at integer labels. */
export function nllLoss(logProbs: Tensor, labels: Tensor | ArrayLike<number>, reduction: Reduction = 'mean'): Tensor {
  if (logProbs.ndim !== 2) throw new Error(`nllLoss: input must be [N, C], got ${shapeStr(logProbs.shape)}`);
  const [n, c] = logProbs.shape;
  const y = labelsToHost(labels, n, c, 'nllLoss');
  // Gather the target's log-probability by selection: where(oneHot, logProbs, 0) summed over the
  // row is exactly logProbs[i, y_i] (adding zeros is exact), and a -inf at a non-target class
  // stays out of it. The product logProbs * oneHot would give -inf * 0 = NaN there (issue 11,
  // item 13: crossEntropy([-inf, 0, 1], [2]) was NaN; PyTorch 0.3133). The backward of Where
  // routes the gradient to the target entry only.
  const zero = full([], 0, { dtype: logProbs.dtype, device: logProbs.device });
  const picked = Sum.apply(Where.apply(oneHot(y, c, logProbs), logProbs, zero), 1, false);
  const neg = ScalarBinary.apply(picked, 'mul', -1, 'a op s');
  if (reduction === 'none') return neg;
  return reduction === 'sum' ? Sum.apply(neg, undefined, false) : Mean.apply(neg, undefined, false);
}

/** Cross-entropy from logits [N, C] and integer labels: nll(log_softmax(logits)). */
export function crossEntropy(logits: Tensor, labels: Tensor | ArrayLike<number>, reduction: Reduction = 'mean'): Tensor {
  if (logits.ndim !== 2) throw new Error(`crossEntropy: logits must be [N, C], got ${shapeStr(logits.shape)}`);
  return nllLoss(logSoftmax(logits, 1), labels, reduction);
}
