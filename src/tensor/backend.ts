/**
 * The Backend seam. A backend owns device buffers and implements a small set of primitives;
 * every tensor op (and so every autograd Function, layer and quantizer) is composed from these.
 * A new backend implements this interface and nothing else: the cpu backend (plain TypeScript
 * loops, the readable reference) and the gpu backend (kernels generated with gpu.js) both do.
 *
 * Conventions every primitive follows:
 * - Inputs described by a View may be strided (permuted, sliced, broadcast with stride 0);
 *   inputs passed as a bare DeviceBuffer are contiguous row-major.
 * - Every primitive returns a new contiguous buffer that the caller owns.
 * - Shapes are validated by the tensor layer before a primitive is called; backends may assume
 *   consistent arguments.
 */
import type { DType, TypedArray } from './dtype.js';
import type { Rounding } from './rounding.js';

/** A block of device memory. What it holds is the backend's business. */
export interface DeviceBuffer {
  readonly size: number;
  readonly dtype: DType;
}

/** A strided window onto a buffer: element (i0, i1, ...) lives at offset + sum(ik * strides[k]). */
export interface View {
  readonly buffer: DeviceBuffer;
  readonly shape: readonly number[];
  readonly strides: readonly number[];
  readonly offset: number;
}

export type UnaryOp =
  | 'neg'
  | 'exp'
  | 'log'
  | 'sqrt'
  | 'abs'
  | 'relu'
  | 'sigmoid'
  | 'tanh'
  | 'sign'
  | 'floor'
  | 'ceil'
  | 'reciprocal'
  | 'square'
  | 'step' // x > 0 ? 1 : 0, the derivative of relu
  | 'identity'; // with a different output dtype: a cast

export type BinaryOp =
  | 'add'
  | 'sub'
  | 'mul'
  | 'div'
  | 'pow'
  | 'maximum'
  | 'minimum'
  | 'eq'
  | 'ne'
  | 'lt'
  | 'le'
  | 'gt'
  | 'ge'
  /**
   * relu's backward in one pass, PyTorch's threshold_backward(grad = a, result = b, 0):
   * b <= 0 ? 0 : a. It selects, never multiplies: an infinite or NaN gradient where relu was
   * inactive still gives 0, and a NaN result (NaN <= 0 is false) passes the gradient through.
   */
  | 'reluBackward';

/** Which side of a binary op a constant number stands on: 'a op s' (a - s) or 's op a' (s - a). */
export type ScalarOrder = 'a op s' | 's op a';

/** argmax/argmin return int32 indices; ties resolve to the first occurrence (as PyTorch/NumPy). */
export type ReduceOp = 'sum' | 'max' | 'min' | 'argmax' | 'argmin';

export interface Conv2dParams {
  stride: [number, number];
  padding: [number, number];
  dilation: [number, number];
  groups: number;
}

export interface Pool2dParams {
  kernel: [number, number];
  stride: [number, number];
  padding: [number, number];
  dilation: [number, number];
}

export type { Rounding } from './rounding.js';

/**
 * Affine quantization of a contiguous tensor viewed as [outer, channels, inner]: channel c uses
 * scale[c] and zeroPoint[c] (per-tensor: channels = 1). Rounding is exact and named: see
 * src/quant for the reference definitions these kernels must reproduce bit for bit.
 */
export interface QuantKernelParams {
  scale: Float32Array;
  zeroPoint: Int32Array;
  qmin: number;
  qmax: number;
  outer: number;
  channels: number;
  inner: number;
  rounding: Rounding;
}

export interface Backend {
  /** Registry name: 'cpu', 'gpu'. */
  readonly name: string;
  /** Human-readable detail, e.g. the gpu.js mode that actually runs. */
  describe(): string;
  readonly dtypes: readonly DType[];

  // ---- memory -------------------------------------------------------------------------------
  /** A zero-filled buffer. */
  alloc(dtype: DType, size: number): DeviceBuffer;
  upload(data: TypedArray): DeviceBuffer;
  /** Copies a (possibly strided) view back to the host as a contiguous array of the buffer's dtype. */
  read(view: View): TypedArray;
  dispose(buffer: DeviceBuffer): void;
  /**
   * Optional: for a backend whose buffers are plain host memory that the garbage collector can
   * free by itself (cpu, wasm). Returns the bookkeeping to run once no tensor references the
   * buffer; it must not reference the buffer or its memory. Storage registers that callback with
   * its FinalizationRegistry instead of the buffer, so nothing but tensors keeps the memory alive.
   * Backends without it (gpu: textures need an explicit delete) get `dispose` from the registry.
   */
  collectable?(buffer: DeviceBuffer): () => void;
  /**
   * Buffers allocated and not yet disposed or collected: what a leak test watches. For buffers
   * left to the garbage collector the count drops when the finalizer runs (after the current
   * task), so it is exact for tidy()-owned and disposed memory and an upper bound otherwise.
   */
  liveBuffers(): number;

  // ---- elementwise ----------------------------------------------------------------------------
  contiguous(a: View): DeviceBuffer;
  unary(op: UnaryOp, a: View, outDtype: DType): DeviceBuffer;
  /** a and b are already broadcast to outShape (stride 0 along broadcast dims). */
  binary(op: BinaryOp, a: View, b: View, outShape: readonly number[], outDtype: DType): DeviceBuffer;
  /** a op s, or s op a: the order is named, not a boolean. */
  binaryScalar(op: BinaryOp, a: View, s: number, order: ScalarOrder, outDtype: DType): DeviceBuffer;
  /** cond != 0 ? a : b, all three broadcast to outShape. */
  where(cond: View, a: View, b: View, outShape: readonly number[], outDtype: DType): DeviceBuffer;

  // ---- reductions -----------------------------------------------------------------------------
  /** Reduces a contiguous [outer, inner] buffer over inner: result has `outer` elements. */
  reduce(op: ReduceOp, a: DeviceBuffer, outer: number, inner: number): DeviceBuffer;

  // ---- linear algebra and convolution ---------------------------------------------------------
  /** Batched matmul of views a [B, M, K] and b [B, K, N] (any strides): result [B, M, N]. */
  matmul(a: View, b: View): DeviceBuffer;
  /** x [N, C, H, W], w [O, C/groups, KH, KW] -> y [N, O, OH, OW] (no bias: the tensor layer adds it). */
  conv2d(x: DeviceBuffer, xShape: readonly number[], w: DeviceBuffer, wShape: readonly number[], p: Conv2dParams): DeviceBuffer;
  conv2dGradInput(gy: DeviceBuffer, gyShape: readonly number[], w: DeviceBuffer, wShape: readonly number[], xShape: readonly number[], p: Conv2dParams): DeviceBuffer;
  conv2dGradWeight(x: DeviceBuffer, xShape: readonly number[], gy: DeviceBuffer, gyShape: readonly number[], wShape: readonly number[], p: Conv2dParams): DeviceBuffer;

  /**
   * Optional fused form: conv2d, then the broadcast add of bias [O] (bias[o] to every output of
   * channel o), then relu when `relu` is set, all in the dtype's arithmetic: each output is the
   * conv result rounded to the dtype, plus the bias, rounded, then relu, exactly as the separate
   * ops compute it (the fast path saves their passes over the activations, not their rounding).
   * Null where this backend does not fuse these operands; callers then compose the separate ops.
   */
  conv2dBias?(
    x: DeviceBuffer, xShape: readonly number[], w: DeviceBuffer, wShape: readonly number[], bias: DeviceBuffer, p: Conv2dParams, relu: boolean,
  ): DeviceBuffer | null;
  /**
   * Optional fused backward of a convolution with bias (and relu): from g, the gradient of the
   * output (contiguous [N, O, OH, OW]), and y, relu's saved output (same shape; null without
   * relu), the gradients of x, w and the bias that `needs` asks for (null for the others), each
   * exactly what the separate ops give on this backend: gc = y ? binary('reluBackward', g, y) : g,
   * then conv2dGradInput(gc), conv2dGradWeight(gc) and the sum of gc over N, OH, OW as
   * sumOuterInner computes it (the fast path saves the passes that stage gc for each of them,
   * not any arithmetic). Null where this backend does not fuse these operands; callers then
   * compose the separate ops.
   */
  conv2dBackward?(
    g: DeviceBuffer, y: DeviceBuffer | null, x: DeviceBuffer, xShape: readonly number[], w: DeviceBuffer, wShape: readonly number[], p: Conv2dParams,
    needs: { input: boolean; weight: boolean; bias: boolean },
  ): { gx: DeviceBuffer | null; gw: DeviceBuffer | null; gb: DeviceBuffer | null } | null;
  /**
   * Optional fused form of a convolution block: maxPool2d(relu(conv2d(x, w) + bias)) with 2 x 2
   * windows, stride 2, no padding, exactly the pooled values and winner indices (h * OW + w in
   * the convolution's output plane) that conv2dBias(..., relu = true) then maxPool2d give on this
   * backend; the fast path never writes the convolution's output out of its own memory. Null
   * where this backend does not fuse these operands; callers then compose the separate ops.
   */
  conv2dReluPool?(
    x: DeviceBuffer, xShape: readonly number[], w: DeviceBuffer, wShape: readonly number[], bias: DeviceBuffer, p: Conv2dParams,
  ): { out: DeviceBuffer; indices: DeviceBuffer } | null;
  /**
   * Optional: its backward, from gP, the gradient of the pooled output (contiguous), the pooled
   * values and the indices. With gm = binary('reluBackward', gP, pooled): the gradients of x and
   * w exactly as conv2dBackward(maxPool2dGrad(gm, indices), null, ...) gives them, and the bias
   * gradient as gm's sum over N, OH/2, OW/2 with the precision of reduce's sum (float64
   * accumulation for float32; the order is the backend's), or null.
   */
  conv2dReluPoolBackward?(
    gP: DeviceBuffer, pooled: DeviceBuffer, indices: DeviceBuffer, x: DeviceBuffer, xShape: readonly number[], w: DeviceBuffer, wShape: readonly number[],
    p: Conv2dParams, needs: { input: boolean; weight: boolean; bias: boolean },
  ): { gx: DeviceBuffer | null; gw: DeviceBuffer | null; gb: DeviceBuffer | null } | null;
  /**
   * Optional: one SGD step of one parameter (src/tensor/cpu/sgd.ts): from p, its gradient g and
   * the previous momentum buffer (null on the first step, or without momentum), all contiguous
   * float buffers of p's length and dtype, the new parameter and the new momentum buffer (null
   * without momentum), exactly the values of src/nn/optim/sgd.ts's separate ops. Null where the
   * backend does not fuse these operands; the optimizer then runs the ops.
   */
  sgdUpdate?(
    p: DeviceBuffer, g: DeviceBuffer, prev: DeviceBuffer | null, n: number,
    h: { lr: number; momentum: number; dampening: number; nesterov: boolean; weightDecay: number },
  ): { p: DeviceBuffer; buf: DeviceBuffer | null } | null;
  /**
   * Optional: one Adam / AdamW step of one parameter (src/tensor/cpu/adam.ts): from p, its
   * gradient and the previous moments (null before the first step), contiguous float buffers of
   * p's length and dtype, the new parameter and moments, exactly the values of
   * src/nn/optim/adam.ts's separate ops; null where the backend does not fuse these operands.
   */
  adamUpdate?(
    p: DeviceBuffer, g: DeviceBuffer, m: DeviceBuffer | null, v: DeviceBuffer | null, n: number,
    h: { lr: number; beta1: number; beta2: number; eps: number; weightDecay: number; decoupled: boolean; step: number },
  ): { p: DeviceBuffer; m: DeviceBuffer; v: DeviceBuffer } | null;
  /**
   * Optional: sums a contiguous [outer, mid, inner] buffer over outer and inner, giving `mid`
   * values, without first moving the reduced axes last (the bias gradient of a convolution is
   * such a sum over N and H·W). Same precision rule as reduce's sum (float64 accumulation for
   * float32). Where a backend lacks it, raw.reduce permutes, copies and reduces.
   */
  sumOuterInner?(a: DeviceBuffer, outer: number, mid: number, inner: number): DeviceBuffer;
  /**
   * Optional: batch normalisation in training mode over [N, C, HW] (x contiguous, weight and bias
   * [C]), exactly the values of src/autograd/ops/batchnorm.ts's composed ops on this backend: y,
   * the saved x̂, and per channel the batch mean, biased variance and 1/√(σ² + ε). Null where the
   * backend does not fuse these operands; the caller then composes the ops.
   */
  batchNormTrain?(x: DeviceBuffer, N: number, C: number, HW: number, weight: DeviceBuffer, bias: DeviceBuffer, eps: number):
    { y: DeviceBuffer; xhat: DeviceBuffer; mean: DeviceBuffer; variance: DeviceBuffer; invstd: DeviceBuffer } | null;
  /** Optional: its backward (g and x̂ contiguous [N, C, HW]): ∂L/∂x, Σ g·x̂ and Σ g per channel, or null. */
  batchNormTrainBackward?(g: DeviceBuffer, xhat: DeviceBuffer, invstd: DeviceBuffer, weight: DeviceBuffer, N: number, C: number, HW: number):
    { gx: DeviceBuffer; gw: DeviceBuffer; gb: DeviceBuffer } | null;

  // ---- pooling --------------------------------------------------------------------------------
  /**
   * Returns the pooled values and, per output, the flat index (h * W + w) of the max in its input
   * plane; -1 (and the value -Infinity) for a window that lies entirely in the padding, which
   * dilation allows. maxPool2dGrad routes nothing for index -1.
   */
  maxPool2d(x: DeviceBuffer, xShape: readonly number[], p: Pool2dParams): { out: DeviceBuffer; indices: DeviceBuffer };
  /**
   * Routes gy to the recorded indices. p is the forward's window: a backend that gathers (a GPU
   * cannot scatter-add) needs it to find the outputs whose window holds an input element.
   */
  maxPool2dGrad(gy: DeviceBuffer, indices: DeviceBuffer, gyShape: readonly number[], xShape: readonly number[], p: Pool2dParams): DeviceBuffer;
  /**
   * Optional fused maxPool2d(relu(x)): exactly the pooled values and indices of unary('relu')
   * then maxPool2d on this backend, without relu(x) as an array; null where the backend does not
   * fuse these operands (the caller composes the ops).
   */
  reluMaxPool2d?(x: DeviceBuffer, xShape: readonly number[], p: Pool2dParams): { out: DeviceBuffer; indices: DeviceBuffer } | null;
  /**
   * Optional: its backward from gy, the forward's pooled values and indices: exactly
   * maxPool2dGrad(binary('reluBackward', gy, pooled), indices), or null.
   */
  reluMaxPool2dGrad?(gy: DeviceBuffer, pooled: DeviceBuffer, indices: DeviceBuffer, gyShape: readonly number[], xShape: readonly number[], p: Pool2dParams): DeviceBuffer | null;
  /** Average over the window; padding counts toward the divisor (PyTorch's count_include_pad=True). */
  avgPool2d(x: DeviceBuffer, xShape: readonly number[], p: Pool2dParams): DeviceBuffer;
  avgPool2dGrad(gy: DeviceBuffer, gyShape: readonly number[], xShape: readonly number[], p: Pool2dParams): DeviceBuffer;

  // ---- data movement --------------------------------------------------------------------------
  /** A zero tensor of outShape with src written at begin[d] + step[d] * i[d] (the backward of slicing). */
  pad(src: View, outShape: readonly number[], begin: readonly number[], step: readonly number[]): DeviceBuffer;
  /** Concatenation along axis; parts agree on every other dim. */
  concat(parts: readonly View[], axis: number, outShape: readonly number[]): DeviceBuffer;

  // ---- quantization ---------------------------------------------------------------------------
  /** Quantize-dequantize and the straight-through mask (1 where the unclamped level is in range). */
  fakeQuantize(x: DeviceBuffer, q: QuantKernelParams): { y: DeviceBuffer; mask: DeviceBuffer };
  /** Integer levels clamp(zp + round(x * (1/scale))) as int32. */
  quantize(x: DeviceBuffer, q: QuantKernelParams): DeviceBuffer;
  /** (q - zp) * scale as float32. */
  dequantize(q: DeviceBuffer, p: QuantKernelParams): DeviceBuffer;
}

// ---- registry ---------------------------------------------------------------------------------

export type Device = string;

const factories = new Map<string, () => Backend>();
const instances = new Map<string, Backend>();

/** Registers a backend under a name; registering the same name twice is an error (tfjs does the same). */
export function registerBackend(name: string, factory: () => Backend): void {
  if (factories.has(name)) throw new Error(`backend '${name}' is already registered`);
  factories.set(name, factory);
}

export function getBackend(name: Device): Backend {
  let b = instances.get(name);
  if (b) return b;
  const f = factories.get(name);
  if (!f) {
    const hint = name === 'gpu' ? " (import 'qgrad/gpu' or src/tensor/gpu/index.ts to register it)" : '';
    throw new Error(`unknown device '${name}'; registered: ${[...factories.keys()].join(', ')}${hint}`);
  }
  b = f();
  instances.set(name, b);
  return b;
}

export function registeredBackends(): string[] {
  return [...factories.keys()];
}

let defaultDevice: Device = 'cpu';
export function setDefaultDevice(d: Device): void {
  getBackend(d);
  defaultDevice = d;
}
export function getDefaultDevice(): Device {
  return defaultDevice;
}
