/**
 * `qf`: the functional tensor ops a traced (and so quantizable) forward may use between modules,
 * PyTorch's FloatFunctional in spirit. Outside tracing each is exactly the autograd op it names
 * (so eager and traced forwards agree bit for bit); while tracing it also records a
 * call_function node. A model that writes `x.add(y)` or `F.add(x, y)` instead still runs, but
 * tracing it fails with an error pointing at the module where the unrecorded op happened.
 *
 *   add(a, b), mul(a, b)      element-wise, same shapes (int8 ADD / MUL in the integer engine)
 *   cat(parts, dim)           concatenation along a non-batch dim (dim 1, channels, typically)
 *   flatten(x, start)         flatten from `start` (>= 1) to the end
 *   reshape(x, shape)         per-example reshape: shape excludes the batch dim
 *   globalAvgPool(x)          mean over H and W: [N, C, H, W] -> [N, C]
 *   clamp(x, lo, hi), relu6(x), hardtanh(x, lo, hi), relu(x)
 */
import type { Tensor } from '../../tensor/tensor.js';
import * as F from '../../autograd/functional.js';
import { shapeStr } from '../../tensor/shape.js';
import { activeTracer, type FunctionCall } from './context.js';

function recorded(call: FunctionCall, out: Tensor): Tensor {
  const t = activeTracer();
  return t ? t.callFunction(call, out) : out;
}

function sameShape(a: Tensor, b: Tensor, who: string): void {
  if (a.ndim !== b.ndim || a.shape.some((d, i) => d !== b.shape[i])) {
    throw new Error(`qf.${who}: inputs must have the same shape (broadcasting has no integer form here), got ${shapeStr(a.shape)} and ${shapeStr(b.shape)}`);
  }
}

export function add(a: Tensor, b: Tensor): Tensor {
  sameShape(a, b, 'add');
  return recorded({ fn: 'add', inputs: [a, b], attrs: {} }, F.add(a, b));
}

export function mul(a: Tensor, b: Tensor): Tensor {
  sameShape(a, b, 'mul');
  return recorded({ fn: 'mul', inputs: [a, b], attrs: {} }, F.mul(a, b));
}

export function cat(parts: readonly Tensor[], dim = 1): Tensor {
  if (parts.length < 1) throw new Error('qf.cat: needs at least one tensor');
  const d = dim < 0 ? dim + parts[0].ndim : dim;
  if (!(d >= 1 && d < parts[0].ndim)) throw new Error(`qf.cat: dim ${dim} must be a non-batch dim of ${shapeStr(parts[0].shape)}`);
  return recorded({ fn: 'cat', inputs: [...parts], attrs: { dim: d } }, F.concat(parts, d));
}

export function flatten(x: Tensor, startDim = 1): Tensor {
  const s = startDim < 0 ? startDim + x.ndim : startDim;
  if (!(s >= 1 && s < x.ndim)) throw new Error(`qf.flatten: startDim ${startDim} must be a non-batch dim of ${shapeStr(x.shape)}`);
  return recorded({ fn: 'flatten', inputs: [x], attrs: { startDim: s } }, F.flatten(x, s, -1));
}

/** Reshapes each example to `shape` (the batch dim is kept). */
export function reshape(x: Tensor, shape: readonly number[]): Tensor {
  return recorded({ fn: 'reshape', inputs: [x], attrs: { shape: [...shape] } }, F.reshape(x, [x.shape[0], ...shape]));
}

/** Mean over the spatial dims: [N, C, H, W] -> [N, C]. */
export function globalAvgPool(x: Tensor): Tensor {
  if (x.ndim !== 4) throw new Error(`qf.globalAvgPool: expected [N, C, H, W], got ${shapeStr(x.shape)}`);
  return recorded({ fn: 'globalAvgPool', inputs: [x], attrs: {} }, F.mean(x, [2, 3]));
}

export function clamp(x: Tensor, min: number, max: number): Tensor {
  if (!(min < max) || !Number.isFinite(min) || !Number.isFinite(max)) throw new Error(`qf.clamp: needs finite min < max, got ${min}, ${max}`);
  return recorded({ fn: 'clamp', inputs: [x], attrs: { min, max } }, F.clamp(x, min, max));
}

export const relu6 = (x: Tensor): Tensor => clamp(x, 0, 6);
export const hardtanh = (x: Tensor, min = -1, max = 1): Tensor => clamp(x, min, max);

export function relu(x: Tensor): Tensor {
  return recorded({ fn: 'relu', inputs: [x], attrs: {} }, F.relu(x));
}

/** Runs one recorded function node on concrete inputs (the graph interpreter uses this). */
export function applyFunction(fn: FunctionCall['fn'], inputs: Tensor[], attrs: Record<string, number | number[]>): Tensor {
  switch (fn) {
    case 'add': return F.add(inputs[0], inputs[1]);
    case 'mul': return F.mul(inputs[0], inputs[1]);
    case 'cat': return F.concat(inputs, attrs.dim as number);
    case 'flatten': return F.flatten(inputs[0], attrs.startDim as number, -1);
    case 'reshape': return F.reshape(inputs[0], [inputs[0].shape[0], ...(attrs.shape as number[])]);
    case 'globalAvgPool': return F.mean(inputs[0], [2, 3]);
    case 'clamp': return F.clamp(inputs[0], attrs.min as number, attrs.max as number);
    case 'relu': return F.relu(inputs[0]);
  }
}
