/**
 * The integer-only model as a graph (format version 2): nodes with named inputs, so a value can
 * be read twice (a residual block's skip) and a node can read two values (its add).
 *
 * Every chain layer of model.ts is a node kind here with the same fields and semantics
 * (quantize, conv2d, linear, maxpool2d, relu, flatten, dequantize). The graph adds, all on
 * integer levels (s = scale, z = zero point, MBQM = multiplyByQuantizedMultiplier of
 * src/quant/numerics, Jacob et al. 2018 eq. 6; TFLite reference_integer_ops):
 *
 *   add, mul        int8Add / int8Mul of src/quant/numerics/int8-arith.ts, element for element:
 *                   mode 'fixedPoint' (TFLite's ADD/MUL kernels, integer only) or 'float' (the seed
 *                   formulas M_xy = 2·max(x_s, y_s), M = x_s·y_s/z_s, evaluated in float64)
 *   concat          along a per-example axis; input i is requantized into the output's grid:
 *                   clamp(z_out + MBQM(q - z_i, multiplier_i, shift_i), qmin, qmax), (m_i, s_i) =
 *                   quantizeMultiplier(s_i / s_out)
 *   avgpool2d       no padding; out = z + roundDiv(Σ_window (q - z), kh·kw); scale and zero point kept
 *   globalavgpool   [C, H, W] -> [C], out = z + roundDiv(Σ_hw (q - z), H·W)
 *                   roundDiv is exact integer division with the named tie rule (default halfEven,
 *                   as the fake-quant model rounds; TFLite's average pool rounds half away from zero)
 *   clamp           clamp(z_out + MBQM(q - z_in, multiplier, shift), qmin, qmax): requantize, then
 *                   clamp to [qmin, qmax], which include the levels of the float clamp bounds
 *                   (ReLU6 / hardtanh: round(c / s_out) + z_out commutes with clamping, round being monotone)
 *   reshape         per-example reshape to `shape` (same element count); no-op on the data
 *
 * The graph reads the float input by the reserved name 'input' (only a quantize node may), and
 * `output` names its one dequantize node.
 */
import type { JsonObject } from '../../io/container.js';
import type { Int8ArithMode, Rounding } from '../numerics/index.js';
import type { Int8Layer } from './model.js';

export interface ScaleZeroPoint {
  scale: number;
  zeroPoint: number;
}

export interface OutputGrid extends ScaleZeroPoint {
  qmin: number;
  qmax: number;
}

export interface AddNode {
  kind: 'add';
  a: ScaleZeroPoint;
  b: ScaleZeroPoint;
  out: OutputGrid;
  mode: Int8ArithMode;
  /** Only with mode 'float'. */
  rounding?: Rounding;
}

export interface MulNode {
  kind: 'mul';
  a: ScaleZeroPoint;
  b: ScaleZeroPoint;
  out: OutputGrid;
  mode: Int8ArithMode;
  rounding?: Rounding;
}

export interface ConcatNode {
  kind: 'concat';
  /** Per-example axis (0 = channels of [C, H, W]). */
  axis: number;
  /** One entry per input: its zero point and the multiplier of s_in / s_out. */
  inputs: { zeroPoint: number; multiplier: number; shift: number }[];
  outZeroPoint: number;
  qmin: number;
  qmax: number;
}

export interface AvgPool2dNode {
  kind: 'avgpool2d';
  kernel: [number, number];
  stride: [number, number];
  zeroPoint: number;
  rounding?: Rounding;
}

export interface GlobalAvgPoolNode {
  kind: 'globalavgpool';
  zeroPoint: number;
  rounding?: Rounding;
}

export interface ClampNode {
  kind: 'clamp';
  inZeroPoint: number;
  multiplier: number;
  shift: number;
  outZeroPoint: number;
  qmin: number;
  qmax: number;
}

export interface ReshapeNode {
  kind: 'reshape';
  shape: number[];
}

export type Int8GraphOp = Int8Layer | AddNode | MulNode | ConcatNode | AvgPool2dNode | GlobalAvgPoolNode | ClampNode | ReshapeNode;
export type Int8GraphOpKind = Int8GraphOp['kind'];

export interface Int8GraphNode {
  name: string;
  inputs: string[];
  op: Int8GraphOp;
}

export interface Int8GraphSpec {
  /** Shape of one example, without the batch dimension. */
  inputShape: number[];
  nodes: Int8GraphNode[];
  /** The dequantize node whose value is the model's output. */
  output: string;
  meta?: JsonObject;
}

/** The reserved name of the float input. */
export const GRAPH_INPUT = 'input';

/** A chain spec (format version 1) as a graph: node i is named 'layer<i>' and reads node i-1. */
export function graphFromChain(spec: { inputShape: number[]; layers: Int8Layer[]; meta?: JsonObject }): Int8GraphSpec {
  const nodes = spec.layers.map((op, i) => ({ name: `layer${i}`, inputs: [i === 0 ? GRAPH_INPUT : `layer${i - 1}`], op }));
  return { inputShape: spec.inputShape, nodes, output: `layer${spec.layers.length - 1}`, ...(spec.meta !== undefined ? { meta: spec.meta } : {}) };
}
