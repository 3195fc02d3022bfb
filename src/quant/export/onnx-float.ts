/**
 * ONNX export of a float model (eval-mode semantics), one ONNX operator per qgrad layer:
 *
 *   Conv2d       -> Conv (weight [O, C/g, KH, KW], bias, strides, pads [top, left, bottom, right], dilations, group)
 *   BatchNorm2d  -> BatchNormalization with the running statistics (the eval-mode formula
 *                   y = (x - mean) / sqrt(var + eps) · γ + β, ONNX spec BatchNormalization-9/14/15)
 *   ReLU         -> Relu
 *   MaxPool2d    -> MaxPool (kernel_shape, strides, pads, dilations)
 *   Flatten(1)   -> Flatten axis=1
 *   Linear       -> Gemm, transB=1 (y = x·Wᵀ + b with W in PyTorch's [out, in] layout)
 *   Dropout, Identity: nothing (identity in eval mode); nested Sequentials are walked in order.
 *
 * Anything else (an activation the exporter does not know, a QAT module — export its converted
 * int8 spec with exportInt8Onnx instead) fails with an error naming the module and its type.
 * The graph takes a float32 input [N, ...inputShape] with a symbolic batch dimension N.
 * Node-free: returns the bytes; the caller writes the file.
 */
import { BatchNorm2d, Conv2d, Dropout, Flatten, Identity, Linear, MaxPool2d, ReLU, Sequential } from '../../nn/layers.js';
import type { Module } from '../../nn/module.js';
import type { Tensor } from '../../tensor/tensor.js';
import { DataType, encodeModel, node, tensor, valueInfo, type NodeMessage, type TensorMessage } from './onnx-proto.js';

export interface FloatOnnxOptions {
  /** Shape of one example without the batch dimension, e.g. [1, 28, 28]. */
  inputShape: number[];
  /** Graph name; default 'qgrad'. */
  name?: string;
  /** Stored in the model's metadata_props. */
  metadata?: Record<string, string>;
}

type Pair = number | [number, number] | undefined;
const pair = (v: Pair, d: [number, number]): [number, number] => (v === undefined ? d : typeof v === 'number' ? [v, v] : v);

/** Thrown for a layer the exporter cannot express; names the layer's path and type. */
export class OnnxExportError extends Error {
  override readonly name = 'OnnxExportError';
}

const SUPPORTED = 'Conv2d, BatchNorm2d, ReLU, MaxPool2d, Flatten(1, -1), Linear, Dropout, Identity, Sequential';

export function exportFloatOnnx(model: Module, opts: FloatOnnxOptions): Uint8Array {
  const nodes: NodeMessage[] = [];
  const inits: TensorMessage[] = [];
  let current = 'input';
  let rank = 1 + opts.inputShape.length;
  let count = 0;
  const param = (name: string, t: Tensor) => {
    inits.push(tensor(name, DataType.FLOAT, t.shape, t.toTypedArray()));
    return name;
  };
  const emit = (op: string, path: string, inputs: string[], attrs: Parameters<typeof node>[4] = {}) => {
    const out = `${path}.${op.toLowerCase()}_${count++}`;
    nodes.push(node(op, `${path} ${op}`, [current, ...inputs], [out], attrs));
    current = out;
  };

  const visit = (m: Module, path: string): void => {
    const where = `layer '${path}' (${m.constructor.name})`;
    if (m instanceof Sequential) {
      for (const [n, c] of m.namedChildren()) visit(c, path ? `${path}.${n}` : n);
    } else if (m instanceof Conv2d) {
      if (rank !== 4) throw new OnnxExportError(`exportFloatOnnx: ${where} needs a rank-4 input, gets rank ${rank}`);
      const o = m.opts;
      const [ph, pw] = pair(o.padding, [0, 0]);
      emit('Conv', path, [param(`${path}.weight`, m.weight), ...(m.bias ? [param(`${path}.bias`, m.bias)] : [])], {
        kernel_shape: m.weight.shape.slice(2),
        strides: pair(o.stride, [1, 1]),
        pads: [ph, pw, ph, pw],
        dilations: pair(o.dilation, [1, 1]),
        group: o.groups ?? 1,
      });
    } else if (m instanceof BatchNorm2d) {
      const C = m.numFeatures;
      const scale = m.weight ? param(`${path}.weight`, m.weight) : (inits.push(tensor(`${path}.weight`, DataType.FLOAT, [C], new Float32Array(C).fill(1))), `${path}.weight`);
      const bias = m.bias ? param(`${path}.bias`, m.bias) : (inits.push(tensor(`${path}.bias`, DataType.FLOAT, [C], new Float32Array(C))), `${path}.bias`);
      emit('BatchNormalization', path, [scale, bias, param(`${path}.running_mean`, m.runningMean), param(`${path}.running_var`, m.runningVar)], { epsilon: { float: m.eps } });
    } else if (m instanceof ReLU) {
      emit('Relu', path, []);
    } else if (m instanceof MaxPool2d) {
      const k = pair(m.kernelSize, [1, 1]);
      const [ph, pw] = pair(m.opts.padding, [0, 0]);
      emit('MaxPool', path, [], { kernel_shape: k, strides: pair(m.opts.stride, k), pads: [ph, pw, ph, pw], dilations: pair(m.opts.dilation, [1, 1]) });
    } else if (m instanceof Flatten) {
      const end = m.endDim < 0 ? rank + m.endDim : m.endDim;
      if (m.startDim !== 1 || end !== rank - 1) throw new OnnxExportError(`exportFloatOnnx: ${where} flattens dims ${m.startDim}..${m.endDim}; only Flatten(1, -1) maps to ONNX Flatten`);
      emit('Flatten', path, [], { axis: 1 });
      rank = 2;
    } else if (m instanceof Linear) {
      if (rank !== 2) throw new OnnxExportError(`exportFloatOnnx: ${where} gets a rank-${rank} input; ONNX Gemm needs [N, features] (put a Flatten before it)`);
      emit('Gemm', path, [param(`${path}.weight`, m.weight), ...(m.bias ? [param(`${path}.bias`, m.bias)] : [])], { transB: 1 });
    } else if (m instanceof Dropout || m instanceof Identity) {
      // identity at inference
    } else {
      throw new OnnxExportError(`exportFloatOnnx: ${where} has no ONNX operator in this exporter (supported: ${SUPPORTED})`);
    }
  };
  visit(model, '');
  if (nodes.length === 0) throw new OnnxExportError('exportFloatOnnx: the model has no layers to export');
  // The last node writes the graph output.
  nodes[nodes.length - 1].output = ['output'];
  const outDims: (number | string)[] = rank === 2 ? ['N', lastFeatures(model) ?? 'M'] : ['N'];
  return encodeModel(
    {
      name: opts.name ?? 'qgrad',
      nodes,
      initializers: inits,
      inputs: [valueInfo('input', DataType.FLOAT, ['N', ...opts.inputShape])],
      outputs: [valueInfo('output', DataType.FLOAT, outDims)],
      docString: 'float model exported by qgrad (eval-mode semantics)',
    },
    '0.1.0',
    opts.metadata,
  );
}

/** The output width when the model ends in a Linear (for the output's declared shape). */
function lastFeatures(model: Module): number | undefined {
  let last: number | undefined;
  for (const [, m] of model.namedModules()) if (m instanceof Linear) last = m.outFeatures;
  return last;
}
