/**
 * Validation of an Int8ModelSpec, run once when an Int8Model is built: everything the integer
 * kernels rely on is checked here, so that they can run without checks (model.ts states the
 * semantics). Errors name the layer index, its kind and the field:
 *
 *   Int8Model: layer 3 (conv2d): multiplier[7] = 5 is not a Q31 multiplier (0, or in [2^30, 2^31) as quantizeMultiplier makes)
 *
 * Besides types and shapes, the pass follows the level range [qmin, qmax] and zero point of the
 * activation through the chain, which gives two guarantees:
 *   - every conv2d / linear inZeroPoint (and relu / dequantize zeroPoint) is the zero point its
 *     input levels actually have;
 *   - no accumulator can overflow int32, for ANY input: for each output channel o,
 *       |bias[o]| + max|x - inZeroPoint| · Σ_k |w[o, k] - weightZeroPoint[o]|  ≤  2^31 - 1,
 *     which bounds every partial sum too (the kernels add in any order), and the left shift of
 *     a positive `shift` keeps that bound within int32 as well. This is the exact worst case for
 *     the actual weights, so every model that meets the usual rule for 8-bit levels,
 *     K·255·255 + |bias| ≤ 2^31 - 1, passes, and some with larger K do too.
 */
import { convOutSize, type Conv2dGeometry, type Pool2dGeometry } from './kernels.js';
import type {
  Conv2dLayer,
  DequantizeLayer,
  Int8Layer,
  Int8LayerKind,
  Int8ModelSpec,
  LinearLayer,
  MaxPool2dLayer,
  QuantizeLayer,
  ReluLayer,
} from './model.js';
import { INT32_MAX, TWO_30 } from '../numerics/int-limits.js';
import { FLOAT_LAYER_KEYS, FLOAT_LAYER_KINDS, planFloatLayer, type FloatLayerPlan } from './float-layers.js';
import { weightCodeProblem } from './pow2-shift.js';

/**
 * Bounds on what a model may ask for, checked before anything is allocated or looped over, so
 * that a few hundred crafted bytes cannot hang a load or exhaust memory (issue 11: a maxpool
 * model with inputShape [1, 2^40, 1] looped over 2^40 rows; padding [10000, 10000] asked for
 * gigabytes). Generous for real models: an ImageNet ResNet-50 needs ~2^22 elements per
 * activation and ~2^32 multiply-adds per image.
 */
export const INT8_LIMITS = {
  /** Elements of any per-example activation (the input, every layer's output). */
  elements: 2 ** 26,
  /** Elements of a conv's per-example patch matrix (K·OH·OW, the im2col the kernels build). */
  patchElements: 2 ** 27,
  /** Multiply-adds per example over the whole model. */
  macs: 2 ** 33,
  /** Layers in the chain. */
  layers: 10_000,
  /** Nesting depth of the free-form meta (cloneSpec copies it recursively). */
  metaDepth: 100,
} as const;

/** Levels stay within ±2^24, as in src/quant/numerics, so that they are exact in float32. */
const LEVEL_LIMIT = 2 ** 24;
const KINDS: readonly Int8LayerKind[] = ['quantize', 'conv2d', 'linear', 'maxpool2d', 'relu', 'flatten', 'dequantize', ...FLOAT_LAYER_KINDS];

/** What the levels flowing between two layers can be. */
export interface LevelRange {
  zeroPoint: number;
  qmin: number;
  qmax: number;
}

/** A conv2d / linear layer's weights and output stage, ready for the kernels. */
export interface WeightedPlan {
  /** Output channels and reduction length (Cg·KH·KW, or I). */
  O: number;
  K: number;
  /** w_q - weightZeroPoint[o], [O, K]. */
  centeredWeight: Int32Array;
  /** Bias, zeros when the layer has none. */
  bias: Int32Array;
  /** max |x - inZeroPoint| over the input range, and max |w - weightZeroPoint|. */
  maxAbsInput: number;
  maxAbsWeight: number;
  /** The largest |accumulator| any input can produce, over all output channels. */
  accBound: number;
}

interface PlanBase {
  index: number;
  /** Per-example shapes. */
  inShape: number[];
  outShape: number[];
  /** Levels entering the layer; null when its input is float (quantize, a float segment: float-layers.ts). */
  inRange: LevelRange | null;
  /** Levels leaving it; null when its output is float (dequantize, a float segment). */
  outRange: LevelRange | null;
}

export type LayerPlan =
  | (PlanBase & { kind: 'quantize'; layer: QuantizeLayer })
  | (PlanBase & { kind: 'conv2d'; layer: Conv2dLayer; geometry: Conv2dGeometry; weighted: WeightedPlan })
  | (PlanBase & { kind: 'linear'; layer: LinearLayer; weighted: WeightedPlan })
  | (PlanBase & { kind: 'maxpool2d'; layer: MaxPool2dLayer; geometry: Omit<Pool2dGeometry, 'planes'> })
  | (PlanBase & { kind: 'relu'; layer: ReluLayer })
  | (PlanBase & { kind: 'flatten'; layer: { kind: 'flatten' } })
  | (PlanBase & { kind: 'dequantize'; layer: DequantizeLayer })
  | (PlanBase & FloatLayerPlan);

class Where {
  constructor(readonly text: string) {}
  fail(problem: string): never {
    throw new Error(`Int8Model: ${this.text}: ${problem}`);
  }
}

/**
 * Check `spec` completely and return one plan per layer. `spec` should be a private copy
 * (cloneSpec): the plans reference its arrays.
 */
export function planInt8Model(spec: Int8ModelSpec): LayerPlan[] {
  const top = new Where('spec');
  if (spec === null || typeof spec !== 'object') top.fail(`must be an object, got ${show(spec)}`);
  checkKeys(spec, SPEC_KEYS, top);
  const inputShape = checkShape(spec.inputShape, new Where('inputShape'));
  if (!Array.isArray(spec.layers)) top.fail(`'layers' must be an array, got ${show(spec.layers)}`);
  const layers: unknown[] = spec.layers;
  if (layers.length < 1) top.fail(`needs at least a quantize and a dequantize layer (or one float layer), got ${layers.length} layer(s)`);
  if (layers.length > INT8_LIMITS.layers) top.fail(`has ${layers.length} layers; the limit is ${INT8_LIMITS.layers}`);
  let macs = 0;

  const plans: LayerPlan[] = [];
  let shape = inputShape;
  let range: LevelRange | null = null;
  let rangeSetBy = '';
  layers.forEach((raw, index) => {
    if (raw === null || typeof raw !== 'object' || !KINDS.includes((raw as { kind: Int8LayerKind }).kind)) {
      new Where(`layer ${index}`).fail(`'kind' must be one of ${KINDS.join(', ')}, got ${show((raw as { kind?: unknown } | null)?.kind ?? raw)}`);
    }
    const layer = raw as Int8Layer;
    const where = new Where(`layer ${index} (${layer.kind})`);
    checkKeys(layer, LAYER_KEYS[layer.kind], where);
    // The input is float, so is the output; planLayer checks each layer's input (float or levels).
    const plan = planLayer(layer, index, where, shape, range, rangeSetBy);
    if (index === layers.length - 1 && plan.outRange !== null) {
      where.fail(`the last layer must be dequantize (levels -> float output) or a float layer (${FLOAT_LAYER_KINDS.join(', ')}): the model's output is float`);
    }
    checkElements(plan.outShape, 'output', where);
    if (plan.kind === 'conv2d' || plan.kind === 'linear' || 'prepared' in plan) {
      const { O, K } = 'prepared' in plan ? plan.prepared : plan.weighted;
      const spatial = plan.kind === 'conv2d' ? plan.geometry.OH * plan.geometry.OW : plan.kind === 'weightOnlyConv2d' ? plan.outShape[1] * plan.outShape[2] : 1;
      if (plan.kind === 'weightOnlyConv2d' && K * spatial > INT8_LIMITS.patchElements) {
        where.fail(`the patch matrix (${K} x ${spatial}) exceeds the limit of ${INT8_LIMITS.patchElements} (2^27) elements per example`);
      }
      macs += O * K * spatial;
      if (macs > INT8_LIMITS.macs) where.fail(`the model needs more than ${INT8_LIMITS.macs} (2^33) multiply-adds per example up to here (${macs}); the limit bounds the work a file can ask for`);
    }
    plans.push(plan);
    shape = plan.outShape;
    // Only these layers choose a zero point (or make the activation float); the others pass theirs through.
    if (layer.kind === 'quantize' || layer.kind === 'conv2d' || layer.kind === 'linear' || (plan.outRange === null && range !== null)) {
      rangeSetBy = `layer ${index} (${layer.kind})`;
    }
    range = plan.outRange;
  });
  return plans;
}

function planLayer(
  layer: Int8Layer, index: number, where: Where, inShape: number[], inRange: LevelRange | null, rangeSetBy: string,
): LayerPlan {
  const base = { index, inShape, inRange };
  // Layers on levels need levels; quantize needs float (float-layers.ts: the chain's float segments).
  if (inRange === null && (layer.kind === 'conv2d' || layer.kind === 'linear' || layer.kind === 'dequantize')) {
    where.fail(
      index === 0
        ? `the first layer must be quantize (float input -> levels) or a float layer (${FLOAT_LAYER_KINDS.join(', ')})`
        : `takes integer levels, but its input is float (the output of ${rangeSetBy}); put a quantize before it`,
    );
  }
  switch (layer.kind) {
    case 'dynamicLinear':
    case 'weightOnlyLinear':
    case 'weightOnlyConv2d':
      return { ...base, ...planFloatLayer(layer, inShape, inRange === null, rangeSetBy, (problem) => where.fail(problem)) };
    case 'quantize': {
      if (inRange !== null) where.fail(`quantize may only be the first layer or follow a layer with float output; its input is already levels (set by ${rangeSetBy})`);
      checkScale(layer.scale, 'scale', where);
      const qmin = checkLevel(layer.qmin, 'qmin', where);
      const qmax = checkLevel(layer.qmax, 'qmax', where);
      if (!(qmin < qmax)) where.fail(`qmin must be < qmax, got qmin=${qmin}, qmax=${qmax}`);
      checkZeroPoint(layer.zeroPoint, 'zeroPoint', qmin, qmax, where);
      if (layer.rounding !== undefined && layer.rounding !== 'halfEven' && layer.rounding !== 'halfAwayFromZero') {
        where.fail(`rounding must be 'halfEven' or 'halfAwayFromZero', got ${show(layer.rounding)}`);
      }
      return { ...base, kind: 'quantize', layer, outShape: inShape, outRange: { zeroPoint: layer.zeroPoint, qmin, qmax } };
    }
    case 'conv2d': {
      const range = inRange!;
      if (inShape.length !== 3) where.fail(`input must be [C, H, W] per example, got [${inShape.join(', ')}]`);
      const [C, H, W] = inShape as [number, number, number];
      const [O, Cg, KH, KW] = checkTuple(layer.weightShape, 'weightShape', 4, 1, where) as [number, number, number, number];
      const stride = checkTuple(layer.stride, 'stride', 2, 1, where) as [number, number];
      const padding = checkTuple(layer.padding, 'padding', 2, 0, where) as [number, number];
      const dilation = checkTuple(layer.dilation, 'dilation', 2, 1, where) as [number, number];
      const groups = layer.groups;
      if (!Number.isSafeInteger(groups) || groups < 1) where.fail(`groups must be a positive integer, got ${show(groups)}`);
      if (O % groups !== 0) where.fail(`weightShape[0] = ${O} output channels is not divisible by groups = ${groups}`);
      if (Cg * groups !== C) {
        where.fail(`weightShape [${O}, ${Cg}, ${KH}, ${KW}] with groups = ${groups} expects ${Cg * groups} input channels, but the input has ${C} ([${inShape.join(', ')}])`);
      }
      const OH = convOutSize(H, KH, stride[0], padding[0], dilation[0]);
      const OW = convOutSize(W, KW, stride[1], padding[1], dilation[1]);
      if (OH < 1 || OW < 1) {
        where.fail(`a ${KH}x${KW} kernel (dilation ${dilation.join('x')}, padding ${padding.join('x')}) does not fit the ${H}x${W} input`);
      }
      checkElements([O, OH, OW], 'output', where);
      if (Cg * KH * KW * OH * OW > INT8_LIMITS.patchElements) {
        where.fail(`the patch matrix (${Cg}·${KH}·${KW} x ${OH}·${OW}) exceeds the limit of ${INT8_LIMITS.patchElements} (2^27) elements per example`);
      }
      const weighted = checkWeighted(layer, where, O, Cg * KH * KW, range, rangeSetBy);
      const geometry: Conv2dGeometry = { C, H, W, O, KH, KW, OH, OW, stride, padding, dilation, groups };
      return { ...base, kind: 'conv2d', layer, outShape: [O, OH, OW], outRange: outputRange(layer), geometry, weighted };
    }
    case 'linear': {
      const range = inRange!;
      if (inShape.length !== 1) where.fail(`input must be rank 1 per example (put a flatten before it), got [${inShape.join(', ')}]`);
      const [O, I] = checkTuple(layer.weightShape, 'weightShape', 2, 1, where) as [number, number];
      if (I !== inShape[0]) where.fail(`weightShape [${O}, ${I}] expects ${I} input features, but the input has ${inShape[0]}`);
      const weighted = checkWeighted(layer, where, O, I, range, rangeSetBy);
      return { ...base, kind: 'linear', layer, outShape: [O], outRange: outputRange(layer), weighted };
    }
    case 'maxpool2d': {
      if (inShape.length !== 3) where.fail(`input must be [C, H, W] per example, got [${inShape.join(', ')}]`);
      const [C, H, W] = inShape as [number, number, number];
      const kernel = checkTuple(layer.kernel, 'kernel', 2, 1, where) as [number, number];
      const stride = checkTuple(layer.stride, 'stride', 2, 1, where) as [number, number];
      const padding = checkTuple(layer.padding, 'padding', 2, 0, where) as [number, number];
      const dilation = checkTuple(layer.dilation ?? [1, 1], 'dilation', 2, 1, where) as [number, number];
      const OH = convOutSize(H, kernel[0], stride[0], padding[0], dilation[0]);
      const OW = convOutSize(W, kernel[1], stride[1], padding[1], dilation[1]);
      if (OH < 1 || OW < 1) where.fail(`a ${kernel.join('x')} window does not fit the ${H}x${W} input`);
      checkElements([C, OH, OW], 'output', where);
      // A window made only of padding would have no maximum.
      checkWindowsHitInput(OH, H, kernel[0], stride[0], padding[0], dilation[0], 'rows', where);
      checkWindowsHitInput(OW, W, kernel[1], stride[1], padding[1], dilation[1], 'columns', where);
      const geometry = { H, W, OH, OW, kernel, stride, padding, dilation };
      return { ...base, kind: 'maxpool2d', layer, outShape: [C, OH, OW], outRange: inRange, geometry };
    }
    case 'relu': {
      if (inRange === null) {
        // On float values: real 0 is 0.
        if (layer.zeroPoint !== 0) where.fail(`zeroPoint = ${show(layer.zeroPoint)} must be 0 on float input (the output of ${rangeSetBy})`);
        return { ...base, kind: 'relu', layer, outShape: inShape, outRange: null };
      }
      const range = inRange;
      checkMatchesInput(layer.zeroPoint, 'zeroPoint', range, rangeSetBy, where);
      const outRange = { zeroPoint: range.zeroPoint, qmin: Math.max(range.qmin, range.zeroPoint), qmax: range.qmax };
      return { ...base, kind: 'relu', layer, outShape: inShape, outRange };
    }
    case 'flatten':
      return { ...base, kind: 'flatten', layer, outShape: [inShape.reduce((a, b) => a * b, 1)], outRange: inRange };
    case 'dequantize':
      checkScale(layer.scale, 'scale', where);
      checkMatchesInput(layer.zeroPoint, 'zeroPoint', inRange!, rangeSetBy, where);
      return { ...base, kind: 'dequantize', layer, outShape: inShape, outRange: null };
  }
}

function outputRange(layer: Conv2dLayer | LinearLayer): LevelRange {
  return { zeroPoint: layer.outZeroPoint, qmin: layer.qmin, qmax: layer.qmax };
}

function checkWeighted(
  layer: Conv2dLayer | LinearLayer, where: Where, O: number, K: number, inRange: LevelRange, rangeSetBy: string,
): WeightedPlan {
  const { weight } = layer;
  if (!(weight instanceof Int8Array) && !(weight instanceof Int32Array)) {
    where.fail(`weight must be an Int8Array or Int32Array, got ${typeName(weight)}`);
  }
  if (weight.length !== O * K) {
    where.fail(`weight has ${weight.length} elements but weightShape [${(layer.weightShape as number[]).join(', ')}] needs ${O * K}`);
  }
  const weightQmin = checkLevel(layer.weightQmin, 'weightQmin', where);
  const weightQmax = checkLevel(layer.weightQmax, 'weightQmax', where);
  if (!(weightQmin < weightQmax)) where.fail(`weightQmin must be < weightQmax, got ${weightQmin}, ${weightQmax}`);
  const weightZeroPoint = checkInt32Array(layer.weightZeroPoint, 'weightZeroPoint', O, where);
  const multiplier = checkInt32Array(layer.multiplier, 'multiplier', O, where);
  const shift = checkInt32Array(layer.shift, 'shift', O, where);
  const bias = layer.bias === null ? new Int32Array(O) : checkInt32Array(layer.bias, 'bias', O, where);

  checkMatchesInput(layer.inZeroPoint, 'inZeroPoint', inRange, rangeSetBy, where);
  const qmin = checkLevel(layer.qmin, 'qmin', where);
  const qmax = checkLevel(layer.qmax, 'qmax', where);
  if (!(qmin <= qmax)) where.fail(`qmin must be <= qmax, got qmin=${qmin}, qmax=${qmax}`);
  checkZeroPoint(layer.outZeroPoint, 'outZeroPoint', qmin, qmax, where);
  if (layer.outScale !== undefined) checkScale(layer.outScale, 'outScale', where);

  for (let o = 0; o < O; o++) {
    const m = multiplier[o], s = shift[o];
    if (m !== 0 && m < TWO_30) {
      where.fail(`multiplier[${o}] = ${m} is not a Q31 multiplier (0, or in [2^30, 2^31) as quantizeMultiplier makes)`);
    }
    if (s < -31 || s > 30) where.fail(`shift[${o}] = ${s} is outside [-31, 30]`);
    const zp = weightZeroPoint[o];
    if (zp < weightQmin || zp > weightQmax) {
      where.fail(`weightZeroPoint[${o}] = ${zp} is outside the weight range [${weightQmin}, ${weightQmax}]`);
    }
  }

  if (layer.weightCode !== undefined) {
    const problem = weightCodeProblem(layer.weightCode, weight, weightZeroPoint);
    if (problem !== null) where.fail(problem);
  }

  const maxAbsInput = Math.max(inRange.qmax - inRange.zeroPoint, inRange.zeroPoint - inRange.qmin);
  const centeredWeight = new Int32Array(O * K);
  let maxAbsWeight = 0;
  let accBound = 0;
  for (let o = 0; o < O; o++) {
    const zp = weightZeroPoint[o];
    let sumAbs = 0;
    for (let k = 0; k < K; k++) {
      const w = weight[o * K + k];
      if (w < weightQmin || w > weightQmax) {
        where.fail(`weight level ${w} at index ${o * K + k} (output channel ${o}) is outside the declared range [${weightQmin}, ${weightQmax}]`);
      }
      const c = w - zp;
      centeredWeight[o * K + k] = c;
      sumAbs += Math.abs(c);
      if (Math.abs(c) > maxAbsWeight) maxAbsWeight = Math.abs(c);
    }
    // Exact in float64: every factor is far below 2^53 (K·2^25·2^25 would not be, but such a
    // bound is rejected anyway, and the comparison is then still decided correctly).
    const bound = Math.abs(bias[o]) + maxAbsInput * sumAbs;
    if (bound > INT32_MAX) {
      where.fail(
        `output channel ${o} can accumulate |acc| up to ${bound} = |bias| ${Math.abs(bias[o])} + ${maxAbsInput} (max |x - inZeroPoint|) × ${sumAbs} (Σ|w - weightZeroPoint| over ${K} inputs), ` +
          `which overflows int32 (2^31 - 1 = ${INT32_MAX}); every accumulator must fit in int32 for every input: use fewer inputs per output, narrower levels or a smaller bias`,
      );
    }
    const s = shift[o];
    if (s > 0 && bound * 2 ** s > INT32_MAX) {
      where.fail(`output channel ${o}: shift[${o}] = ${s} shifts accumulators up to ${bound} left by ${s} bits, which overflows int32 (real multiplier ≥ 1 on a large accumulator)`);
    }
    if (bound > accBound) accBound = bound;
  }
  return { O, K, centeredWeight, bias, maxAbsInput, maxAbsWeight, accBound };
}

/**
 * Every pooling window must cover at least one input position, in closed form (no loop over the
 * output rows, which a crafted shape makes 2^40 long). Window o covers a + i·d for i < k, with
 * a = o·stride - pad. When d <= size, consecutive positions are at most `size` apart, so a window
 * hits the input exactly when its span [a, a + (k-1)·d] meets [0, size - 1]; a grows with o, so
 * the first window (span end >= 0) and the last (start <= size - 1) decide for all. When d > size
 * a window can straddle the input without hitting it; that is refused for k > 1 (no real model
 * dilates a pooling window past its input).
 */
function checkWindowsHitInput(
  outSize: number, size: number, k: number, stride: number, pad: number, dil: number, what: string, where: Where,
): void {
  if (k > 1 && dil > size) where.fail(`dilation ${dil} over the ${what} exceeds the input extent ${size}: windows could skip the input entirely`);
  if (-pad + (k - 1) * dil < 0) where.fail(`pooling window 0 over the ${what} covers only padding (padding too large for the kernel)`);
  const last = (outSize - 1) * stride - pad;
  if (last > size - 1) where.fail(`pooling window ${outSize - 1} over the ${what} covers only padding (padding too large for the kernel)`);
}

/** Fails unless the shape's element count is within INT8_LIMITS.elements (checked as it multiplies). */
function checkElements(shape: readonly number[], what: string, where: Where): void {
  let n = 1;
  for (const d of shape) {
    n *= d;
    // n <= 2^26 before each step and d <= 2^53, so an exceeding product is never rounded below the limit.
    if (n > INT8_LIMITS.elements) {
      where.fail(`${what} [${shape.join(', ')}] has more than ${INT8_LIMITS.elements} (2^26) elements per example; the limit bounds the memory a model file can ask for`);
    }
  }
}

/** Keys each layer kind may carry: anything else is a mistake (a misspelt `rounding` would silently mean halfEven). */
const WEIGHTED_KEYS = [
  'kind', 'weight', 'weightShape', 'weightQmin', 'weightQmax', 'weightZeroPoint', 'bias', 'inZeroPoint', 'outZeroPoint',
  'multiplier', 'shift', 'qmin', 'qmax', 'outScale', 'weightCode',
];
const LAYER_KEYS: Record<Int8LayerKind, readonly string[]> = {
  quantize: ['kind', 'scale', 'zeroPoint', 'qmin', 'qmax', 'rounding'],
  conv2d: [...WEIGHTED_KEYS, 'stride', 'padding', 'dilation', 'groups'],
  linear: WEIGHTED_KEYS,
  maxpool2d: ['kind', 'kernel', 'stride', 'padding', 'dilation'],
  relu: ['kind', 'zeroPoint'],
  flatten: ['kind'],
  dequantize: ['kind', 'scale', 'zeroPoint'],
  ...FLOAT_LAYER_KEYS,
};
const SPEC_KEYS = ['inputShape', 'layers', 'meta'];

function checkKeys(value: object, allowed: readonly string[], where: Where): void {
  for (const key of Object.keys(value)) {
    if (!allowed.includes(key)) where.fail(`unknown field '${key}' (allowed: ${allowed.join(', ')})`);
  }
}

// -------------------------------------------------------------------------------- fields

function checkShape(value: unknown, where: Where): number[] {
  if (!Array.isArray(value) || value.length === 0 || !value.every((d) => Number.isSafeInteger(d) && d >= 1)) {
    where.fail(`must be a non-empty array of positive integers, got ${show(value)}`);
  }
  checkElements(value as number[], 'shape', where);
  return [...(value as number[])];
}

function checkTuple(value: unknown, name: string, length: number, min: number, where: Where): number[] {
  if (!Array.isArray(value) || value.length !== length || !value.every((d) => Number.isSafeInteger(d) && d >= min)) {
    where.fail(`${name} must be ${length} integers >= ${min}, got ${show(value)}`);
  }
  return value as number[];
}

function checkLevel(value: unknown, name: string, where: Where): number {
  if (!Number.isInteger(value) || Math.abs(value as number) > LEVEL_LIMIT) {
    where.fail(`${name} must be an integer in [-2^24, 2^24], got ${show(value)}`);
  }
  return value as number;
}

function checkZeroPoint(value: unknown, name: string, qmin: number, qmax: number, where: Where): void {
  if (!Number.isInteger(value) || (value as number) < qmin || (value as number) > qmax) {
    where.fail(`${name} must be an integer in [qmin, qmax] = [${qmin}, ${qmax}], got ${show(value)}`);
  }
}

function checkMatchesInput(value: unknown, name: string, range: LevelRange, setBy: string, where: Where): void {
  if (value !== range.zeroPoint) {
    where.fail(`${name} = ${show(value)} does not match the zero point ${range.zeroPoint} of its input levels (set by ${setBy})`);
  }
}

function checkScale(value: unknown, name: string, where: Where): void {
  const s = typeof value === 'number' ? Math.fround(value) : NaN;
  const inv = Math.fround(1 / s);
  if (!(s > 0) || !Number.isFinite(s) || !Number.isFinite(inv) || inv === 0) {
    where.fail(`${name} must be a finite number > 0 whose float32 value and reciprocal are finite and non-zero, got ${show(value)}`);
  }
}

function checkInt32Array(value: unknown, name: string, length: number, where: Where): Int32Array {
  if (!(value instanceof Int32Array)) where.fail(`${name} must be an Int32Array, got ${typeName(value)}`);
  if (value.length !== length) where.fail(`${name} has ${value.length} elements, expected ${length} (one per output channel)`);
  return value;
}

function typeName(value: unknown): string {
  if (value === null) return 'null';
  if (typeof value === 'object') return (value as object).constructor?.name ?? 'object';
  return typeof value;
}

/**
 * A value as an error message shows it: like JSON, but Infinity, -Infinity and NaN print as
 * themselves (JSON.stringify would print null, hiding the very problem), long arrays and deep
 * objects are cut short.
 */
export function show(value: unknown, depth = 0): string {
  if (ArrayBuffer.isView(value)) return typeName(value);
  if (typeof value === 'number') return Object.is(value, -0) ? '-0' : String(value);
  if (typeof value === 'string') return JSON.stringify(value.length > 200 ? value.slice(0, 200) + '…' : value);
  if (typeof value === 'bigint') return `${value}n`;
  if (value === null || typeof value !== 'object') return String(value);
  if (depth >= 3) return Array.isArray(value) ? '[…]' : '{…}';
  if (Array.isArray(value)) {
    const items = value.slice(0, 16).map((v) => show(v, depth + 1));
    return `[${items.join(',')}${value.length > 16 ? `,… (${value.length} items)` : ''}]`;
  }
  const entries = Object.entries(value);
  const items = entries.slice(0, 16).map(([k, v]) => `${JSON.stringify(k)}:${show(v, depth + 1)}`);
  return `{${items.join(',')}${entries.length > 16 ? ',…' : ''}}`;
}

/**
 * A deep copy of the spec's layers and arrays, so that later changes by the caller cannot reach
 * the model. Nesting deeper than INT8_LIMITS.metaDepth is refused (a crafted meta nested 10^5
 * deep would otherwise overflow the stack here).
 */
export function cloneSpec(spec: Int8ModelSpec): Int8ModelSpec {
  if (spec === null || typeof spec !== 'object') return spec;
  const copy = (value: unknown, depth: number, path: string): unknown => {
    if (value instanceof Int8Array || value instanceof Int32Array || value instanceof Float32Array) return value.slice();
    const isArray = Array.isArray(value);
    const isPlain = !isArray && value !== null && typeof value === 'object' && Object.getPrototypeOf(value) === Object.prototype;
    if (!isArray && !isPlain) return value;
    if (depth >= INT8_LIMITS.metaDepth) {
      throw new Error(`Int8Model: spec: ${path} is nested more than ${INT8_LIMITS.metaDepth} levels deep`);
    }
    if (isArray) return (value as unknown[]).map((v, i) => copy(v, depth + 1, depth < 8 ? `${path}[${i}]` : path));
    return Object.fromEntries(Object.entries(value as object).map(([k, v]) => [k, copy(v, depth + 1, depth < 8 ? `${path}.${k}` : path)]));
  };
  return copy(spec, 0, 'spec') as Int8ModelSpec;
}

/**
 * One chain-kind layer checked as a node of a graph model (validate-graph.ts): the same checks as
 * in a chain, with `label` (e.g. "node 'layer1.conv1'") naming it in errors and the input's shape
 * and level range given by the node it reads.
 */
export function planChainLayer(
  layer: Int8Layer, label: string, index: number, inShape: number[], inRange: LevelRange | null, rangeSetBy: string,
): LayerPlan {
  if (layer === null || typeof layer !== 'object' || !KINDS.includes((layer as { kind: Int8LayerKind }).kind)) {
    new Where(label).fail(`'kind' must be one of ${KINDS.join(', ')}, got ${show((layer as { kind?: unknown } | null)?.kind ?? layer)}`);
  }
  return planLayer(layer, index, new Where(`${label} (${layer.kind})`), inShape, inRange, rangeSetBy);
}
