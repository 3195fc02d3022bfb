/**
 * The int8 model file, format version 2: an Int8GraphSpec in the qgrad container, kind
 * 'qgrad.int8-model' (docs/formats.md, "int8 models, version 2").
 *
 *   meta = { formatVersion: 2, inputShape: [...], output: "<node>",
 *            nodes: [ { name, inputs: [...], op: {kind, scalar fields...} }, ... ], meta: {...} }
 *   arrays, for each conv2d / linear node i (its index in `nodes`):
 *     nodes.i.weight, nodes.i.weightZeroPoint, nodes.i.bias (when op.hasBias), nodes.i.multiplier, nodes.i.shift
 *   with the dtypes and shapes of version 1 (format.ts).
 *
 * Version 1 files (a chain of layers) are read by format.ts and turned into a graph (graphFromChain).
 * Version 4 is version 2 with packed sub-byte weights (packed-weights.ts, pack.ts), declared by
 * `weightPacking: {code, bits}` in a node's op; a writer uses it only when some node is packed.
 * Version 3 (a packed chain, format.ts) is read like version 1. Other versions fail with an error
 * naming the version. Structure is checked here (counts bounded
 * before anything is built from them); everything else is the graph validator's
 * (validate-graph.ts), whose errors the loader reports against the file.
 */
import type { Container, ContainerArray, JsonObject, JsonValue } from '../../io/container.js';
import { FileFormatError } from '../../io/format-error.js';
import { int8SpecFromContainer, INT8_MODEL_KIND } from './format.js';
import { graphFromChain, type Int8GraphNode, type Int8GraphSpec } from './graph.js';
import { MAX_INPUTS, MAX_NODES } from './validate-graph.js';
import { weightFromPackedArray, weightToArray } from './packed-weights.js';

export const INT8_GRAPH_FORMAT_VERSION = 2;
/** Version 2 with packed sub-byte weights (docs/formats.md, "packed weights"). */
export const INT8_GRAPH_PACKED_FORMAT_VERSION = 4;
const ARRAY_FIELDS = ['weight', 'weightZeroPoint', 'bias', 'multiplier', 'shift'] as const;
type ArrayField = (typeof ARRAY_FIELDS)[number];

const arrayName = (i: number, f: ArrayField) => `nodes.${i}.${f}`;

export function graphSpecToContainer(spec: Int8GraphSpec, options: { pack?: boolean } = {}): Container {
  const arrays: Record<string, ContainerArray> = {};
  let packed = false;
  const nodes: JsonObject[] = spec.nodes.map((node, i) => {
    const op: Record<string, JsonValue> = {};
    for (const [k, v] of Object.entries(node.op)) {
      if ((ARRAY_FIELDS as readonly string[]).includes(k) || v === undefined) continue;
      op[k] = v as JsonValue;
    }
    const layer = node.op;
    if (layer.kind === 'conv2d' || layer.kind === 'linear') {
      const O = layer.weightShape[0];
      const { array, packing } = weightToArray(layer, options.pack ?? true);
      arrays[arrayName(i, 'weight')] = array;
      if (packing !== null) {
        op.weightPacking = packing;
        packed = true;
      }
      arrays[arrayName(i, 'weightZeroPoint')] = { dtype: 'int32', shape: [O], data: layer.weightZeroPoint };
      if (layer.bias !== null) arrays[arrayName(i, 'bias')] = { dtype: 'int32', shape: [O], data: layer.bias };
      arrays[arrayName(i, 'multiplier')] = { dtype: 'int32', shape: [O], data: layer.multiplier };
      arrays[arrayName(i, 'shift')] = { dtype: 'int32', shape: [O], data: layer.shift };
      op.hasBias = layer.bias !== null;
    }
    return { name: node.name, inputs: node.inputs, op };
  });
  return {
    kind: INT8_MODEL_KIND,
    meta: { formatVersion: packed ? INT8_GRAPH_PACKED_FORMAT_VERSION : INT8_GRAPH_FORMAT_VERSION, inputShape: spec.inputShape, output: spec.output, nodes, meta: spec.meta ?? {} },
    arrays,
  };
}

const isObject = (v: unknown): v is JsonObject => v !== null && typeof v === 'object' && !Array.isArray(v);

export function graphSpecFromContainer(container: Container, source: string): Int8GraphSpec {
  const fail = (problem: string): never => {
    throw new FileFormatError(source, problem);
  };
  if (container.kind !== INT8_MODEL_KIND) fail(`holds a '${container.kind}', not an int8 model ('${INT8_MODEL_KIND}')`);
  const version = container.meta.formatVersion;
  if (version === 1 || version === 3) return graphFromChain(int8SpecFromContainer(container, source));
  if (version !== INT8_GRAPH_FORMAT_VERSION && version !== INT8_GRAPH_PACKED_FORMAT_VERSION) {
    fail(`unsupported int8 model format version ${JSON.stringify(version)} (this qgrad reads versions 1 to 4)`);
  }
  const { inputShape, nodes, output, meta } = container.meta;
  if (!Array.isArray(inputShape)) fail(`meta.inputShape must be an array, got ${JSON.stringify(inputShape)}`);
  if (!Array.isArray(nodes)) fail(`meta.nodes must be an array, got ${JSON.stringify(nodes)}`);
  const list = nodes as JsonValue[];
  if (list.length > MAX_NODES) fail(`meta.nodes has ${list.length} nodes, more than the limit of ${MAX_NODES}`);
  if (typeof output !== 'string') fail(`meta.output must be a node name, got ${JSON.stringify(output)}`);
  if (meta !== undefined && !isObject(meta)) fail(`meta.meta must be an object, got ${JSON.stringify(meta)}`);

  const used = new Set<string>();
  const specNodes = list.map((raw, i): Int8GraphNode => {
    if (!isObject(raw) || typeof raw.name !== 'string' || !Array.isArray(raw.inputs) || !isObject(raw.op) || typeof raw.op.kind !== 'string') {
      return fail(`node ${i}: must be {name, inputs, op: {kind, ...}}, got ${JSON.stringify(raw).slice(0, 200)}`);
    }
    if (raw.inputs.length > MAX_INPUTS || !raw.inputs.every((x) => typeof x === 'string')) fail(`node ${i} ('${raw.name}'): inputs must be at most ${MAX_INPUTS} node names`);
    const what = `node ${i} ('${raw.name}', ${raw.op.kind})`;
    for (const f of ARRAY_FIELDS) if (f in raw.op) fail(`${what}: '${f}' belongs in the arrays, not in the node JSON`);
    const { hasBias, weightPacking, ...fields } = raw.op as Record<string, JsonValue>;
    if (weightPacking !== undefined && (version !== INT8_GRAPH_PACKED_FORMAT_VERSION || (raw.op.kind !== 'conv2d' && raw.op.kind !== 'linear'))) {
      fail(`${what}: unexpected field 'weightPacking' (packed weights need format version ${INT8_GRAPH_PACKED_FORMAT_VERSION} and a conv2d or linear node)`);
    }
    const op: Record<string, unknown> = { ...fields };
    if (raw.op.kind === 'conv2d' || raw.op.kind === 'linear') {
      const rank = raw.op.kind === 'conv2d' ? 4 : 2;
      const shape = raw.op.weightShape;
      if (!Array.isArray(shape) || shape.length !== rank || !shape.every((d) => Number.isSafeInteger(d) && (d as number) >= 1)) {
        fail(`${what}: weightShape must be ${rank} positive integers, got ${JSON.stringify(shape)}`);
      }
      if (typeof hasBias !== 'boolean') fail(`${what}: hasBias must be true or false, got ${JSON.stringify(hasBias)}`);
      const weightShape = shape as number[];
      const O = weightShape[0];
      const take = (field: ArrayField, dtypes: readonly string[], expected: readonly number[]) => {
        const name = arrayName(i, field);
        const a = Object.hasOwn(container.arrays, name) ? container.arrays[name] : undefined;
        if (a === undefined) return fail(`${what}: array '${name}' is missing`);
        used.add(name);
        if (field === 'weight' && weightPacking !== undefined) {
          try {
            return weightFromPackedArray(a, weightPacking, weightShape, (raw.op as JsonObject).weightQmin, (raw.op as JsonObject).weightQmax, `${what}: array '${name}'`);
          } catch (error) {
            return fail(error instanceof Error ? error.message : String(error));
          }
        }
        if (!dtypes.includes(a.dtype)) fail(`${what}: array '${name}' has dtype ${a.dtype}, expected ${dtypes.join(' or ')}`);
        if (a.shape.length !== expected.length || a.shape.some((d, k) => d !== expected[k])) fail(`${what}: array '${name}' has shape [${a.shape.join(', ')}], expected [${expected.join(', ')}]`);
        return a.data;
      };
      op.weight = take('weight', ['int8', 'int32'], weightShape);
      op.weightZeroPoint = take('weightZeroPoint', ['int32'], [O]);
      op.bias = hasBias ? take('bias', ['int32'], [O]) : null;
      op.multiplier = take('multiplier', ['int32'], [O]);
      op.shift = take('shift', ['int32'], [O]);
    } else if (hasBias !== undefined) fail(`${what}: unexpected field 'hasBias'`);
    return { name: raw.name, inputs: raw.inputs as string[], op: op as unknown as Int8GraphNode['op'] };
  });
  for (const name of Object.keys(container.arrays)) if (!used.has(name)) fail(`unexpected array '${name}' (no node uses it)`);
  return { inputShape: inputShape as number[], nodes: specNodes, output: output as string, ...(meta !== undefined ? { meta: meta as JsonObject } : {}) };
}
