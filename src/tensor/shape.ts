/**
 * Shapes, strides and broadcasting: the bookkeeping that lets reshape, permute, expand and
 * slice be views over one storage instead of copies (minitorch's tensor_data.py idea).
 */
export type Shape = readonly number[];

export function numel(shape: Shape): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/** Row-major (C-order) strides of a contiguous tensor of this shape. */
export function contiguousStrides(shape: Shape): number[] {
  const strides = new Array<number>(shape.length);
  let s = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    strides[i] = s;
    s *= shape[i];
  }
  return strides;
}

export function isContiguous(shape: Shape, strides: readonly number[]): boolean {
  let s = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    if (shape[i] !== 1 && strides[i] !== s) return false;
    s *= shape[i];
  }
  return true;
}

export function shapeStr(shape: Shape): string {
  return `[${shape.join(', ')}]`;
}

export function sameShape(a: Shape, b: Shape): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** NumPy/PyTorch broadcasting: align trailing dims; each pair must be equal or contain a 1. */
export function broadcastShapes(a: Shape, b: Shape): number[] {
  const n = Math.max(a.length, b.length);
  const out = new Array<number>(n);
  for (let i = 0; i < n; i++) {
    const da = i < n - a.length ? 1 : a[i - (n - a.length)];
    const db = i < n - b.length ? 1 : b[i - (n - b.length)];
    if (da !== db && da !== 1 && db !== 1) {
      throw new Error(
        `shapes ${shapeStr(a)} and ${shapeStr(b)} cannot be broadcast together (dim ${i}: ${da} vs ${db})`,
      );
    }
    out[i] = da === 1 ? db : da;
  }
  return out;
}

/**
 * Normalises a possibly negative axis into [0, ndim), with an error naming the tensor's rank.
 * A 0-d tensor accepts axis 0 and -1, as in PyTorch (which wraps dims as if it were 1-d).
 */
export function normAxis(axis: number, ndim: number): number {
  const n = Math.max(ndim, 1);
  if (!Number.isInteger(axis) || axis < -n || axis >= n) {
    throw new Error(`axis ${axis} is out of range for a tensor of rank ${ndim}`);
  }
  return axis < 0 ? axis + n : axis;
}

/**
 * Normalised, sorted, distinct axes to reduce over; all of them when undefined. A 0-d tensor has
 * no dims to reduce: a valid axis (0 or -1) gives [] (the reduction is over its one element).
 */
export function normAxes(axes: number | readonly number[] | undefined, ndim: number): number[] {
  if (axes === undefined) return Array.from({ length: ndim }, (_, i) => i);
  const list = typeof axes === 'number' ? [axes] : axes;
  const out = list.map((a) => normAxis(a, ndim));
  if (new Set(out).size !== out.length) throw new Error(`repeated axis in [${list.join(', ')}]`);
  if (ndim === 0) return [];
  return out.sort((x, y) => x - y);
}

export function checkShape(shape: Shape): void {
  for (const d of shape) {
    if (!Number.isInteger(d) || d < 0) throw new Error(`invalid shape ${shapeStr(shape)}: dims must be non-negative integers`);
  }
}

/**
 * Output size of a convolution or pooling window along one dim (PyTorch's Conv2d / MaxPool2d
 * formula): floor((n + 2·pad - dil·(k - 1) - 1) / stride) + 1.
 */
export function convOutSize(n: number, k: number, stride: number, pad: number, dil: number): number {
  return Math.floor((n + 2 * pad - dil * (k - 1) - 1) / stride) + 1;
}
