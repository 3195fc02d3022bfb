/**
 * ONNX export of a converted integer chain model (an Int8ModelSpec from convert()) in QDQ form
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
 *
 * A chain is a graph whose node i reads node i-1 (graphFromChain), so this is the graph exporter
 * (onnx-int8-graph.ts, which holds the arithmetic above) with errors naming layers by index. A
 * chain with float segments (dynamic and weight-only layers) goes through onnx-float-segments.ts,
 * which writes the float layers itself and each quantize ... dequantize stretch as above.
 * Node-free: returns the bytes.
 */
import type { Int8ModelSpec } from '../int8/model.js';
import { graphFromChain } from '../int8/graph.js';
import { planInt8Model } from '../int8/validate.js';
import { exportInt8GraphOnnx, type NodeLabels } from './onnx-int8-graph.js';
import { floatSegmentChainParts, hasFloatSegments } from './onnx-float-segments.js';
import { OnnxExportError } from './onnx-float.js';
import { encodeModel } from './onnx-proto.js';

export interface Int8OnnxOptions {
  /** Graph name; default 'qgrad-int8'. */
  name?: string;
  /** Stored in the model's metadata_props (the spec's meta is added as JSON under 'qgrad.meta'). */
  metadata?: Record<string, string>;
  /** 'qdq' (default) or 'integer' (bit-exact; see exportInt8GraphOnnx). */
  form?: 'qdq' | 'integer';
}

/** graphFromChain names layer i 'layer<i>'; errors and ONNX node names keep the chain's numbering. */
const CHAIN_LABELS: NodeLabels = {
  fn: 'exportInt8Onnx',
  label: (name, _i, kind) => `layer ${name.slice('layer'.length)} (${kind})`,
  prefix: (name, _i, kind) => `${name}_${kind}`,
  docString: 'integer model exported by qgrad in QDQ form (QuantizeLinear/DequantizeLinear around Conv and Gemm)',
};

export function exportInt8Onnx(spec: Int8ModelSpec, opts: Int8OnnxOptions = {}): Uint8Array {
  const plans = planInt8Model(spec); // validates the whole spec (shapes, ranges, zero points) with the chain engine's own checks
  if (hasFloatSegments(spec.layers)) {
    if (opts.form !== undefined && opts.form !== 'qdq' && opts.form !== 'integer') throw new OnnxExportError(`exportInt8Onnx: form must be 'qdq' or 'integer', got ${JSON.stringify(opts.form)}`);
    const { graph, metadata } = floatSegmentChainParts(spec, plans, opts, CHAIN_LABELS);
    return encodeModel(graph, '0.1.0', metadata);
  }
  return exportInt8GraphOnnx(graphFromChain(spec), { name: opts.name ?? 'qgrad-int8', ...(opts.metadata ? { metadata: opts.metadata } : {}), ...(opts.form ? { form: opts.form } : {}) }, CHAIN_LABELS);
}
