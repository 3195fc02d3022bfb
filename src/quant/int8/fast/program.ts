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
 *     over a single channel (nothing to pair along channels) pairs its taps instead: with unit
 *     stride along W its input's tap pairs are laid out in planes, ceil(KH·KW / 2) words per
 *     output pixel (im2col, the one im2col of the path: a few KiB per image), and the conv runs
 *     as a 1x1 conv over them, 5 multiplies of two taps for a 3x3 kernel; otherwise it reads column
 *     pairs, (x[h, w], x[h, w + dilation]), KH·ceil(KW / 2) multiplies.
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
 *     |acc + bias| · 2^leftShift < 2^30 (checked per layer from the validated accumulator bound);
 *     where the clamp starts at the value 0 (a ReLU), in a shorter form with one 64-bit product
 *     and one shift (stage.ts).
 *   - quantize is the reference's float32 arithmetic in wasm; other max pools, ReLUs and the
 *     dequantize run on the int16 values (max(v, 0) for ReLU).
 * The files: plan.ts (the passes that plan a model), layout.ts (kernel memory), tiles.ts, conv-op.ts
 * and winograd.ts (the constants of each op), stage.ts (the output stage's two forms and their
 * constants), kernels.ts (the generated WebAssembly), gemm-int8.ts
 * (the int16 SIMD gemm the reference engine's selectGemm can also use); this file runs a plan.
 *
 * Batches are processed in chunks of `chunk` images, layer by layer, through buffers laid out once
 * (about 1 MiB per chunk, so that a chunk's activations stay in L2).
 */
import { quantize } from '../../numerics/index.js';
import { sliceOf } from '../slice.js';
import type { LayerPlan } from '../validate.js';
import { instantiateInt8Kernels, type Int8KernelExports, type LayerKernelSpec } from './kernels.js';
import { Layout, MEMORY_LIMIT, type Op, type PoolOp, type Value } from './layout.js';
import { emitOps, fuseLayers, layOutValues, modelProblem, quantizeConstants } from './plan.js';

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
    /** The output's scale and size, and the index of its value. */
    private readonly dequant: { scale: number; outputSize: number; value: number },
    /** One line per op for describe(). */
    readonly summary: string[],
  ) {}

  /**
   * The program for a validated model, or a string saying why the model cannot take the fast path
   * (the passes are in ./plan.ts). Kernel memory is set up on the first forward().
   */
  static plan(plans: LayerPlan[]): FastProgram | string {
    const problem = modelProblem(plans);
    if (problem) return problem;
    const first = plans[0] as Extract<LayerPlan, { kind: 'quantize' }>, last = plans[plans.length - 1] as Extract<LayerPlan, { kind: 'dequantize' }>;
    const { values, pending, finalValue } = fuseLayers(plans);
    const laid = layOutValues(values, pending);
    if (typeof laid === 'string') return laid;
    const { chunk } = laid;
    const layout = new Layout();
    const q = first.layer;
    const inputSize = first.outShape.reduce((a, b) => a * b, 1);
    const quantConstants = quantizeConstants(q, chunk, inputSize, layout);
    const { ops, summary } = emitOps(pending, values, chunk, layout);
    for (const v of values) v.base = layout.reserve(chunk * v.imageBytes + v.slack);
    if (layout.bytes > MEMORY_LIMIT) return `needs ${layout.bytes} bytes of kernel memory, more than ${MEMORY_LIMIT}`;
    const outputSize = last.outShape.reduce((a, b) => a * b, 1);
    const out = values[finalValue];
    if (out.C * out.H * out.W !== outputSize) return 'unreachable: output size';
    return new FastProgram(
      values, ops, layout, chunk,
      { scale: q.scale, zeroPoint: q.zeroPoint, qmin: q.qmin, qmax: q.qmax, rounding: q.rounding ?? 'halfEven', inputSize, ...quantConstants },
      { scale: Math.fround(last.layer.scale), outputSize, value: finalValue },
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
    const im2col = this.ops.find((op) => op.kind === 'im2col');
    const k = instantiateInt8Kernels(specs, im2col ? im2col.spec : null, this.quant.rounding === 'halfAwayFromZero');
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
            k.exports[`winoIn${op.fn}`](a.base + op.origin, a.imageBytes, count, op.PH, op.PW, a.Ws * a.pixBytes, a.pixBytes, op.groups, op.v, op.spec.tileBytes, op.spec.xiBytes);
            k.exports[`wino${op.fn}`](op.v, b.base, (count * op.PH * op.PW + 3) >> 2, op.outOffs, op.tiles, op.nTiles, op.scratch);
            break;
          }
          case 'im2col': {
            const a = this.values[op.in], b = this.values[op.out];
            k.exports.im2col(a.base + op.origin, a.imageBytes, op.srcRow, b.base, b.imageBytes, count, op.OH, op.OW);
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
    const v = this.values[this.dequant.value];
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
