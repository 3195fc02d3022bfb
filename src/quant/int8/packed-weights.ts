/**
 * The weight array of a conv2d / linear layer in an int8 model file, packed or not: the bridge
 * between a layer's Int8Array / Int32Array of levels and the container array plus the layer-JSON
 * field `weightPacking` that describe it (pack.ts defines the bits; docs/formats.md the files).
 * Shared by the chain format (format.ts, version 3) and the graph format (graph-format.ts,
 * version 4). Levels are unpacked once, at load, into the arrays the engine runs on.
 */
import type { ContainerArray, JsonObject, JsonValue } from '../../io/container.js';
import { choosePacking, packedByteLength, packingProblem, packLevels, unpackLevels, type PackCode, type WeightPacking } from './pack.js';

interface WeightFields {
  weight: Int8Array | Int32Array;
  weightShape: readonly number[];
  weightQmin: number;
  weightQmax: number;
  weightCode?: string;
}

/**
 * The container array for a layer's weights and, when they are packed, the `weightPacking` JSON
 * ({ code, bits }). `pack: false` writes the unpacked array of format versions 1 and 2: int8 when
 * every level fits in −128..127, else int32.
 */
export function weightToArray(layer: WeightFields, pack: boolean): { array: ContainerArray; packing: JsonObject | null } {
  const packing = pack ? choosePacking(layer.weight, layer.weightQmin, layer.weightQmax, layer.weightCode === 'pow2') : null;
  if (packing !== null) {
    const data = packLevels(layer.weight, packing);
    return { array: { dtype: 'uint8', shape: [data.length], data }, packing: { code: packing.code, bits: packing.bits } };
  }
  const { weight, weightShape: shape } = layer;
  if (weight instanceof Int8Array) return { array: { dtype: 'int8', shape, data: weight }, packing: null };
  const fits = weight.every((w) => w >= -128 && w <= 127);
  return { array: fits ? { dtype: 'int8', shape, data: Int8Array.from(weight) } : { dtype: 'int32', shape, data: weight }, packing: null };
}

/**
 * The levels of a packed weight array, checked completely (pack.ts unpackLevels: length, padding,
 * codes, the declared range [weightQmin, weightQmax]). Errors start with `what`, which names the
 * layer and the array. `packing` is the raw JSON from the file.
 */
export function weightFromPackedArray(
  array: ContainerArray, packing: JsonValue, weightShape: readonly number[], weightQmin: JsonValue, weightQmax: JsonValue, what: string,
): Int8Array | Int32Array {
  if (packing === null || typeof packing !== 'object' || Array.isArray(packing)) {
    throw new Error(`${what}: weightPacking must be {code, bits}, got ${JSON.stringify(packing)}`);
  }
  const { code, bits, ...unknown } = packing as JsonObject;
  for (const key of Object.keys(unknown)) throw new Error(`${what}: unknown field 'weightPacking.${key}' (allowed: code, bits)`);
  const p = { code: code as PackCode, bits: bits as number } satisfies WeightPacking;
  const problem = packingProblem(p);
  if (problem !== null) throw new Error(`${what}: weightPacking ${problem}`);
  if (!Number.isSafeInteger(weightQmin) || !Number.isSafeInteger(weightQmax)) {
    throw new Error(`${what}: weightQmin and weightQmax must be integers to check packed levels, got ${JSON.stringify(weightQmin)}, ${JSON.stringify(weightQmax)}`);
  }
  const n = weightShape.reduce((a, b) => a * b, 1);
  const bytes = packedByteLength(n, p.bits);
  if (array.dtype !== 'uint8') throw new Error(`${what}: packed weights have dtype ${array.dtype}, expected uint8`);
  if (array.shape.length !== 1 || array.shape[0] !== bytes) {
    throw new Error(`${what}: packed weights have shape [${array.shape.join(', ')}], expected [${bytes}] = ceil(${n}·${p.bits}/8) bytes for weightShape [${weightShape.join(', ')}]`);
  }
  return unpackLevels(array.data as Uint8Array, n, p, weightQmin as number, weightQmax as number, what);
}
