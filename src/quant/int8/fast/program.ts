/**
 * The fast path of Int8Model.forward(): the whole integer chain on WebAssembly SIMD kernels
 * (./kernels.ts, generated per model architecture), bit-identical to the
 * reference path of engine.ts / kernels.ts, which stays the definition and the tests' oracle
 * (Int8Model option kernels: 'js', or a default device other than 'wasm', e.g. QGRAD_DEVICE=cpu).
 *
 * What changes against the reference, and why the levels cannot:
 *   - Activations live in the kernel instance's memory as int16 values v = level - zeroPoint
 *     (the operand the next layer multiplies), pixel-major in channel pairs, [Hs, Ws, ceil(C/2), 2],
 *     with a zero border as wide as the consuming conv's padding: a padded input is the zero
 *     point, as in the reference im2col. Only models whose every level range and centred weight
 *     fit in int16 take this path (FastProgram.plan checks; 8-bit models always do). A first conv
 *     over a single channel reads column pairs instead, (x[h, w], x[h, w + dilation]): two taps
 *     per multiply instead of a tap and a zero.
 *   - conv2d and linear are an implicit GEMM (conv<i>: no im2col, no packing of activations; the
 *     weights are packed once, per tile of 8 output channels). The int32 sums are exact, as in the
 *     reference (the validated bound), so their order does not matter.
 *   - A conv2d directly followed by a maxpool2d with non-overlapping windows of at most 4 positions
 *     and no padding (the 2x2 pools of a CNN) pools its accumulators in registers before
 *     requantizing, as the reference's conv2dMaxPoolLevels does, and computes only the conv outputs
 *     some window reads (an 11x11 conv output under a 2x2 pool needs 10x10).
 *   - A 3x3 conv2d (unit stride and dilation, one group, >= 8 input channels) with such a 2x2 pool
 *     runs as Winograd F(2x2, 3x3) (Lavin & Gray, "Fast Algorithms for Convolutional Neural
 *     Networks", 2016), one transform tile per pooling window, 16 products per tile and channel pair
 *     instead of 36. In integers and exact: the filter transform uses G' = 2G, so U = G' g G'ᵀ is
 *     integral and Y = Aᵀ (U ⊙ Bᵀ d B) A is exactly 4× the accumulators; taken when V = Bᵀ d B and U
 *     fit in int16 and 4·|acc| in int32 (winogradWeights), which 8-bit models meet.
 *   - ReLU layers right after a conv2d / linear (before or after such a pool) become the
 *     requantization clamp's lower bound, max(qmin, zeroPoint): clamp, then max with the zero
 *     point, is that clamp, and max pooling commutes with it.
 *   - The output stage is vectorised and bit-exact with multiplyByQuantizedMultiplier for
 *     |acc + bias| · 2^leftShift < 2^30 (checked per layer from the validated accumulator bound).
 *   - quantize is the reference's float32 arithmetic in wasm; other max pools, ReLUs and the
 *     dequantize run on the int16 values (max(v, 0) for ReLU).
 * Batches are processed in chunks of `chunk` images, layer by layer, through buffers laid out once
 * (about 1 MiB per chunk, so that a chunk's activations stay in L2).
 */
import {
  instantiateInt8Kernels, KK_WEIGHT_BYTES, QUANTIZE_PARAM_BYTES, STAGE_HALF_BYTES, TILE_BYTES,
  type ConvKernelSpec, type Int8KernelExports, type LayerKernelSpec, type WinogradKernelSpec,
} from './kernels.js';
import { quantize } from '../../numerics/index.js';
import type { LayerPlan, WeightedPlan } from '../validate.js';

const INT16_MAX = 32767;
const TWO_30 = 2 ** 30;
/** Bytes of wasm memory a model may use (its kernels' address space is 1 GiB). */
const MEMORY_LIMIT = 2 ** 30 - 2 ** 20;
/** Activation bytes per chunk the chunk size aims at (inside L2). */
const CHUNK_BYTES = 1 << 20;
const MAX_CHUNK = 64;

/** An activation tensor of one image in kernel memory: [C, H, W] as channel pairs with a zero border. */
interface Value {
  C: number;
  H: number;
  W: number;
  /** Border (rows above and below, columns left and right). */
  padH: number;
  padW: number;
  Hs: number;
  Ws: number;
  pairs: number;
  /** Bytes of one pixel (its channel pairs), and of one image (a multiple of 16). */
  pixBytes: number;
  imageBytes: number;
  /**
   * 0: channel pairs. d > 0 (single-channel inputs only): column pairs, the word of pixel (h, w)
   * holds (x[h, w], x[h, w + d]) so that a conv with dilation d along W multiplies two taps per word.
   */
  colPairs: number;
  /** Byte offset of the chunk's first image in kernel memory. */
  base: number;
  /** Bytes past the last image that kernels may read (never use). */
  slack: number;
}

interface ConvOp {
  kind: 'conv';
  /** Index of its kernel function (conv<fn>) and its constants. */
  fn: number;
  spec: ConvKernelSpec;
  in: number;
  out: number;
  quads: number;
  nQuads: number;
  outOffs: number;
  tiles: number;
  nTiles: number;
}

interface LinearOp {
  kind: 'linear';
  fn: number;
  spec: ConvKernelSpec;
  in: number;
  out: number;
  tiles: number;
  nTiles: number;
  /** Per-chunk tables: the base of each quad of 4 images, the output offset of each image. */
  quads: number;
  outOffs: number;
}

/** A 3x3 conv2d + 2x2 max pool as Winograd F(2x2, 3x3): one tile of the transform per pooling window. */
interface WinoOp {
  kind: 'wino';
  fn: number;
  spec: WinogradKernelSpec;
  in: number;
  out: number;
  /** Pooled output size (tiles per image PH·PW), 16-byte channel groups, patch origin in the input image. */
  PH: number;
  PW: number;
  groups: number;
  origin: number;
  /** Transformed input (16 planes of xiBytes), the 2 KiB product scratch, per-tile output offsets. */
  v: number;
  scratch: number;
  outOffs: number;
  tiles: number;
  nTiles: number;
}

interface PoolOp {
  kind: 'pool';
  in: number;
  out: number;
  kernel: readonly [number, number];
  stride: readonly [number, number];
  padding: readonly [number, number];
  dilation: readonly [number, number];
  OH: number;
  OW: number;
}

type Op = ConvOp | LinearOp | WinoOp | PoolOp | { kind: 'relu'; value: number };

/** A byte image of the constants (packed weights, tables) and the layout of everything in kernel memory. */
class Layout {
  bytes = 64; // the first 64 bytes stay unused
  private readonly blocks: { at: number; data: Int32Array }[] = [];
  /** Reserve `n` bytes (16-aligned). */
  reserve(n: number): number {
    const at = this.bytes;
    this.bytes = align16(at + n);
    return at;
  }
  /** Reserve and fill an Int32Array block. */
  put(data: Int32Array): number {
    const at = this.reserve(data.byteLength);
    this.blocks.push({ at, data });
    return at;
  }
  copyTo(memory: ArrayBuffer): void {
    const i32 = new Int32Array(memory);
    for (const { at, data } of this.blocks) i32.set(data, at >> 2);
  }
}

const align16 = (n: number) => (n + 15) & ~15;

/** The compiled program of one model; see the file comment. */
export class FastProgram {
  private kernels: { memory: WebAssembly.Memory; exports: Int8KernelExports; i16: Int16Array; i32: Int32Array; f32: Float32Array } | null = null;
  private unavailable = false;

  private constructor(
    private readonly values: Value[],
    private readonly ops: Op[],
    private readonly layout: Layout,
    readonly chunk: number,
    private readonly quant: {
      scale: number; zeroPoint: number; qmin: number; qmax: number; rounding: 'halfEven' | 'halfAwayFromZero'; inputSize: number;
      /** Float staging of a chunk, the parameter block and the NaN flag (byte offsets). */
      staging: number; params: number; flag: number;
    },
    private readonly dequant: { scale: number; outputSize: number },
    /** One line per op for describe(). */
    readonly summary: string[],
  ) {}

  /**
   * The program for a validated model, or a string saying why the model cannot take the fast path.
   * Kernel memory is set up on the first forward().
   */
  static plan(plans: LayerPlan[]): FastProgram | string {
    const first = plans[0], last = plans[plans.length - 1];
    if (first.kind !== 'quantize' || last.kind !== 'dequantize') return 'unreachable: not a validated model';
    for (const p of plans) {
      const r = p.outRange;
      if (r && (r.qmax - r.zeroPoint > INT16_MAX || r.zeroPoint - r.qmin > INT16_MAX)) {
        return `layer ${p.index} (${p.kind}): levels minus the zero point leave int16`;
      }
      if (p.kind === 'conv2d' || p.kind === 'linear') {
        const why = weightedProblem(p.weighted, p.layer.shift);
        if (why) return `layer ${p.index} (${p.kind}): ${why}`;
      }
    }

    const layout = new Layout();
    const values: Value[] = [];
    const summary: string[] = [];
    /** Values are created with their shape; padding is set by their consumer before layout. */
    const newValue = (shape: readonly number[]): number => {
      const [C, H, W] = shape.length === 3 ? shape : [shape.reduce((a, b) => a * b, 1), 1, 1];
      values.push({ C, H, W, padH: 0, padW: 0, Hs: 0, Ws: 0, pairs: (C + 1) >> 1, pixBytes: 0, imageBytes: 0, colPairs: 0, base: 0, slack: 16 });
      return values.length - 1;
    };

    // Pass 1: ops over values (shapes only), with ReLU and pool fusion.
    type Pending =
      | {
        kind: 'conv'; plan: Extract<LayerPlan, { kind: 'conv2d' }>; in: number; out: number; reluLo: boolean;
        pool: Extract<LayerPlan, { kind: 'maxpool2d' }> | null;
        /** Winograd's transformed weights, when it runs as Winograd (decided with the layout). */
        wino?: Int32Array | null;
      }
      | { kind: 'linear'; plan: Extract<LayerPlan, { kind: 'linear' }>; in: number; out: number; reluLo: boolean }
      | { kind: 'pool'; plan: Extract<LayerPlan, { kind: 'maxpool2d' }>; in: number; out: number }
      | { kind: 'relu'; value: number };
    const pending: Pending[] = [];
    let current = newValue(first.outShape);
    const inner = plans.slice(1, -1);
    for (let i = 0; i < inner.length; i++) {
      const p = inner[i];
      if (p.kind === 'conv2d' || p.kind === 'linear') {
        let reluLo = false, pool: Extract<LayerPlan, { kind: 'maxpool2d' }> | null = null;
        let outShape = p.outShape;
        const absorbRelus = () => {
          while (inner[i + 1]?.kind === 'relu') {
            reluLo = true;
            i++;
          }
        };
        absorbRelus();
        const next = inner[i + 1];
        if (p.kind === 'conv2d' && next?.kind === 'maxpool2d' && poolFusable(next)) {
          pool = next;
          outShape = next.outShape;
          i++;
          absorbRelus();
        }
        const out = newValue(outShape);
        pending.push(p.kind === 'conv2d' ? { kind: 'conv', plan: p, in: current, out, reluLo, pool } : { kind: 'linear', plan: p, in: current, out, reluLo });
        current = out;
      } else if (p.kind === 'maxpool2d') {
        const out = newValue(p.outShape);
        pending.push({ kind: 'pool', plan: p, in: current, out });
        current = out;
      } else if (p.kind === 'relu') {
        pending.push({ kind: 'relu', value: current });
      }
      // flatten: the data stays where it is, in [C, H, W] order, which is the flattened order.
    }
    const finalValue = current;

    // Pass 2: borders (a conv's padding on its input value), column pairs for a first conv over a
    // single channel (the quantized input, at most ReLUs between), then every value's layout.
    for (const op of pending) {
      if (op.kind === 'conv') {
        const v = values[op.in];
        v.padH = Math.max(v.padH, op.plan.geometry.padding[0]);
        v.padW = Math.max(v.padW, op.plan.geometry.padding[1]);
        if (op.in === 0 && v.C === 1 && op.plan.geometry.KW > 1) v.colPairs = op.plan.geometry.dilation[1];
      }
    }
    let perImage = 0;
    for (const v of values) {
      v.Hs = v.H + 2 * v.padH;
      v.Ws = v.W + 2 * v.padW;
      v.pixBytes = v.pairs * 4;
      v.imageBytes = align16(v.Hs * v.Ws * v.pixBytes);
      perImage += v.imageBytes;
    }
    for (const op of pending) {
      if (op.kind !== 'conv' || !op.pool) continue;
      op.wino = winogradWeights(op.plan, op.pool, values[op.in]);
      // Its transformed input: 16 positions per pooling window.
      if (op.wino) perImage += 16 * op.pool.geometry.OH * op.pool.geometry.OW * 16 * ((values[op.in].pairs + 3) >> 2);
    }
    values[0].slack = Math.max(values[0].slack, 4 * values[0].colPairs + 16);
    const chunk = Math.max(4, Math.min(MAX_CHUNK, Math.floor(CHUNK_BYTES / perImage) & ~3));

    // Pass 3: constants.
    const q = first.layer;
    const inputSize = first.outShape.reduce((a, b) => a * b, 1);
    const params = new Float32Array(QUANTIZE_PARAM_BYTES >> 2);
    params.fill(Math.fround(1 / q.scale), 0, 4);
    params.fill(q.qmin - q.zeroPoint, 4, 8);
    params.fill(q.qmax - q.zeroPoint, 8, 12);
    new Int32Array(params.buffer).fill(q.rounding === 'halfAwayFromZero' ? -1 : 0, 12, 16);
    const quantConstants = {
      staging: layout.reserve(chunk * inputSize * 4 + 16),
      params: layout.put(new Int32Array(params.buffer)),
      flag: layout.reserve(16),
    };
    const ops: Op[] = [];
    let fn = 0;
    for (const op of pending) {
      if (op.kind === 'relu') {
        ops.push(op);
        summary.push(`relu on int16 values`);
      } else if (op.kind === 'pool') {
        const g = op.plan.geometry;
        ops.push({ kind: 'pool', in: op.in, out: op.out, kernel: g.kernel, stride: g.stride, padding: g.padding, dilation: g.dilation, OH: g.OH, OW: g.OW });
        summary.push(`maxpool2d ${g.kernel.join('x')} on int16 values`);
      } else if (op.kind === 'conv') {
        const wino = op.wino ?? null;
        ops.push(
          wino
            ? winoOp(fn++, op.plan, wino, op.reluLo, values[op.in], values[op.out], op.in, op.out, chunk, layout)
            : convOp(fn++, op.plan, op.pool, op.reluLo, values[op.in], values[op.out], op.in, op.out, layout),
        );
        const g = op.plan.geometry;
        summary.push(
          `conv2d ${g.C}->${g.O} k${g.KH}x${g.KW}${op.reluLo ? ' +relu' : ''}${op.pool ? ` +maxpool ${op.pool.geometry.kernel.join('x')} (pooled before requantizing)` : ''}` +
            (wino ? ' as Winograd F(2x2, 3x3)' : ''),
        );
      } else {
        ops.push(linearOp(fn++, op.plan, op.reluLo, values[op.in], values[op.out], op.in, op.out, chunk, layout));
        summary.push(`linear ${op.plan.weighted.K}->${op.plan.weighted.O}${op.reluLo ? ' +relu' : ''}`);
      }
    }
    for (const v of values) v.base = layout.reserve(chunk * v.imageBytes + v.slack);
    if (layout.bytes > MEMORY_LIMIT) return `needs ${layout.bytes} bytes of kernel memory, more than ${MEMORY_LIMIT}`;

    const d = last.layer;
    const outputSize = last.outShape.reduce((a, b) => a * b, 1);
    if (values[finalValue].C * values[finalValue].H * values[finalValue].W !== outputSize) return 'unreachable: output size';
    return new FastProgram(
      values, ops, layout, chunk,
      { scale: q.scale, zeroPoint: q.zeroPoint, qmin: q.qmin, qmax: q.qmax, rounding: q.rounding ?? 'halfEven', inputSize, ...quantConstants },
      { scale: Math.fround(d.scale), outputSize },
      summary,
    );
  }

  /** False where WebAssembly SIMD is unavailable (the caller then runs the reference). */
  ready(): boolean {
    if (this.kernels) return true;
    if (this.unavailable) return false;
    const specs = this.ops.flatMap((op): LayerKernelSpec[] =>
      op.kind === 'conv' || op.kind === 'linear' ? [{ kind: 'conv', ...op.spec }] : op.kind === 'wino' ? [{ kind: 'wino', ...op.spec }] : [],
    );
    const k = instantiateInt8Kernels(specs);
    if (!k) {
      this.unavailable = true;
      return false;
    }
    const need = this.layout.bytes - k.memory.buffer.byteLength;
    try {
      if (need > 0) k.memory.grow(Math.ceil(need / 65536));
    } catch {
      this.unavailable = true; // out of memory: the reference path needs far less
      return false;
    }
    const buffer = k.memory.buffer;
    this.layout.copyTo(buffer);
    this.kernels = { ...k, i16: new Int16Array(buffer), i32: new Int32Array(buffer), f32: new Float32Array(buffer) };
    return true;
  }

  /** Float input [batch, ...inputShape] -> out [batch, ...outputShape]. Call ready() first. */
  forward(x: ArrayLike<number>, batch: number, out: Float32Array): void {
    const k = this.kernels!;
    for (let n0 = 0; n0 < batch; n0 += this.chunk) {
      const count = Math.min(this.chunk, batch - n0);
      this.quantizeInput(x, n0, count);
      for (const op of this.ops) {
        switch (op.kind) {
          case 'conv': {
            const a = this.values[op.in], b = this.values[op.out];
            k.exports[`conv${op.fn}`](a.base, a.imageBytes, b.base, b.imageBytes, count, op.quads, op.nQuads, op.outOffs, op.tiles, op.nTiles);
            break;
          }
          case 'linear': {
            // Quads of 4 images (the chunk holds a multiple of 4; images past `count` compute garbage no one reads).
            const a = this.values[op.in], b = this.values[op.out];
            k.exports[`conv${op.fn}`](a.base, 0, b.base, 0, 1, op.quads, (count + 3) >> 2, op.outOffs, op.tiles, op.nTiles);
            break;
          }
          case 'wino': {
            const a = this.values[op.in], b = this.values[op.out];
            k.exports.wino_in(a.base + op.origin, a.imageBytes, count, op.PH, op.PW, a.Ws * a.pixBytes, a.pixBytes, op.groups, op.v, op.spec.tileBytes, op.spec.xiBytes);
            k.exports[`wino${op.fn}`](op.v, b.base, (count * op.PH * op.PW + 3) >> 2, op.outOffs, op.tiles, op.nTiles, op.scratch);
            break;
          }
          case 'relu': {
            const v = this.values[op.value];
            k.exports.relu16(v.base, count * v.imageBytes);
            break;
          }
          case 'pool':
            this.maxPool(op, count, k.i16);
            break;
        }
      }
      this.dequantizeOutput(count, out, n0, k.i16);
    }
  }

  /**
   * The reference quantize (src/quant/numerics): zp + round(float32(float32(x) · float32(1/scale))),
   * clamped, stored minus zp; in wasm after copying the chunk's floats (float32(x)) in.
   */
  private quantizeInput(x: ArrayLike<number>, n0: number, count: number): void {
    const k = this.kernels!, qc = this.quant, v = this.values[0];
    const chunk = sliceOf(x, n0 * qc.inputSize, (n0 + count) * qc.inputSize);
    k.f32.set(chunk, qc.staging >> 2);
    k.f32.fill(0, (qc.staging >> 2) + count * qc.inputSize, (qc.staging >> 2) + count * qc.inputSize + 4);
    const origin = v.base + (v.padH * v.Ws + v.padW) * v.pixBytes;
    k.exports.quantize(qc.staging, qc.inputSize * 4, origin, v.imageBytes, count, v.C, v.H, v.W, v.Ws * v.pixBytes, v.pixBytes, qc.params, qc.flag);
    if (k.i32[qc.flag >> 2] !== 0) {
      quantize(chunk, { scale: qc.scale, zeroPoint: qc.zeroPoint, qmin: qc.qmin, qmax: qc.qmax, rounding: qc.rounding }); // throws the reference's NaN error
      throw new Error('unreachable: NaN input');
    }
    if (v.colPairs > 0) k.exports.pair_columns(v.base, (count * v.imageBytes) >> 2, v.colPairs);
  }

  /** The reference dequantize: float32((q - zp) · float32(scale)); the values are q - zp already. */
  private dequantizeOutput(count: number, out: Float32Array, n0: number, i16: Int16Array): void {
    const { scale, outputSize } = this.dequant;
    const v = this.values[this.values.length - 1];
    const pix = v.pixBytes >> 1;
    for (let n = 0; n < count; n++) {
      let dst = (n0 + n) * outputSize;
      const image = (v.base + n * v.imageBytes) >> 1;
      for (let c = 0; c < v.C; c++) {
        for (let h = 0; h < v.H; h++) {
          let src = image + ((h + v.padH) * v.Ws + v.padW) * pix + c;
          for (let w = 0; w < v.W; w++, src += pix) out[dst++] = i16[src] * scale;
        }
      }
    }
  }

  /** Max pooling on int16 values; positions outside the input never win (the reference's rule). */
  private maxPool(op: PoolOp, count: number, i16: Int16Array): void {
    const a = this.values[op.in], b = this.values[op.out];
    const [kh, kw] = op.kernel, [sh, sw] = op.stride, [ph, pw] = op.padding, [dh, dw] = op.dilation;
    const aPix = a.pixBytes >> 1, bPix = b.pixBytes >> 1;
    for (let n = 0; n < count; n++) {
      const inImage = (a.base + n * a.imageBytes) >> 1, outImage = (b.base + n * b.imageBytes) >> 1;
      for (let c = 0; c < a.C; c++) {
        for (let oh = 0; oh < op.OH; oh++) {
          for (let ow = 0; ow < op.OW; ow++) {
            let best = -Infinity;
            for (let i = 0; i < kh; i++) {
              const ih = oh * sh - ph + i * dh;
              if (ih < 0 || ih >= a.H) continue;
              const row = inImage + ((ih + a.padH) * a.Ws + a.padW) * aPix + c;
              for (let j = 0; j < kw; j++) {
                const iw = ow * sw - pw + j * dw;
                if (iw < 0 || iw >= a.W) continue;
                const v = i16[row + iw * aPix];
                if (v > best) best = v;
              }
            }
            i16[outImage + ((oh + b.padH) * b.Ws + b.padW + ow) * bPix + c] = best;
          }
        }
      }
    }
  }
}

/** Why a conv2d / linear layer cannot take the fast path, or null. */
function weightedProblem(w: WeightedPlan, shift: Int32Array): string | null {
  if (w.maxAbsWeight > INT16_MAX) return 'weight levels minus their zero points leave int16';
  let maxLeft = 0;
  for (let o = 0; o < shift.length; o++) maxLeft = Math.max(maxLeft, shift[o]);
  if (w.accBound * 2 ** maxLeft >= TWO_30) return `accumulators up to ${w.accBound} (times 2^${maxLeft}) reach 2^30, outside the vectorised requantization's range`;
  return null;
}

/** A max pool the conv kernel can take over: non-overlapping windows of at most 4 positions inside the input. */
function poolFusable(p: Extract<LayerPlan, { kind: 'maxpool2d' }>): boolean {
  const g = p.geometry;
  return g.kernel[0] * g.kernel[1] <= 4 && g.padding[0] === 0 && g.padding[1] === 0 && g.stride[0] >= g.kernel[0] && g.stride[1] >= g.kernel[1];
}

/**
 * The output-stage constants of channels [o0, o0 + 8) as two halves of 8 v128 (see
 * int8-kernels.ts): bias, 2^leftShift, multiplier, 2^(e-1), sign mask, 2^(30-e), lo, hi.
 * Channels past O get multiplier 0 and produce the value 0.
 */
function stageConstants(
  o0: number, O: number, bias: Int32Array, multiplier: Int32Array, shift: Int32Array, lo: number, hi: number, dst: Int32Array, at: number,
): void {
  for (let half = 0; half < 2; half++) {
    for (let i = 0; i < 4; i++) {
      const o = o0 + 4 * half + i;
      const base = at + half * (STAGE_HALF_BYTES >> 2) + i;
      const lane = (vec: number, value: number) => (dst[base + 4 * vec] = value);
      if (o < O) {
        const s = shift[o], e = s > 0 ? 0 : -s;
        lane(0, bias[o]);
        lane(1, 2 ** (s > 0 ? s : 0));
        lane(2, multiplier[o]);
        lane(3, e >= 1 && e <= 30 ? 2 ** (e - 1) : 0);
        lane(4, e >= 1 && e <= 30 ? -1 : 0);
        lane(5, e <= 30 ? 2 ** (30 - e) : 0);
      } else {
        lane(0, 0); lane(1, 1); lane(2, 0); lane(3, 0); lane(4, 0); lane(5, TWO_30);
      }
      lane(6, lo);
      lane(7, hi);
    }
  }
}

/** One tile's k-pairs: byte offsets from the quad base + `first`, and the weight of channel o at (kk, slot). */
interface TileTaps {
  first: number;
  taps: Int32Array;
  weight: (kk: number, o: number, slot: number) => number;
}

/**
 * Tiles of 8 output channels for a weighted layer: packs the weights ([kk][channel][slot] int16),
 * the tap tables (shared when equal; none when every tile's taps are kk·d, the kernel's stride
 * mode) and the output-stage constants. Returns the descriptors and the stride (0: tables).
 */
function buildTiles(
  O: number, layout: Layout, out: Value,
  stage: { bias: Int32Array; multiplier: Int32Array; shift: Int32Array; lo: number; hi: number },
  tile: (t: number) => TileTaps,
): { tiles: number; nTiles: number; stride: number; maxTap: number } {
  const nTiles = (O + 7) >> 3;
  const all = Array.from({ length: nTiles }, (_, t) => tile(t));
  const d = all[0].taps.length > 1 ? all[0].taps[1] : 4;
  const stride = d > 0 && all.every(({ taps }) => taps.every((v, kk) => v === kk * d)) ? d : 0;
  const tables = new Map<string, number>();
  const desc = new Int32Array(nTiles * (TILE_BYTES >> 2));
  let maxTap = 0;
  all.forEach(({ first, taps, weight }, t) => {
    const K2 = taps.length;
    const w = new Int32Array(K2 * (KK_WEIGHT_BYTES >> 2));
    for (let kk = 0; kk < K2; kk++) {
      for (let c = 0; c < 8; c++) {
        const o = 8 * t + c;
        // Little-endian int16 pair: slot 0 in the low half.
        if (o < O) w[kk * 8 + c] = (weight(kk, o, 0) & 0xffff) | (weight(kk, o, 1) << 16);
      }
    }
    const st = new Int32Array(2 * (STAGE_HALF_BYTES >> 2));
    stageConstants(8 * t, O, stage.bias, stage.multiplier, stage.shift, stage.lo, stage.hi, st, 0);
    let table = 0;
    if (stride === 0) {
      const key = taps.join(',');
      table = tables.get(key) ?? layout.put(taps);
      tables.set(key, table);
    }
    for (const v of taps) maxTap = Math.max(maxTap, first + v);
    const at = t * (TILE_BYTES >> 2);
    desc[at] = layout.put(w);
    desc[at + 1] = first;
    desc[at + 2] = K2;
    desc[at + 3] = layout.put(st);
    desc[at + 4] = 16 * t; // the tile's first channel pair, 4t, in the output pixel
    desc[at + 5] = Math.min(4, out.pairs - 4 * t);
    desc[at + 7] = table;
  });
  return { tiles: layout.put(desc), nTiles, stride, maxTap };
}

function clampRange(layer: { qmin: number; qmax: number; outZeroPoint: number }, reluLo: boolean): { lo: number; hi: number } {
  const qmin = reluLo ? Math.max(layer.qmin, layer.outZeroPoint) : layer.qmin;
  return { lo: qmin - layer.outZeroPoint, hi: layer.qmax - layer.outZeroPoint };
}

function hasLeftShift(shift: Int32Array): boolean {
  return shift.some((s) => s > 0);
}

function convOp(
  fn: number, plan: Extract<LayerPlan, { kind: 'conv2d' }>, pool: Extract<LayerPlan, { kind: 'maxpool2d' }> | null, reluLo: boolean,
  a: Value, b: Value, inIndex: number, outIndex: number, layout: Layout,
): ConvOp {
  const g = plan.geometry, { layer, weighted } = plan;
  const { C, O, KH, KW, groups } = g;
  const Cg = C / groups, Og = O / groups;
  const [sh, sw] = g.stride, [ph, pw] = g.padding, [dh, dw] = g.dilation;
  const K = weighted.K, cw = weighted.centeredWeight;
  const px = a.pixBytes, KK = KH * KW;

  const { tiles, nTiles, stride, maxTap } = buildTiles(
    O, layout, b, { bias: weighted.bias, multiplier: layer.multiplier, shift: layer.shift, ...clampRange(layer, reluLo) },
    (t): TileTaps => {
      if (a.colPairs > 0) {
        // One channel, words (x[h, w], x[h, w + dw]): k-pair (kh, kw pair) holds the taps 2j, 2j + 1.
        const KWP = (KW + 1) >> 1;
        const taps = new Int32Array(KH * KWP);
        for (let kh = 0, i = 0; kh < KH; kh++) for (let j = 0; j < KWP; j++) taps[i++] = (kh * dh * a.Ws + 2 * j * dw) * px;
        return {
          first: 0,
          taps,
          weight: (kk, o, slot) => {
            const kh = Math.floor(kk / KWP), kw = 2 * (kk % KWP) + slot;
            return kw < KW ? cw[o * K + kh * KW + kw] : 0;
          },
        };
      }
      // k-pairs (kh, kw, channel pair), the pair innermost (adjacent in memory), over the channel
      // pairs of the groups this tile's channels belong to.
      const oLast = Math.min(8 * t + 8, O) - 1;
      const c0 = Math.floor((8 * t) / Og) * Cg, c1 = (Math.floor(oLast / Og) + 1) * Cg;
      const cp0 = c0 >> 1, np = ((c1 + 1) >> 1) - cp0;
      const taps = new Int32Array(KK * np);
      for (let kh = 0, i = 0; kh < KH; kh++) {
        for (let kw = 0; kw < KW; kw++) for (let cp = 0; cp < np; cp++) taps[i++] = (kh * dh * a.Ws + kw * dw) * px + 4 * cp;
      }
      return {
        first: 4 * cp0,
        taps,
        weight: (kk, o, slot) => {
          const c = 2 * (cp0 + (kk % np)) + slot, gi = Math.floor(o / Og);
          if (c >= C || Math.floor(c / Cg) !== gi) return 0;
          return cw[o * K + (c - gi * Cg) * KK + Math.floor(kk / np)];
        },
      };
    },
  );

  // The corner of output pixel (oh, ow)'s receptive field, relative to its image.
  const pixel = (oh: number, ow: number) => ((oh * sh + a.padH - ph) * a.Ws + ow * sw + a.padW - pw) * px;
  const outAt = (oh: number, ow: number) => ((oh + b.padH) * b.Ws + b.padW + ow) * b.pixBytes;
  const quads: number[] = [], outOffs: number[] = [];
  let spec: ConvKernelSpec;
  if (pool) {
    // A quad is one pooling window (its first position repeated if it has fewer than 4).
    const pg = pool.geometry;
    const window: number[] = [];
    for (let i = 0; i < pg.kernel[0]; i++) for (let j = 0; j < pg.kernel[1]; j++) window.push(pixel(i * pg.dilation[0], j * pg.dilation[1]) - pixel(0, 0));
    while (window.length < 4) window.push(window[0]);
    spec = { pixels: window as [number, number, number, number], stride, mode: 'pool', leftShift: hasLeftShift(layer.shift) };
    for (let oh = 0; oh < pg.OH; oh++) {
      for (let ow = 0; ow < pg.OW; ow++) {
        quads.push(pixel(oh * pg.stride[0], ow * pg.stride[1]));
        outOffs.push(outAt(oh, ow));
      }
    }
  } else {
    // A quad is 4 consecutive pixels of a row; those past its end are written to pixel 0's place first.
    spec = { pixels: [0, sw * px, 2 * sw * px, 3 * sw * px], stride, mode: 'each', leftShift: hasLeftShift(layer.shift) };
    for (let oh = 0; oh < g.OH; oh++) {
      for (let ow = 0; ow < g.OW; ow += 4) {
        quads.push(pixel(oh, ow));
        for (let j = 0; j < 4; j++) outOffs.push(outAt(oh, ow + j < g.OW ? ow + j : ow));
      }
    }
  }
  // Pixels past a row's end read past the image: the input value keeps that much slack.
  const maxRead = Math.max(...quads) + maxTap + Math.max(...spec.pixels) + 4;
  a.slack = Math.max(a.slack, maxRead - a.imageBytes + 16);
  return {
    kind: 'conv', fn, spec, in: inIndex, out: outIndex,
    quads: layout.put(Int32Array.from(quads)), nQuads: quads.length, outOffs: layout.put(Int32Array.from(outOffs)),
    tiles, nTiles,
  };
}

/** G' = 2G of Winograd's F(2x2, 3x3) (Lavin & Gray 2016), so that the filter transform is integral. */
const WINO_G = [[2, 0, 0], [1, 1, 1], [1, -1, 1], [0, 0, 2]];

/**
 * The transformed weights U[ξ][o][c] = (G' g G'ᵀ)[ξ] (= 4 · Lavin's U), [16][O][C], if this conv2d
 * + max pool can run as Winograd F(2x2, 3x3): a 3x3 kernel with unit stride and dilation, one group,
 * at least 8 input channels (below that the transforms cost more than they save), a 2x2 pool of
 * stride 2, the transformed input (|V| <= 4·max|x|) and weights in int16, and 4× the accumulators
 * (what Y = Aᵀ M A holds) in int32. Otherwise null.
 */
function winogradWeights(plan: Extract<LayerPlan, { kind: 'conv2d' }>, pool: Extract<LayerPlan, { kind: 'maxpool2d' }>, a: Value): Int32Array | null {
  const g = plan.geometry, pg = pool.geometry, w = plan.weighted;
  const unit = (t: readonly [number, number]) => t[0] === 1 && t[1] === 1;
  if (g.KH !== 3 || g.KW !== 3 || !unit(g.stride) || !unit(g.dilation) || g.groups !== 1 || g.C < 8 || a.colPairs !== 0) return null;
  if (pg.kernel[0] !== 2 || pg.kernel[1] !== 2 || pg.stride[0] !== 2 || pg.stride[1] !== 2 || !unit(pg.dilation)) return null;
  if (4 * w.maxAbsInput > INT16_MAX || 4 * w.accBound >= 2 ** 31) return null;
  const { O, C } = g, cw = w.centeredWeight;
  const U = new Int32Array(16 * O * C);
  const Gg = new Int32Array(12); // G' g, 4x3
  for (let o = 0; o < O; o++) {
    for (let c = 0; c < C; c++) {
      const k = (o * C + c) * 9;
      for (let r = 0; r < 4; r++) {
        for (let j = 0; j < 3; j++) Gg[3 * r + j] = WINO_G[r][0] * cw[k + j] + WINO_G[r][1] * cw[k + 3 + j] + WINO_G[r][2] * cw[k + 6 + j];
      }
      for (let r = 0; r < 4; r++) {
        for (let q = 0; q < 4; q++) {
          const sum = Gg[3 * r] * WINO_G[q][0] + Gg[3 * r + 1] * WINO_G[q][1] + Gg[3 * r + 2] * WINO_G[q][2];
          if (sum > INT16_MAX || sum < -INT16_MAX) return null;
          U[((4 * r + q) * O + o) * C + c] = sum;
        }
      }
    }
  }
  return U;
}

function winoOp(
  fn: number, plan: Extract<LayerPlan, { kind: 'conv2d' }>, U: Int32Array, reluLo: boolean,
  a: Value, b: Value, inIndex: number, outIndex: number, chunk: number, layout: Layout,
): WinoOp {
  const g = plan.geometry, { layer, weighted } = plan;
  const { O, C } = g;
  const PH = Math.floor(g.OH / 2), PW = Math.floor(g.OW / 2), tilesPerImage = PH * PW;
  const groups = (a.pairs + 3) >> 2, tileBytes = 16 * groups;
  const maxTiles = chunk * tilesPerImage + 4; // the last quad may run past the chunk's tiles
  const xiBytes = maxTiles * tileBytes;
  const stage = { bias: weighted.bias, multiplier: layer.multiplier, shift: layer.shift, ...clampRange(layer, reluLo) };

  // Per tile of 8 output channels: weights [ξ][channel pair][channel][slot], and the output stage.
  const nTiles = (O + 7) >> 3;
  const desc = new Int32Array(nTiles * (TILE_BYTES >> 2));
  for (let t = 0; t < nTiles; t++) {
    const w = new Int32Array(16 * a.pairs * 8);
    for (let xi = 0; xi < 16; xi++) {
      for (let cp = 0; cp < a.pairs; cp++) {
        for (let i = 0; i < 8; i++) {
          const o = 8 * t + i;
          if (o >= O) continue;
          const at = (xi * O + o) * C + 2 * cp;
          const u0 = U[at], u1 = 2 * cp + 1 < C ? U[at + 1] : 0;
          w[(xi * a.pairs + cp) * 8 + i] = (u0 & 0xffff) | (u1 << 16);
        }
      }
    }
    const st = new Int32Array(2 * (STAGE_HALF_BYTES >> 2));
    stageConstants(8 * t, O, stage.bias, stage.multiplier, stage.shift, stage.lo, stage.hi, st, 0);
    const at = t * (TILE_BYTES >> 2);
    desc[at] = layout.put(w);
    desc[at + 2] = a.pairs;
    desc[at + 3] = layout.put(st);
    desc[at + 4] = 16 * t;
    desc[at + 5] = Math.min(4, b.pairs - 4 * t);
  }

  // Output offset of every tile of the chunk (pooled pixel (i, j) of image n); tiles past the
  // chunk are written to the output's spare image slot.
  const outOffs = new Int32Array(maxTiles);
  for (let tile = 0; tile < maxTiles; tile++) {
    const n = Math.min(Math.floor(tile / tilesPerImage), chunk), r = tile % tilesPerImage;
    outOffs[tile] = n * b.imageBytes + ((Math.floor(r / PW) + b.padH) * b.Ws + (r % PW) + b.padW) * b.pixBytes;
  }
  b.slack = Math.max(b.slack, b.imageBytes + 16);
  a.slack = Math.max(a.slack, tileBytes + 16);
  return {
    kind: 'wino', fn, in: inIndex, out: outIndex,
    spec: { tileBytes, xiBytes, leftShift: hasLeftShift(layer.shift) },
    PH, PW, groups, origin: ((a.padH - g.padding[0]) * a.Ws + (a.padW - g.padding[1])) * a.pixBytes,
    v: layout.reserve(16 * xiBytes), scratch: layout.reserve(2048), outOffs: layout.put(outOffs),
    tiles: layout.put(desc), nTiles,
  };
}

function linearOp(
  fn: number, plan: Extract<LayerPlan, { kind: 'linear' }>, reluLo: boolean, a: Value, b: Value, inIndex: number, outIndex: number, chunk: number, layout: Layout,
): LinearOp {
  const { layer, weighted } = plan;
  const { O, K } = weighted, cw = weighted.centeredWeight;
  if (a.padH !== 0 || a.padW !== 0 || a.colPairs !== 0) throw new Error('unreachable: a linear input is plain');
  // The input words are contiguous, pixel-major: k-pair kk = (h·W + w)·pairs + cp holds the
  // features (c·H·W + h·W + w) of channels c = 2cp, 2cp + 1 of the flattened [C, H, W] input.
  const HW = a.H * a.W, K2 = a.pairs * HW;
  const { tiles, nTiles, stride } = buildTiles(
    O, layout, b, { bias: weighted.bias, multiplier: layer.multiplier, shift: layer.shift, ...clampRange(layer, reluLo) },
    () => ({
      first: 0,
      taps: Int32Array.from({ length: K2 }, (_, kk) => 4 * kk),
      weight: (kk, o, slot) => {
        const c = 2 * (kk % a.pairs) + slot, hw = Math.floor(kk / a.pairs);
        return c < a.C ? cw[o * K + c * HW + hw] : 0;
      },
    }),
  );
  const ib = a.imageBytes, ob = b.imageBytes;
  const nQuads = (chunk + 3) >> 2;
  return {
    kind: 'linear', fn, in: inIndex, out: outIndex, tiles, nTiles,
    spec: { pixels: [0, ib, 2 * ib, 3 * ib], stride, mode: 'each', leftShift: hasLeftShift(layer.shift) },
    quads: layout.put(Int32Array.from({ length: nQuads }, (_, q) => 4 * q * ib)),
    outOffs: layout.put(Int32Array.from({ length: 4 * nQuads }, (_, j) => j * ob)),
  };
}

function sliceOf(x: ArrayLike<number>, start: number, end: number): ArrayLike<number> {
  if (ArrayBuffer.isView(x)) return (x as unknown as Float32Array).subarray(start, end);
  return Array.prototype.slice.call(x, start, end) as number[];
}
