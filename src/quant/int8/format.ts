/**
 * The int8 model file: an Int8ModelSpec in the qgrad container (src/io/container.ts), kind
 * 'qgrad.int8-model'. docs/formats.md ("int8 models") describes the layout for other readers.
 *
 *   meta = { formatVersion: 1, inputShape: [...], layers: [ {kind, scalar fields...}, ... ], meta: {...} }
 *   arrays, for each conv2d / linear layer i:
 *     layers.i.weight           int8 when every level fits in -128..127, else int32; shape = weightShape
 *                               (version 3: or uint8 packed levels, when the layer JSON has weightPacking)
 *     layers.i.weightZeroPoint  int32 [O]
 *     layers.i.bias             int32 [O]   (only when the layer JSON says "hasBias": true)
 *     layers.i.multiplier       int32 [O]
 *     layers.i.shift            int32 [O]
 *   and for the float-segment layers (dynamicLinear, weightOnlyLinear, weightOnlyConv2d) the
 *   arrays float-layers.ts lists (int8 weight, float32 weightScale, int32 weightZeroPoint, float32 bias).
 *
 * Reading checks the kind, the format version, the layer list, and that exactly the arrays the
 * layers need are present with the right dtype and shape; everything else (ranges, zero points,
 * multipliers, overflow) is the Int8Model constructor's validation, whose errors the loader
 * reports against the file. This module only maps spec <-> container; engine.ts builds models.
 *
 * Version 3 is version 1 plus sub-byte packing: a layer's weights may be stored as b-bit fields
 * (packed-weights.ts, pack.ts), declared by `weightPacking: {code, bits}` in its JSON. A writer
 * uses version 3 only when some layer is packed (a model of 8-bit weights is still a version 1
 * file, readable by older qgrad); this reader reads both and unpacks at load.
 */
import type { Container, ContainerArray, JsonObject, JsonValue } from '../../io/container.js';
import { FileFormatError } from '../../io/format-error.js';
import type { Int8Layer, Int8ModelSpec } from './model.js';
import { show } from './validate.js';
import { FLOAT_LAYER_KINDS, floatLayerFromContainer, floatLayerToContainer, isFloatLayerKind } from './float-layers.js';
import { weightFromPackedArray, weightToArray } from './packed-weights.js';

export const INT8_MODEL_KIND = 'qgrad.int8-model';
export const INT8_MODEL_FORMAT_VERSION = 1;
/** Version 1 with packed sub-byte weights (docs/formats.md, "packed weights"). */
export const INT8_MODEL_PACKED_FORMAT_VERSION = 3;

/** The typed-array fields of conv2d / linear layers, stored as arrays rather than JSON. */
const ARRAY_FIELDS = ['weight', 'weightZeroPoint', 'bias', 'multiplier', 'shift'] as const;
type ArrayField = (typeof ARRAY_FIELDS)[number];

const KINDS = new Set<string>(['quantize', 'conv2d', 'linear', 'maxpool2d', 'relu', 'flatten', 'dequantize', ...FLOAT_LAYER_KINDS]);

function arrayName(index: number, field: ArrayField): string {
  return `layers.${index}.${field}`;
}

/** Map a (validated) spec to a container; `pack: false` writes every weight unpacked (version 1). */
export function int8SpecToContainer(spec: Int8ModelSpec, options: { pack?: boolean } = {}): Container {
  const arrays: Record<string, ContainerArray> = {};
  let packed = false;
  const layers: JsonObject[] = spec.layers.map((layer, index) => {
    if (isFloatLayerKind(layer.kind)) {
      const json = floatLayerToContainer(layer as Parameters<typeof floatLayerToContainer>[0], index, arrays, options.pack ?? true);
      if (json.weightPacking !== undefined) packed = true;
      return json;
    }
    const json: Record<string, JsonValue> = {};
    for (const [key, value] of Object.entries(layer)) {
      if ((ARRAY_FIELDS as readonly string[]).includes(key) || value === undefined) continue;
      json[key] = value as JsonValue;
    }
    if (layer.kind === 'conv2d' || layer.kind === 'linear') {
      const O = layer.weightShape[0];
      const { array, packing } = weightToArray(layer, options.pack ?? true);
      arrays[arrayName(index, 'weight')] = array;
      if (packing !== null) {
        json.weightPacking = packing;
        packed = true;
      }
      arrays[arrayName(index, 'weightZeroPoint')] = { dtype: 'int32', shape: [O], data: layer.weightZeroPoint };
      if (layer.bias !== null) arrays[arrayName(index, 'bias')] = { dtype: 'int32', shape: [O], data: layer.bias };
      arrays[arrayName(index, 'multiplier')] = { dtype: 'int32', shape: [O], data: layer.multiplier };
      arrays[arrayName(index, 'shift')] = { dtype: 'int32', shape: [O], data: layer.shift };
      json.hasBias = layer.bias !== null;
    }
    return json;
  });
  return {
    kind: INT8_MODEL_KIND,
    meta: { formatVersion: packed ? INT8_MODEL_PACKED_FORMAT_VERSION : INT8_MODEL_FORMAT_VERSION, inputShape: spec.inputShape, layers, meta: spec.meta ?? {} },
    arrays,
  };
}

/**
 * Rebuild a spec from a decoded container, checking its structure; `source` (the file name)
 * starts every error message. The result still has to pass the Int8Model constructor.
 */
export function int8SpecFromContainer(container: Container, source: string): Int8ModelSpec {
  const fail = (problem: string): never => {
    throw new FileFormatError(source, problem);
  };
  if (container.kind !== INT8_MODEL_KIND) {
    fail(`holds a '${container.kind}', not an int8 model ('${INT8_MODEL_KIND}')`);
  }
  const { formatVersion, inputShape, layers, meta, ...unknown } = container.meta;
  for (const key of Object.keys(unknown)) fail(`unknown field 'meta.${key}' (allowed: formatVersion, inputShape, layers, meta)`);
  if (formatVersion !== INT8_MODEL_FORMAT_VERSION && formatVersion !== INT8_MODEL_PACKED_FORMAT_VERSION) {
    fail(`unsupported int8 model format version ${show(formatVersion)} (this qgrad reads ${INT8_MODEL_FORMAT_VERSION} and ${INT8_MODEL_PACKED_FORMAT_VERSION})`);
  }
  if (!Array.isArray(inputShape)) fail(`meta.inputShape must be an array, got ${show(inputShape)}`);
  if (!Array.isArray(layers)) fail(`meta.layers must be an array, got ${show(layers)}`);
  if (meta !== undefined && !isObject(meta)) fail(`meta.meta must be an object, got ${show(meta)}`);

  const used = new Set<string>();
  const specLayers = (layers as readonly JsonValue[]).map((raw, index): Int8Layer => {
    if (!isObject(raw) || typeof raw.kind !== 'string' || !KINDS.has(raw.kind)) {
      return fail(`layer ${index}: not a layer description (kind must be one of ${[...KINDS].join(', ')}): ${show(raw)}`);
    }
    const what = `layer ${index} (${raw.kind})`;
    if (isFloatLayerKind(raw.kind)) {
      return floatLayerFromContainer(raw as Record<string, JsonValue>, index, what, container.arrays, used, fail, formatVersion === INT8_MODEL_PACKED_FORMAT_VERSION);
    }
    for (const field of ARRAY_FIELDS) {
      if (field in raw) fail(`${what}: '${field}' belongs in the arrays, not in the layer JSON`);
    }
    const { hasBias, weightPacking, ...fields } = raw as Record<string, JsonValue>;
    if (weightPacking !== undefined && (formatVersion !== INT8_MODEL_PACKED_FORMAT_VERSION || (raw.kind !== 'conv2d' && raw.kind !== 'linear'))) {
      fail(`${what}: unexpected field 'weightPacking' (packed weights need format version ${INT8_MODEL_PACKED_FORMAT_VERSION} and a conv2d or linear layer)`);
    }
    const layer: Record<string, unknown> = { ...fields };
    if (raw.kind === 'conv2d' || raw.kind === 'linear') {
      const rank = raw.kind === 'conv2d' ? 4 : 2;
      const shape = raw.weightShape;
      if (!Array.isArray(shape) || shape.length !== rank || !shape.every((d) => Number.isSafeInteger(d) && (d as number) >= 1)) {
        fail(`${what}: weightShape must be ${rank} positive integers, got ${show(shape)}`);
      }
      if (typeof hasBias !== 'boolean') fail(`${what}: hasBias must be true or false, got ${show(hasBias)}`);
      const weightShape = shape as number[];
      const O = weightShape[0];
      const take = (field: ArrayField, dtypes: readonly string[], expected: readonly number[]): Int8Array | Int32Array => {
        const name = arrayName(index, field);
        const array = Object.hasOwn(container.arrays, name) ? container.arrays[name] : undefined;
        if (array === undefined) return fail(`${what}: array '${name}' is missing`);
        used.add(name);
        if (field === 'weight' && weightPacking !== undefined) {
          try {
            return weightFromPackedArray(array, weightPacking, weightShape, raw.weightQmin, raw.weightQmax, `${what}: array '${name}'`);
          } catch (error) {
            return fail(error instanceof Error ? error.message : String(error));
          }
        }
        if (!dtypes.includes(array.dtype)) fail(`${what}: array '${name}' has dtype ${array.dtype}, expected ${dtypes.join(' or ')}`);
        if (array.shape.length !== expected.length || array.shape.some((d, i) => d !== expected[i])) {
          fail(`${what}: array '${name}' has shape [${array.shape.join(', ')}], expected [${expected.join(', ')}]`);
        }
        return array.data as Int8Array | Int32Array;
      };
      layer.weight = take('weight', ['int8', 'int32'], weightShape);
      layer.weightZeroPoint = take('weightZeroPoint', ['int32'], [O]);
      layer.bias = hasBias ? take('bias', ['int32'], [O]) : null;
      layer.multiplier = take('multiplier', ['int32'], [O]);
      layer.shift = take('shift', ['int32'], [O]);
    } else if (hasBias !== undefined) {
      fail(`${what}: unexpected field 'hasBias'`);
    }
    return layer as unknown as Int8Layer;
  });

  for (const name of Object.keys(container.arrays)) {
    if (!used.has(name)) fail(`unexpected array '${name}' (no layer uses it)`);
  }
  return {
    inputShape: inputShape as number[],
    layers: specLayers,
    ...(meta !== undefined ? { meta: meta as JsonObject } : {}),
  };
}

function isObject(value: unknown): value is JsonObject {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}
