/**
 * Int8Model: runs an Int8ModelSpec (model.ts) with integer arithmetic only. The float input is
 * quantized once by the first layer, every layer in between maps int32-held levels to levels
 * (kernels.ts: exact int32 accumulation, TFLite's fixed-point requantization), and the last
 * layer dequantizes to float32 logits (Jacob et al. 2018, §2.2-2.4).
 *
 * The constructor validates the whole spec (validate.ts) on a private copy, then prepares each
 * layer: weights with their zero points subtracted, and per layer the GEMM kernel that the
 * proven operand bounds allow (kernels.ts selectGemm).
 *
 * forward() runs the WebAssembly SIMD fast path (fast.ts) when the model qualifies and the cpu
 * kernels are on, else the reference path here: it streams the batch through in chunks,
 * ping-ponging between two activation buffers that live as long as the model, so a forward pass
 * allocates little beyond its output, and runs each conv2d directly followed by a maxpool2d as one
 * step that pools the accumulators before requantizing them (the same levels, a quarter of the
 * requantization work for 2x2 pools). Both paths give bit-identical outputs; the reference path is
 * the definition (option kernels: 'js'). forwardLevels() always runs the reference kernels, every
 * layer on its own, and keeps each output, for debugging and tests.
 *
 * Float segments (float-layers.ts: dynamic and weight-only layers, and relu / maxpool2d / flatten
 * on float values) run on the reference path, their float32 values held in the same buffers
 * through a Float32Array view; the model's float input is then taken as float32 when the first
 * layer is not a quantize, and its output is the last float layer's float32 values.
 */
import { decodeContainer, encodeContainer, type Container } from '../../io/container.js';
import { FileFormatError } from '../../io/format-error.js';
import { quantize } from '../numerics/index.js';
import { FastProgram } from './fast/program.js';
import { sliceOf } from './slice.js';
import { int8SpecFromContainer, int8SpecToContainer } from './format.js';
import { gemmInt32, gemmTwoLane, int8KernelsWasm, selectGemm, type Int32Gemm } from './gemm.js';
import {
  conv2dLevels,
  conv2dMaxPoolLevels,
  linearLevels,
  LINEAR_ROWS_PER_GEMM,
  maxPool2dLevels,
  reluLevels,
  type OutputStage,
} from './kernels.js';
import type { Int8LayerKind, Int8ModelSpec } from './model.js';
import { cloneSpec, planInt8Model, type LayerPlan } from './validate.js';
import {
  describeFloatLayer, dequantizeRun, floatLayerRun, floatMaxPoolRun, floatReluRun, floatView, quantizeRun,
} from './float-layers.js';
import { pow2ShiftGemm } from './pow2-shift.js';
import { argmaxRows } from './argmax.js';

export interface Int8ModelOptions {
  /**
   * Use this GEMM for every conv2d / linear layer instead of the per-layer choice of selectGemm
   * (e.g. gemmInt32 to compare kernels, or an external SIMD kernel with the same contract).
   * Implies kernels: 'js'.
   */
  gemm?: Int32Gemm;
  /**
   * 'wasm' (default): forward() runs the WebAssembly SIMD fast path (fast.ts) when the model
   * qualifies (every level range and centred weight fits in int16, accumulators below 2^30) and the
   * default device is 'wasm' (src/tensor/devices.ts; not QGRAD_DEVICE=cpu); 'js': always the TypeScript reference
   * path below. Both give bit-identical results.
   */
  kernels?: 'wasm' | 'js';
}

/** The levels one integer layer produced, for debugging and tests. */
export interface LayerLevels {
  index: number;
  kind: Int8LayerKind;
  /** [batch, ...per-example shape]. */
  shape: number[];
  /** The output levels; empty when the layer's output is float (then see `values`). */
  levels: Int32Array;
  /** The float32 output of a layer whose output is float (float-layers.ts), else absent. */
  values?: Float32Array;
}

export interface Int8Trace {
  /**
   * One entry per layer except the final dequantize, in order (entry 0 is the quantized input
   * when the first layer is quantize; a model that starts with a float layer has no such entry).
   */
  layers: LayerLevels[];
  /** The dequantized output, as forward() returns it. */
  output: Float32Array;
}

/** Examples per forward chunk are chosen so that one activation buffer holds about this many levels. */
const CHUNK_LEVELS = 1 << 20;

/** Kernel scratch shared by a model's steps; grown by ensureBuffers, never shrunk. */
interface Scratch {
  /** im2col patches of one image and group. */
  cols: Int32Array;
  /** Zero-point-shifted input rows of a linear layer. */
  rows: Int32Array;
  /** Accumulators of one image and group, for conv2d fused with the maxpool2d after it. */
  acc: Int32Array;
}

/** One integer layer, ready to run: reads `count` examples from input, returns the buffer holding its output. */
interface Step {
  plan: LayerPlan;
  outSize: number;
  gemm: Int32Gemm | null;
  run(input: Int32Array, count: number, output: Int32Array): Int32Array;
}

export class Int8Model {
  /** Per-example input shape, e.g. [1, 28, 28]. */
  readonly inputShape: readonly number[];
  /** Per-example output shape, e.g. [10]. */
  readonly outputShape: readonly number[];

  private readonly spec: Int8ModelSpec;
  private readonly plans: LayerPlan[];
  /** One step per integer layer (forwardLevels). */
  private readonly steps: Step[];
  /** The same with each conv2d + maxpool2d pair fused into one step (forward). */
  private readonly fusedSteps: Step[];
  private readonly inputSize: number;
  private readonly outputSize: number;
  /** The float boundaries: quantize the input (first layer quantize) and dequantize the output (last layer dequantize), else float32 in / out as is. */
  private readonly quantizesInput: boolean;
  private readonly dequantizesOutput: boolean;
  private readonly maxLevelsPerExample: number;
  // Scratch, grown on demand and kept for the model's lifetime.
  private bufferA = new Int32Array(0);
  private bufferB = new Int32Array(0);
  private readonly scratch: Scratch = { cols: new Int32Array(0), rows: new Int32Array(0), acc: new Int32Array(0) };
  private encodedSize: number | undefined;
  /** The fast path's program, or why this model cannot take it. */
  private readonly fast: FastProgram | string;

  constructor(spec: Int8ModelSpec, options: Int8ModelOptions = {}) {
    this.spec = cloneSpec(spec);
    this.plans = planInt8Model(this.spec);
    const first = this.plans[0], last = this.plans[this.plans.length - 1];
    this.inputShape = first.inShape;
    this.outputShape = last.outShape;
    this.inputSize = size(first.inShape);
    this.outputSize = size(last.outShape);
    this.quantizesInput = first.kind === 'quantize';
    this.dequantizesOutput = last.kind === 'dequantize';
    const inner = this.plans.slice(this.quantizesInput ? 1 : 0, this.dequantizesOutput ? -1 : this.plans.length);
    this.steps = inner.map((plan) => makeStep(plan, options.gemm, this.scratch));
    this.fusedSteps = fuseConvPool(this.steps, this.scratch);
    this.maxLevelsPerExample = Math.max(this.inputSize, ...this.plans.map((p) => size(p.outShape)));
    this.fast = options.gemm !== undefined ? 'a gemm was given (options.gemm)' : options.kernels === 'js' ? "kernels: 'js'"
      : this.plans.some((p) => 'weighted' in p && p.layer.weightCode === 'pow2') ? "power-of-two layers run the shift kernel (pow2-shift.ts)" : planFast(this.plans);
  }

  /**
   * Which path forward() takes now: 'wasm' (fast.ts) or 'js' (the reference kernels of kernels.ts),
   * with the reason when it is 'js'.
   */
  forwardPath(): { kernels: 'wasm' | 'js'; reason?: string } {
    if (typeof this.fast === 'string') return { kernels: 'js', reason: this.fast };
    if (!int8KernelsWasm()) return { kernels: 'js', reason: "the default device is not 'wasm' (QGRAD_DEVICE=cpu or setDefaultDevice)" };
    if (!this.fast.ready()) return { kernels: 'js', reason: 'WebAssembly SIMD unavailable' };
    return { kernels: 'wasm' };
  }

  // ---------------------------------------------------------------------------- inference

  /** Float input [batch, ...inputShape] -> float32 output [batch, ...outputShape] (logits). */
  forward(x: ArrayLike<number>, batch: number): Float32Array {
    this.checkInput(x, batch, 'forward');
    const out = new Float32Array(batch * this.outputSize);
    if (typeof this.fast !== 'string' && batch > 0 && int8KernelsWasm() && this.fast.ready()) {
      this.fast.forward(x, batch, out);
      return out;
    }
    const chunk = Math.max(1, Math.min(batch, Math.floor(CHUNK_LEVELS / this.maxLevelsPerExample)));
    this.ensureBuffers(chunk);
    for (let n0 = 0; n0 < batch; n0 += chunk) {
      const count = Math.min(chunk, batch - n0);
      let current = this.loadInput(sliceOf(x, n0 * this.inputSize, (n0 + count) * this.inputSize));
      for (const step of this.fusedSteps) {
        const target = current === this.bufferA ? this.bufferB : this.bufferA;
        current = step.run(current, count, target);
      }
      this.storeOutput(current, count, out, n0 * this.outputSize);
    }
    return out;
  }

  /**
   * forward() for debugging: the levels of every layer's output, each in its own array, plus the
   * float output. Runs the whole batch at once (no chunking), so keep the batch small.
   */
  forwardLevels(x: ArrayLike<number>, batch: number): Int8Trace {
    this.checkInput(x, batch, 'forwardLevels');
    this.ensureBuffers(0);
    let current: Int32Array;
    if (this.quantizesInput) {
      current = this.quantizeInput(x);
    } else {
      current = new Int32Array(x.length);
      floatView(current, x.length).set(x);
    }
    const layers: LayerLevels[] = this.quantizesInput ? [{ index: 0, kind: 'quantize', shape: [batch, ...this.plans[0].outShape], levels: current }] : [];
    for (const step of this.steps) {
      const result = step.run(current, batch, new Int32Array(batch * step.outSize));
      current = result === current ? result.slice() : result;
      const entry: LayerLevels = { index: step.plan.index, kind: step.plan.kind, shape: [batch, ...step.plan.outShape], levels: current };
      if (step.plan.outRange === null) {
        entry.values = floatView(current, batch * step.outSize).slice();
        entry.levels = new Int32Array(0);
      }
      layers.push(entry);
    }
    const output = new Float32Array(batch * this.outputSize);
    this.storeOutput(current, batch, output, 0);
    return { layers, output };
  }

  /** The arg-max class of each example (the first maximum on ties). */
  predict(x: ArrayLike<number>, batch: number): Int32Array {
    const logits = this.forward(x, batch);
    const C = this.outputSize;
    return argmaxRows(logits, batch, C);
  }

  private checkInput(x: ArrayLike<number>, batch: number, who: string): void {
    if (!Number.isSafeInteger(batch) || batch < 0) throw new Error(`Int8Model.${who}: batch must be a non-negative integer, got ${batch}`);
    if (x.length !== batch * this.inputSize) {
      throw new Error(
        `Int8Model.${who}: x has ${x.length} elements, but ${batch} example(s) of shape [${this.inputShape.join(', ')}] need ${batch * this.inputSize}`,
      );
    }
  }

  /** The float input of a chunk as float32 values in an activation buffer, or quantized by the first layer. */
  private loadInput(x: ArrayLike<number>): Int32Array {
    if (this.quantizesInput) return this.quantizeInput(x);
    floatView(this.bufferA, x.length).set(x);
    return this.bufferA;
  }

  /** The float output of a chunk: dequantized by the last layer, or the float32 values a float layer left. */
  private storeOutput(current: Int32Array, count: number, out: Float32Array, at: number): void {
    if (this.dequantizesOutput) this.dequantizeOutput(current, count, out, at);
    else out.set(floatView(current, count * this.outputSize), at);
  }

  /** The first layer, with the reference quantize of src/quant/numerics (float32 x · float32(1/scale), named rounding). */
  private quantizeInput(x: ArrayLike<number>): Int32Array {
    const plan = this.plans[0];
    if (plan.kind !== 'quantize') throw new Error('unreachable: validated first layer');
    const { scale, zeroPoint, qmin, qmax, rounding } = plan.layer;
    return quantize(x, { scale, zeroPoint, qmin, qmax, ...(rounding !== undefined ? { rounding } : {}) });
  }

  /**
   * The last layer: out = float32((q - zeroPoint) · float32(scale)), exactly as numerics'
   * dequantize (the integer difference times a float32 is exact in float64, then rounded once).
   */
  private dequantizeOutput(levels: Int32Array, count: number, out: Float32Array, at: number): void {
    const plan = this.plans[this.plans.length - 1];
    if (plan.kind !== 'dequantize') throw new Error('unreachable: validated last layer');
    const scale = Math.fround(plan.layer.scale), zp = plan.layer.zeroPoint;
    const n = count * this.outputSize;
    for (let i = 0; i < n; i++) out[at + i] = (levels[i] - zp) * scale;
  }

  private ensureBuffers(chunk: number): void {
    const levels = chunk * this.maxLevelsPerExample;
    if (this.bufferA.length < levels) {
      this.bufferA = new Int32Array(levels);
      this.bufferB = new Int32Array(levels);
    }
    let cols = 0, rows = 0, acc = 0;
    for (const { plan } of this.steps) {
      if (plan.kind === 'conv2d') {
        const pixels = plan.geometry.OH * plan.geometry.OW;
        cols = Math.max(cols, pixels * plan.weighted.K);
        acc = Math.max(acc, pixels * (plan.weighted.O / plan.geometry.groups));
      }
      if (plan.kind === 'linear') rows = Math.max(rows, LINEAR_ROWS_PER_GEMM * plan.weighted.K);
    }
    if (this.scratch.cols.length < cols) this.scratch.cols = new Int32Array(cols);
    if (this.scratch.rows.length < rows) this.scratch.rows = new Int32Array(rows);
    if (this.scratch.acc.length < acc) this.scratch.acc = new Int32Array(acc);
  }

  // --------------------------------------------------------------------------- persistence

  /** A deep copy of the validated spec. */
  toSpec(): Int8ModelSpec {
    return cloneSpec(this.spec);
  }

  /** The model as a 'qgrad.int8-model' container file (docs/formats.md). */
  toBytes(): Uint8Array {
    return encodeContainer(int8SpecToContainer(this.spec));
  }

  /** Like load(), from bytes; `sourceName` names them in errors. */
  static fromBytes(bytes: Uint8Array, sourceName = '<bytes>', options: Int8ModelOptions = {}): Int8Model {
    return fromContainer(() => decodeContainer(bytes, sourceName), sourceName, options);
  }

  /** Size of the model file in bytes. */
  sizeBytes(): number {
    this.encodedSize ??= this.toBytes().length;
    return this.encodedSize;
  }

  /** A human-readable summary: one line per layer with its shapes, ranges and kernel choice. */
  describe(): string {
    const params = this.plans.reduce(
      (n, p) => n + ('weighted' in p ? p.weighted.O * (p.weighted.K + (p.layer.bias ? 1 : 0)) : 'prepared' in p ? p.prepared.parameters : 0), 0,
    );
    const lines = [
      `Int8Model: input [${this.inputShape.join(', ')}] -> output [${this.outputShape.join(', ')}], ` +
        `${this.plans.length} layers, ${params} parameters, ${this.sizeBytes()} bytes as a file`,
    ];
    const path = this.forwardPath();
    if (typeof this.fast !== 'string') {
      lines.push(`  forward: ${path.kernels === 'wasm' ? 'wasm' : `js (${path.reason})`}; wasm program: ${this.fast.summary.join(', ')}; chunks of ${this.fast.chunk} images`);
    } else {
      lines.push(`  forward: js (${this.fast})`);
    }
    for (const plan of this.plans) {
      const step = this.steps.find((s) => s.plan === plan);
      const fused = this.fusedSteps.some((s) => s.plan === plan && s !== step) ? ' (forward pools before requantizing)' : '';
      lines.push(`  ${String(plan.index).padStart(2)} ${plan.kind.padEnd(10)} ${describeLayer(plan, step?.gemm ?? null)}${fused}  -> [${plan.outShape.join(', ')}]`);
    }
    if (this.spec.meta !== undefined && Object.keys(this.spec.meta).length > 0) lines.push(`  meta ${JSON.stringify(this.spec.meta)}`);
    return lines.join('\n');
  }
}

/** The fast path's program; a failure to plan it leaves the model on the reference path, saying why. */
function planFast(plans: LayerPlan[]): FastProgram | string {
  // The wasm program covers quantize -> integer layers -> dequantize; float segments run on the reference path.
  const float = plans.find((p, i) => (i > 0 && p.inRange === null) || (i < plans.length - 1 && p.outRange === null) || (i === 0 && p.kind !== 'quantize'));
  if (float) return `layer ${float.index} (${float.kind}) works on float activations (float-layers.ts), which the wasm program does not cover`;
  try {
    return FastProgram.plan(plans);
  } catch (error) {
    return `fast path unavailable: ${error instanceof Error ? error.message : String(error)}`;
  }
}

function fromContainer(read: () => Container, source: string, options: Int8ModelOptions): Int8Model {
  const spec = int8SpecFromContainer(read(), source);
  try {
    return new Int8Model(spec, options);
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    throw new FileFormatError(source, `invalid int8 model: ${message.replace(/^Int8Model: /, '')}`);
  }
}

/**
 * Replace each conv2d step directly followed by a maxpool2d step with one step that pools the
 * accumulators before requantizing (kernels.ts conv2dMaxPoolLevels): same levels, less work.
 */
function fuseConvPool(steps: Step[], scratch: Scratch): Step[] {
  const fused: Step[] = [];
  for (let i = 0; i < steps.length; i++) {
    const conv = steps[i].plan, pool = steps[i + 1]?.plan;
    if (conv.kind !== 'conv2d' || pool?.kind !== 'maxpool2d') {
      fused.push(steps[i]);
      continue;
    }
    const gemm = steps[i].gemm!;
    const { layer, weighted, geometry } = conv;
    const stage = outputStage(conv.layer, weighted.bias);
    fused.push({
      plan: conv,
      outSize: steps[i + 1].outSize,
      gemm,
      run: (input, count, output) => {
        conv2dMaxPoolLevels(input, count, geometry, weighted.centeredWeight, layer.inZeroPoint, stage, gemm, scratch.cols, scratch.acc, pool.geometry, output);
        return output;
      },
    });
    i++;
  }
  return fused;
}

function outputStage(layer: { multiplier: Int32Array; shift: Int32Array; outZeroPoint: number; qmin: number; qmax: number }, bias: Int32Array): OutputStage {
  return { bias, multiplier: layer.multiplier, shift: layer.shift, outZeroPoint: layer.outZeroPoint, qmin: layer.qmin, qmax: layer.qmax };
}

function makeStep(plan: LayerPlan, forced: Int32Gemm | undefined, scratch: Scratch): Step {
  const outSize = size(plan.outShape);
  const inSize = size(plan.inShape);
  const floatStep = (run: Step['run']): Step => ({ plan, outSize, gemm: null, run });
  // Float segments and their boundaries inside the chain (float-layers.ts).
  if (plan.inRange === null && plan.kind === 'relu') return floatStep(floatReluRun(inSize));
  if (plan.inRange === null && plan.kind === 'maxpool2d') return floatStep(floatMaxPoolRun(plan.inShape[0], plan.geometry, inSize, outSize));
  switch (plan.kind) {
    case 'dynamicLinear':
    case 'weightOnlyLinear':
    case 'weightOnlyConv2d':
      return floatStep(floatLayerRun(plan, inSize, outSize));
    case 'conv2d':
    case 'linear': {
      const { layer, weighted } = plan;
      const gemm = forced ?? (layer.weightCode === 'pow2' ? pow2ShiftGemm(weighted.centeredWeight, weighted.O, weighted.K)
        : selectGemm(weighted.maxAbsWeight, weighted.maxAbsInput, layer.weight.length / layer.weightShape[0]));
      const stage = outputStage(layer, weighted.bias);
      const run =
        plan.kind === 'conv2d'
          ? (input: Int32Array, count: number, output: Int32Array) => {
              conv2dLevels(input, count, plan.geometry, weighted.centeredWeight, layer.inZeroPoint, stage, gemm, scratch.cols, output);
              return output;
            }
          : (input: Int32Array, count: number, output: Int32Array) => {
              linearLevels(input, count, weighted.K, weighted.O, weighted.centeredWeight, layer.inZeroPoint, stage, gemm, scratch.rows, output);
              return output;
            };
      return { plan, outSize, gemm, run };
    }
    case 'maxpool2d': {
      const C = plan.inShape[0];
      return {
        plan, outSize, gemm: null,
        run: (input, count, output) => {
          maxPool2dLevels(input, { ...plan.geometry, planes: count * C }, output);
          return output;
        },
      };
    }
    case 'relu':
      return {
        plan, outSize, gemm: null,
        run: (input, count, output) => {
          reluLevels(input, count * inSize, plan.layer.zeroPoint, output);
          return output;
        },
      };
    case 'flatten':
      return { plan, outSize, gemm: null, run: (input) => input };
    case 'quantize':
      return floatStep(quantizeRun(plan.layer, inSize));
    case 'dequantize':
      return floatStep(dequantizeRun(plan.layer, inSize));
  }
}

function describeLayer(plan: LayerPlan, gemm: Int32Gemm | null): string {
  const range = (r: { zeroPoint: number; qmin: number; qmax: number } | null) => (r ? `zp ${r.zeroPoint} [${r.qmin}, ${r.qmax}]` : '');
  switch (plan.kind) {
    case 'quantize':
      return `scale ${plan.layer.scale.toPrecision(6)} ${range(plan.outRange)} ${plan.layer.rounding ?? 'halfEven'}`;
    case 'conv2d':
    case 'linear': {
      const { layer, weighted } = plan;
      const geometry =
        plan.kind === 'conv2d'
          ? ` stride ${plan.layer.stride.join('x')} pad ${plan.layer.padding.join('x')} dil ${plan.layer.dilation.join('x')}${plan.layer.groups > 1 ? ` groups ${plan.layer.groups}` : ''}`
          : '';
      const symmetric = layer.weightZeroPoint.every((z) => z === 0) ? 'symmetric' : 'asymmetric';
      const kernel = gemm === gemmTwoLane ? 'two-lane' : gemm === gemmInt32 ? 'int32' : gemm?.name || 'custom';
      const scale = layer.outScale !== undefined ? ` scale ${layer.outScale.toPrecision(6)}` : '';
      return (
        `w [${layer.weightShape.join(', ')}] levels [${layer.weightQmin}, ${layer.weightQmax}] ${symmetric}, ` +
        `bias ${layer.bias ? 'int32' : 'none'}${geometry}; out ${range(plan.outRange)}${scale}; ` +
        `|acc| <= ${weighted.accBound} (${((weighted.accBound / 2 ** 31) * 100).toPrecision(3)}% of int32), gemm ${kernel}`
      );
    }
    case 'maxpool2d':
      return `kernel ${plan.layer.kernel.join('x')} stride ${plan.layer.stride.join('x')} pad ${plan.layer.padding.join('x')}`;
    case 'relu':
      return `max(q, ${plan.layer.zeroPoint})`;
    case 'flatten':
      return '';
    case 'dequantize':
      return `scale ${plan.layer.scale.toPrecision(6)} zp ${plan.layer.zeroPoint}`;
    default:
      return describeFloatLayer(plan);
  }
}

function size(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

