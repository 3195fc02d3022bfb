/**
 * Raw tensor operations: validate arguments, work out shapes (broadcasting, reduced axes, views),
 * and dispatch to the tensor's backend. Nothing here records gradients: src/autograd wraps these
 * in Functions. Views (reshape, permute, expand, slice) only compute new shape/strides/offset.
 */
import type { BinaryOp, Conv2dParams, ScalarOrder, Pool2dParams, QuantKernelParams, ReduceOp, UnaryOp, View } from './backend.js';
import { isFloat, promote, type DType } from './dtype.js';
import { broadcastShapes, contiguousStrides, convOutSize, isContiguous, normAxes, normAxis, numel, sameShape, shapeStr } from './shape.js';
import { checkQuantKernelParams } from './quant-check.js';
import { fromBuffer, Tensor, viewOf } from './tensor.js';

function sameDevice(op: string, ...ts: Tensor[]): void {
  const d = ts[0].device;
  for (const t of ts) {
    if (t.device !== d) throw new Error(`${op}: tensors are on different devices (${ts.map((x) => x.device).join(' vs ')}); move them with .to(device)`);
  }
}

// ---- views -------------------------------------------------------------------------------------

/** The same elements with the shape broadcast to `shape` (stride 0 along new or size-1 dims). */
export function expand(t: Tensor, shape: readonly number[]): Tensor {
  if (shape.length < t.ndim) throw new Error(`expand: cannot expand shape ${shapeStr(t.shape)} to fewer dims ${shapeStr(shape)}`);
  const lead = shape.length - t.ndim;
  const strides = new Array<number>(shape.length);
  for (let i = 0; i < shape.length; i++) {
    if (i < lead) {
      // -1 means "keep this dim": a new leading dim has nothing to keep (as in PyTorch)
      if (!Number.isInteger(shape[i]) || shape[i] < 0) throw new Error(`expand: invalid size ${shape[i]} for the new leading dim ${i} of ${shapeStr(shape)}`);
      strides[i] = 0;
      continue;
    }
    const d = t.shape[i - lead];
    const target = shape[i] === -1 ? d : shape[i];
    if (!Number.isInteger(target) || target < 0) throw new Error(`expand: invalid size ${shape[i]} at dim ${i} of ${shapeStr(shape)}`);
    if (d === target) strides[i] = t.strides[i - lead];
    else if (d === 1) strides[i] = 0;
    else throw new Error(`expand: shape ${shapeStr(t.shape)} cannot be expanded to ${shapeStr(shape)} (dim ${i}: ${d} vs ${target})`);
  }
  const out = shape.map((s, i) => (s === -1 ? t.shape[i - lead] : s));
  return viewOf(t, out, strides, t.offset);
}

/** Resolves one -1 in a requested shape. */
export function inferShape(size: number, shape: readonly number[], from: readonly number[]): number[] {
  const out = [...shape];
  const neg = out.indexOf(-1);
  if (neg !== out.lastIndexOf(-1)) throw new Error(`reshape: only one dimension can be -1, got ${shapeStr(shape)}`);
  if (neg >= 0) {
    const rest = numel(out.filter((_, i) => i !== neg));
    if (rest === 0 || size % rest !== 0) throw new Error(`reshape: cannot reshape ${shapeStr(from)} (${size} elements) into ${shapeStr(shape)}`);
    out[neg] = size / rest;
  }
  if (numel(out) !== size || out.some((d) => !Number.isInteger(d) || d < 0)) {
    throw new Error(`reshape: cannot reshape ${shapeStr(from)} (${size} elements) into ${shapeStr(shape)}`);
  }
  return out;
}

/** A view when the layout allows it (contiguous), else a contiguous copy. */
export function reshape(t: Tensor, shape: readonly number[]): Tensor {
  const target = inferShape(t.size, shape, t.shape);
  const src = t.isContiguous ? t : contiguous(t);
  return viewOf(src, target, contiguousStrides(target), src.offset);
}

export function permute(t: Tensor, dims: readonly number[]): Tensor {
  if (dims.length !== t.ndim) throw new Error(`permute: got ${dims.length} dims ${shapeStr(dims)} for a tensor of rank ${t.ndim}`);
  const norm = dims.map((d) => normAxis(d, t.ndim));
  if (new Set(norm).size !== norm.length) throw new Error(`permute: dims ${shapeStr(dims)} are not a permutation`);
  return viewOf(t, norm.map((d) => t.shape[d]), norm.map((d) => t.strides[d]), t.offset);
}

export interface SliceSpec {
  start: number;
  end: number;
  step: number;
}

/** Normalises a Python-style slice (negative indices, clamping) along a dim of size n. */
export function normSlice(n: number, start = 0, end = n, step = 1): SliceSpec {
  if (!Number.isInteger(step) || step <= 0) throw new Error(`slice: step must be a positive integer, got ${step}`);
  const clampIdx = (i: number) => Math.min(Math.max(i < 0 ? i + n : i, 0), n);
  const s = clampIdx(start), e = clampIdx(end);
  return { start: s, end: Math.max(e, s), step };
}

export function slice(t: Tensor, axis: number, spec: SliceSpec): Tensor {
  const a = normAxis(axis, t.ndim);
  const len = Math.ceil((spec.end - spec.start) / spec.step);
  const shape = [...t.shape];
  shape[a] = len;
  const strides = [...t.strides];
  strides[a] = t.strides[a] * spec.step;
  return viewOf(t, shape, strides, t.offset + spec.start * t.strides[a]);
}

/**
 * A tensor whose strides are the row-major ones of its shape, offset 0, owning its whole buffer.
 * A view that is already laid out so in memory is returned as is, or as a view with the canonical
 * strides when a size-1 dim carries another stride (any stride is valid there; code that trusts
 * `strides` of a contiguous tensor then sees the canonical ones).
 */
export function contiguous(t: Tensor): Tensor {
  if (t.isContiguous && t.offset === 0 && t.buffer.size === t.size) {
    const canon = contiguousStrides(t.shape);
    return canon.every((s, i) => s === t.strides[i]) ? t : viewOf(t, t.shape, canon, 0);
  }
  return fromBuffer(t.backend, t.backend.contiguous(t), t.shape);
}

// ---- elementwise -------------------------------------------------------------------------------

const FLOAT_ONLY: ReadonlySet<UnaryOp> = new Set(['exp', 'log', 'sqrt', 'sigmoid', 'tanh', 'reciprocal']);
const COMPARE: ReadonlySet<BinaryOp> = new Set(['eq', 'ne', 'lt', 'le', 'gt', 'ge']);

export function unary(op: UnaryOp, t: Tensor, outDtype?: DType): Tensor {
  const dtype = outDtype ?? (FLOAT_ONLY.has(op) && !isFloat(t.dtype) ? 'float32' : t.dtype);
  return fromBuffer(t.backend, t.backend.unary(op, t, dtype), t.shape);
}

export function cast(t: Tensor, dtype: DType): Tensor {
  if (t.dtype === dtype) return t;
  if (!t.backend.dtypes.includes(dtype)) throw new Error(`device '${t.device}' does not support dtype ${dtype}`);
  return unary('identity', t, dtype);
}

/**
 * The result dtype of every binary op, matmul and where included: the operands promote by
 * `promote` (dtype.ts: any float wins over int32, float64 over float32), then comparisons give
 * float32 0/1 and div/pow a float (int32 / int32 is float32, as PyTorch's true division).
 * A number operand counts as int32 when it is an integer, else float32 (withScalar).
 */
export function binaryDtype(op: BinaryOp | 'matmul', a: DType, b: DType): DType {
  const p = promote(a, b);
  if (op !== 'matmul' && COMPARE.has(op)) return 'float32';
  if (op === 'div' || op === 'pow') return isFloat(p) ? p : 'float32';
  return p;
}

export function binary(op: BinaryOp, a: Tensor, b: Tensor): Tensor {
  sameDevice(op, a, b);
  let shape: number[];
  try {
    shape = broadcastShapes(a.shape, b.shape);
  } catch (e) {
    throw new Error(`${op}: ${(e as Error).message}`);
  }
  const dtype = binaryDtype(op, a.dtype, b.dtype);
  const av = sameShape(a.shape, shape) ? a : expand(a, shape);
  const bv = sameShape(b.shape, shape) ? b : expand(b, shape);
  return fromBuffer(a.backend, a.backend.binary(op, av, bv, shape, dtype), shape);
}

/** a op s, with a constant number s (no scalar tensor is created: no upload on a GPU). */
export function binaryScalar(op: BinaryOp, a: Tensor, s: number): Tensor {
  return withScalar(op, a, s, 'a op s');
}

/** s op a, the scalar on the left (s - a, s / a, ...). */
export function scalarBinary(op: BinaryOp, s: number, a: Tensor): Tensor {
  return withScalar(op, a, s, 's op a');
}

function withScalar(op: BinaryOp, a: Tensor, s: number, order: ScalarOrder): Tensor {
  const sd: DType = Number.isInteger(s) ? 'int32' : 'float32';
  const dtype = binaryDtype(op, a.dtype, isFloat(a.dtype) ? a.dtype : sd);
  return fromBuffer(a.backend, a.backend.binaryScalar(op, a, s, order, dtype), a.shape);
}

export function where(cond: Tensor, a: Tensor, b: Tensor): Tensor {
  sameDevice('where', cond, a, b);
  const shape = broadcastShapes(broadcastShapes(cond.shape, a.shape), b.shape);
  const dtype = promote(a.dtype, b.dtype);
  return fromBuffer(a.backend, a.backend.where(expand(cond, shape), expand(a, shape), expand(b, shape), shape, dtype), shape);
}

// ---- reductions --------------------------------------------------------------------------------

/** Shape after reducing `axes`, with or without the kept size-1 dims. */
export function reducedShape(shape: readonly number[], axes: readonly number[], keepdim: boolean): number[] {
  const out: number[] = [];
  shape.forEach((d, i) => {
    if (axes.includes(i)) {
      if (keepdim) out.push(1);
    } else out.push(d);
  });
  return out;
}

/** Moves reduced axes last, makes that contiguous, and reduces [outer, inner] on the backend. */
export function reduce(op: ReduceOp, t: Tensor, axes?: number | readonly number[], keepdim = false): Tensor {
  const ax = normAxes(axes, t.ndim);
  if ((op === 'argmax' || op === 'argmin') && ax.length > 1) throw new Error(`${op}: reduces one axis at a time (got ${ax.length})`);
  const keep = t.shape.map((_, i) => i).filter((i) => !ax.includes(i));
  // A sum whose kept axes form one block after leading reduced axes, [outer, mid, inner], of a
  // tensor that owns its contiguous buffer: backends that can sum it in place skip the copy.
  if (op === 'sum' && t.backend.sumOuterInner && keep.length > 0 && keep[0] > 0 && keep[keep.length - 1] - keep[0] === keep.length - 1
    && t.isContiguous && t.offset === 0 && t.buffer.size === t.size) {
    const outer = numel(t.shape.slice(0, keep[0])), mid = numel(keep.map((i) => t.shape[i]));
    const buf = t.backend.sumOuterInner(t.buffer, outer, mid, numel(t.shape.slice(keep[keep.length - 1] + 1)));
    return fromBuffer(t.backend, buf, reducedShape(t.shape, ax, keepdim));
  }
  const perm = [...keep, ...ax];
  const moved = perm.every((p, i) => p === i) ? t : permute(t, perm);
  const src = contiguous(moved);
  const inner = numel(ax.map((i) => t.shape[i]));
  const outer = numel(keep.map((i) => t.shape[i]));
  if (inner === 0 && op !== 'sum') throw new Error(`${op}: cannot reduce over an empty dimension (shape ${shapeStr(t.shape)})`);
  const buf = t.backend.reduce(op, src.buffer, outer, inner);
  if (src.storage !== moved.storage) src.dispose(); // a temporary copy, not shared with anyone
  return fromBuffer(t.backend, buf, reducedShape(t.shape, ax, keepdim));
}

// ---- matmul, convolution, pooling --------------------------------------------------------------

/** Batched matmul of [..., M, K] x [..., K, N]: batch dims broadcast, 1-D operands promoted as torch.matmul. */
export function matmul(a: Tensor, b: Tensor): Tensor {
  sameDevice('matmul', a, b);
  if (a.ndim === 0 || b.ndim === 0) throw new Error(`matmul: both arguments need at least 1 dim, got ${shapeStr(a.shape)} and ${shapeStr(b.shape)}`);
  // One promotion rule for every binary op (binaryDtype): int32 @ float32 is float32, never
  // truncated to the first operand's dtype. The backend then sees operands of one dtype.
  const dtype = binaryDtype('matmul', a.dtype, b.dtype);
  const ac = cast(a, dtype), bc = cast(b, dtype);
  const a2 = ac.ndim === 1 ? viewOf(ac, [1, ac.shape[0]], [0, ac.strides[0]], ac.offset) : ac;
  const b2 = bc.ndim === 1 ? viewOf(bc, [bc.shape[0], 1], [bc.strides[0], 0], bc.offset) : bc;
  const M = a2.shape[a2.ndim - 2], K = a2.shape[a2.ndim - 1];
  const K2 = b2.shape[b2.ndim - 2], N = b2.shape[b2.ndim - 1];
  if (K !== K2) throw new Error(`matmul: inner dimensions differ: ${shapeStr(a.shape)} @ ${shapeStr(b.shape)} (${K} vs ${K2})`);
  let batch: number[];
  try {
    batch = broadcastShapes(a2.shape.slice(0, -2), b2.shape.slice(0, -2));
  } catch {
    throw new Error(`matmul: batch dimensions of ${shapeStr(a.shape)} and ${shapeStr(b.shape)} cannot be broadcast`);
  }
  const B = numel(batch);
  const flat3 = (t: Tensor, r: number, c: number): View => {
    const e = expand(t, [...batch, r, c]);
    const nb = batch.length;
    // Collapse the batch dims into one of stride bs. A size-1 dim adds nothing to any address, and
    // a view may carry any stride there (permuting [1, 2, 1, 37] gives strides [37, 74, 37, 1]), so
    // only the dims of size > 1 decide: they collapse exactly when each one's stride is the next
    // one's times its size; otherwise copy. (Taking the stride of a size-1 dim as the batch stride
    // read out of bounds: issue 11, item 12.)
    const big: number[] = [];
    for (let i = 0; i < nb; i++) if (batch[i] !== 1) big.push(i);
    let ok = true;
    for (let j = 0; j + 1 < big.length; j++) if (e.strides[big[j]] !== e.strides[big[j + 1]] * batch[big[j + 1]]) ok = false;
    const src = ok ? e : contiguous(e);
    const bs = big.length === 0 ? 0 : ok ? e.strides[big[big.length - 1]] : r * c;
    return { buffer: src.buffer, shape: [B, r, c], strides: [bs, src.strides[nb], src.strides[nb + 1]], offset: src.offset };
  };
  const buf = a.backend.matmul(flat3(a2, M, K), flat3(b2, K, N));
  const outShape = [...batch, M, N];
  let out = fromBuffer(a.backend, buf, outShape);
  if (a.ndim === 1) out = reshape(out, [...batch, N]);
  if (b.ndim === 1) out = reshape(out, out.shape.slice(0, -1));
  return out;
}

export function conv2dOutShape(xShape: readonly number[], wShape: readonly number[], p: Conv2dParams): number[] {
  return [
    xShape[0], wShape[0],
    convOutSize(xShape[2], wShape[2], p.stride[0], p.padding[0], p.dilation[0]),
    convOutSize(xShape[3], wShape[3], p.stride[1], p.padding[1], p.dilation[1]),
  ];
}

export function checkConv2d(x: Tensor, w: Tensor, p: Conv2dParams): number[] {
  sameDevice('conv2d', x, w);
  if (x.ndim !== 4) throw new Error(`conv2d: input must be 4-D [N, C, H, W], got ${shapeStr(x.shape)}`);
  if (w.ndim !== 4) throw new Error(`conv2d: weight must be 4-D [O, C/groups, KH, KW], got ${shapeStr(w.shape)}`);
  if (x.dtype !== w.dtype) throw new Error(`conv2d: input dtype ${x.dtype} and weight dtype ${w.dtype} differ`);
  const g = p.groups;
  if (!Number.isInteger(g) || g < 1) throw new Error(`conv2d: groups must be a positive integer, got ${g}`);
  if (x.shape[1] % g !== 0 || w.shape[0] % g !== 0) {
    throw new Error(`conv2d: channels (in ${x.shape[1]}, out ${w.shape[0]}) must be divisible by groups ${g}`);
  }
  if (w.shape[1] * g !== x.shape[1]) {
    throw new Error(`conv2d: input ${shapeStr(x.shape)} has ${x.shape[1]} channels but weight ${shapeStr(w.shape)} expects ${w.shape[1] * g} (groups ${g})`);
  }
  for (const v of [...p.stride, ...p.dilation]) if (!Number.isInteger(v) || v < 1) throw new Error(`conv2d: stride and dilation must be positive integers`);
  for (const v of p.padding) if (!Number.isInteger(v) || v < 0) throw new Error(`conv2d: padding must be a non-negative integer`);
  const out = conv2dOutShape(x.shape, w.shape, p);
  if (out[2] <= 0 || out[3] <= 0) {
    throw new Error(`conv2d: kernel ${shapeStr(w.shape.slice(2))} (dilation ${p.dilation}) is larger than the padded input ${shapeStr(x.shape.slice(2))}`);
  }
  return out;
}

export function checkPool(name: string, x: Tensor, p: Pool2dParams): number[] {
  if (x.ndim !== 4) throw new Error(`${name}: input must be 4-D [N, C, H, W], got ${shapeStr(x.shape)}`);
  for (const v of [...p.kernel, ...p.stride, ...p.dilation]) {
    if (!Number.isInteger(v) || v < 1) throw new Error(`${name}: kernel size, stride and dilation must be positive integers, got kernel ${p.kernel}, stride ${p.stride}, dilation ${p.dilation}`);
  }
  for (const v of p.padding) if (!Number.isInteger(v) || v < 0) throw new Error(`${name}: padding must be a non-negative integer, got ${p.padding}`);
  for (let i = 0; i < 2; i++) {
    if (p.padding[i] * 2 > p.kernel[i]) throw new Error(`${name}: padding ${p.padding[i]} must be at most half the kernel size ${p.kernel[i]}`);
  }
  const out = [
    x.shape[0], x.shape[1],
    convOutSize(x.shape[2], p.kernel[0], p.stride[0], p.padding[0], p.dilation[0]),
    convOutSize(x.shape[3], p.kernel[1], p.stride[1], p.padding[1], p.dilation[1]),
  ];
  if (out[2] <= 0 || out[3] <= 0) throw new Error(`${name}: window ${shapeStr(p.kernel)} is larger than the input ${shapeStr(x.shape.slice(2))}`);
  return out;
}

export function pad(src: Tensor, outShape: readonly number[], begin: readonly number[], step: readonly number[]): Tensor {
  return fromBuffer(src.backend, src.backend.pad(src, outShape, begin, step), outShape);
}

export function concat(parts: readonly Tensor[], axis: number): Tensor {
  if (parts.length === 0) throw new Error('concat: needs at least one tensor');
  sameDevice('concat', ...parts);
  const nd = parts[0].ndim;
  if (nd === 0) throw new Error('concat: zero-dimensional tensors cannot be concatenated (use stack)');
  const a = normAxis(axis, nd);
  for (const p of parts) {
    if (p.ndim !== nd || p.shape.some((d, i) => i !== a && d !== parts[0].shape[i])) {
      throw new Error(`concat: shapes ${parts.map((q) => shapeStr(q.shape)).join(', ')} differ outside axis ${a}`);
    }
  }
  const outShape = [...parts[0].shape];
  outShape[a] = parts.reduce((s, p) => s + p.shape[a], 0);
  const dtype = parts.map((p) => p.dtype).reduce(promote);
  const cparts = parts.map((p) => cast(p, dtype));
  return fromBuffer(parts[0].backend, parts[0].backend.concat(cparts, a, outShape), outShape);
}

export function quantKernelParams(
  shape: readonly number[], scale: ArrayLike<number>, zeroPoint: ArrayLike<number>,
  qmin: number, qmax: number, axis: number | null, rounding: QuantKernelParams['rounding'],
): QuantKernelParams {
  const channels = axis === null ? 1 : shape[axis];
  if (scale.length !== channels || zeroPoint.length !== channels) {
    throw new Error(`quantize: expected ${channels} scales and zero points${axis === null ? '' : ` (shape ${shapeStr(shape)}, axis ${axis})`}, got ${scale.length} and ${zeroPoint.length}`);
  }
  // Checked before the typed arrays are made: Int32Array.from would turn a NaN zero point into 0.
  const q = {
    scale: Array.from(scale) as unknown as Float32Array,
    zeroPoint: Array.from(zeroPoint) as unknown as Int32Array,
    qmin, qmax,
    outer: axis === null ? 1 : numel(shape.slice(0, axis)),
    channels,
    inner: axis === null ? numel(shape) : numel(shape.slice(axis + 1)),
    rounding,
  };
  checkQuantKernelParams(q, 'quantize');
  return { ...q, scale: Float32Array.from(scale), zeroPoint: Int32Array.from(zeroPoint) };
}

export { isContiguous };
