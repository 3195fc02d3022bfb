/**
 * The cpu backend: every primitive of the Backend interface as plain TypeScript loops over typed
 * arrays. It is the readable reference every other backend is tested against, and nothing else.
 * Precision: float32 storage with float64 accumulation in reductions, matmul and convolution;
 * float64 end to end for float64 tensors.
 *
 * A faster backend can extend this class and override only the primitives it accelerates; the
 * protected hooks below (newArray, newZeroedArray, freed, gemm, unaryInto, binaryInto,
 * binaryScalarInto, sumInto) are where it plugs in.
 */
import type {
  Backend, BinaryOp, Conv2dParams, ScalarOrder, DeviceBuffer, Pool2dParams, QuantKernelParams, ReduceOp, UnaryOp, View,
} from '../backend.js';
import { registerBackend } from '../backend.js';
import type { DType, TypedArray } from '../dtype.js';
import { allocTyped, dtypeOf } from '../dtype.js';
import { contiguousStrides, isContiguous, numel } from '../shape.js';
import { conv2dForward, conv2dGradInput, conv2dGradWeight } from './conv.js';
import { runBinary, runBinaryScalar, runUnary, runWhere } from './elementwise.js';
import { gemm, type MatOperand } from './gemm.js';
import { avgPool2d, avgPool2dGrad, maxPool2d, maxPool2dGrad, poolOutShape } from './pool.js';
import { dequantizeKernel, fakeQuantizeKernel, quantizeKernel } from './quant.js';
import { sgdUpdateInto, type SgdHyper } from './sgd.js';
import { adamUpdateInto, type AdamHyper } from './adam.js';

export class CpuBuffer implements DeviceBuffer {
  readonly size: number;
  readonly dtype: DType;
  private array: TypedArray | null;

  constructor(data: TypedArray) {
    this.array = data;
    this.size = data.length;
    this.dtype = dtypeOf(data);
  }

  get data(): TypedArray {
    if (this.array === null) throw new Error('cpu buffer used after it was disposed');
    return this.array;
  }

  /** Detaches the array (on dispose, before it is recycled); null if that already happened. */
  release(): TypedArray | null {
    const a = this.array;
    this.array = null;
    return a;
  }
}

export function d(b: DeviceBuffer): TypedArray {
  return (b as CpuBuffer).data;
}

export class CpuBackend implements Backend {
  readonly name: string = 'cpu';
  readonly dtypes: readonly DType[] = ['float32', 'float64', 'int32'];
  private live = 0;

  describe(): string {
    return 'cpu (TypeScript loops, float64 accumulation)';
  }

  protected wrap(data: TypedArray): CpuBuffer {
    this.live++;
    return new CpuBuffer(data);
  }

  /** An array for a result that the kernel overwrites entirely (contents unspecified). */
  protected newArray(dtype: DType, size: number): TypedArray {
    return allocTyped(dtype, size);
  }
  /** A zero-filled array. */
  protected newZeroedArray(dtype: DType, size: number): TypedArray {
    return allocTyped(dtype, size);
  }
  /** Called with the array of a disposed buffer; here the garbage collector takes it. */
  protected freed(_array: TypedArray): void {}

  /** The matrix product matmul and nothing else runs: C[M,N] = A[M,K] · B[K,N]. */
  protected gemm(M: number, N: number, K: number, A: MatOperand, B: MatOperand, C: TypedArray, cOffset: number): void {
    gemm(M, N, K, A, B, C, cOffset, false);
  }
  /** out = op(a), elementwise over a view (the generated loops of ./elementwise.ts). */
  protected unaryInto(op: UnaryOp, out: TypedArray, a: View): void {
    runUnary(op, out, a, d(a.buffer));
  }
  protected binaryInto(op: BinaryOp, out: TypedArray, a: View, b: View, outShape: readonly number[]): void {
    runBinary(op, out, a, d(a.buffer), b, d(b.buffer), outShape);
  }
  protected binaryScalarInto(op: BinaryOp, out: TypedArray, a: View, s: number, order: ScalarOrder): void {
    runBinaryScalar(op, out, a, d(a.buffer), s, order);
  }
  /** out[o] = sum of x[o * inner + i] over i, accumulated in float64. */
  protected sumInto(x: TypedArray, outer: number, inner: number, out: TypedArray): void {
    for (let o = 0; o < outer; o++) {
      const base = o * inner;
      let s = 0;
      for (let i = 0; i < inner; i++) s += x[base + i];
      out[o] = s;
    }
  }

  private out(dtype: DType, size: number): TypedArray {
    return this.newArray(dtype, size);
  }

  alloc(dtype: DType, size: number): DeviceBuffer {
    return this.wrap(this.newZeroedArray(dtype, size));
  }
  upload(data: TypedArray): DeviceBuffer {
    const out = this.out(dtypeOf(data), data.length);
    out.set(data);
    return this.wrap(out);
  }
  read(view: View): TypedArray {
    const src = d(view.buffer);
    const n = numel(view.shape);
    const out = this.out(view.buffer.dtype, n);
    if (isContiguous(view.shape, view.strides)) out.set(src.subarray(view.offset, view.offset + n));
    else runUnary('identity', out, view, src);
    return out;
  }
  dispose(buffer: DeviceBuffer): void {
    const a = (buffer as CpuBuffer).release();
    if (a === null) return; // a second dispose is a no-op: the buffer was counted out already
    this.live--;
    this.freed(a);
  }
  /** One SGD step of one parameter as one loop (./sgd.ts), float32 and float64; null otherwise. */
  sgdUpdate(p: DeviceBuffer, g: DeviceBuffer, prev: DeviceBuffer | null, n: number, h: SgdHyper): { p: DeviceBuffer; buf: DeviceBuffer | null } | null {
    const pd = d(p), gd = d(g), bd = prev ? d(prev) : null;
    const dtype = dtypeOf(pd);
    if (dtype === 'int32' || dtypeOf(gd) !== dtype || (bd && dtypeOf(bd) !== dtype) || pd.length < n || gd.length < n || (bd && bd.length < n)) return null;
    const pOut = this.newArray(dtype, n), bufOut = h.momentum ? this.newArray(dtype, n) : null;
    sgdUpdateInto(pd.subarray(0, n), gd.subarray(0, n), bd && h.momentum ? bd.subarray(0, n) : null, h, pOut, bufOut);
    return { p: this.wrap(pOut), buf: bufOut && this.wrap(bufOut) };
  }
  /** One Adam / AdamW step of one parameter as one loop (./adam.ts), float32 and float64; null otherwise. */
  adamUpdate(p: DeviceBuffer, g: DeviceBuffer, m: DeviceBuffer | null, v: DeviceBuffer | null, n: number, h: AdamHyper): { p: DeviceBuffer; m: DeviceBuffer; v: DeviceBuffer } | null {
    const pd = d(p), gd = d(g), md = m ? d(m) : null, vd = v ? d(v) : null;
    const dtype = dtypeOf(pd);
    if (dtype === 'int32' || [gd, md, vd].some((a) => a && (dtypeOf(a) !== dtype || a.length < n)) || pd.length < n || !md !== !vd) return null;
    const pOut = this.newArray(dtype, n), mOut = this.newArray(dtype, n), vOut = this.newArray(dtype, n);
    adamUpdateInto(pd.subarray(0, n), gd.subarray(0, n), md && md.subarray(0, n), vd && vd.subarray(0, n), h, pOut, mOut, vOut);
    return { p: this.wrap(pOut), m: this.wrap(mOut), v: this.wrap(vOut) };
  }
  liveBuffers(): number {
    return this.live;
  }
  /**
   * Buffers are plain typed arrays: once no tensor references one, the garbage collector frees
   * it. This callback (held by Storage's FinalizationRegistry, holding no array) only keeps the
   * count, later, when the finalizer runs.
   */
  collectable(buffer: DeviceBuffer): () => void {
    const bytes = (buffer as CpuBuffer).data.byteLength;
    return () => {
      this.live--;
      this.collected(bytes);
    };
  }
  /** Called when the collector took an array of this many bytes (never disposed). */
  protected collected(_bytes: number): void {}

  contiguous(a: View): DeviceBuffer {
    return this.wrap(this.read(a));
  }
  unary(op: UnaryOp, a: View, outDtype: DType): DeviceBuffer {
    const out = this.out(outDtype, numel(a.shape));
    this.unaryInto(op, out, a);
    return this.wrap(out);
  }
  binary(op: BinaryOp, a: View, b: View, outShape: readonly number[], outDtype: DType): DeviceBuffer {
    const out = this.out(outDtype, numel(outShape));
    this.binaryInto(op, out, a, b, outShape);
    return this.wrap(out);
  }
  binaryScalar(op: BinaryOp, a: View, s: number, order: ScalarOrder, outDtype: DType): DeviceBuffer {
    const out = this.out(outDtype, numel(a.shape));
    this.binaryScalarInto(op, out, a, s, order);
    return this.wrap(out);
  }
  where(cond: View, a: View, b: View, outShape: readonly number[], outDtype: DType): DeviceBuffer {
    const out = this.out(outDtype, numel(outShape));
    runWhere(out, cond, d(cond.buffer), a, d(a.buffer), b, d(b.buffer), outShape);
    return this.wrap(out);
  }

  reduce(op: ReduceOp, a: DeviceBuffer, outer: number, inner: number): DeviceBuffer {
    const x = d(a);
    const isIndex = op === 'argmax' || op === 'argmin';
    const out = this.out(isIndex ? 'int32' : a.dtype, outer);
    if (op === 'sum') {
      this.sumInto(x, outer, inner, out);
      return this.wrap(out);
    }
    for (let o = 0; o < outer; o++) {
      const base = o * inner;
      if (inner === 0) {
        throw new Error(`${op} of an empty dimension is undefined`);
      } else {
        // max/min propagate NaN; arg* return the first extreme (or the first NaN).
        const wantMax = op === 'max' || op === 'argmax';
        let best = x[base], bi = 0;
        for (let i = 1; i < inner && best === best; i++) {
          const v = x[base + i];
          if (v !== v || (wantMax ? v > best : v < best)) {
            best = v;
            bi = i;
          }
        }
        out[o] = isIndex ? bi : best;
      }
    }
    return this.wrap(out);
  }

  matmul(a: View, b: View): DeviceBuffer {
    const [B, M, K] = a.shape;
    const N = b.shape[2];
    const outDtype = a.buffer.dtype;
    const out = this.out(outDtype, B * M * N);
    const ad = d(a.buffer), bd = d(b.buffer);
    for (let bi = 0; bi < B; bi++) {
      this.gemm(
        M, N, K,
        { data: ad, offset: a.offset + bi * a.strides[0], rowStride: a.strides[1], colStride: a.strides[2] },
        { data: bd, offset: b.offset + bi * b.strides[0], rowStride: b.strides[1], colStride: b.strides[2] },
        out, bi * M * N,
      );
    }
    return this.wrap(out);
  }

  conv2d(x: DeviceBuffer, xShape: readonly number[], w: DeviceBuffer, wShape: readonly number[], p: Conv2dParams): DeviceBuffer {
    return this.wrap(conv2dForward(d(x), xShape, d(w), wShape, p, x.dtype));
  }
  conv2dGradInput(gy: DeviceBuffer, _gyShape: readonly number[], w: DeviceBuffer, wShape: readonly number[], xShape: readonly number[], p: Conv2dParams): DeviceBuffer {
    return this.wrap(conv2dGradInput(d(gy), wShape, d(w), xShape, p, gy.dtype));
  }
  conv2dGradWeight(x: DeviceBuffer, xShape: readonly number[], gy: DeviceBuffer, _gyShape: readonly number[], wShape: readonly number[], p: Conv2dParams): DeviceBuffer {
    return this.wrap(conv2dGradWeight(d(x), xShape, d(gy), wShape, p, gy.dtype));
  }

  maxPool2d(x: DeviceBuffer, xShape: readonly number[], p: Pool2dParams): { out: DeviceBuffer; indices: DeviceBuffer } {
    const r = maxPool2d(d(x), xShape, p, x.dtype);
    return { out: this.wrap(r.out), indices: this.wrap(r.indices) };
  }
  maxPool2dGrad(gy: DeviceBuffer, indices: DeviceBuffer, gyShape: readonly number[], xShape: readonly number[], _p: Pool2dParams): DeviceBuffer {
    return this.wrap(maxPool2dGrad(d(gy), d(indices), gyShape, xShape, gy.dtype));
  }
  avgPool2d(x: DeviceBuffer, xShape: readonly number[], p: Pool2dParams): DeviceBuffer {
    return this.wrap(avgPool2d(d(x), xShape, p, x.dtype));
  }
  avgPool2dGrad(gy: DeviceBuffer, gyShape: readonly number[], xShape: readonly number[], p: Pool2dParams): DeviceBuffer {
    return this.wrap(avgPool2dGrad(d(gy), gyShape, xShape, p, gy.dtype));
  }

  pad(src: View, outShape: readonly number[], begin: readonly number[], step: readonly number[]): DeviceBuffer {
    const out = this.newZeroedArray(src.buffer.dtype, numel(outShape));
    const outStrides = contiguousStrides(outShape);
    let off = 0;
    for (let i = 0; i < begin.length; i++) off += begin[i] * outStrides[i];
    const dstStrides = outStrides.map((s, i) => s * step[i]);
    const vals = this.read(src);
    // Walk src in row-major order, writing through the strided destination.
    const nd = src.shape.length;
    const idx = new Array<number>(nd).fill(0);
    for (let t = 0; t < vals.length; t++) {
      let o = off;
      for (let k = 0; k < nd; k++) o += idx[k] * dstStrides[k];
      out[o] = vals[t];
      for (let k = nd - 1; k >= 0; k--) {
        if (++idx[k] < src.shape[k]) break;
        idx[k] = 0;
      }
    }
    return this.wrap(out);
  }

  concat(parts: readonly View[], axis: number, outShape: readonly number[]): DeviceBuffer {
    const out = this.out(parts[0].buffer.dtype, numel(outShape));
    const outer = numel(outShape.slice(0, axis));
    const innerOut = numel(outShape.slice(axis));
    let col = 0;
    for (const p of parts) {
      const vals = this.read(p);
      const inner = numel(p.shape.slice(axis));
      for (let o = 0; o < outer; o++) out.set(vals.subarray(o * inner, (o + 1) * inner), o * innerOut + col);
      col += inner;
    }
    return this.wrap(out);
  }

  fakeQuantize(x: DeviceBuffer, q: QuantKernelParams): { y: DeviceBuffer; mask: DeviceBuffer } {
    const r = fakeQuantizeKernel(d(x), q);
    return { y: this.wrap(r.y), mask: this.wrap(r.mask) };
  }
  quantize(x: DeviceBuffer, q: QuantKernelParams): DeviceBuffer {
    return this.wrap(quantizeKernel(d(x), q));
  }
  dequantize(levels: DeviceBuffer, q: QuantKernelParams): DeviceBuffer {
    return this.wrap(dequantizeKernel(d(levels), q));
  }
}

registerBackend('cpu', () => new CpuBackend());

export { poolOutShape };
