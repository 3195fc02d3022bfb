/**
 * ONNX export of an int8 chain model with float segments (float-layers.ts): dynamic PTQ's
 * dynamicLinear layers and weight-only PTQ's weightOnlyLinear / weightOnlyConv2d layers, alone or
 * around static integer stretches (quantize ... dequantize).
 *
 * The chain is cut at its float <-> levels boundaries. Each integer stretch, from a quantize to the
 * next dequantize, is a chain model of its own and goes through the integer exporters unchanged
 * (QDQ or integer form, onnx-int8-graph.ts / onnx-int8-integer.ts); the float layers between the
 * stretches are written here:
 *
 *   relu, maxpool2d, flatten   Relu, MaxPool, Flatten on float32 (a float relu has zero point 0)
 *
 *   dynamicLinear              DynamicQuantizeLinear's function body (ONNX opset 11), written out so
 *                              that one range can cover a row as well as the whole tensor, then the
 *                              integer GEMM and the float rescale, all as the engine computes them
 *                              (dynamic.ts, numerics/dynamic-range.ts):
 *       lo    = Min(ReduceMin(x), 0)           hi = Max(ReduceMax(x), 0)      (axes [1] for 'row')
 *       r     = hi - lo
 *       s     = Where(r == 0, 1, Max(r / (qmax - qmin), 2^-126))
 *       zp    = Round(Clip(qmin - lo / s, qmin, qmax))                        (Round: ties to even)
 *       x_c   = Cast<int32>(Clip(Round(x / s) + zp, qmin, qmax) - zp)        (x_q - zp, exact in float32)
 *       acc   = MatMul<int32>(x_c, Cast<int32>(w_qᵀ))                        (exact: the engine's bound)
 *       y     = Cast<float>(acc) · (s · w_scale[o]) + bias[o]                 (float32, the engine's order)
 *     Every step is one float32 operation on float32 values, the same ones the engine performs, so a
 *     conforming runtime reproduces the layer bit for bit. 'tensor' granularity measures one range
 *     per run of the graph; the engine measures one per forward chunk (about 2^20 activation
 *     levels), so the two agree when the batch fits one chunk. ONNX's own DynamicQuantizeLinear +
 *     MatMulInteger (what onnxruntime's quantize_dynamic writes) would be fewer nodes, but it knows
 *     only a per-tensor uint8 range; onnxruntime's MatMul on int32 is a plain loop, so this form is
 *     for portability and checking, not speed.
 *
 *   weightOnlyLinear/Conv2d    the weights dequantized in the graph, then a float Gemm or Conv:
 *       W = Reshape(Mul(Sub(Cast<float>(w_q [O, G, g]), zp [O, G, 1]), scale [O, G, 1]), [O, G·g])
 *     (sliced to the K real inputs when the last group is short, then reshaped to the weight
 *     shape), exactly the engine's float32((q - zp) · scale) (numerics/group.ts), since q - zp is
 *     an integer below 2^24 and the product of two float32 values rounds once. The Gemm/Conv then
 *     sums in float32 where the engine sums in float64, so outputs agree to float32 rounding, not
 *     bit for bit. Levels are stored one per byte (int8): ONNX's 4-bit types need opset 21, so an
 *     int4 model's ONNX file is the size of an int8 one.
 *
 * Node-free: returns parts for onnx-proto.ts to encode.
 */
import type { DynamicLinearLayer } from '../int8/dynamic.js';
import type { Int8Layer, Int8ModelSpec } from '../int8/model.js';
import { graphFromChain } from '../int8/graph.js';
import type { LayerPlan } from '../int8/validate.js';
import type { WeightOnlyConv2dLayer, WeightOnlyLinearLayer } from '../int8/weight-only.js';
import { DYNAMIC_ACTIVATION_RANGES, groupCount } from '../numerics/index.js';
import { DataType, node, tensor, valueInfo, type AttributeValue, type DataTypeCode, type NodeMessage, type OnnxParts, type TensorMessage } from './onnx-proto.js';
import { OnnxExportError } from './onnx-float.js';
import { int8GraphOnnxParts, type NodeLabels } from './onnx-int8-graph.js';

/** The smallest normal float32, the floor of a dynamic scale (numerics/dynamic-range.ts). */
const MIN_NORMAL_FLOAT32 = 2 ** -126;

export interface FloatSegmentOnnxOptions {
  name?: string;
  metadata?: Record<string, string>;
  /** How the integer stretches are written: 'qdq' (default) or 'integer'. */
  form?: 'qdq' | 'integer';
}

/** Whether a chain has float-segment layers (and so needs this exporter). */
export function hasFloatSegments(layers: readonly Int8Layer[]): boolean {
  return layers.some((l) => l.kind === 'dynamicLinear' || l.kind === 'weightOnlyLinear' || l.kind === 'weightOnlyConv2d');
}

/**
 * The parts of a chain with float segments. `plans` are planInt8Model(spec)'s (the caller has
 * validated the spec); `labels` name layers by their index in the whole chain.
 */
export function floatSegmentChainParts(spec: Int8ModelSpec, plans: readonly LayerPlan[], opts: FloatSegmentOnnxOptions, labels: NodeLabels): OnnxParts {
  const { fn } = labels;
  const nodes: NodeMessage[] = [];
  const inits: TensorMessage[] = [];
  const constant = (name: string, type: DataTypeCode, dims: readonly number[], vals: ArrayLike<number>) => {
    inits.push(tensor(name, type, dims, vals));
    return name;
  };
  const emit = (op: string, name: string, inputs: string[], attrs: Record<string, AttributeValue> = {}) => {
    const out = `${name}.${op}`;
    nodes.push(node(op, `${name} ${op}`, inputs, [out], attrs));
    return out;
  };
  const scalar = (name: string, v: number) => constant(name, DataType.FLOAT, [], [v]);

  const dynamicLinear = (l: DynamicLinearLayer, x: string, name: string): string => {
    const [O, K] = l.weightShape;
    const { qmin, qmax } = DYNAMIC_ACTIVATION_RANGES[l.activation];
    const reduce: Record<string, AttributeValue> = l.granularity === 'row' ? { axes: [1], keepdims: 1 } : { keepdims: 1 };
    const zero = scalar(`${name}.zero`, 0);
    const lo = emit('Min', `${name}.lo`, [emit('ReduceMin', name, [x], reduce), zero]);
    const hi = emit('Max', `${name}.hi`, [emit('ReduceMax', name, [x], reduce), zero]);
    const range = emit('Sub', `${name}.range`, [hi, lo]);
    const raw = emit('Max', `${name}.scale`, [emit('Div', `${name}.scale`, [range, scalar(`${name}.levels`, qmax - qmin)]), scalar(`${name}.min_scale`, MIN_NORMAL_FLOAT32)]);
    const s = emit('Where', `${name}.scale`, [emit('Equal', `${name}.range`, [range, zero]), scalar(`${name}.one`, 1), raw]);
    const qminT = scalar(`${name}.qmin`, qmin), qmaxT = scalar(`${name}.qmax`, qmax);
    const zp = emit('Round', `${name}.zero_point`, [emit('Clip', `${name}.zero_point`, [emit('Sub', `${name}.zero_point`, [qminT, emit('Div', `${name}.zero_point`, [lo, s])]), qminT, qmaxT])]);
    const xq = emit('Clip', `${name}.x_q`, [emit('Add', `${name}.x_q`, [emit('Round', `${name}.x_q`, [emit('Div', `${name}.x_q`, [x, s])]), zp]), qminT, qmaxT]);
    const xc = emit('Cast', `${name}.x_c`, [emit('Sub', `${name}.x_c`, [xq, zp])], { to: DataType.INT32 });
    const wT = new Int8Array(K * O);
    for (let o = 0; o < O; o++) for (let k = 0; k < K; k++) wT[k * O + o] = l.weight[o * K + k];
    const w = emit('Cast', `${name}.weight`, [constant(`${name}.weight_q`, DataType.INT8, [K, O], wT)], { to: DataType.INT32 });
    const acc = emit('Cast', `${name}.acc`, [emit('MatMul', name, [xc, w])], { to: DataType.FLOAT });
    const scale = emit('Mul', `${name}.out_scale`, [s, constant(`${name}.weight_scale`, DataType.FLOAT, [1, O], l.weightScale)]);
    const y = emit('Mul', `${name}.out`, [acc, scale]);
    return l.bias ? emit('Add', `${name}.bias`, [y, constant(`${name}.bias`, DataType.FLOAT, [O], l.bias)]) : y;
  };

  const weightOnly = (l: WeightOnlyLinearLayer | WeightOnlyConv2dLayer, x: string, name: string, rank: number, where: string): string => {
    const O = l.weightShape[0];
    const K = l.weight.length / O;
    const g = l.groupSize, G = groupCount(K, g);
    const padded = new Int8Array(O * G * g); // the short last group padded with levels the Slice drops
    for (let o = 0; o < O; o++) padded.set(l.weight.subarray(o * K, (o + 1) * K), o * G * g);
    const q = emit('Cast', `${name}.weight_levels`, [constant(`${name}.weight_q`, DataType.INT8, [O, G, g], padded)], { to: DataType.FLOAT });
    const centered = emit('Sub', `${name}.weight_centered`, [q, constant(`${name}.weight_zero_point`, DataType.FLOAT, [O, G, 1], Float32Array.from(l.weightZeroPoint))]);
    let w = emit('Reshape', `${name}.weight_rows`, [
      emit('Mul', `${name}.weight`, [centered, constant(`${name}.weight_scale`, DataType.FLOAT, [O, G, 1], l.weightScale)]),
      constant(`${name}.rows_shape`, DataType.INT64, [2], [O, G * g]),
    ]);
    if (G * g !== K) w = emit('Slice', `${name}.weight_rows`, [w, constant(`${name}.starts`, DataType.INT64, [1], [0]), constant(`${name}.ends`, DataType.INT64, [1], [K]), constant(`${name}.axes`, DataType.INT64, [1], [1])]);
    const b = l.bias ? [constant(`${name}.bias`, DataType.FLOAT, [O], l.bias)] : [];
    if (l.kind === 'weightOnlyLinear') {
      if (rank !== 2) throw new OnnxExportError(`${fn}: ${where} gets a rank-${rank} input; put a flatten before it`);
      return emit('Gemm', name, [x, w, ...b], { transB: 1 });
    }
    const wConv = emit('Reshape', `${name}.weight_kernel`, [w, constant(`${name}.kernel_shape`, DataType.INT64, [4], l.weightShape)]);
    const [ph, pw] = l.padding;
    return emit('Conv', name, [x, wConv, ...b], { kernel_shape: l.weightShape.slice(2), strides: l.stride, pads: [ph, pw, ph, pw], dilations: l.dilation, group: l.groups });
  };

  let current = 'input';
  for (let i = 0; i < spec.layers.length; i++) {
    const layer = spec.layers[i], p = plans[i];
    const where = labels.label(`layer${i}`, i, layer.kind);
    const name = labels.prefix(`layer${i}`, i, layer.kind);
    const rank = 1 + p.inShape.length;
    switch (layer.kind) {
      case 'quantize': {
        // An integer stretch: this quantize up to the next dequantize, exported as a chain of its own.
        let j = i;
        while (j < spec.layers.length && spec.layers[j].kind !== 'dequantize') j++;
        if (j === spec.layers.length) throw new OnnxExportError(`${fn}: ${where} starts levels that no dequantize turns back into float`);
        const stretch = graphFromChain({ inputShape: p.inShape, layers: spec.layers.slice(i, j + 1) });
        const offset = i;
        const stretchLabels: NodeLabels = {
          ...labels,
          label: (_n, k, kind) => labels.label(`layer${k + offset}`, k + offset, kind),
          prefix: (_n, k, kind) => labels.prefix(`layer${k + offset}`, k + offset, kind),
        };
        const parts = int8GraphOnnxParts(stretch, { ...(opts.form ? { form: opts.form } : {}) }, stretchLabels);
        const out = `${labels.prefix(`layer${j}`, j, 'dequantize')}.float`;
        const rename = (t: string) => (t === 'input' ? current : t === 'output' ? out : t);
        for (const m of parts.graph.nodes) {
          m.input = m.input.map(rename);
          m.output = m.output.map(rename);
          nodes.push(m);
        }
        inits.push(...parts.graph.initializers);
        current = out;
        i = j;
        continue;
      }
      case 'relu':
        current = emit('Relu', name, [current]);
        break;
      case 'maxpool2d': {
        const [ph, pw] = layer.padding;
        current = emit('MaxPool', name, [current], { kernel_shape: layer.kernel, strides: layer.stride, pads: [ph, pw, ph, pw], dilations: layer.dilation ?? [1, 1] });
        break;
      }
      case 'flatten':
        current = emit('Flatten', name, [current], { axis: 1 });
        break;
      case 'dynamicLinear':
        if (rank !== 2) throw new OnnxExportError(`${fn}: ${where} gets a rank-${rank} input; put a flatten before it`);
        current = dynamicLinear(layer, current, name);
        break;
      case 'weightOnlyLinear':
      case 'weightOnlyConv2d':
        current = weightOnly(layer, current, name, rank, where);
        break;
      default:
        // conv2d, linear, dequantize on float input are refused by planInt8Model; this is a guard.
        throw new OnnxExportError(`${fn}: ${where} reads float values, which only a quantize or a float layer may`);
    }
  }
  if (current === 'input') throw new OnnxExportError(`${fn}: the chain computes nothing`);
  for (const m of nodes) {
    m.output = m.output.map((t) => (t === current ? 'output' : t));
    m.input = m.input.map((t) => (t === current ? 'output' : t));
  }
  const names = new Set<string>();
  for (const t of [...inits.map((x) => x.name), ...nodes.flatMap((m) => m.output)]) {
    if (names.has(t)) throw new OnnxExportError(`${fn}: internal error: ONNX tensor '${t}' is defined twice`);
    names.add(t);
  }
  const last = plans[plans.length - 1];
  const metadata = { ...(opts.metadata ?? {}), ...(spec.meta ? { 'qgrad.meta': JSON.stringify(spec.meta) } : {}), ...(opts.form === 'integer' ? { 'qgrad.form': 'integer' } : {}) };
  return {
    graph: {
      name: opts.name ?? 'qgrad-int8',
      nodes,
      initializers: inits,
      inputs: [valueInfo('input', DataType.FLOAT, ['N', ...spec.inputShape])],
      outputs: [valueInfo('output', DataType.FLOAT, ['N', ...last.outShape])],
      docString: `${labels.docString}; float segments (dynamic and weight-only layers) as float ONNX operators`,
    },
    metadata,
  };
}
