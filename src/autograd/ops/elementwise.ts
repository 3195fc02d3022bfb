/**
 * Differentiable elementwise operations. Each Function is forward next to backward, in one screen;
 * binary ops broadcast (NumPy rules) and their backward sums gradients over broadcast dims.
 * Derivatives are the textbook ones; where a function is not differentiable at a point we pick
 * PyTorch's convention (relu'(0) = 0, abs'(0) = 0, max ties split... see each op).
 *
 * Masked gradients select, they do not multiply: where a mask is 0 the gradient is 0 even when
 * the upstream gradient is infinite or NaN (`where(mask, g, 0)`, not `g * mask`, which gives
 * inf * 0 = NaN). That is what PyTorch computes, and what keeps `sqrt(clamp(x, 0))` or
 * `sqrt(relu(x))` from sending a NaN into the weights (issue 11, item 13).
 */
import * as raw from '../../tensor/raw.js';
import { Tensor } from '../../tensor/tensor.js';
import { Context, Function } from '../function.js';
import { unbroadcast, type TensorLike } from './util.js';

export class Add extends Function {
  static override forward(ctx: Context<{ a: readonly number[]; b: readonly number[] }>, a: Tensor, b: Tensor): Tensor {
    ctx.attrs = { a: a.shape, b: b.shape };
    return raw.binary('add', a, b);
  }
  static override backward(ctx: Context<{ a: readonly number[]; b: readonly number[] }>, g: Tensor) {
    return [unbroadcast(g, ctx.attrs.a), unbroadcast(g, ctx.attrs.b)];
  }
}

export class Sub extends Function {
  static override forward(ctx: Context<{ a: readonly number[]; b: readonly number[] }>, a: Tensor, b: Tensor): Tensor {
    ctx.attrs = { a: a.shape, b: b.shape };
    return raw.binary('sub', a, b);
  }
  static override backward(ctx: Context<{ a: readonly number[]; b: readonly number[] }>, g: Tensor) {
    return [unbroadcast(g, ctx.attrs.a), unbroadcast(raw.unary('neg', g), ctx.attrs.b)];
  }
}

export class Mul extends Function {
  static override forward(ctx: Context, a: Tensor, b: Tensor): Tensor {
    ctx.saveForBackward(a, b);
    return raw.binary('mul', a, b);
  }
  static override backward(ctx: Context, g: Tensor) {
    const [a, b] = ctx.savedTensors;
    return [
      ctx.needsInputGrad[0] ? unbroadcast(raw.binary('mul', g, b), a.shape) : null,
      ctx.needsInputGrad[1] ? unbroadcast(raw.binary('mul', g, a), b.shape) : null,
    ];
  }
}

export class Div extends Function {
  static override forward(ctx: Context, a: Tensor, b: Tensor): Tensor {
    ctx.saveForBackward(a, b);
    return raw.binary('div', a, b);
  }
  static override backward(ctx: Context, g: Tensor) {
    const [a, b] = ctx.savedTensors;
    // d(a/b)/da = 1/b, d(a/b)/db = -a/b^2
    const ga = ctx.needsInputGrad[0] ? unbroadcast(raw.binary('div', g, b), a.shape) : null;
    const gb = ctx.needsInputGrad[1]
      ? unbroadcast(raw.unary('neg', raw.binary('div', raw.binary('mul', g, a), raw.unary('square', b))), b.shape)
      : null;
    return [ga, gb];
  }
}

export class Pow extends Function {
  static override forward(ctx: Context, a: Tensor, b: Tensor): Tensor {
    const out = raw.binary('pow', a, b);
    ctx.saveForBackward(a, b, out);
    return out;
  }
  static override backward(ctx: Context, g: Tensor) {
    const [a, b, out] = ctx.savedTensors;
    // PyTorch's pow_backward_self / pow_backward_exponent (tools/autograd/templates, FunctionsManual.cpp):
    // d(a^b)/da = b a^(b-1), selected to 0 where b == 0 (else 0 * 0^-1 = NaN at a == 0);
    // d(a^b)/db = a^b ln a, selected to 0 only where a == 0 and b >= 0: at a == 0, b < 0 it is
    // inf * -inf = -inf, as PyTorch. The selection comes after the product with g.
    let ga: Tensor | null = null;
    if (ctx.needsInputGrad[0]) {
      const local = raw.binary('mul', g, raw.binary('mul', b, raw.binary('pow', a, raw.binaryScalar('sub', b, 1))));
      ga = unbroadcast(raw.where(raw.binaryScalar('eq', b, 0), zeroLike(local), local), a.shape);
    }
    let gb: Tensor | null = null;
    if (ctx.needsInputGrad[1]) {
      const local = raw.binary('mul', g, raw.binary('mul', out, raw.unary('log', a)));
      const zeroBase = raw.binary('mul', raw.binaryScalar('eq', a, 0), raw.binaryScalar('ge', b, 0));
      gb = unbroadcast(raw.where(zeroBase, zeroLike(local), local), b.shape);
    }
    return [ga, gb];
  }
}

/** x^p for a constant exponent: the common case, without a second tensor. */
export class PowScalar extends Function {
  static override forward(ctx: Context<{ p: number }>, a: Tensor, p: number): Tensor {
    ctx.saveForBackward(a);
    ctx.attrs = { p };
    return raw.binaryScalar('pow', a, p);
  }
  static override backward(ctx: Context<{ p: number }>, g: Tensor) {
    const [a] = ctx.savedTensors;
    const p = ctx.attrs.p;
    // x^0 is constant: its derivative is 0 everywhere, also at x == 0 where p x^(p-1) is 0 * Inf (PyTorch).
    if (p === 0) return [full(g.shape, 0, { dtype: g.dtype, device: g.device }), null];
    return [raw.binary('mul', g, raw.binaryScalar('mul', raw.binaryScalar('pow', a, p - 1), p)), null];
  }
}

export class Neg extends Function {
  static override forward(_ctx: Context, a: Tensor): Tensor {
    return raw.unary('neg', a);
  }
  static override backward(_ctx: Context, g: Tensor) {
    return [raw.unary('neg', g)];
  }
}

export class Exp extends Function {
  static override forward(ctx: Context, a: Tensor): Tensor {
    const out = raw.unary('exp', a);
    ctx.saveForBackward(out);
    return out;
  }
  static override backward(ctx: Context, g: Tensor) {
    return [raw.binary('mul', g, ctx.savedTensors[0])];
  }
}

/** Natural log; log(0) = -Infinity and log(x<0) = NaN, as in PyTorch. */
export class Log extends Function {
  static override forward(ctx: Context, a: Tensor): Tensor {
    ctx.saveForBackward(a);
    return raw.unary('log', a);
  }
  static override backward(ctx: Context, g: Tensor) {
    return [raw.binary('div', g, ctx.savedTensors[0])];
  }
}

export class Sqrt extends Function {
  static override forward(ctx: Context, a: Tensor): Tensor {
    const out = raw.unary('sqrt', a);
    ctx.saveForBackward(out);
    return out;
  }
  static override backward(ctx: Context, g: Tensor) {
    return [raw.binary('div', g, raw.binaryScalar('mul', ctx.savedTensors[0], 2))];
  }
}

/** |x|, with gradient sign(x) (0 at 0, as PyTorch). */
export class Abs extends Function {
  static override forward(ctx: Context, a: Tensor): Tensor {
    ctx.saveForBackward(a);
    return raw.unary('abs', a);
  }
  static override backward(ctx: Context, g: Tensor) {
    return [raw.binary('mul', g, raw.unary('sign', ctx.savedTensors[0]))];
  }
}

/** max(x, 0). The gradient at 0 is 0 (PyTorch's convention); backward only needs the output (tinygrad's trick). */
export class Relu extends Function {
  static override forward(ctx: Context, a: Tensor): Tensor {
    const out = raw.unary('relu', a);
    ctx.saveForBackward(out);
    return out;
  }
  static override backward(ctx: Context, g: Tensor) {
    // PyTorch's threshold_backward: 0 where out <= 0, else g. A NaN input (out NaN) passes g.
    // One pass, selecting (see the BinaryOp's definition in tensor/backend.ts).
    return [raw.binary('reluBackward', g, ctx.savedTensors[0])];
  }
}

export class Sigmoid extends Function {
  static override forward(ctx: Context, a: Tensor): Tensor {
    const out = raw.unary('sigmoid', a);
    ctx.saveForBackward(out);
    return out;
  }
  static override backward(ctx: Context, g: Tensor) {
    const s = ctx.savedTensors[0];
    // s' = s (1 - s)
    return [raw.binary('mul', g, raw.binary('mul', s, raw.scalarBinary('sub', 1, s)))];
  }
}

export class Tanh extends Function {
  static override forward(ctx: Context, a: Tensor): Tensor {
    const out = raw.unary('tanh', a);
    ctx.saveForBackward(out);
    return out;
  }
  static override backward(ctx: Context, g: Tensor) {
    const t = ctx.savedTensors[0];
    // tanh' = 1 - tanh^2
    return [raw.binary('mul', g, raw.scalarBinary('sub', 1, raw.unary('square', t)))];
  }
}

/**
 * Elementwise maximum and minimum, PyTorch's backward (FunctionsManual.cpp, max/min of two
 * tensors): where a == b each input gets g / 2; otherwise an input gets g unless it lost (for
 * maximum: a gets 0 where a < b, b gets 0 where a > b). A NaN compares false both ways, so where
 * either input is NaN both get g, as in PyTorch. `loses` is 'lt' for maximum, 'gt' for minimum.
 */
function extremumBackward(ctx: Context, g: Tensor, loses: 'gt' | 'lt'): (Tensor | null)[] {
  const [a, b] = ctx.savedTensors;
  const wins = loses === 'lt' ? 'gt' : 'lt';
  const gb0 = g; // already of the broadcast shape
  const tie = raw.binary('eq', a, b), half = raw.binaryScalar('mul', gb0, 0.5), zero = zeroLike(g);
  const ga = raw.where(tie, half, raw.where(raw.binary(loses, a, b), zero, gb0));
  const gb = raw.where(tie, half, raw.where(raw.binary(wins, a, b), zero, gb0));
  return [
    ctx.needsInputGrad[0] ? unbroadcast(ga, a.shape) : null,
    ctx.needsInputGrad[1] ? unbroadcast(gb, b.shape) : null,
  ];
}

export class Maximum extends Function {
  static override forward(ctx: Context, a: Tensor, b: Tensor): Tensor {
    ctx.saveForBackward(a, b);
    return raw.binary('maximum', a, b);
  }
  static override backward(ctx: Context, g: Tensor) {
    return extremumBackward(ctx, g, 'lt');
  }
}

export class Minimum extends Function {
  static override forward(ctx: Context, a: Tensor, b: Tensor): Tensor {
    ctx.saveForBackward(a, b);
    return raw.binary('minimum', a, b);
  }
  static override backward(ctx: Context, g: Tensor) {
    return extremumBackward(ctx, g, 'gt');
  }
}

/** clamp(x, lo, hi); gradient 1 inside [lo, hi] (bounds included, as PyTorch), 0 outside. */
export class Clamp extends Function {
  static override forward(ctx: Context<{ lo: number; hi: number }>, a: Tensor, lo: number, hi: number): Tensor {
    if (lo > hi) throw new Error(`clamp: min ${lo} is greater than max ${hi}`);
    ctx.saveForBackward(a);
    ctx.attrs = { lo, hi };
    return raw.binaryScalar('minimum', raw.binaryScalar('maximum', a, lo), hi);
  }
  static override backward(ctx: Context<{ lo: number; hi: number }>, g: Tensor) {
    const [a] = ctx.savedTensors;
    // A NaN input is not inside: its gradient is 0, as PyTorch's clamp_backward.
    const inside = raw.binary('mul', raw.binaryScalar('ge', a, ctx.attrs.lo), raw.binaryScalar('le', a, ctx.attrs.hi));
    return [raw.where(inside, g, zeroLike(g)), null, null];
  }
}

/** cond ? a : b (cond is not differentiated). */
export class Where extends Function {
  static override forward(ctx: Context, cond: Tensor, a: Tensor, b: Tensor): Tensor {
    ctx.saveForBackward(cond, a, b);
    return raw.where(cond, a, b);
  }
  static override backward(ctx: Context, g: Tensor) {
    const [cond, a, b] = ctx.savedTensors;
    const zero = zeroLike(g); // not g * 0, which is NaN where g is infinite
    return [
      null,
      ctx.needsInputGrad[1] ? unbroadcast(raw.where(cond, g, zero), a.shape) : null,
      ctx.needsInputGrad[2] ? unbroadcast(raw.where(cond, zero, g), b.shape) : null,
    ];
  }
}

/** A 0-d zero of g's dtype and device, for where(mask, g, 0). */
export function zeroLike(g: Tensor): Tensor {
  return full([], 0, { dtype: g.dtype, device: g.device });
}

/** Turns a number into a 0-d tensor on a's device with a compatible dtype. */
export function lift(x: TensorLike, like: Tensor): Tensor {
  if (x instanceof Tensor) return x;
  const dtype = like.dtype === 'int32' && !Number.isInteger(x) ? 'float32' : like.dtype;
  return scalarTensor(x, like, dtype);
}

import { full } from '../../tensor/creation.js';
import type { ScalarOrder } from '../../tensor/backend.js';
function scalarTensor(x: number, like: Tensor, dtype: Tensor['dtype']): Tensor {
  return full([], x, { dtype, device: like.device });
}

type ScalarAttrs = { op: 'add' | 'sub' | 'mul' | 'div'; s: number; first: boolean };

/** a op s or s op a with a constant number s: no scalar tensor is created (no upload on a GPU). */
export class ScalarBinary extends Function {
  static override forward(ctx: Context<ScalarAttrs>, a: Tensor, op: ScalarAttrs['op'], s: number, order: ScalarOrder = 'a op s'): Tensor {
    const first = order === 's op a';
    ctx.attrs = { op, s, first };
    if (op === 'div' && first) ctx.saveForBackward(a);
    return first ? raw.scalarBinary(op, s, a) : raw.binaryScalar(op, a, s);
  }
  static override backward(ctx: Context<ScalarAttrs>, g: Tensor) {
    const { op, s, first } = ctx.attrs;
    let ga: Tensor;
    if (op === 'add') ga = g;
    else if (op === 'sub') ga = first ? raw.unary('neg', g) : g;
    else if (op === 'mul') ga = raw.binaryScalar('mul', g, s);
    else if (!first) ga = raw.binaryScalar('div', g, s);
    else {
      // d(s/a)/da = -s/a^2
      const [a] = ctx.savedTensors;
      ga = raw.binary('mul', g, raw.scalarBinary('div', -s, raw.unary('square', a)));
    }
    return [ga, null, null, null];
  }
}
