/**
 * The Tensor: a strided view (shape, strides, offset) onto a Storage owned by a backend, plus the
 * fields reverse-mode autograd needs (requiresGrad, grad, gradFn). The differentiable operations
 * (add, matmul, conv2d, ...) are installed as methods by src/autograd, which sits above this layer;
 * here live only the data structure, host transfer and lifetime.
 */
import { getBackend, getDefaultDevice, type Backend, type Device, type View } from './backend.js';
import type { DType, TypedArray } from './dtype.js';
import { contiguousStrides, isContiguous, numel, shapeStr } from './shape.js';
import { Storage } from './storage.js';

/** What autograd attaches to a non-leaf tensor: the node that produced it. Opaque here. */
export interface GradNode {
  readonly name: string;
}

export class Tensor implements View {
  // Mutable only through assign_(): parameters keep their identity while optimizers replace their data.
  storage: Storage;
  readonly shape: readonly number[];
  strides: readonly number[];
  offset: number;
  /** Leaves with requiresGrad accumulate gradients into .grad during backward(). */
  requiresGrad = false;
  grad: Tensor | null = null;
  /** Set by autograd on results of differentiable ops; null for leaves. */
  gradFn: GradNode | null = null;
  /** Optional label, shown in errors and graph dumps. */
  name?: string;

  constructor(storage: Storage, shape: readonly number[], strides?: readonly number[], offset = 0) {
    this.storage = storage;
    this.shape = Object.freeze([...shape]);
    this.strides = Object.freeze(strides ? [...strides] : contiguousStrides(shape));
    this.offset = offset;
  }

  get buffer() {
    return this.storage.buffer;
  }
  get backend(): Backend {
    return this.storage.backend;
  }
  get device(): Device {
    return this.storage.backend.name;
  }
  get dtype(): DType {
    return this.storage.buffer.dtype;
  }
  get ndim(): number {
    return this.shape.length;
  }
  get size(): number {
    return numel(this.shape);
  }
  get isLeaf(): boolean {
    return this.gradFn === null;
  }
  get isContiguous(): boolean {
    return isContiguous(this.shape, this.strides) ;
  }
  get disposed(): boolean {
    return this.storage.disposed;
  }

  /** Host copy of the elements in row-major order. */
  toTypedArray(): TypedArray {
    return this.backend.read(this);
  }

  /** Nested JS arrays, like torch's tolist(). */
  toArray(): NestedArray {
    const flat = Array.from(this.toTypedArray());
    if (this.ndim === 0) return flat[0];
    const build = (dim: number, start: number): NestedArray => {
      const n = this.shape[dim];
      if (dim === this.ndim - 1) return flat.slice(start, start + n);
      const inner = numel(this.shape.slice(dim + 1));
      const out: NestedArray[] = [];
      for (let i = 0; i < n; i++) out.push(build(dim + 1, start + i * inner));
      return out;
    };
    return build(0, 0);
  }

  /** The single value of a one-element tensor. */
  item(): number {
    if (this.size !== 1) throw new Error(`item() needs a tensor with one element, got shape ${shapeStr(this.shape)}`);
    return this.toTypedArray()[0];
  }

  /** Releases the device memory now (shared by every view of the same storage). */
  dispose(): void {
    this.storage.dispose();
  }

  /**
   * Replaces this tensor's data by src's (same shape; src must be contiguous; any device): the way
   * optimizers update parameters and batch norm its running statistics while modules keep
   * references to the same Tensor objects. This tensor takes ownership of src's storage (kept
   * out of tidy scopes) and disposes its previous storage unless it was src's.
   */
  assign_(src: Tensor): this {
    if (src.shape.length !== this.shape.length || src.shape.some((d, i) => d !== this.shape[i])) {
      throw new Error(`assign_: shape ${shapeStr(src.shape)} does not match ${shapeStr(this.shape)}`);
    }
    if (!isContiguous(src.shape, src.strides) || src.offset !== 0) throw new Error('assign_: the source must be contiguous with offset 0');
    const old = this.storage;
    this.storage = src.storage;
    this.strides = src.strides;
    this.offset = 0;
    this.storage.keep();
    if (old !== src.storage) old.dispose();
    return this;
  }

  /** Marks the storage to outlive any enclosing tidy() scope. */
  keep(): this {
    this.storage.keep();
    return this;
  }

  toString(): string {
    const head = `tensor(shape=${shapeStr(this.shape)}, dtype=${this.dtype}, device=${this.device}`;
    if (this.disposed) return `${head}, disposed)`;
    const vals = this.size <= 64 ? JSON.stringify(this.toArray()) : `[${Array.from(this.toTypedArray().subarray(0, 8)).join(', ')}, ...]`;
    return `${head}${this.requiresGrad ? ', requiresGrad' : ''}): ${vals}`;
  }
}

export type NestedArray = number | NestedArray[];

/** A new tensor owning a freshly produced contiguous buffer. */
export function fromBuffer(backend: Backend, buffer: import('./backend.js').DeviceBuffer, shape: readonly number[]): Tensor {
  return new Tensor(new Storage(backend, buffer), shape);
}

/** A view sharing `t`'s storage. */
export function viewOf(t: Tensor, shape: readonly number[], strides: readonly number[], offset: number): Tensor {
  return new Tensor(t.storage, shape, strides, offset);
}

export function backendFor(device?: Device): Backend {
  return getBackend(device ?? getDefaultDevice());
}
