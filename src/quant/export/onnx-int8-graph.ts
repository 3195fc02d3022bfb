/**
 * ONNX export of an integer graph (an Int8GraphSpec from convertGraph(), or a chain spec through
 * graphFromChain) in QDQ form (docs/onnx.md). Every quantized value is uint8/int8 in the graph;
 * each node becomes the float operator it computes, bracketed by DequantizeLinear on its inputs
 * and QuantizeLinear to its output's scale and zero point (ONNX spec: DequantizeLinear
 * y = (x - x_zero_point) · x_scale, QuantizeLinear y = saturate(round(x / y_scale) + y_zero_point),
 * round half to even; per-axis forms since opset 13). onnxruntime's QDQ transformer fuses these
 * patterns into its integer kernels (QLinearConv, QLinearMatMul, QLinearAdd, QLinearMul,
 * QLinearConcat, QLinearAveragePool/QLinearGlobalAveragePool) and requantizes with a float
 * multiplier; qgrad requantizes with TFLite's fixed-point multiplier, so the two may differ by one
 * level where a product lands near a tie.
 *
 *   quantize      QuantizeLinear(input, s, z)  (qgrad: round(x · float32(1/s)); ONNX: round(x / s))
 *   conv2d        DQ(x), DQ(w int8, s_w[o], axis 0), DQ(b int32, s_x·s_w[o]) -> Conv -> [Relu] -> Q
 *   linear        the same with Gemm transB=1
 *   maxpool2d     MaxPool directly on the levels (max commutes with the increasing dequantization: exact)
 *   relu          Clip(q, z, type max) on the levels: max(q, z) exactly as the integer engine does
 *   clamp         DQ(s_in, z_in) -> Q(s_out, z_out) -> Clip(qmin, qmax) on the levels
 *   flatten       Flatten axis 1 on the levels; reshape: Reshape to [-1, ...shape] on the levels
 *   add, mul      DQ(a), DQ(b) -> Add/Mul -> [Relu] -> Q(out)
 *   concat        DQ(each input) -> Concat (axis + 1) -> [Relu] -> Q(out)
 *   avgpool2d     DQ -> AveragePool -> Q(same s, z); globalavgpool: DQ -> GlobalAveragePool -> Q -> Flatten
 *                 (the engine divides the integer window sum with an exact rounding division; the float
 *                 mean then rounding can land one level apart when the sum sits on a tie)
 *   dequantize    DequantizeLinear(q, s, z) -> the float32 output
 *
 * Scales the spec does not store are recovered from its multipliers (M = s_in/s_out form, Jacob et
 * al. 2018 eq. 5): per-channel weight scales s_w[o] = M[o]·s_out/s_in; the output scale of a
 * clamp or concat s_out = s_in/M. ONNX's 8-bit types fix the clamp range to the full type, so
 * outputs must use all of uint8 [0, 255] or int8 [-128, 127] (optionally from z, a fused ReLU), and
 * weight levels must fit int8; anything else fails with an error naming the node. Node-free.
 */
import type { Conv2dLayer, LinearLayer } from '../int8/model.js';
import type { Int8GraphOpKind, Int8GraphSpec } from '../int8/graph.js';
import { GRAPH_INPUT } from '../int8/graph.js';
import { planInt8Graph } from '../int8/validate-graph.js';
import { DataType, encodeModel, node, tensor, valueInfo, type DataTypeCode, type NodeMessage, type OnnxParts, type TensorMessage } from './onnx-proto.js';
import { OnnxExportError } from './onnx-float.js';
import { int8GraphIntegerOnnxParts, type NodeLabels } from './onnx-int8-integer.js';

export interface Int8GraphOnnxOptions {
  /** Graph name; default 'qgrad-int8-graph'. */
  name?: string;
  /** Stored in the model's metadata_props (the spec's meta is added as JSON under 'qgrad.meta'). */
  metadata?: Record<string, string>;
  /**
   * For debugging: also output every integer node's levels, as a uint8/int8 graph output named
   * `<node>:levels` (after the logits), so a runtime's intermediate values can be compared with
   * Int8GraphModel.forwardLevels (examples/onnx-check.ts --per-node).
   */
  tapLevels?: boolean;
  /**
   * 'qdq' (default): QuantizeLinear/DequantizeLinear around float operators, which runtimes fuse
   * into their integer kernels (requantizing in float). 'integer': qgrad's own fixed-point
   * arithmetic in ONNX integer operators, so a runtime reproduces Int8GraphModel bit for bit
   * (onnx-int8-integer.ts).
   */
  form?: 'qdq' | 'integer';
}

/** How errors name a node: the graph exporter by name, the chain exporter by layer index. */
export type { NodeLabels };

const GRAPH_LABELS: NodeLabels = {
  fn: 'exportInt8GraphOnnx',
  label: (name, _i, kind) => `node '${name}' (${kind})`,
  prefix: (name, _i, kind) => `${name}_${kind}`,
  docString: 'integer graph exported by qgrad in QDQ form (QuantizeLinear/DequantizeLinear around the float operators)',
};

/** The ONNX 8-bit type whose full range is [qmin, qmax], or null. */
export function activationType(qmin: number, qmax: number): DataTypeCode | null {
  if (qmin === 0 && qmax === 255) return DataType.UINT8;
  if (qmin === -128 && qmax === 127) return DataType.INT8;
  return null;
}

/** A value's quantization as it flows: scale, zero point, ONNX type and the ONNX tensor holding it. */
interface Levels {
  tensor: string;
  scale: number;
  zeroPoint: number;
  type: DataTypeCode;
}

const SUPPORTED = new Set<Int8GraphOpKind>([
  'quantize', 'conv2d', 'linear', 'maxpool2d', 'relu', 'flatten', 'dequantize',
  'add', 'mul', 'concat', 'avgpool2d', 'globalavgpool', 'clamp', 'reshape',
]);

const multiplierValue = (m: number, shift: number) => m * 2 ** (shift - 31);

export function exportInt8GraphOnnx(spec: Int8GraphSpec, opts: Int8GraphOnnxOptions = {}, labels: NodeLabels = GRAPH_LABELS): Uint8Array {
  const { graph, metadata } = int8GraphOnnxParts(spec, opts, labels);
  return encodeModel(graph, '0.1.0', metadata);
}

/**
 * The graph's ONNX nodes, initializers, input 'input' and output 'output' before encoding, in the
 * form `opts.form` asks for (the chain exporter splices such parts between float layers:
 * onnx-float-segments.ts).
 */
export function int8GraphOnnxParts(spec: Int8GraphSpec, opts: Int8GraphOnnxOptions, labels: NodeLabels): OnnxParts {
  // Kinds first, so a node this exporter cannot write is refused by name before any other check.
  spec.nodes.forEach((n, i) => {
    const kind = (n.op as { kind: unknown }).kind;
    if (!SUPPORTED.has(kind as Int8GraphOpKind)) throw new OnnxExportError(`${labels.fn}: ${labels.label(n.name, i, String(kind))} has no ONNX counterpart in this exporter`);
  });
  if (opts.form === 'integer') return int8GraphIntegerOnnxParts(spec, opts, labels);
  if (opts.form !== undefined && opts.form !== 'qdq') throw new OnnxExportError(`${labels.fn}: form must be 'qdq' or 'integer', got ${JSON.stringify(opts.form)}`);
  const plans = planInt8Graph(spec); // validates the whole graph (shapes, ranges, zero points) with the engine's own checks
  const { fn } = labels;
  const nodes: NodeMessage[] = [];
  const inits: TensorMessage[] = [];
  const values = new Map<string, Levels>();
  const result: { output?: { tensor: string; dims: (number | string)[] } } = {};

  const constant = (name: string, type: DataTypeCode, dims: readonly number[], vals: ArrayLike<number>) => {
    inits.push(tensor(name, type, dims, vals));
    return name;
  };
  const emit = (op: string, name: string, inputs: string[], attrs: Parameters<typeof node>[4] = {}) => {
    const out = `${name}.${op}`;
    nodes.push(node(op, `${name} ${op}`, inputs, [out], attrs));
    return out;
  };
  const dq = (name: string, v: Levels, scale = v.scale, zeroPoint = v.zeroPoint) =>
    emit('DequantizeLinear', name, [v.tensor, constant(`${name}.scale`, DataType.FLOAT, [], [scale]), constant(`${name}.zero_point`, v.type, [], [zeroPoint])]);
  const qz = (name: string, x: string, scale: number, zeroPoint: number, type: DataTypeCode): Levels => ({
    tensor: emit('QuantizeLinear', name, [x, constant(`${name}.scale`, DataType.FLOAT, [], [scale]), constant(`${name}.zero_point`, type, [], [zeroPoint])]),
    scale, zeroPoint, type,
  });
  /** The output's ONNX type, and whether its clamp's lower end is a fused ReLU (qmin = z_out). */
  const outType = (g: { qmin: number; qmax: number; zeroPoint: number }, where: string): { type: DataTypeCode; relu: boolean } => {
    const type = g.qmax === 255 ? DataType.UINT8 : g.qmax === 127 ? DataType.INT8 : null;
    const typeMin = type === DataType.UINT8 ? 0 : -128;
    const relu = g.qmin > typeMin && g.qmin === g.zeroPoint;
    if (type === null || (g.qmin !== typeMin && !relu)) {
      throw new OnnxExportError(`${fn}: ${where} clamps its output to [${g.qmin}, ${g.qmax}]; QDQ ONNX expresses only the full uint8 [0, 255] or int8 [-128, 127] range, optionally with a fused ReLU`);
    }
    return { type, relu };
  };
  /** Float x -> [Relu] -> QuantizeLinear to the output grid. */
  const requantize = (name: string, x: string, g: { qmin: number; qmax: number; zeroPoint: number; scale: number }, where: string): Levels => {
    const { type, relu } = outType(g, where);
    return qz(`${name}.output`, relu ? emit('Relu', name, [x]) : x, g.scale, g.zeroPoint, type);
  };

  const weighted = (l: Conv2dLayer | LinearLayer, x: Levels, rank: number, name: string, where: string): Levels => {
    if (l.weightQmin < -128 || l.weightQmax > 127) throw new OnnxExportError(`${fn}: ${where} has weight levels in [${l.weightQmin}, ${l.weightQmax}], which do not fit ONNX int8`);
    const O = l.weightShape[0];
    const sOut = l.outScale;
    if (sOut === undefined) throw new OnnxExportError(`${fn}: ${where} has no outScale; re-run the conversion (the QDQ graph needs the output scale)`);
    // Per-channel weight scales are not in the spec: s_w[o] = M[o]·s_out/s_in (Jacob et al. eq. 5).
    const wScale = Float32Array.from({ length: O }, (_, o) => (multiplierValue(l.multiplier[o], l.shift[o]) * sOut) / x.scale);
    const biasScale = Float32Array.from(wScale, (s) => Math.fround(x.scale * s));
    const xf = dq(`${name}.input`, x);
    const w = emit('DequantizeLinear', `${name}.weight`, [
      constant(`${name}.weight_q`, DataType.INT8, l.weightShape, l.weight),
      constant(`${name}.weight_scale`, DataType.FLOAT, [O], wScale),
      constant(`${name}.weight_zero_point`, DataType.INT8, [O], l.weightZeroPoint),
    ], { axis: 0 });
    const b = l.bias
      ? [emit('DequantizeLinear', `${name}.bias`, [
          constant(`${name}.bias_q`, DataType.INT32, [O], l.bias),
          constant(`${name}.bias_scale`, DataType.FLOAT, [O], biasScale),
          constant(`${name}.bias_zero_point`, DataType.INT32, [O], new Int32Array(O)),
        ], { axis: 0 })]
      : [];
    let y: string;
    if (l.kind === 'conv2d') {
      const [ph, pw] = l.padding;
      y = emit('Conv', name, [xf, w, ...b], { kernel_shape: l.weightShape.slice(2), strides: l.stride, pads: [ph, pw, ph, pw], dilations: l.dilation, group: l.groups });
    } else {
      if (rank !== 2) throw new OnnxExportError(`${fn}: ${where} gets a rank-${rank} input; put a flatten before it`);
      y = emit('Gemm', name, [xf, w, ...b], { transB: 1 });
    }
    return requantize(name, y, { qmin: l.qmin, qmax: l.qmax, zeroPoint: l.outZeroPoint, scale: sOut }, where);
  };

  plans.forEach((p, i) => {
    const n = p.node, op = p.op;
    const where = labels.label(n.name, i, op.kind);
    const name = labels.prefix(n.name, i, op.kind);
    const ins = n.inputs.map((input) => {
      if (input === GRAPH_INPUT) return null;
      const v = values.get(input);
      if (!v) throw new OnnxExportError(`${fn}: ${where} reads '${input}', which holds no quantized levels (a dequantize node's float output)`);
      return v;
    });
    if (op.kind !== 'quantize' && ins.some((v) => v === null)) throw new OnnxExportError(`${fn}: ${where} reads the float input; only a quantize node may`);
    const x = ins[0]!;
    const rank = 1 + p.inShapes[0].length;
    const same = (t: string): Levels => ({ ...x, tensor: t });
    let out: Levels | null = null;
    switch (op.kind) {
      case 'quantize': {
        const type = activationType(op.qmin, op.qmax);
        if (type === null) throw new OnnxExportError(`${fn}: ${where} quantizes to [${op.qmin}, ${op.qmax}]; QDQ ONNX expresses only the full uint8 or int8 range`);
        out = qz(name, 'input', op.scale, op.zeroPoint, type);
        break;
      }
      case 'conv2d':
      case 'linear':
        out = weighted(op, x, rank, name, where);
        break;
      case 'maxpool2d': {
        const [ph, pw] = op.padding;
        out = same(emit('MaxPool', name, [x.tensor], { kernel_shape: op.kernel, strides: op.stride, pads: [ph, pw, ph, pw], dilations: op.dilation ?? [1, 1] }));
        break;
      }
      case 'relu':
        out = same(emit('Clip', name, [x.tensor, constant(`${name}.min`, x.type, [], [op.zeroPoint]), constant(`${name}.max`, x.type, [], [x.type === DataType.UINT8 ? 255 : 127])]));
        break;
      case 'flatten':
        out = same(emit('Flatten', name, [x.tensor], { axis: 1 }));
        break;
      case 'reshape':
        out = same(emit('Reshape', name, [x.tensor, constant(`${name}.shape`, DataType.INT64, [1 + op.shape.length], [-1, ...op.shape])]));
        break;
      case 'clamp': {
        // The levels keep the input's type where the clamp's range and zero point fit it.
        const fits = (t: DataTypeCode) => {
          const [lo, hi] = t === DataType.UINT8 ? [0, 255] : [-128, 127];
          return op.qmin >= lo && op.qmax <= hi && op.outZeroPoint >= lo && op.outZeroPoint <= hi;
        };
        const other = x.type === DataType.UINT8 ? DataType.INT8 : DataType.UINT8;
        const type = fits(x.type) ? x.type : fits(other) ? other : null;
        if (type === null) throw new OnnxExportError(`${fn}: ${where} clamps to [${op.qmin}, ${op.qmax}] (zero point ${op.outZeroPoint}), which fits neither uint8 nor int8`);
        const sOut = x.scale / multiplierValue(op.multiplier, op.shift);
        const y = qz(`${name}.output`, dq(`${name}.input`, x, x.scale, op.inZeroPoint), sOut, op.outZeroPoint, type);
        out = { ...y, tensor: emit('Clip', name, [y.tensor, constant(`${name}.min`, type, [], [op.qmin]), constant(`${name}.max`, type, [], [op.qmax])]) };
        break;
      }
      case 'add':
      case 'mul': {
        const a = dq(`${name}.a`, ins[0]!, op.a.scale, op.a.zeroPoint);
        const b = dq(`${name}.b`, ins[1]!, op.b.scale, op.b.zeroPoint);
        out = requantize(name, emit(op.kind === 'add' ? 'Add' : 'Mul', name, [a, b]), op.out, where);
        break;
      }
      case 'concat': {
        // s_out from the first input's multiplier M_0 = s_0/s_out.
        const sOut = x.scale / multiplierValue(op.inputs[0].multiplier, op.inputs[0].shift);
        const parts = ins.map((v, k) => dq(`${name}.in${k}`, v!, v!.scale, op.inputs[k].zeroPoint));
        out = requantize(name, emit('Concat', name, parts, { axis: op.axis + 1 }), { qmin: op.qmin, qmax: op.qmax, zeroPoint: op.outZeroPoint, scale: sOut }, where);
        break;
      }
      case 'avgpool2d': {
        const y = emit('AveragePool', name, [dq(`${name}.input`, x, x.scale, op.zeroPoint)], { kernel_shape: op.kernel, strides: op.stride });
        out = qz(`${name}.output`, y, x.scale, op.zeroPoint, x.type);
        break;
      }
      case 'globalavgpool': {
        const y = emit('GlobalAveragePool', name, [dq(`${name}.input`, x, x.scale, op.zeroPoint)]);
        const q = qz(`${name}.output`, y, x.scale, op.zeroPoint, x.type);
        out = { ...q, tensor: emit('Flatten', `${name}.output`, [q.tensor], { axis: 1 }) }; // [N, C, 1, 1] -> [N, C] as the engine's [C]
        break;
      }
      case 'dequantize': {
        const t = dq(name, x, op.scale, op.zeroPoint);
        if (n.name === spec.output) result.output = { tensor: t, dims: ['N', ...p.outShape] };
        break;
      }
    }
    if (out) values.set(n.name, out);
  });
  const output = result.output;
  if (!output) throw new OnnxExportError(`${fn}: the graph's output '${spec.output}' is not a dequantize node`);
  const last = nodes.find((m) => m.output[0] === output.tensor)!;
  last.output = ['output'];
  for (const m of nodes) m.input = m.input.map((t) => (t === output.tensor ? 'output' : t));
  const taps: Record<string, unknown>[] = [];
  if (opts.tapLevels) {
    for (const p of plans) {
      const v = values.get(p.name);
      if (!v) continue;
      const t = v.tensor === output.tensor ? 'output' : v.tensor;
      nodes.push(node('Identity', `${p.name} levels`, [t], [`${p.name}:levels`]));
      taps.push(valueInfo(`${p.name}:levels`, v.type, ['N', ...p.outShape]));
    }
  }
  const metadata = { ...(opts.metadata ?? {}), ...(spec.meta ? { 'qgrad.meta': JSON.stringify(spec.meta) } : {}) };
  return {
    graph: {
      name: opts.name ?? 'qgrad-int8-graph',
      nodes,
      initializers: inits,
      inputs: [valueInfo('input', DataType.FLOAT, ['N', ...spec.inputShape])],
      outputs: [valueInfo('output', DataType.FLOAT, output.dims), ...taps],
      docString: labels.docString,
    },
    metadata,
  };
}
