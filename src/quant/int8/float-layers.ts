/**
 * Float segments of the int8 chain model: the layer kinds whose activations are float (dynamic
 * and weight-only quantization, dynamic.ts and weight-only.ts), and what the shared engine files
 * (validate.ts, engine.ts, format.ts) need to run and store them, kept here so that those files
 * only dispatch.
 *
 * The activation between two layers is either integer levels or float32 values. The model's
 * input is float and its output is float; the boundaries are explicit layers:
 *
 *   float --quantize--> levels --(conv2d, linear, ...)--> levels --dequantize--> float
 *   float --(dynamicLinear, weightOnlyLinear, weightOnlyConv2d)--> float
 *   relu, maxpool2d, flatten work on either (a float relu has zeroPoint 0: real 0 is 0)
 *
 * so a static int8 conv stack can feed a dynamic linear head (quantize, conv2d, ..., flatten,
 * dequantize, dynamicLinear), or a model can be weight-only throughout. In the engine a float
 * activation lives in the same 4-byte slots as levels, read through a Float32Array view of the
 * Int32Array buffer (floatView), so one pair of buffers serves both.
 */
import type { ContainerArray, JsonValue } from '../../io/container.js';
import { quantize } from '../numerics/index.js';
import {
  DYNAMIC_LINEAR_ARRAYS, DYNAMIC_LINEAR_KEYS, describeDynamicLinear, dynamicLinearForward, planDynamicLinear,
  type DynamicLinearLayer, type DynamicLinearPrepared,
} from './dynamic.js';
import { maxPool2dLevels, reluLevels, type Pool2dGeometry } from './kernels.js';
import type { DequantizeLayer, QuantizeLayer } from './model.js';
import { weightFromPackedArray, weightToArray } from './packed-weights.js';
import {
  WEIGHT_ONLY_ARRAYS, WEIGHT_ONLY_CONV2D_KEYS, WEIGHT_ONLY_LINEAR_KEYS, describeWeightOnly, planWeightOnly,
  weightOnlyConv2dForward, weightOnlyLinearForward,
  type WeightOnlyConv2dLayer, type WeightOnlyLinearLayer, type WeightOnlyPrepared,
} from './weight-only.js';

export type FloatLayer = DynamicLinearLayer | WeightOnlyLinearLayer | WeightOnlyConv2dLayer;
export type FloatLayerKind = FloatLayer['kind'];

export const FLOAT_LAYER_KINDS: readonly FloatLayerKind[] = ['dynamicLinear', 'weightOnlyLinear', 'weightOnlyConv2d'];
export const FLOAT_LAYER_KEYS: Record<FloatLayerKind, readonly string[]> = {
  dynamicLinear: DYNAMIC_LINEAR_KEYS,
  weightOnlyLinear: WEIGHT_ONLY_LINEAR_KEYS,
  weightOnlyConv2d: WEIGHT_ONLY_CONV2D_KEYS,
};

export function isFloatLayerKind(kind: unknown): kind is FloatLayerKind {
  return (FLOAT_LAYER_KINDS as readonly unknown[]).includes(kind);
}

/** The plan of a float-segment layer (validate.ts adds index, shapes and ranges). */
export type FloatLayerPlan =
  | { kind: 'dynamicLinear'; layer: DynamicLinearLayer; prepared: DynamicLinearPrepared }
  | { kind: 'weightOnlyLinear'; layer: WeightOnlyLinearLayer; prepared: WeightOnlyPrepared }
  | { kind: 'weightOnlyConv2d'; layer: WeightOnlyConv2dLayer; prepared: WeightOnlyPrepared };

/**
 * Validate a float-segment layer: its input must be float (`inputIsFloat`), `setBy` names the
 * layer that made the levels otherwise. Output: float (outRange null).
 */
export function planFloatLayer(
  layer: FloatLayer, inShape: readonly number[], inputIsFloat: boolean, setBy: string, fail: (problem: string) => never,
): FloatLayerPlan & { outShape: number[]; outRange: null } {
  if (!inputIsFloat) fail(`takes float input, but its input is integer levels (set by ${setBy}); put a dequantize before it`);
  if (layer.kind === 'dynamicLinear') {
    const { outShape, prepared } = planDynamicLinear(layer, inShape, fail);
    return { kind: layer.kind, layer, prepared, outShape, outRange: null };
  }
  const { outShape, prepared } = planWeightOnly(layer, inShape, fail);
  return layer.kind === 'weightOnlyLinear'
    ? { kind: layer.kind, layer, prepared, outShape, outRange: null }
    : { kind: layer.kind, layer, prepared, outShape, outRange: null };
}

export function describeFloatLayer(plan: FloatLayerPlan): string {
  return plan.kind === 'dynamicLinear' ? describeDynamicLinear(plan.layer, plan.prepared) : describeWeightOnly(plan.layer, plan.prepared);
}

// ----------------------------------------------------------------------------------- running

/** One step of the engine: reads `count` examples from input, returns the buffer holding its output. */
export type StepRun = (input: Int32Array, count: number, output: Int32Array) => Int32Array;

/** The float32 values held in an activation buffer's first n slots. */
export function floatView(buffer: Int32Array, n: number): Float32Array {
  return new Float32Array(buffer.buffer, buffer.byteOffset, n);
}

export function floatLayerRun(plan: FloatLayerPlan, inSize: number, outSize: number): StepRun {
  switch (plan.kind) {
    case 'dynamicLinear': {
      const scratch = { rows: new Int32Array(0), acc: new Int32Array(0) };
      return (input, count, output) => {
        dynamicLinearForward(plan.layer, plan.prepared, floatView(input, count * inSize), count, floatView(output, count * outSize), scratch);
        return output;
      };
    }
    case 'weightOnlyLinear':
      return (input, count, output) => {
        weightOnlyLinearForward(plan.layer, plan.prepared, floatView(input, count * inSize), count, floatView(output, count * outSize));
        return output;
      };
    case 'weightOnlyConv2d': {
      const scratch = { cols: new Float32Array(0) };
      return (input, count, output) => {
        weightOnlyConv2dForward(plan.layer, plan.prepared, floatView(input, count * inSize), count, floatView(output, count * outSize), scratch);
        return output;
      };
    }
  }
}

/** A quantize inside the chain (float -> levels), with the reference quantize of src/quant/numerics. */
export function quantizeRun(layer: QuantizeLayer, inSize: number): StepRun {
  const { scale, zeroPoint, qmin, qmax, rounding } = layer;
  return (input, count, output) => {
    output.set(quantize(floatView(input, count * inSize), { scale, zeroPoint, qmin, qmax, ...(rounding !== undefined ? { rounding } : {}) }));
    return output;
  };
}

/** A dequantize inside the chain (levels -> float32): float32((q - zeroPoint) · float32(scale)), Jacob eq. 1. */
export function dequantizeRun(layer: DequantizeLayer, inSize: number): StepRun {
  const scale = Math.fround(layer.scale), zp = layer.zeroPoint;
  return (input, count, output) => {
    const out = floatView(output, count * inSize);
    for (let i = 0; i < count * inSize; i++) out[i] = (input[i] - zp) * scale;
    return output;
  };
}

/** relu on float values: max(x, 0) (reluLevels with zero point 0). */
export function floatReluRun(inSize: number): StepRun {
  return (input, count, output) => {
    reluLevels(floatView(input, count * inSize), count * inSize, 0, floatView(output, count * inSize));
    return output;
  };
}

/** Max pooling on float values (maxPool2dLevels: max commutes with any increasing map). */
export function floatMaxPoolRun(C: number, geometry: Omit<Pool2dGeometry, 'planes'>, inSize: number, outSize: number): StepRun {
  return (input, count, output) => {
    maxPool2dLevels(floatView(input, count * inSize), { ...geometry, planes: count * C }, floatView(output, count * outSize));
    return output;
  };
}

// ------------------------------------------------------------------------------------- files

/**
 * Arrays of float-segment layer i, named layers.i.<field> like the integer layers' (format.ts):
 *   weight            int8 [weightShape]; for weight-only layers whose levels fit in 7 bits or fewer
 *                     (int4: −8..7), uint8 [ceil(n·b/8)] packed as the integer layers' are
 *                     (packed-weights.ts), declared by `weightPacking` in the layer JSON (version 3)
 *   weightScale       float32 [O] (dynamicLinear) or [O, groups] (weight-only)
 *   weightZeroPoint   int32 [O, groups] (weight-only)
 *   bias              float32 [O] (only when the layer JSON says "hasBias": true)
 */
export function floatLayerToContainer(layer: FloatLayer, index: number, arrays: Record<string, ContainerArray>, pack = true): Record<string, JsonValue> {
  const json: Record<string, JsonValue> = {};
  const fields: readonly string[] = layer.kind === 'dynamicLinear' ? DYNAMIC_LINEAR_ARRAYS : WEIGHT_ONLY_ARRAYS;
  for (const [key, value] of Object.entries(layer)) {
    if (!fields.includes(key) && value !== undefined) json[key] = value as JsonValue;
  }
  const O = layer.weightShape[0];
  const name = (field: string) => `layers.${index}.${field}`;
  if (layer.kind === 'dynamicLinear') {
    arrays[name('weight')] = { dtype: 'int8', shape: layer.weightShape, data: layer.weight };
  } else {
    // Weight-only int4 is about model size: its levels go into the file packed, b bits each.
    const { array, packing } = weightToArray(layer, pack);
    arrays[name('weight')] = array;
    if (packing !== null) json.weightPacking = packing;
  }
  if (layer.kind === 'dynamicLinear') {
    arrays[name('weightScale')] = { dtype: 'float32', shape: [O], data: layer.weightScale };
  } else {
    const G = layer.weightScale.length / O;
    arrays[name('weightScale')] = { dtype: 'float32', shape: [O, G], data: layer.weightScale };
    arrays[name('weightZeroPoint')] = { dtype: 'int32', shape: [O, G], data: layer.weightZeroPoint };
  }
  if (layer.bias !== null) arrays[name('bias')] = { dtype: 'float32', shape: [O], data: layer.bias };
  json.hasBias = layer.bias !== null;
  return json;
}

/**
 * Rebuild a float-segment layer from its JSON and arrays, checking that exactly its arrays are
 * there with the right dtype and shape; every other check is the model validation's.
 */
export function floatLayerFromContainer(
  raw: Record<string, JsonValue>, index: number, what: string, arrays: Record<string, ContainerArray>, used: Set<string>,
  fail: (problem: string) => never, packedVersion = false,
): FloatLayer {
  const kind = raw.kind as FloatLayerKind;
  const fields: readonly string[] = kind === 'dynamicLinear' ? DYNAMIC_LINEAR_ARRAYS : WEIGHT_ONLY_ARRAYS;
  for (const field of fields) if (field in raw) fail(`${what}: '${field}' belongs in the arrays, not in the layer JSON`);
  const { hasBias, weightPacking, ...rest } = raw;
  if (weightPacking !== undefined && (!packedVersion || kind === 'dynamicLinear')) {
    fail(`${what}: unexpected field 'weightPacking' (packed weights need format version 3 and a weight-only layer)`);
  }
  if (typeof hasBias !== 'boolean') fail(`${what}: hasBias must be true or false, got ${JSON.stringify(hasBias)}`);
  const rank = kind === 'weightOnlyConv2d' ? 4 : 2;
  const shape = raw.weightShape;
  if (!Array.isArray(shape) || shape.length !== rank || !shape.every((d) => Number.isSafeInteger(d) && (d as number) >= 1)) {
    fail(`${what}: weightShape must be ${rank} positive integers, got ${JSON.stringify(shape)}`);
  }
  const weightShape = shape as number[];
  const O = weightShape[0];
  const K = weightShape.slice(1).reduce((a, b) => a * b, 1);
  const take = (field: string, dtype: ContainerArray['dtype'], expected: readonly number[]) => {
    const name = `layers.${index}.${field}`;
    const array = Object.hasOwn(arrays, name) ? arrays[name] : undefined;
    if (array === undefined) return fail(`${what}: array '${name}' is missing`);
    used.add(name);
    if (array.dtype !== dtype) fail(`${what}: array '${name}' has dtype ${array.dtype}, expected ${dtype}`);
    if (array.shape.length !== expected.length || array.shape.some((d, i) => d !== expected[i])) {
      fail(`${what}: array '${name}' has shape [${array.shape.join(', ')}], expected [${expected.join(', ')}]`);
    }
    return array.data;
  };
  const layer: Record<string, unknown> = { ...rest };
  if (weightPacking === undefined) layer.weight = take('weight', 'int8', weightShape);
  else {
    const name = `layers.${index}.weight`;
    const array = Object.hasOwn(arrays, name) ? arrays[name] : undefined;
    if (array === undefined) return fail(`${what}: array '${name}' is missing`);
    used.add(name);
    let levels: Int8Array | Int32Array;
    try {
      levels = weightFromPackedArray(array, weightPacking, weightShape, raw.weightQmin, raw.weightQmax, `${what}: array '${name}'`);
    } catch (e) {
      return fail((e as Error).message);
    }
    // the declared range lies within int8 (checked by the model validation), so every level fits
    layer.weight = levels instanceof Int8Array ? levels : Int8Array.from(levels);
  }
  if (kind === 'dynamicLinear') {
    layer.weightScale = take('weightScale', 'float32', [O]);
  } else {
    const groupSize = raw.groupSize;
    if (!Number.isSafeInteger(groupSize) || (groupSize as number) < 1 || (groupSize as number) > K) {
      fail(`${what}: groupSize must be an integer in [1, ${K}] (K = ${K}, the flattened input size, means per-channel), got ${JSON.stringify(groupSize)}`);
    }
    const G = Math.ceil(K / (groupSize as number));
    layer.weightScale = take('weightScale', 'float32', [O, G]);
    layer.weightZeroPoint = take('weightZeroPoint', 'int32', [O, G]);
  }
  layer.bias = hasBias ? take('bias', 'float32', [O]) : null;
  return layer as unknown as FloatLayer;
}
