/**
 * ONNX export of a converted integer model (an Int8ModelSpec from convert()) in QDQ form
 * (docs/onnx.md explains the choice over QLinearConv/QLinearMatMul): every quantized tensor is
 * uint8/int8 in the graph, and each weighted layer is written as
 *
 *   x_q --DequantizeLinear(s_in, z_in)--> Conv/Gemm <-- DequantizeLinear(w_q int8, s_w[o], z_w[o], axis 0)
 *                                             ^------- DequantizeLinear(b_q int32, s_in·s_w[o], 0, axis 0)
 *        --> [Relu] --QuantizeLinear(s_out, z_out)--> y_q
 *
 * which is exactly the arithmetic the fake-quant forward simulates and convert() turns into
 * integers (ONNX spec: DequantizeLinear y = (x - x_zero_point) · x_scale, QuantizeLinear
 * y = saturate(round(x / y_scale) + y_zero_point), round half to even; per-axis forms since
 * opset 13). onnxruntime's QDQ transformer fuses DQ -> Conv -> [Relu] -> Q into QLinearConv and
 * runs it on integers, requantizing with a float multiplier; qgrad requantizes with TFLite's
 * fixed-point multiplier, so the two may differ by one level where the product lands near a tie.
 *
 *   quantize    QuantizeLinear(input, s, z)             (qgrad: round(x · float32(1/s)); ONNX: round(x / s))
 *   conv2d      as above, Conv with strides/pads/dilations/group
 *   linear      as above, Gemm transB=1
 *   maxpool2d   MaxPool directly on the levels (opset 12+ takes int8/uint8; max commutes with
 *               the increasing dequantization, so this is exact)
 *   relu        Clip(q, z, type max) on the levels: max(q, z) exactly as the integer engine does
 *   flatten     Flatten axis 1 on the levels
 *   dequantize  DequantizeLinear(q, s, z)  -> the float32 output
 *
 * The fused-ReLU clamp qmin = max(qmin, z_out) is expressed by the Relu before QuantizeLinear
 * (Relu then quantize gives levels >= z_out). ONNX's 8-bit types fix the clamp range to the full
 * type, so activations must use all of uint8 [0, 255] or int8 [-128, 127], and weight levels
 * must fit int8; anything else fails with an error naming the layer.
 * Node-free: returns the bytes.
 */
import type { Int8Layer, Int8ModelSpec, LinearLayer, Conv2dLayer } from '../int8/model.js';
import { planInt8Model } from '../int8/validate.js';
import { DataType, encodeModel, node, tensor, valueInfo, type DataTypeCode, type NodeMessage, type TensorMessage } from './onnx-proto.js';
import { OnnxExportError } from './onnx-float.js';

export interface Int8OnnxOptions {
  /** Graph name; default 'qgrad-int8'. */
  name?: string;
  /** Stored in the model's metadata_props (the spec's meta is added as JSON under 'qgrad.meta'). */
  metadata?: Record<string, string>;
}

/** The ONNX 8-bit type whose full range is [qmin, qmax], or null. */
function activationType(qmin: number, qmax: number): DataTypeCode | null {
  if (qmin === 0 && qmax === 255) return DataType.UINT8;
  if (qmin === -128 && qmax === 127) return DataType.INT8;
  return null;
}

export function exportInt8Onnx(spec: Int8ModelSpec, opts: Int8OnnxOptions = {}): Uint8Array {
  planInt8Model(spec); // validates the whole spec (shapes, ranges, zero points) with the engine's own checks
  const nodes: NodeMessage[] = [];
  const inits: TensorMessage[] = [];
  let current = 'input';
  // The levels' quantization as they flow: scale, zero point and ONNX type.
  let q: { scale: number; zeroPoint: number; type: DataTypeCode } | null = null;
  let rank = 1 + spec.inputShape.length;
  let outDims: (number | string)[] = ['N'];

  const constant = (name: string, type: DataTypeCode, dims: readonly number[], values: ArrayLike<number>) => {
    inits.push(tensor(name, type, dims, values));
    return name;
  };
  const add = (op: string, name: string, inputs: string[], attrs: Parameters<typeof node>[4] = {}) => {
    const out = `${name}.${op}`;
    nodes.push(node(op, `${name} ${op}`, inputs, [out], attrs));
    current = out;
    return out;
  };
  /** The output's ONNX type, and whether its clamp's lower end is a fused ReLU (qmin = z_out). */
  const outType = (l: { qmin: number; qmax: number; outZeroPoint: number }, where: string): { type: DataTypeCode; relu: boolean } => {
    const type = l.qmax === 255 ? DataType.UINT8 : l.qmax === 127 ? DataType.INT8 : null;
    const typeMin = type === DataType.UINT8 ? 0 : -128;
    const relu = l.qmin > typeMin && l.qmin === l.outZeroPoint;
    if (type === null || (l.qmin !== typeMin && !relu)) {
      throw new OnnxExportError(`exportInt8Onnx: ${where} clamps its output to [${l.qmin}, ${l.qmax}]; QDQ ONNX expresses only the full uint8 [0, 255] or int8 [-128, 127] range, optionally with a fused ReLU`);
    }
    return { type, relu };
  };

  const weighted = (l: Conv2dLayer | LinearLayer, i: number) => {
    const where = `layer ${i} (${l.kind})`;
    if (!q) throw new OnnxExportError(`exportInt8Onnx: ${where} comes before the quantize layer`);
    if (l.weightQmin < -128 || l.weightQmax > 127) throw new OnnxExportError(`exportInt8Onnx: ${where} has weight levels in [${l.weightQmin}, ${l.weightQmax}], which do not fit ONNX int8`);
    const name = `layer${i}_${l.kind}`;
    const O = l.weightShape[0];
    const sOut = l.outScale;
    if (sOut === undefined) throw new OnnxExportError(`exportInt8Onnx: ${where} has no outScale; re-run convert() (the QDQ graph needs the output scale)`);
    // Per-channel weight scales are not in the spec: recover s_w[o] from the multiplier,
    // M[o] = s_in·s_w[o]/s_out (Jacob et al. eq. 5), i.e. s_w[o] = M[o]·s_out/s_in.
    const wScale = Float32Array.from({ length: O }, (_, o) => (l.multiplier[o] * 2 ** (l.shift[o] - 31) * sOut) / q!.scale);
    const biasScale = Float32Array.from(wScale, (s) => Math.fround(q!.scale * s));
    const x = add('DequantizeLinear', `${name}.input`, [current, constant(`${name}.in_scale`, DataType.FLOAT, [], [q.scale]), constant(`${name}.in_zero_point`, q.type, [], [q.zeroPoint])]);
    const w = add('DequantizeLinear', `${name}.weight`, [
      constant(`${name}.weight_q`, DataType.INT8, l.weightShape, l.weight),
      constant(`${name}.weight_scale`, DataType.FLOAT, [O], wScale),
      constant(`${name}.weight_zero_point`, DataType.INT8, [O], l.weightZeroPoint),
    ], { axis: 0 });
    const b = l.bias
      ? [add('DequantizeLinear', `${name}.bias`, [
          constant(`${name}.bias_q`, DataType.INT32, [O], l.bias),
          constant(`${name}.bias_scale`, DataType.FLOAT, [O], biasScale),
          constant(`${name}.bias_zero_point`, DataType.INT32, [O], new Int32Array(O)),
        ], { axis: 0 })]
      : [];
    if (l.kind === 'conv2d') {
      const [ph, pw] = l.padding;
      add('Conv', name, [x, w, ...b], { kernel_shape: l.weightShape.slice(2), strides: l.stride, pads: [ph, pw, ph, pw], dilations: l.dilation, group: l.groups });
    } else {
      if (rank !== 2) throw new OnnxExportError(`exportInt8Onnx: ${where} gets a rank-${rank} input; put a flatten before it`);
      add('Gemm', name, [x, w, ...b], { transB: 1 });
      outDims = ['N', O];
    }
    const { type, relu } = outType(l, where);
    if (relu) add('Relu', name, [current]);
    add('QuantizeLinear', `${name}.output`, [current, constant(`${name}.out_scale`, DataType.FLOAT, [], [sOut]), constant(`${name}.out_zero_point`, type, [], [l.outZeroPoint])]);
    q = { scale: sOut, zeroPoint: l.outZeroPoint, type };
  };

  spec.layers.forEach((l: Int8Layer, i: number) => {
    const where = `layer ${i} (${l.kind})`;
    const name = `layer${i}_${l.kind}`;
    switch (l.kind) {
      case 'quantize': {
        const type = activationType(l.qmin, l.qmax);
        if (type === null) throw new OnnxExportError(`exportInt8Onnx: ${where} quantizes to [${l.qmin}, ${l.qmax}]; QDQ ONNX expresses only the full uint8 or int8 range`);
        add('QuantizeLinear', name, [current, constant(`${name}.scale`, DataType.FLOAT, [], [l.scale]), constant(`${name}.zero_point`, type, [], [l.zeroPoint])]);
        q = { scale: l.scale, zeroPoint: l.zeroPoint, type };
        break;
      }
      case 'conv2d':
      case 'linear':
        weighted(l, i);
        break;
      case 'maxpool2d': {
        const [ph, pw] = l.padding;
        add('MaxPool', name, [current], { kernel_shape: l.kernel, strides: l.stride, pads: [ph, pw, ph, pw], dilations: l.dilation ?? [1, 1] });
        break;
      }
      case 'relu': {
        const t = q!.type;
        add('Clip', name, [current, constant(`${name}.min`, t, [], [l.zeroPoint]), constant(`${name}.max`, t, [], [t === DataType.UINT8 ? 255 : 127])]);
        break;
      }
      case 'flatten':
        add('Flatten', name, [current], { axis: 1 });
        rank = 2;
        break;
      case 'dequantize':
        add('DequantizeLinear', name, [current, constant(`${name}.scale`, DataType.FLOAT, [], [l.scale]), constant(`${name}.zero_point`, q!.type, [], [l.zeroPoint])]);
        break;
      default:
        throw new OnnxExportError(`exportInt8Onnx: ${where} has no ONNX counterpart in this exporter`);
    }
  });
  nodes[nodes.length - 1].output = ['output'];
  const metadata = { ...(opts.metadata ?? {}), ...(spec.meta ? { 'qgrad.meta': JSON.stringify(spec.meta) } : {}) };
  return encodeModel(
    {
      name: opts.name ?? 'qgrad-int8',
      nodes,
      initializers: inits,
      inputs: [valueInfo('input', DataType.FLOAT, ['N', ...spec.inputShape])],
      outputs: [valueInfo('output', DataType.FLOAT, outDims)],
      docString: 'integer model exported by qgrad in QDQ form (QuantizeLinear/DequantizeLinear around Conv and Gemm)',
    },
    '0.1.0',
    metadata,
  );
}
