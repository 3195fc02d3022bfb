/**
 * Integer-only int8 inference: the model description convert() produces (model.ts), the engine
 * that runs it with int32 accumulation and fixed-point requantization (engine.ts, kernels.ts),
 * and its file format (format.ts, docs/formats.md "int8 models").
 */
// The model description's types (every layer kind, Int8ModelSpec), all public.
export type * from './model.js';
export type { DynamicLinearLayer } from './dynamic.js';
export type { WeightOnlyLinearLayer, WeightOnlyConv2dLayer } from './weight-only.js';
export { FLOAT_LAYER_KINDS, type FloatLayer, type FloatLayerKind } from './float-layers.js';
export { Int8Model, type Int8ModelOptions, type Int8Trace, type LayerLevels } from './engine.js';
export { gemmInt32, gemmTwoLane, selectGemm, TWO_LANE_MAX_OPERAND, type Int32Gemm } from './gemm.js';
export { pow2ShiftGemm, gemmPow2Shift, encodePow2Taps, type Pow2Taps } from './pow2-shift.js';
export { packLevels, unpackLevels, packedByteLength, choosePacking, type PackCode, type WeightPacking } from './pack.js';
export { INT8_MODEL_KIND, INT8_MODEL_FORMAT_VERSION, INT8_MODEL_PACKED_FORMAT_VERSION } from './format.js';
export type {
  Int8GraphSpec, Int8GraphNode, Int8GraphOp, Int8GraphOpKind, AddNode, MulNode, ConcatNode, AvgPool2dNode, GlobalAvgPoolNode, ClampNode, ReshapeNode,
  OutputGrid,
} from './graph.js';
export { GRAPH_INPUT, graphFromChain } from './graph.js';
export { Int8GraphModel, roundDiv } from './graph-engine.js';
export { INT8_GRAPH_FORMAT_VERSION, INT8_GRAPH_PACKED_FORMAT_VERSION, graphSpecToContainer, graphSpecFromContainer } from './graph-format.js';
export { planInt8Graph, MAX_NODES, MAX_INPUTS, MAX_LEVELS, type NodePlan } from './validate-graph.js';
