/**
 * Creating tensors: from nested arrays or typed arrays, constant fills, ranges and seeded random
 * samples. Every creator takes { dtype, device, requiresGrad }.
 */
import type { Device } from './backend.js';
import { allocTyped, type DType, type TypedArray } from './dtype.js';
import { Generator, globalGenerator } from './random.js';
import { checkShape, numel, shapeStr } from './shape.js';
import { backendFor, fromBuffer, type NestedArray, Tensor } from './tensor.js';

export interface TensorOptions {
  dtype?: DType;
  device?: Device;
  requiresGrad?: boolean;
}

export interface RandomOptions extends TensorOptions {
  generator?: Generator;
}

function finish(t: Tensor, opts: TensorOptions): Tensor {
  if (opts.requiresGrad) t.requiresGrad = true;
  return t;
}

/** A tensor from a typed array (copied) and a shape. */
export function fromArray(data: ArrayLike<number>, shape: readonly number[], opts: TensorOptions = {}): Tensor {
  checkShape(shape);
  if (data.length !== numel(shape)) {
    throw new Error(`fromArray: ${data.length} values cannot fill shape ${shapeStr(shape)} (${numel(shape)} elements)`);
  }
  const dtype = opts.dtype ?? inferDtype(data);
  const arr = allocTyped(dtype, data.length);
  arr.set(data as ArrayLike<number>);
  const backend = backendFor(opts.device);
  if (!backend.dtypes.includes(dtype)) throw new Error(`device '${backend.name}' does not support dtype ${dtype}`);
  return finish(fromBuffer(backend, backend.upload(arr), shape), opts);
}

function inferDtype(data: ArrayLike<number>): DType {
  if (data instanceof Float64Array) return 'float64';
  if (data instanceof Int32Array) return 'int32';
  return 'float32';
}

/** A tensor from a number or nested arrays, like torch.tensor. */
export function tensor(data: NestedArray | TypedArray, opts: TensorOptions = {}): Tensor {
  if (ArrayBuffer.isView(data)) return fromArray(data as TypedArray, [(data as TypedArray).length], opts);
  const shape: number[] = [];
  let probe: NestedArray = data;
  while (Array.isArray(probe)) {
    shape.push(probe.length);
    if (probe.length === 0) break;
    probe = probe[0];
  }
  const flat: number[] = [];
  const walk = (v: NestedArray, dim: number): void => {
    if (dim === shape.length) {
      if (typeof v !== 'number') throw new Error(`tensor: ragged nested array (expected a number at depth ${dim})`);
      flat.push(v);
      return;
    }
    if (!Array.isArray(v) || v.length !== shape[dim]) {
      throw new Error(`tensor: ragged nested array at depth ${dim} (expected length ${shape[dim]})`);
    }
    for (const x of v) walk(x, dim + 1);
  };
  walk(data, 0);
  return fromArray(flat, shape, opts);
}

export function full(shape: readonly number[], value: number, opts: TensorOptions = {}): Tensor {
  checkShape(shape);
  const arr = allocTyped(opts.dtype ?? 'float32', numel(shape));
  arr.fill(value);
  return fromArray(arr, shape, opts);
}

export function zeros(shape: readonly number[], opts: TensorOptions = {}): Tensor {
  checkShape(shape);
  const backend = backendFor(opts.device);
  return finish(fromBuffer(backend, backend.alloc(opts.dtype ?? 'float32', numel(shape)), shape), opts);
}

export function ones(shape: readonly number[], opts: TensorOptions = {}): Tensor {
  return full(shape, 1, opts);
}

export function zerosLike(t: Tensor, opts: TensorOptions = {}): Tensor {
  return zeros(t.shape, { dtype: t.dtype, device: t.device, ...opts });
}

export function onesLike(t: Tensor, opts: TensorOptions = {}): Tensor {
  return ones(t.shape, { dtype: t.dtype, device: t.device, ...opts });
}

/** [start, end) in steps, like torch.arange (end exclusive). */
export function arange(start: number, end?: number, step = 1, opts: TensorOptions = {}): Tensor {
  if (end === undefined) [start, end] = [0, start];
  if (step === 0) throw new Error('arange: step must be non-zero');
  const n = Math.max(0, Math.ceil((end - start) / step));
  const arr = allocTyped(opts.dtype ?? 'float32', n);
  for (let i = 0; i < n; i++) arr[i] = start + i * step;
  return fromArray(arr, [n], opts);
}

/** Uniform samples in [low, high) from the seeded generator. */
export function rand(shape: readonly number[], opts: RandomOptions & { low?: number; high?: number } = {}): Tensor {
  checkShape(shape);
  const g = opts.generator ?? globalGenerator;
  const lo = opts.low ?? 0, hi = opts.high ?? 1;
  const arr = allocTyped(opts.dtype ?? 'float32', numel(shape));
  for (let i = 0; i < arr.length; i++) arr[i] = lo + (hi - lo) * g.uniform();
  return fromArray(arr, shape, opts);
}

/** Normal samples N(mean, std^2) from the seeded generator. */
export function randn(shape: readonly number[], opts: RandomOptions & { mean?: number; std?: number } = {}): Tensor {
  checkShape(shape);
  const g = opts.generator ?? globalGenerator;
  const mean = opts.mean ?? 0, std = opts.std ?? 1;
  const arr = allocTyped(opts.dtype ?? 'float32', numel(shape));
  for (let i = 0; i < arr.length; i++) arr[i] = mean + std * g.normal();
  return fromArray(arr, shape, opts);
}

/** Integer samples in [low, high). */
export function randint(low: number, high: number, shape: readonly number[], opts: RandomOptions = {}): Tensor {
  checkShape(shape);
  if (!Number.isInteger(low) || !Number.isInteger(high) || high <= low) throw new Error(`randint: need integers low < high, got [${low}, ${high})`);
  const g = opts.generator ?? globalGenerator;
  const arr = allocTyped(opts.dtype ?? 'int32', numel(shape));
  for (let i = 0; i < arr.length; i++) arr[i] = low + g.int(high - low);
  return fromArray(arr, shape, { ...opts, dtype: opts.dtype ?? 'int32' });
}
