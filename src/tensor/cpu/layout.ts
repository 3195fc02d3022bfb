/**
 * Iteration layouts for elementwise loops over strided views.
 *
 * An elementwise op visits its output in row-major order and reads each operand through its
 * strides. Two adjacent dims can be walked as one whenever every operand steps through them
 * as if they were one (stride[d] = stride[d + 1] * shape[d + 1]), and size-1 dims can be
 * dropped; after that, a contiguous tensor is a single run, and the bias add
 * [N, C, H, W] + [1, C, 1, 1] is [N, C, H*W] with the bias constant along rows of H*W. The
 * loops then spend their time in long inner runs instead of in the odometer that carries from
 * one dim to the next (the idea of NumPy's iterator coalescing).
 */
import type { TypedArray } from '../dtype.js';

export interface Layout {
  /** The collapsed shape: rank >= 1, same number of elements, same row-major order. */
  shape: number[];
  /** Per operand, its strides over the collapsed shape. */
  strides: number[][];
}

/** Collapses `shape` jointly for operands with the given strides (see the file comment). */
export function collapse(shape: readonly number[], strides: readonly (readonly number[])[]): Layout {
  const n = strides.length;
  const outShape: number[] = [];
  const outStrides: number[][] = strides.map(() => []);
  // Walk from the innermost dim out, merging each dim into the one inside it when possible.
  for (let d = shape.length - 1; d >= 0; d--) {
    const size = shape[d];
    if (size === 1) continue;
    const k = outShape.length - 1; // the current outermost collapsed dim (stored reversed)
    let merge = k >= 0;
    for (let i = 0; i < n && merge; i++) if (strides[i][d] !== outStrides[i][k] * outShape[k]) merge = false;
    if (merge) {
      outShape[k] *= size;
    } else {
      outShape.push(size);
      for (let i = 0; i < n; i++) outStrides[i].push(strides[i][d]);
    }
  }
  if (outShape.length === 0) return { shape: [1], strides: strides.map(() => [0]) };
  return { shape: outShape.reverse(), strides: outStrides.map((s) => s.reverse()) };
}

/**
 * Reads one strided operand in the output's row-major order, a run (a row of the innermost
 * collapsed dim) at a time, with native copies: `set` for a unit-stride run, `fill` for a
 * stride-0 one (a broadcast value). Consecutive `read` calls continue where the last stopped,
 * so a caller can stage any operand in fixed-size blocks.
 */
export class RunReader {
  private readonly shape: number[];
  private readonly strides: number[];
  /** Length and stride of a run. */
  readonly runLength: number;
  readonly runStride: number;
  private readonly idx: Int32Array;
  /** Start of the current run, and the position within it. */
  private base: number;
  private j = 0;

  constructor(private readonly data: TypedArray, shape: readonly number[], strides: readonly number[], offset: number) {
    const l = collapse(shape, [strides]);
    this.shape = l.shape;
    this.strides = l.strides[0];
    const nd = this.shape.length;
    this.runLength = this.shape[nd - 1];
    this.runStride = this.strides[nd - 1];
    this.idx = new Int32Array(nd);
    this.base = offset;
  }

  /** Copies the next n elements into dst[d, d + n) (converting as an assignment would). */
  read(dst: TypedArray, d: number, n: number): void {
    const { data, runLength: L, runStride: s } = this;
    while (n > 0) {
      const take = Math.min(n, L - this.j);
      const p = this.base + this.j * s;
      if (s === 1) dst.set(data.subarray(p, p + take), d);
      else if (s === 0) dst.fill(data[p], d, d + take);
      else for (let t = 0; t < take; t++) dst[d + t] = data[p + t * s];
      d += take;
      n -= take;
      this.j += take;
      if (this.j === L) this.nextRun();
    }
  }

  private nextRun(): void {
    this.j = 0;
    const { shape, strides, idx } = this;
    for (let k = shape.length - 2; k >= 0; k--) {
      this.base += strides[k];
      if (++idx[k] < shape[k]) return;
      idx[k] = 0;
      this.base -= strides[k] * shape[k];
    }
  }
}
