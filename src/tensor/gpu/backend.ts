/**
 * The gpu backend: every primitive of the Backend interface as a gpu.js kernel (kernels/*.ts),
 * run through one KernelRuntime (runtime.ts: the gpu.js instance, the kernel cache, device memory).
 *
 * Numbers: everything is float32 on the device. int32 tensors are stored as float32, exact for
 * |v| < 2^24 (uploading a larger value is an error; arithmetic that leaves that range is not
 * checked). float64 is not supported. Reductions, matmul and convolution accumulate in float32
 * (the cpu backend accumulates in float64): docs/gpu.md states the error bounds tested.
 * Buffers hold at most 2^24 elements, because kernels index them with float32 arithmetic.
 *
 * Ownership: every primitive returns a new buffer the caller owns; dispose() frees its texture.
 * Temporaries made inside a primitive (a contiguous copy, a first-pass partial reduction, the
 * levels of fakeQuantize) are released before it returns.
 */
import type {
  Backend, BinaryOp, Conv2dParams, DeviceBuffer, Pool2dParams, QuantKernelParams, ReduceOp, UnaryOp, View,
  ScalarOrder,
} from '../backend.js';
import type { DType, TypedArray } from '../dtype.js';
import { isContiguous, numel } from '../shape.js';
import { BINARY_EXPR, coalesce, mapScalarArgs, mapSource, UNARY_EXPR, WHERE_EXPR } from './kernels/elementwise.js';
import { conv2dGradInputKernel, conv2dGradWeightKernel, conv2dKernel, matmulKernel } from './kernels/linalg.js';
import { CONCAT_MAX_PARTS, concatSource, padSource } from './kernels/movement.js';
import { avgPoolGradKernel, avgPoolKernel, maxPoolGradKernel, maxPoolIndexKernel, maxPoolValueKernel } from './kernels/pool.js';
import { checkQuantKernelParams, nanInputError } from '../quant-check.js';
import { dequantizeKernel, fakeQuantMaskKernel, fakeQuantValueKernel, quantizeKernel, quantLevelKernel } from './kernels/quant.js';
import { reduceSource, TWO_PASS_MIN } from './kernels/reduce.js';
import type { GpuMode, KernelMode } from './modes.js';
import { KernelRuntime, type DeviceData, type Fallback, type KernelArg, type KernelCacheStats } from './runtime.js';

/** int32 values are stored as float32: exact for |v| below this. */
export const INT32_EXACT_LIMIT = 2 ** 24;
/** Kernels index buffers with float32 arithmetic, exact below this many elements. */
export const MAX_ELEMENTS = 2 ** 24;

export class GpuBuffer implements DeviceBuffer {
  constructor(readonly size: number, readonly dtype: DType, private held: DeviceData | null) {}

  get data(): DeviceData {
    if (this.held === null) throw new Error('gpu backend: this buffer was disposed');
    return this.held;
  }

  get disposed(): boolean {
    return this.held === null;
  }

  /** Hands the data over for release, once. */
  take(): DeviceData | null {
    const d = this.held;
    this.held = null;
    return d;
  }
}

function buf(b: DeviceBuffer): GpuBuffer {
  if (!(b instanceof GpuBuffer)) throw new Error(`gpu backend: got a buffer of another backend (${b.constructor.name})`);
  return b;
}

/** A kernel function's source text: what gpu.js compiles (the function must not close over anything). */
function src(fn: (...args: never[]) => number): () => string {
  return () => fn.toString();
}

export interface GpuBackendOptions {
  /** gpu.js mode; default: QGRAD_GPU_MODE, else chosen per environment (see modes.ts). */
  mode?: GpuMode;
  /**
   * The device name this instance is registered under (default 'gpu'). Tensors name their device
   * by it and ops look the backend up by it, so an extra instance registered with
   * registerBackend('gpu-webasm', ...) must carry that name.
   */
  name?: string;
  /** Throw when gpu.js silently falls back to another backend (default true). */
  strict?: boolean;
}

/** Live buffers at which the gpu backend first warns that they keep growing. */
export const GPU_LIVE_WARNING = 8192;

export class GpuBackend implements Backend {
  readonly name: string;
  readonly dtypes: readonly DType[] = ['float32', 'int32'];
  readonly mode: GpuMode;
  private readonly rt: KernelRuntime;
  private live = 0;

  constructor(mode: GpuMode, opts: { strict?: boolean; name?: string } = {}) {
    this.mode = mode;
    this.name = opts.name ?? 'gpu';
    this.rt = new KernelRuntime({ mode, strict: opts.strict ?? true });
  }

  /** The gpu.js mode the kernels actually ran on (runs a probe kernel if none ran yet). */
  actualMode(): KernelMode {
    const ran = this.rt.actualMode();
    if (ran) return ran;
    this.rt.release(this.rt.run('probe', () => 'function probe() { return 1; }', 1, []));
    return this.rt.actualMode() as KernelMode;
  }

  /** True when buffers live in device memory (GL textures), false when they are host arrays (webasm, cpu). */
  get onDevice(): boolean {
    return this.rt.onDevice;
  }

  describe(): string {
    const ran = this.actualMode();
    const fb = this.rt.fallbackList();
    const memory = this.rt.onDevice ? 'device textures' : 'host arrays';
    return `${this.name} (gpu.js ${ran}${ran !== this.mode ? `, requested ${this.mode}` : ''}; float32, int32 exact below 2^24; ${memory})` +
      (fb.length ? `; ${fb.length} kernel(s) fell back: ${fb.map((f) => `${f.key} -> ${f.ran}`).join(', ')}` : '');
  }

  kernelCache(): KernelCacheStats {
    return this.rt.stats();
  }

  /** Kernels gpu.js ran on another backend than requested (only possible with strict: false). */
  fallbacks(): readonly Fallback[] {
    return this.rt.fallbackList();
  }

  /** Per kernel cache key, the gpu.js backend it actually ran on. */
  kernelModes(): Record<string, KernelMode> {
    return this.rt.kernelModes();
  }

  /** Net GL textures allocated (created - deleted) since the first kernel; null where buffers are host arrays. */
  deviceTextures(): number | null {
    return this.rt.textureCount();
  }

  /** Frees the kernels and the GL context; the backend cannot be used afterwards. */
  destroy(): Promise<void> {
    return this.rt.destroy();
  }

  // ---- memory -------------------------------------------------------------------------------

  private wrap(data: DeviceData, size: number, dtype: DType): GpuBuffer {
    this.live++;
    if (this.live >= this.liveBufferWarning) {
      // Textures are not garbage collected: a loop that creates tensors outside tidy() keeps every
      // one until a finalizer runs between tasks (never, inside a synchronous loop).
      console.warn(`qgrad gpu backend '${this.name}': ${this.live} live buffers and growing; tensors created outside tidy() keep device memory until disposed. Wrap each training step in tidy() or dispose() what you no longer need.`);
      this.liveBufferWarning *= 2;
    }
    return new GpuBuffer(size, dtype, data);
  }
  /** The live-buffer count at which the next warning is printed (doubles after each warning). */
  liveBufferWarning = GPU_LIVE_WARNING;

  private checkDtype(dtype: DType): void {
    if (dtype === 'float64') {
      throw new Error("gpu backend: float64 is not supported (gpu.js computes in float32); convert with .to('float32') first");
    }
  }

  private checkSize(n: number, what: string): void {
    if (n > MAX_ELEMENTS) {
      throw new Error(`gpu backend: ${what} has ${n} elements; the gpu backend holds at most 2^24 = ${MAX_ELEMENTS} per buffer (kernels index in float32)`);
    }
  }

  /** Runs a kernel over n outputs into a new buffer of dtype. */
  private kernel(key: string, source: () => string, n: number, dtype: DType, args: readonly KernelArg[]): GpuBuffer {
    this.checkSize(n, `the result of ${key.split(':')[0]}`);
    if (n === 0) return this.wrap(new Float32Array(0), 0, dtype);
    return this.wrap(this.rt.run(key, source, n, args), n, dtype);
  }

  alloc(dtype: DType, size: number): DeviceBuffer {
    this.checkDtype(dtype);
    this.checkSize(size, 'alloc');
    return this.wrap(this.rt.zeros(size), size, dtype);
  }

  upload(data: TypedArray): DeviceBuffer {
    if (data instanceof Float64Array) this.checkDtype('float64');
    this.checkSize(data.length, 'upload');
    const dtype: DType = data instanceof Int32Array ? 'int32' : 'float32';
    if (dtype === 'int32') {
      for (let i = 0; i < data.length; i++) {
        const v = data[i];
        if (v >= INT32_EXACT_LIMIT || v <= -INT32_EXACT_LIMIT) {
          throw new Error(`gpu backend: int32 value ${v} (index ${i}) cannot be stored exactly: the gpu stores int32 as float32, exact only for |v| < 2^24 = ${INT32_EXACT_LIMIT}`);
        }
      }
    }
    const f32 = data instanceof Float32Array ? data : Float32Array.from(data);
    return this.wrap(this.rt.upload(f32), data.length, dtype);
  }

  read(view: View): TypedArray {
    const b = buf(view.buffer);
    const n = numel(view.shape);
    let values: Float32Array;
    if (view.offset === 0 && n === b.size && isContiguous(view.shape, view.strides)) {
      values = this.rt.download(b.data, n);
    } else {
      const tmp = buf(this.contiguous(view));
      values = this.rt.download(tmp.data, n);
      this.dispose(tmp);
    }
    return b.dtype === 'int32' ? Int32Array.from(values) : values;
  }

  dispose(buffer: DeviceBuffer): void {
    const data = buf(buffer).take();
    if (data === null) return;
    this.rt.release(data);
    this.live--;
  }

  liveBuffers(): number {
    return this.live;
  }

  // ---- elementwise ----------------------------------------------------------------------------

  /**
   * expr over operands `names` bound to `views` (already broadcast to outShape), with an optional
   * scalar. A float result stored as int32 is truncated toward zero, as an Int32Array store does.
   */
  private map(
    op: string, names: string[], expr: string, views: readonly View[], outShape: readonly number[], outDtype: DType,
    scalar?: { name: string; value: number },
  ): GpuBuffer {
    this.checkDtype(outDtype);
    const c = coalesce(outShape, views);
    const rank = c.shape.length;
    const floatIn = views.some((v) => v.buffer.dtype !== 'int32') || (scalar !== undefined && !Number.isInteger(scalar.value));
    const trunc = outDtype === 'int32' && floatIn;
    const body = trunc ? `Math.trunc(${expr})` : expr;
    const key = `map:${op}:${names.join('')}${scalar ? `+${scalar.name}` : ''}:r${rank}${trunc ? ':trunc' : ''}`;
    const args: KernelArg[] = [...views.map((v) => buf(v.buffer).data), ...mapScalarArgs(c)];
    if (scalar) args.push(scalar.value);
    return this.kernel(key, () => mapSource(names, body, rank, scalar?.name), numel(outShape), outDtype, args);
  }

  contiguous(a: View): DeviceBuffer {
    return this.map('copy', ['x'], 'x', [a], a.shape, a.buffer.dtype);
  }
  unary(op: UnaryOp, a: View, outDtype: DType): DeviceBuffer {
    return this.map(op, ['x'], UNARY_EXPR[op], [a], a.shape, outDtype);
  }
  binary(op: BinaryOp, a: View, b: View, outShape: readonly number[], outDtype: DType): DeviceBuffer {
    return this.map(op, ['a', 'b'], BINARY_EXPR[op], [a, b], outShape, outDtype);
  }
  binaryScalar(op: BinaryOp, a: View, s: number, order: ScalarOrder, outDtype: DType): DeviceBuffer {
    const [tensorName, scalarName] = order === 's op a' ? ['b', 'a'] : ['a', 'b'];
    return this.map(op, [tensorName], BINARY_EXPR[op], [a], a.shape, outDtype, { name: scalarName, value: s });
  }
  where(cond: View, a: View, b: View, outShape: readonly number[], outDtype: DType): DeviceBuffer {
    return this.map('where', ['c', 'a', 'b'], WHERE_EXPR, [cond, a, b], outShape, outDtype);
  }

  // ---- reductions -----------------------------------------------------------------------------

  reduce(op: ReduceOp, a: DeviceBuffer, outer: number, inner: number): DeviceBuffer {
    const x = buf(a);
    const outDtype: DType = op === 'argmax' || op === 'argmin' ? 'int32' : x.dtype;
    if (inner === 0) {
      if (op !== 'sum') throw new Error(`${op} of an empty dimension is undefined`);
      return this.alloc(outDtype, outer);
    }
    const run = (input: GpuBuffer, len: number, chunk: number, chunks: number): GpuBuffer =>
      this.kernel(`reduce:${op}`, () => reduceSource(op), outer * chunks, outDtype, [input.data, len, chunk, chunks]);
    if (op === 'argmax' || op === 'argmin' || inner <= TWO_PASS_MIN) return run(x, inner, inner, 1);
    // Two passes: ~sqrt(inner) partial results per row, then one pass over them.
    const chunk = Math.ceil(Math.sqrt(inner));
    const chunks = Math.ceil(inner / chunk);
    const partial = run(x, inner, chunk, chunks);
    const out = run(partial, chunks, chunks, 1);
    this.dispose(partial);
    return out;
  }

  // ---- linear algebra and convolution ---------------------------------------------------------

  matmul(a: View, b: View): DeviceBuffer {
    const [B, M, K] = a.shape;
    const N = b.shape[2];
    const dtype = a.buffer.dtype;
    if (K === 0) return this.alloc(dtype, B * M * N);
    return this.kernel('matmul', src(matmulKernel), B * M * N, dtype, [
      buf(a.buffer).data, buf(b.buffer).data, M, N, K,
      a.offset, a.strides[0], a.strides[1], a.strides[2], b.offset, b.strides[0], b.strides[1], b.strides[2],
    ]);
  }

  /** The scalar arguments every convolution kernel takes after its buffers. */
  private convArgs(xShape: readonly number[], wShape: readonly number[], p: Conv2dParams): { args: number[]; N: number; O: number; OH: number; OW: number } {
    const [N, C, H, W] = xShape;
    const [O, Cg, KH, KW] = wShape;
    const OH = Math.floor((H + 2 * p.padding[0] - p.dilation[0] * (KH - 1) - 1) / p.stride[0]) + 1;
    const OW = Math.floor((W + 2 * p.padding[1] - p.dilation[1] * (KW - 1) - 1) / p.stride[1]) + 1;
    const args = [C, H, W, O, KH, KW, OH, OW, Cg, O / p.groups, p.stride[0], p.stride[1], p.padding[0], p.padding[1], p.dilation[0], p.dilation[1]];
    return { args, N, O, OH, OW };
  }

  conv2d(x: DeviceBuffer, xShape: readonly number[], w: DeviceBuffer, wShape: readonly number[], p: Conv2dParams): DeviceBuffer {
    const { args, N, O, OH, OW } = this.convArgs(xShape, wShape, p);
    return this.kernel('conv2d', src(conv2dKernel), N * O * OH * OW, x.dtype, [buf(x).data, buf(w).data, ...args]);
  }
  conv2dGradInput(gy: DeviceBuffer, _gyShape: readonly number[], w: DeviceBuffer, wShape: readonly number[], xShape: readonly number[], p: Conv2dParams): DeviceBuffer {
    const { args } = this.convArgs(xShape, wShape, p);
    return this.kernel('conv2dGradInput', src(conv2dGradInputKernel), numel(xShape), gy.dtype, [buf(gy).data, buf(w).data, ...args]);
  }
  conv2dGradWeight(x: DeviceBuffer, xShape: readonly number[], gy: DeviceBuffer, _gyShape: readonly number[], wShape: readonly number[], p: Conv2dParams): DeviceBuffer {
    const { args, N } = this.convArgs(xShape, wShape, p);
    return this.kernel('conv2dGradWeight', src(conv2dGradWeightKernel), numel(wShape), gy.dtype, [buf(x).data, buf(gy).data, N, ...args]);
  }

  // ---- pooling --------------------------------------------------------------------------------

  private poolArgs(xShape: readonly number[], p: Pool2dParams, OH: number, OW: number): number[] {
    return [xShape[2], xShape[3], OH, OW, p.kernel[0], p.kernel[1], p.stride[0], p.stride[1], p.padding[0], p.padding[1], p.dilation[0], p.dilation[1]];
  }

  private poolOut(xShape: readonly number[], p: Pool2dParams): [number, number] {
    const out = (n: number, k: number, s: number, pad: number, d: number) => Math.floor((n + 2 * pad - d * (k - 1) - 1) / s) + 1;
    return [out(xShape[2], p.kernel[0], p.stride[0], p.padding[0], p.dilation[0]), out(xShape[3], p.kernel[1], p.stride[1], p.padding[1], p.dilation[1])];
  }

  maxPool2d(x: DeviceBuffer, xShape: readonly number[], p: Pool2dParams): { out: DeviceBuffer; indices: DeviceBuffer } {
    const [OH, OW] = this.poolOut(xShape, p);
    const n = xShape[0] * xShape[1] * OH * OW;
    const xd = buf(x).data;
    const indices = this.kernel('maxPool2dIndex', src(maxPoolIndexKernel), n, 'int32', [xd, ...this.poolArgs(xShape, p, OH, OW)]);
    const out = this.kernel('maxPool2dValue', src(maxPoolValueKernel), n, x.dtype, [xd, indices.data, xShape[2] * xShape[3], OH * OW, -Infinity]);
    return { out, indices };
  }
  maxPool2dGrad(gy: DeviceBuffer, indices: DeviceBuffer, gyShape: readonly number[], xShape: readonly number[], p: Pool2dParams): DeviceBuffer {
    return this.kernel('maxPool2dGrad', src(maxPoolGradKernel), numel(xShape), gy.dtype,
      [buf(gy).data, buf(indices).data, ...this.poolArgs(xShape, p, gyShape[2], gyShape[3])]);
  }
  avgPool2d(x: DeviceBuffer, xShape: readonly number[], p: Pool2dParams): DeviceBuffer {
    const [OH, OW] = this.poolOut(xShape, p);
    return this.kernel('avgPool2d', src(avgPoolKernel), xShape[0] * xShape[1] * OH * OW, x.dtype, [buf(x).data, ...this.poolArgs(xShape, p, OH, OW)]);
  }
  avgPool2dGrad(gy: DeviceBuffer, gyShape: readonly number[], xShape: readonly number[], p: Pool2dParams): DeviceBuffer {
    return this.kernel('avgPool2dGrad', src(avgPoolGradKernel), numel(xShape), gy.dtype,
      [buf(gy).data, ...this.poolArgs(xShape, p, gyShape[2], gyShape[3])]);
  }

  // ---- data movement --------------------------------------------------------------------------

  pad(s: View, outShape: readonly number[], begin: readonly number[], step: readonly number[]): DeviceBuffer {
    const dtype = s.buffer.dtype;
    if (numel(s.shape) === 0) return this.alloc(dtype, numel(outShape));
    // A 0-d pad is a copy of one element; give it one dim so the generated kernel has an index.
    const one = outShape.length === 0;
    const shape = one ? [1] : outShape;
    const rank = shape.length;
    const args: KernelArg[] = [buf(s.buffer).data, ...shape.slice(1), s.offset];
    args.push(...(one ? [0] : s.strides), ...(one ? [1] : s.shape), ...(one ? [0] : begin), ...(one ? [1] : step));
    return this.kernel(`pad:r${rank}`, () => padSource(rank), numel(outShape), dtype, args);
  }

  concat(parts: readonly View[], axis: number, outShape: readonly number[]): DeviceBuffer {
    const dtype = parts[0].buffer.dtype;
    const outer = numel(outShape.slice(0, axis));
    const inner = numel(outShape.slice(axis + 1));
    // Parts become contiguous [outer, len, inner] blocks at an offset; empty parts drop out.
    const temps: GpuBuffer[] = [];
    let blocks = parts.filter((p) => numel(p.shape) > 0).map((p) => {
      if (isContiguous(p.shape, p.strides)) return { data: buf(p.buffer).data, offset: p.offset, len: p.shape[axis] };
      const c = buf(this.contiguous(p));
      temps.push(c);
      return { data: c.data, offset: 0, len: p.shape[axis] };
    });
    let result: GpuBuffer | null = null;
    if (blocks.length === 0) result = this.alloc(dtype, numel(outShape)) as GpuBuffer;
    // More parts than one kernel can bind are concatenated in rounds of CONCAT_MAX_PARTS.
    while (result === null) {
      const next: typeof blocks = [];
      for (let i = 0; i < blocks.length; i += CONCAT_MAX_PARTS) {
        const group = blocks.slice(i, i + CONCAT_MAX_PARTS);
        const A = group.reduce((s, g) => s + g.len, 0);
        const starts: number[] = [];
        let at = 0;
        for (const g of group.slice(0, -1)) starts.push((at += g.len));
        const k = group.length;
        const out = this.kernel(`concat:${k}`, () => concatSource(k), outer * A * inner, dtype, [
          ...group.map((g) => g.data), A, inner, ...starts, ...group.map((g) => g.len), ...group.map((g) => g.offset),
        ]);
        if (blocks.length <= CONCAT_MAX_PARTS) result = out;
        else {
          temps.push(out);
          next.push({ data: out.data, offset: 0, len: A });
        }
      }
      blocks = next;
    }
    for (const t of temps) this.dispose(t);
    return result;
  }

  // ---- quantization ---------------------------------------------------------------------------

  /** Per-channel parameters as the kernels read them (float32 arrays), and the shared scalar arguments. */
  private quantParams(q: QuantKernelParams): { scale: Float32Array; inv: Float32Array; zp: Float32Array; layout: number[] } {
    // PyTorch multiplies by the float32 reciprocal of the scale (see ../cpu/quant.ts).
    const inv = q.scale.map((s) => Math.fround(1 / s));
    return { scale: q.scale, inv, zp: Float32Array.from(q.zeroPoint), layout: [q.channels, q.inner] };
  }

  /**
   * Refuses NaN input as the reference does (src/tensor/quant-check.ts): a 0/1 flag per element,
   * its max, and one number read back. Where the platform has no NaNs (some GLSL drivers fold
   * x != x to false) nothing is found, as elsewhere on this backend (docs/gpu.md).
   */
  private checkNoNaN(x: DeviceBuffer, who: string): void {
    const n = x.size;
    if (n === 0) return;
    const flags = this.map('isNaN', ['x'], '(x !== x ? 1 : 0)', [{ buffer: x, shape: [n], strides: [1], offset: 0 }], [n], 'float32');
    const count = this.reduce('sum', flags, 1, n);
    const found = this.read({ buffer: count, shape: [1], strides: [1], offset: 0 })[0];
    this.dispose(flags);
    this.dispose(count);
    if (found > 0) {
      const all = this.read({ buffer: x, shape: [n], strides: [1], offset: 0 });
      let first = 0;
      while (first < n && all[first] === all[first]) first++;
      throw nanInputError(who, found, first);
    }
  }

  fakeQuantize(x: DeviceBuffer, q: QuantKernelParams): { y: DeviceBuffer; mask: DeviceBuffer } {
    checkQuantKernelParams(q, 'fakeQuantize');
    this.checkNoNaN(x, 'fakeQuantize');
    const n = x.size;
    const { scale, inv, zp, layout } = this.quantParams(q);
    const levels = this.kernel('quantLevel', src(quantLevelKernel), n, 'float32', [buf(x).data, inv, zp, ...layout, q.rounding === 'halfEven' ? 1 : 0]);
    const y = this.kernel('fakeQuantValue', src(fakeQuantValueKernel), n, 'float32', [levels.data, scale, zp, ...layout, q.qmin, q.qmax]);
    const mask = this.kernel('fakeQuantMask', src(fakeQuantMaskKernel), n, 'float32', [levels.data, q.qmin, q.qmax]);
    this.dispose(levels);
    return { y, mask };
  }
  quantize(x: DeviceBuffer, q: QuantKernelParams): DeviceBuffer {
    checkQuantKernelParams(q, 'quantize');
    this.checkNoNaN(x, 'quantize');
    const { inv, zp, layout } = this.quantParams(q);
    return this.kernel('quantize', src(quantizeKernel), x.size, 'int32',
      [buf(x).data, inv, zp, ...layout, q.rounding === 'halfEven' ? 1 : 0, q.qmin, q.qmax]);
  }
  dequantize(levels: DeviceBuffer, q: QuantKernelParams): DeviceBuffer {
    checkQuantKernelParams(q, 'dequantize');
    const { scale, zp, layout } = this.quantParams(q);
    return this.kernel('dequantize', src(dequantizeKernel), levels.size, 'float32', [buf(levels).data, scale, zp, ...layout]);
  }
}
