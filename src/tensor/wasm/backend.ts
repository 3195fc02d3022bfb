/**
 * The wasm backend: the cpu reference backend with its hot float32 primitives replaced by
 * WebAssembly SIMD kernels. It extends CpuBackend (same buffers, same loops) and overrides only
 * what it accelerates:
 *   - matmul and conv2d (+ both gradients): the packed SIMD gemm of ./kernels.ts, float32
 *     accumulation, optionally split across worker threads (./threads.ts; QGRAD_THREADS);
 *   - conv2dBias: the bias add and relu in the convolution's epilogue (the same bits as the
 *     separate ops); conv2dReluPool: that and 2 x 2 max pooling, the activations never leaving
 *     wasm memory (and its backward unpools straight into it); conv2dBackward: relu's mask,
 *     the bias gradient and both convolution gradients from one staged copy of the output
 *     gradient (the same bits as the separate ops);
 *     sumOuterInner: a conv bias gradient summed in place;
 *   - 2x2 stride-2 max pooling: a branch-free SIMD kernel, and its backward as a SIMD gather;
 *   - unary / binary elementwise ops and sums with an exact SIMD form (./elementwise.ts), bit
 *     for bit equal to the reference loops;
 *   - batch normalisation in training mode in three passes (./batchnorm.ts);
 *   - fake quantization (y and the straight-through mask in one SIMD pass, ./quant-kernels.ts);
 *   - memory: released arrays are recycled through a pool (./buffer-pool.ts) instead of being
 *     allocated again at every step.
 * Everything else, and every float64 / int32 tensor, runs the reference (super). Results differ
 * from the reference only by float32 vs float64 accumulation in matmul and convolution (a few
 * float32 ulps times sqrt(K)); see docs/performance.md.
 */
import type { BinaryOp, Conv2dParams, DeviceBuffer, Pool2dParams, QuantKernelParams, ScalarOrder, UnaryOp, View } from '../backend.js';
import type { DType, TypedArray } from '../dtype.js';
import { numel } from '../shape.js';
import { CpuBackend, d } from '../cpu/index.js';
import type { MatOperand } from '../cpu/gemm.js';
import { poolOutShape } from '../cpu/pool.js';
import { runWhere } from '../cpu/elementwise.js';
import { BufferPool } from './buffer-pool.js';
import { conv2dBackwardF32, conv2dForwardF32, conv2dGradInputF32, conv2dGradWeightF32, conv2dReluPoolBackwardF32, conv2dReluPoolF32, type ConvGradNeeds } from './conv.js';
import { sumOuterInnerInto, wasmBinary, wasmSum, wasmUnary, wasmWhere } from './elementwise.js';
import { gemmF32 } from './gemm.js';
import { maxPool2dGradF32 } from './pool-grad.js';
import { fakeQuantizeWasm, fakeQuantizeWasmApplies } from './quant-kernels.js';
import { batchNormBackwardWasm, batchNormForwardWasm } from './batchnorm.js';
import { checkQuantKernelParams } from '../quant-check.js';
import { getWasmKernelConfig, maxPool2x2GradWasm, maxPool2x2Wasm } from './runtime.js';

/** MaxPool2d(2): 2 x 2 windows, stride 2, no padding or dilation (the SIMD kernels' case). */
const is2x2 = (p: Pool2dParams): boolean => p.kernel[0] === 2 && p.kernel[1] === 2 && p.stride[0] === 2 && p.stride[1] === 2
  && p.padding[0] === 0 && p.padding[1] === 0 && p.dilation[0] === 1 && p.dilation[1] === 1;
const isF32 = (...xs: TypedArray[]): boolean => xs.every((x) => x instanceof Float32Array);
const f32View = (v: View) => ({ data: d(v.buffer) as Float32Array, strides: v.strides, offset: v.offset });

export class WasmBackend extends CpuBackend {
  override readonly name: string = 'wasm';
  /** Recycles released arrays; `bufferPool.limitBytes` bounds it (0 turns it off). */
  readonly bufferPool = new BufferPool();

  override describe(): string {
    const k = getWasmKernelConfig();
    return `wasm (SIMD float32 gemm/conv/elementwise, ${k.threads} thread${k.threads > 1 ? 's' : ''}${k.relaxedSimd ? ', relaxed SIMD' : ''}; cpu reference elsewhere)`;
  }

  // ---- memory: the buffer pool ----------------------------------------------------------------
  protected override wrap(data: TypedArray) {
    this.bufferPool.track(data);
    return super.wrap(data);
  }
  protected override newArray(dtype: DType, size: number): TypedArray {
    return this.bufferPool.take(dtype, size);
  }
  protected override newZeroedArray(dtype: DType, size: number): TypedArray {
    return this.bufferPool.takeZeroed(dtype, size);
  }
  protected override freed(array: TypedArray): void {
    this.bufferPool.give(array);
  }
  /** An array the garbage collector took: no longer live, and never pooled (the pool pins nothing). */
  protected override collected(bytes: number): void {
    this.bufferPool.forget(bytes);
  }

  // ---- elementwise and sums ---------------------------------------------------------------------
  // Each tries the SIMD kernel, which declines (false) where it does not apply or would not pay.
  protected override unaryInto(op: UnaryOp, out: TypedArray, a: View): void {
    const x = d(a.buffer);
    // identity is a copy or cast: the reference already does it with native copies.
    if (op !== 'identity' && out.length > 0 && isF32(out, x) && wasmUnary(op, out as Float32Array, a.shape, f32View(a))) return;
    super.unaryInto(op, out, a);
  }
  protected override binaryInto(op: BinaryOp, out: TypedArray, a: View, b: View, outShape: readonly number[]): void {
    if (out.length > 0 && isF32(out, d(a.buffer), d(b.buffer)) && wasmBinary(op, out as Float32Array, outShape, f32View(a), f32View(b))) return;
    super.binaryInto(op, out, a, b, outShape);
  }
  protected override binaryScalarInto(op: BinaryOp, out: TypedArray, a: View, s: number, order: ScalarOrder): void {
    // The float32 kernels compute in float32: exact only for a scalar that is a float32 itself.
    if (out.length > 0 && isF32(out, d(a.buffer)) && (Math.fround(s) === s || s !== s)) {
      const x = f32View(a), sc = { data: Float32Array.of(s), strides: a.shape.map(() => 0), offset: 0 };
      if (order === 's op a' ? wasmBinary(op, out as Float32Array, a.shape, sc, x) : wasmBinary(op, out as Float32Array, a.shape, x, sc)) return;
    }
    super.binaryScalarInto(op, out, a, s, order);
  }
  /** c !== 0 ? a : b over float32 operands as a SIMD select (the STE backward); else the reference. */
  override where(cond: View, a: View, b: View, outShape: readonly number[], outDtype: DType): DeviceBuffer {
    if (outDtype === 'float32' && isF32(d(cond.buffer), d(a.buffer), d(b.buffer))) {
      const out = this.allocF32(numel(outShape));
      if (!(out.length > 0 && wasmWhere(out, outShape, f32View(cond), f32View(a), f32View(b)))) runWhere(out, cond, d(cond.buffer), a, d(a.buffer), b, d(b.buffer), outShape);
      return this.wrap(out);
    }
    return super.where(cond, a, b, outShape, outDtype);
  }
  protected override sumInto(x: TypedArray, outer: number, inner: number, out: TypedArray): void {
    if (x instanceof Float32Array && wasmSum(x, outer, inner, out)) return;
    super.sumInto(x, outer, inner, out);
  }

  /**
   * The sum over outer and inner of [outer, mid, inner] in place (a conv bias gradient): float32
   * in wasm (float64 lanes, wasmSumOuterInner); otherwise a loop in the reference's order (its
   * permute + copy + sum adds x[o, m, i] for o, then i, into one float64 sum), without the copy.
   */
  sumOuterInner(a: DeviceBuffer, outer: number, mid: number, inner: number): DeviceBuffer {
    const x = d(a);
    const out = this.newArray(a.dtype, mid);
    sumOuterInnerInto(x, outer, mid, inner, out);
    return this.wrap(out);
  }

  // ---- batch normalisation (training) -----------------------------------------------------------
  batchNormTrain(x: DeviceBuffer, N: number, C: number, HW: number, weight: DeviceBuffer, bias: DeviceBuffer, eps: number) {
    const xd = d(x), wd = d(weight), bd = d(bias);
    if (!isF32(xd, wd, bd)) return null;
    const r = batchNormForwardWasm(xd as Float32Array, N, C, HW, wd as Float32Array, bd as Float32Array, eps, this.allocF32);
    return r && { y: this.wrap(r.y), xhat: this.wrap(r.xhat), mean: this.wrap(r.mean), variance: this.wrap(r.variance), invstd: this.wrap(r.invstd) };
  }
  batchNormTrainBackward(g: DeviceBuffer, xhat: DeviceBuffer, invstd: DeviceBuffer, weight: DeviceBuffer, N: number, C: number, HW: number) {
    const gd = d(g), xd = d(xhat), id = d(invstd), wd = d(weight);
    if (!isF32(gd, xd, id, wd)) return null;
    const r = batchNormBackwardWasm(gd as Float32Array, xd as Float32Array, id as Float32Array, wd as Float32Array, N, C, HW, this.allocF32);
    return r && { gx: this.wrap(r.gx), gw: this.wrap(r.gw), gb: this.wrap(r.gb) };
  }

  // ---- quantization ---------------------------------------------------------------------------
  /** y and the STE mask in one SIMD pass into pooled arrays; the reference where it declines. */
  override fakeQuantize(x: DeviceBuffer, q: QuantKernelParams): { y: DeviceBuffer; mask: DeviceBuffer } {
    const xd = d(x);
    if (xd instanceof Float32Array) {
      checkQuantKernelParams(q, 'fakeQuantize');
      if (fakeQuantizeWasmApplies(xd.length, q)) {
        const y = this.allocF32(xd.length), mask = this.allocF32(xd.length);
        // false only for a NaN input: the reference below reports it
        if (fakeQuantizeWasm(xd, q, y, mask)) return { y: this.wrap(y), mask: this.wrap(mask) };
      }
    }
    return super.fakeQuantize(x, q);
  }

  // ---- matmul, convolution, pooling ---------------------------------------------------------
  /** Result arrays of the fast kernels come from the buffer pool (recycled: no page faults). */
  private readonly allocF32 = (n: number) => this.newArray('float32', n) as Float32Array;
  private readonly allocI32 = (n: number) => this.newArray('int32', n) as Int32Array;

  protected override gemm(M: number, N: number, K: number, A: MatOperand, B: MatOperand, C: TypedArray, cOffset: number): void {
    gemmF32(M, N, K, A, B, C, cOffset, false);
  }
  override conv2d(x: DeviceBuffer, xShape: readonly number[], w: DeviceBuffer, wShape: readonly number[], p: Conv2dParams): DeviceBuffer {
    const xd = d(x), wd = d(w);
    const y = isF32(xd, wd) ? conv2dForwardF32(xd as Float32Array, xShape, wd as Float32Array, wShape, p, this.allocF32) : null;
    return y ? this.wrap(y) : super.conv2d(x, xShape, w, wShape, p);
  }
  conv2dBias(x: DeviceBuffer, xShape: readonly number[], w: DeviceBuffer, wShape: readonly number[], bias: DeviceBuffer, p: Conv2dParams, relu: boolean): DeviceBuffer | null {
    const xd = d(x), wd = d(w), bd = d(bias);
    if (!isF32(xd, wd, bd)) return null;
    const y = conv2dForwardF32(xd as Float32Array, xShape, wd as Float32Array, wShape, p, this.allocF32, bd as Float32Array, relu);
    return y ? this.wrap(y) : null;
  }
  /** The fused backward (conv2dBackwardF32): g, masked, staged once for all three gradients. */
  conv2dBackward(
    g: DeviceBuffer, y: DeviceBuffer | null, x: DeviceBuffer, xShape: readonly number[], w: DeviceBuffer, wShape: readonly number[], p: Conv2dParams,
    needs: ConvGradNeeds,
  ): { gx: DeviceBuffer | null; gw: DeviceBuffer | null; gb: DeviceBuffer | null } | null {
    const gd = d(g), yd = y ? d(y) : null, xd = d(x), wd = d(w);
    if (!isF32(gd, xd, wd) || (yd && !isF32(yd))) return null;
    const r = conv2dBackwardF32(gd as Float32Array, yd as Float32Array | null, xd as Float32Array, xShape, wd as Float32Array, wShape, p, needs, this.allocF32);
    return r && { gx: r.gx && this.wrap(r.gx), gw: r.gw && this.wrap(r.gw), gb: r.gb && this.wrap(r.gb) };
  }
  /** Convolution, bias, relu and 2 x 2 max pooling with the activations kept in wasm memory (conv2dReluPoolF32). */
  conv2dReluPool(x: DeviceBuffer, xShape: readonly number[], w: DeviceBuffer, wShape: readonly number[], bias: DeviceBuffer, p: Conv2dParams) {
    const xd = d(x), wd = d(w), bd = d(bias);
    if (!isF32(xd, wd, bd)) return null;
    const r = conv2dReluPoolF32(xd as Float32Array, xShape, wd as Float32Array, wShape, p, bd as Float32Array, this.allocF32, this.allocI32);
    return r && { out: this.wrap(r.out), indices: this.wrap(r.indices) };
  }
  /** Its backward: the unpooled gradient is written straight into the gemm memory (conv2dReluPoolBackwardF32). */
  conv2dReluPoolBackward(
    gP: DeviceBuffer, pooled: DeviceBuffer, indices: DeviceBuffer, x: DeviceBuffer, xShape: readonly number[], w: DeviceBuffer, wShape: readonly number[],
    p: Conv2dParams, needs: ConvGradNeeds,
  ): { gx: DeviceBuffer | null; gw: DeviceBuffer | null; gb: DeviceBuffer | null } | null {
    const gd = d(gP), pd = d(pooled), id = d(indices), xd = d(x), wd = d(w);
    if (!isF32(gd, pd, xd, wd) || !(id instanceof Int32Array)) return null;
    const r = conv2dReluPoolBackwardF32(gd as Float32Array, pd as Float32Array, id, xd as Float32Array, xShape, wd as Float32Array, wShape, p, needs, this.allocF32);
    return r && { gx: r.gx && this.wrap(r.gx), gw: r.gw && this.wrap(r.gw), gb: r.gb && this.wrap(r.gb) };
  }
  override conv2dGradInput(gy: DeviceBuffer, gyShape: readonly number[], w: DeviceBuffer, wShape: readonly number[], xShape: readonly number[], p: Conv2dParams): DeviceBuffer {
    const gyd = d(gy), wd = d(w);
    const gx = isF32(gyd, wd) ? conv2dGradInputF32(gyd as Float32Array, wShape, wd as Float32Array, xShape, p, this.allocF32) : null;
    return gx ? this.wrap(gx) : super.conv2dGradInput(gy, gyShape, w, wShape, xShape, p);
  }
  override conv2dGradWeight(x: DeviceBuffer, xShape: readonly number[], gy: DeviceBuffer, gyShape: readonly number[], wShape: readonly number[], p: Conv2dParams): DeviceBuffer {
    const xd = d(x), gyd = d(gy);
    const gw = isF32(xd, gyd) ? conv2dGradWeightF32(xd as Float32Array, xShape, gyd as Float32Array, wShape, p, this.allocF32) : null;
    return gw ? this.wrap(gw) : super.conv2dGradWeight(x, xShape, gy, gyShape, wShape, p);
  }
  override maxPool2d(x: DeviceBuffer, xShape: readonly number[], p: Pool2dParams): { out: DeviceBuffer; indices: DeviceBuffer } {
    const xd = d(x);
    if (is2x2(p) && xd instanceof Float32Array) {
      // Branch-free in SIMD: on random data the reference loop mispredicts a branch per window.
      const [N, C, OH, OW] = poolOutShape(xShape, p);
      const r = maxPool2x2Wasm(xd, N * C, xShape[2], xShape[3], OH, OW, { f32: this.allocF32, i32: this.allocI32 });
      if (r) return { out: this.wrap(r.out), indices: this.wrap(r.indices) };
    }
    return super.maxPool2d(x, xShape, p);
  }
  /** maxPool2d(relu(x)) for 2 x 2 windows in one SIMD pass (maxpool2x2_bias_relu); null elsewhere. */
  reluMaxPool2d(x: DeviceBuffer, xShape: readonly number[], p: Pool2dParams): { out: DeviceBuffer; indices: DeviceBuffer } | null {
    const xd = d(x);
    if (!is2x2(p) || !(xd instanceof Float32Array)) return null;
    const [N, C, OH, OW] = poolOutShape(xShape, p);
    const r = maxPool2x2Wasm(xd, N * C, xShape[2], xShape[3], OH, OW, { f32: this.allocF32, i32: this.allocI32 }, true);
    return r && { out: this.wrap(r.out), indices: this.wrap(r.indices) };
  }
  /** Its backward: relu's mask in pooled space while unpooling (maxpool2x2_relu_grad); null elsewhere. */
  reluMaxPool2dGrad(gy: DeviceBuffer, pooled: DeviceBuffer, indices: DeviceBuffer, gyShape: readonly number[], xShape: readonly number[], p: Pool2dParams): DeviceBuffer | null {
    const g = d(gy), pv = d(pooled), idx = d(indices);
    if (!is2x2(p) || !(g instanceof Float32Array) || !(pv instanceof Float32Array) || !(idx instanceof Int32Array)) return null;
    const gx = maxPool2x2GradWasm(g, idx, gyShape[0] * gyShape[1], xShape[2], xShape[3], gyShape[2], gyShape[3], this.allocF32, pv);
    return gx && this.wrap(gx);
  }
  override maxPool2dGrad(gy: DeviceBuffer, indices: DeviceBuffer, gyShape: readonly number[], xShape: readonly number[], p: Pool2dParams): DeviceBuffer {
    const g = d(gy), idx = d(indices);
    if (g instanceof Float32Array && idx instanceof Int32Array && is2x2(p)) {
      // A gather in SIMD that writes every element once: no zeroed array, no scatter.
      const gx = maxPool2x2GradWasm(g, idx, gyShape[0] * gyShape[1], xShape[2], xShape[3], gyShape[2], gyShape[3], this.allocF32);
      if (gx) return this.wrap(gx);
    }
    if (g instanceof Float32Array && idx instanceof Int32Array) {
      const gx = this.newZeroedArray('float32', xShape[0] * xShape[1] * xShape[2] * xShape[3]) as Float32Array;
      return this.wrap(maxPool2dGradF32(g, idx, gyShape, xShape, gx));
    }
    return super.maxPool2dGrad(gy, indices, gyShape, xShape, p);
  }
}
