/**
 * The ONNX protobuf schema (onnx.proto, loaded from its generated JSON descriptor with protobufjs)
 * and small builders for the messages an exporter writes: tensors (initializers), nodes with
 * attributes, typed graph inputs/outputs, and the ModelProto around them. The bytes come from
 * protobufjs's encoder, never from hand-written wire format. Node-free.
 *
 * Field meanings: https://github.com/onnx/onnx/blob/main/docs/IR.md; data types and attribute
 * types are the enums TensorProto.DataType and AttributeProto.AttributeType of onnx.proto.
 */
import protobuf from 'protobufjs/light.js';
import { ONNX_SCHEMA } from './onnx-schema.js';

const root = protobuf.Root.fromJSON(ONNX_SCHEMA);
const ModelProto = root.lookupType('onnx.ModelProto');

/** TensorProto.DataType values used here. */
export const DataType = { FLOAT: 1, UINT8: 2, INT8: 3, INT32: 6, INT64: 7, DOUBLE: 11 } as const;
export type DataTypeCode = (typeof DataType)[keyof typeof DataType];

/** AttributeProto.AttributeType values used here. */
const AttributeType = { FLOAT: 1, INT: 2, STRING: 3, INTS: 7 } as const;

/** A plain object in the shape of onnx.TensorProto (protobufjs's camelCase field names). */
export interface TensorMessage {
  name: string;
  dims: number[];
  dataType: number;
  rawData: Uint8Array;
}

/** An initializer: values stored as little-endian raw_data (IR.md: "raw_data ... little-endian"). */
export function tensor(name: string, type: DataTypeCode, dims: readonly number[], values: ArrayLike<number>): TensorMessage {
  const size = dims.reduce((a, b) => a * b, 1);
  if (size !== values.length) throw new Error(`onnx tensor '${name}': ${values.length} values for dims [${dims.join(', ')}]`);
  const width = type === DataType.FLOAT || type === DataType.INT32 ? 4 : type === DataType.INT64 || type === DataType.DOUBLE ? 8 : 1;
  const raw = new Uint8Array(size * width);
  const view = new DataView(raw.buffer);
  for (let i = 0; i < size; i++) {
    const v = values[i];
    if (type === DataType.FLOAT) view.setFloat32(4 * i, v, true);
    else if (type === DataType.DOUBLE) view.setFloat64(8 * i, v, true);
    else if (type === DataType.INT32) view.setInt32(4 * i, v, true);
    else if (type === DataType.INT64) view.setBigInt64(8 * i, BigInt(v), true);
    else if (type === DataType.UINT8) view.setUint8(i, v);
    else view.setInt8(i, v);
  }
  return { name, dims: [...dims], dataType: type, rawData: raw };
}

export type AttributeValue = number | number[] | string | { float: number };

/** A node attribute: integers and integer lists as INT/INTS, { float } as FLOAT, strings as STRING. */
function attribute(name: string, v: AttributeValue): Record<string, unknown> {
  if (typeof v === 'string') return { name, type: AttributeType.STRING, s: new TextEncoder().encode(v) };
  if (Array.isArray(v)) return { name, type: AttributeType.INTS, ints: v };
  if (typeof v === 'number') return { name, type: AttributeType.INT, i: v };
  return { name, type: AttributeType.FLOAT, f: v.float };
}

export interface NodeMessage {
  opType: string;
  name: string;
  input: string[];
  output: string[];
  attribute: Record<string, unknown>[];
}

export function node(opType: string, name: string, input: string[], output: string[], attrs: Record<string, AttributeValue> = {}): NodeMessage {
  return { opType, name, input, output, attribute: Object.entries(attrs).map(([k, v]) => attribute(k, v)) };
}

/** A graph input/output: a tensor of `type` whose dims are numbers or symbolic names ('N'). */
export function valueInfo(name: string, type: DataTypeCode, dims: (number | string)[]): Record<string, unknown> {
  return {
    name,
    type: { tensorType: { elemType: type, shape: { dim: dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) } } },
  };
}

export interface GraphParts {
  name: string;
  nodes: NodeMessage[];
  initializers: TensorMessage[];
  inputs: Record<string, unknown>[];
  outputs: Record<string, unknown>[];
  docString?: string;
}

/** A graph before encoding, with the model's metadata_props. */
export interface OnnxParts {
  graph: GraphParts;
  metadata: Record<string, string>;
}

/**
 * Opset 13: the first with per-axis DequantizeLinear/QuantizeLinear (QDQ per-channel weights).
 * IR version 7 is the one that introduced opset 13 (onnx/docs/Versioning.md table).
 */
export const OPSET = 13;
export const IR_VERSION = 7;

export function encodeModel(graph: GraphParts, producerVersion: string, metadata: Record<string, string> = {}): Uint8Array {
  const message = ModelProto.fromObject({
    irVersion: IR_VERSION,
    producerName: 'qgrad',
    producerVersion,
    opsetImport: [{ domain: '', version: OPSET }],
    metadataProps: Object.entries(metadata).map(([key, value]) => ({ key, value })),
    graph: {
      name: graph.name,
      node: graph.nodes,
      initializer: graph.initializers,
      input: graph.inputs,
      output: graph.outputs,
      docString: graph.docString ?? '',
    },
  });
  return ModelProto.encode(message).finish();
}

/** Decodes ONNX bytes back to a plain object (for tests and debugging). */
export function decodeModel(bytes: Uint8Array): Record<string, unknown> {
  return ModelProto.toObject(ModelProto.decode(bytes), { longs: Number, bytes: Array, arrays: true }) as Record<string, unknown>;
}
