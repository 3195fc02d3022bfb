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

const INT32_MAX = 2147483647;
const TWO_30 = 1073741824;
/** Levels stay within ±2^24, as in src/quant/numerics, so that they are exact in float32. */
const LEVEL_LIMIT = 2 ** 24;
const KINDS: readonly Int8LayerKind[] = ['quantize', 'conv2d', 'linear', 'maxpool2d', 'relu', 'flatten', 'dequantize'];

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
  /** Levels entering the layer (null for quantize, whose input is float). */
  inRange: LevelRange | null;
  /** Levels leaving it (null for dequantize, whose output is float). */
  outRange: LevelRange | null;
}

export type LayerPlan =
  | (PlanBase & { kind: 'quantize'; layer: QuantizeLayer })
  | (PlanBase & { kind: 'conv2d'; layer: Conv2dLayer; geometry: Conv2dGeometry; weighted: WeightedPlan })
  | (PlanBase & { kind: 'linear'; layer: LinearLayer; weighted: WeightedPlan })
  | (PlanBase & { kind: 'maxpool2d'; layer: MaxPool2dLayer; geometry: Omit<Pool2dGeometry, 'planes'> })
  | (PlanBase & { kind: 'relu'; layer: ReluLayer })
  | (PlanBase & { kind: 'flatten'; layer: { kind: 'flatten' } })
  | (PlanBase & { kind: 'dequantize'; layer: DequantizeLayer });

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
  const inputShape = checkShape(spec.inputShape, new Where('inputShape'));
  if (!Array.isArray(spec.layers)) top.fail(`'layers' must be an array, got ${show(spec.layers)}`);
  const layers: unknown[] = spec.layers;
  if (layers.length < 2) top.fail(`needs at least a quantize and a dequantize layer, got ${layers.length} layer(s)`);

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
    const first = index === 0, last = index === layers.length - 1;
    if (first && layer.kind !== 'quantize') where.fail('the first layer must be quantize (float input -> levels)');
    if (last && layer.kind !== 'dequantize') where.fail('the last layer must be dequantize (levels -> float output)');
    if (!first && layer.kind === 'quantize') where.fail('quantize may only be the first layer');
    if (!last && layer.kind === 'dequantize') where.fail('dequantize may only be the last layer');

    const plan = planLayer(layer, index, where, shape, range, rangeSetBy);
    plans.push(plan);
    shape = plan.outShape;
    // Only these layers choose a zero point; the others pass theirs through.
    if (layer.kind === 'quantize' || layer.kind === 'conv2d' || layer.kind === 'linear') rangeSetBy = `layer ${index} (${layer.kind})`;
    range = plan.outRange;
  });
  return plans;
}

function planLayer(
  layer: Int8Layer, index: number, where: Where, inShape: number[], inRange: LevelRange | null, rangeSetBy: string,
): LayerPlan {
  const base = { index, inShape, inRange };
  switch (layer.kind) {
    case 'quantize': {
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
      // A window made only of padding would have no maximum.
      checkWindowsHitInput(OH, H, kernel[0], stride[0], padding[0], dilation[0], 'rows', where);
      checkWindowsHitInput(OW, W, kernel[1], stride[1], padding[1], dilation[1], 'columns', where);
      const geometry = { H, W, OH, OW, kernel, stride, padding, dilation };
      return { ...base, kind: 'maxpool2d', layer, outShape: [C, OH, OW], outRange: inRange, geometry };
    }
    case 'relu': {
      const range = inRange!;
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

function checkWindowsHitInput(
  outSize: number, size: number, k: number, stride: number, pad: number, dil: number, what: string, where: Where,
): void {
  for (let o = 0; o < outSize; o++) {
    let hit = false;
    for (let i = 0; i < k && !hit; i++) {
      const at = o * stride - pad + i * dil;
      hit = at >= 0 && at < size;
    }
    if (!hit) where.fail(`pooling window ${o} over the ${what} covers only padding (padding too large for the kernel)`);
  }
}

// -------------------------------------------------------------------------------- fields

function checkShape(value: unknown, where: Where): number[] {
  if (!Array.isArray(value) || value.length === 0 || !value.every((d) => Number.isSafeInteger(d) && d >= 1)) {
    where.fail(`must be a non-empty array of positive integers, got ${show(value)}`);
  }
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

function show(value: unknown): string {
  if (ArrayBuffer.isView(value)) return typeName(value);
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return String(value);
  }
}

/** A deep copy of the spec's layers and arrays, so that later changes by the caller cannot reach the model. */
export function cloneSpec(spec: Int8ModelSpec): Int8ModelSpec {
  if (spec === null || typeof spec !== 'object') return spec;
  const copy = (value: unknown): unknown => {
    if (value instanceof Int8Array || value instanceof Int32Array) return value.slice();
    if (Array.isArray(value)) return value.map(copy);
    if (value !== null && typeof value === 'object' && Object.getPrototypeOf(value) === Object.prototype) {
      return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, copy(v)]));
    }
    return value;
  };
  return copy(spec) as Int8ModelSpec;
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
