/**
 * ONNX export of a float model (eval-mode semantics). The model's forward is traced into a graph
 * (src/nn/graph/trace.ts; a GraphModule is taken as it is), and each traced node becomes the ONNX
 * operator it computes:
 *
 *   modules
 *   Conv2d          -> Conv (weight [O, C/g, KH, KW], bias, strides, pads [top, left, bottom, right], dilations, group)
 *   Linear          -> Gemm transB=1 on [N, features] (y = x·Wᵀ + b, W in PyTorch's [out, in] layout);
 *                      on a higher-rank input, MatMul with Wᵀ then Add b (torch.nn.Linear on the last dim)
 *   BatchNorm1d/2d  -> BatchNormalization with the running statistics (the eval-mode formula
 *                      y = (x - mean) / sqrt(var + eps) · γ + β, ONNX spec BatchNormalization-9/14/15)
 *   ReLU            -> Relu
 *   MaxPool2d       -> MaxPool (kernel_shape, strides, pads, dilations)
 *   AvgPool2d       -> AveragePool with count_include_pad=1 (qgrad divides by kh·kw, padding included,
 *                      PyTorch's default)
 *   Flatten         -> Flatten axis=1 for Flatten(1, -1), else Reshape to the traced shape
 *   Dropout, Identity: nothing (identity in eval mode)
 *   functional ops (qf)
 *   add, mul        -> Add, Mul (same shapes: no broadcasting)
 *   cat             -> Concat (axis = dim)
 *   flatten, reshape -> Flatten axis=1 / Reshape to [0, ...traced shape] (0 copies the batch dim, ONNX Reshape-13)
 *   globalAvgPool   -> GlobalAveragePool, Flatten axis=1 ([N, C, 1, 1] -> [N, C])
 *   clamp (relu6, hardtanh) -> Clip(min, max); relu -> Relu
 *
 * Anything else (an activation the exporter does not know, a QAT module — export its converted
 * int8 spec with exportInt8Onnx / exportInt8GraphOnnx instead) fails with an OnnxExportError naming
 * the op and the module path, before any bytes are built. For tracing, every module without
 * children counts as a leaf (so an unknown layer is reported by its path, not traced into).
 * The graph takes a float32 input [N, ...inputShape] with a symbolic batch dimension N.
 * Node-free: returns the bytes; the caller writes the file.
 */
import { AvgPool2d, BatchNorm, Conv2d, Dropout, Flatten, Identity, Linear, MaxPool2d, ReLU } from '../../nn/layers.js';
import type { Module } from '../../nn/module.js';
import { GraphModule, type GraphNode } from '../../nn/graph/graph.js';
import { trace, type ModuleClass } from '../../nn/graph/trace.js';
import { fromArray } from '../../tensor/creation.js';
import { Generator } from '../../tensor/random.js';
import type { Tensor } from '../../tensor/tensor.js';
import { FakeQuantize } from '../fake-quantize-module.js';
import { DataType, encodeModel, node, tensor, valueInfo, type AttributeValue, type NodeMessage, type TensorMessage } from './onnx-proto.js';

export interface FloatOnnxOptions {
  /** Shape of one example without the batch dimension, e.g. [1, 28, 28]. */
  inputShape: number[];
  /** Graph name; default 'qgrad'. */
  name?: string;
  /** Stored in the model's metadata_props. */
  metadata?: Record<string, string>;
  /** Module classes traced as single nodes besides the built-in layers (as trace's option). */
  leafModules?: readonly ModuleClass[];
}

type Pair = number | [number, number] | undefined;
const pair = (v: Pair, d: [number, number]): [number, number] => (v === undefined ? d : typeof v === 'number' ? [v, v] : v);

/** Thrown for an op the exporter cannot express; names the op and its module path. */
export class OnnxExportError extends Error {
  override readonly name = 'OnnxExportError';
}

const SUPPORTED =
  'modules Conv2d, Linear, BatchNorm1d/2d, ReLU, MaxPool2d, AvgPool2d, Flatten, Dropout, Identity; ' +
  'qf ops add, mul, cat, flatten, reshape, globalAvgPool, clamp/relu6/hardtanh, relu';

/** The model as a traced graph: a GraphModule as is, anything else traced on a zero example. */
function graphOf(model: Module, opts: FloatOnnxOptions): GraphModule {
  const shapeText = (s: readonly number[]) => `[${s.join(', ')}]`;
  // A QAT model is refused up front: its fake-quantizers have no float operator, and the
  // quantized model it stands for exports through convert() / convertGraph() in QDQ form.
  const modules = new Map(model.namedModules());
  for (const [path, m] of modules) {
    if (!(m instanceof FakeQuantize)) continue;
    const ownerPath = path.includes('.') ? path.slice(0, path.lastIndexOf('.')) : '';
    const owner = modules.get(ownerPath) ?? model;
    throw new OnnxExportError(
      `exportFloatOnnx: module '${ownerPath || '<root>'}' (${owner.constructor.name}) holds the fake-quantizer '${path}': ` +
        'a QAT model has no float ONNX form; export its converted integer model (exportInt8Onnx(convert(...)) or exportInt8GraphOnnx(convertGraph(...)))',
    );
  }
  if (model instanceof GraphModule) {
    const traced = model.graph.nodes[0].shape.slice(1);
    if (traced.length !== opts.inputShape.length || traced.some((d, i) => d !== opts.inputShape[i])) {
      throw new OnnxExportError(`exportFloatOnnx: inputShape ${shapeText(opts.inputShape)} differs from the shape the GraphModule was traced with, ${shapeText(traced)}`);
    }
    return model;
  }
  if (!opts.inputShape.every((d) => Number.isSafeInteger(d) && d > 0)) throw new OnnxExportError(`exportFloatOnnx: inputShape must hold positive integers, got ${shapeText(opts.inputShape)}`);
  // Childless modules are leaves: an unknown layer then becomes one node the exporter can name.
  const leaves = new Set<ModuleClass>(opts.leafModules ?? []);
  for (const [, m] of model.namedModules()) if (m !== model && m.namedChildren().length === 0) leaves.add(m.constructor as ModuleClass);
  // A seeded random example, and (trace's default check) its negation: a forward whose graph
  // depends on the data is refused rather than exported for one branch.
  const g = new Generator(0);
  const example = fromArray(Float32Array.from({ length: 2 * opts.inputShape.reduce((a, b) => a * b, 1) }, () => g.normal()), [2, ...opts.inputShape]);
  try {
    return trace(model, example, { leafModules: [...leaves] });
  } catch (error) {
    throw new OnnxExportError(`exportFloatOnnx: cannot trace ${model.constructor.name}: ${error instanceof Error ? error.message : String(error)}`);
  }
}

export function exportFloatOnnx(model: Module, opts: FloatOnnxOptions): Uint8Array {
  const gm = graphOf(model, opts);
  const nodes: NodeMessage[] = [];
  const inits: TensorMessage[] = [];
  const initNames = new Set<string>();
  /** ONNX tensor holding each traced node's value. */
  const env = new Map<string, string>();

  const constant = (name: string, dims: readonly number[], values: ArrayLike<number>, type: typeof DataType.FLOAT | typeof DataType.INT64 = DataType.FLOAT) => {
    // A module called twice (two nodes, one path) shares its initializers.
    if (!initNames.has(name)) {
      initNames.add(name);
      inits.push(tensor(name, type, dims, values));
    }
    return name;
  };
  const param = (name: string, t: Tensor) => constant(name, t.shape, t.toTypedArray());
  const emit = (op: string, name: string, inputs: string[], attrs: Record<string, AttributeValue> = {}) => {
    const out = `${name}:${op}`;
    nodes.push(node(op, `${name} ${op}`, inputs, [out], attrs));
    return out;
  };
  /** Reshape to the traced shape with the batch dim copied (0) or, when the batch dim is merged away, inferred (-1). */
  const reshapeTo = (name: string, x: string, n: GraphNode, keepsBatch: boolean) =>
    emit('Reshape', name, [x, constant(`${name}.shape`, [n.shape.length], keepsBatch ? [0, ...n.shape.slice(1)] : [-1, ...n.shape.slice(1)], DataType.INT64)]);

  const moduleNode = (n: Extract<GraphNode, { op: 'call_module' }>, x: string, inRank: number): string => {
    const m = gm.moduleAt(n.target);
    const path = n.target;
    const where = `module '${path}' (${m.constructor.name}, node '${n.name}')`;
    if (m instanceof Conv2d) {
      const o = m.opts;
      const [ph, pw] = pair(o.padding, [0, 0]);
      return emit('Conv', n.name, [x, param(`${path}.weight`, m.weight), ...(m.bias ? [param(`${path}.bias`, m.bias)] : [])], {
        kernel_shape: m.weight.shape.slice(2),
        strides: pair(o.stride, [1, 1]),
        pads: [ph, pw, ph, pw],
        dilations: pair(o.dilation, [1, 1]),
        group: o.groups ?? 1,
      });
    }
    if (m instanceof Linear) {
      if (inRank === 2) return emit('Gemm', n.name, [x, param(`${path}.weight`, m.weight), ...(m.bias ? [param(`${path}.bias`, m.bias)] : [])], { transB: 1 });
      // Gemm is 2-D only; on [..., in] Linear is a MatMul with Wᵀ [in, out] plus a broadcast bias.
      const [O, I] = m.weight.shape;
      const w = m.weight.toTypedArray();
      const wt = new Float32Array(I * O);
      for (let o = 0; o < O; o++) for (let i = 0; i < I; i++) wt[i * O + o] = w[o * I + i];
      const y = emit('MatMul', n.name, [x, constant(`${path}.weight_t`, [I, O], wt)]);
      return m.bias ? emit('Add', n.name, [y, param(`${path}.bias`, m.bias)]) : y;
    }
    if (m instanceof BatchNorm) {
      const C = m.numFeatures;
      const scale = m.weight ? param(`${path}.weight`, m.weight) : constant(`${path}.weight`, [C], new Float32Array(C).fill(1));
      const bias = m.bias ? param(`${path}.bias`, m.bias) : constant(`${path}.bias`, [C], new Float32Array(C));
      return emit('BatchNormalization', n.name, [x, scale, bias, param(`${path}.running_mean`, m.runningMean), param(`${path}.running_var`, m.runningVar)], { epsilon: { float: m.eps } });
    }
    if (m instanceof ReLU) return emit('Relu', n.name, [x]);
    if (m instanceof MaxPool2d) {
      const k = pair(m.kernelSize, [1, 1]);
      const [ph, pw] = pair(m.opts.padding, [0, 0]);
      return emit('MaxPool', n.name, [x], { kernel_shape: k, strides: pair(m.opts.stride, k), pads: [ph, pw, ph, pw], dilations: pair(m.opts.dilation, [1, 1]) });
    }
    if (m instanceof AvgPool2d) {
      const k = pair(m.kernelSize, [1, 1]);
      const [ph, pw] = pair(m.opts.padding, [0, 0]);
      return emit('AveragePool', n.name, [x], { kernel_shape: k, strides: pair(m.opts.stride, k), pads: [ph, pw, ph, pw], count_include_pad: 1 });
    }
    if (m instanceof Flatten) {
      const start = m.startDim < 0 ? inRank + m.startDim : m.startDim;
      const end = m.endDim < 0 ? inRank + m.endDim : m.endDim;
      return start === 1 && end === inRank - 1 ? emit('Flatten', n.name, [x], { axis: 1 }) : reshapeTo(n.name, x, n, start > 0);
    }
    if (m instanceof Dropout || m instanceof Identity) return x;
    throw new OnnxExportError(`exportFloatOnnx: ${where} has no ONNX operator in this exporter (supported: ${SUPPORTED})`);
  };

  const functionNode = (n: Extract<GraphNode, { op: 'call_function' }>, args: string[]): string => {
    const x = args[0];
    switch (n.fn) {
      case 'add': return emit('Add', n.name, args);
      case 'mul': return emit('Mul', n.name, args);
      case 'cat': return emit('Concat', n.name, args, { axis: n.attrs.dim as number });
      case 'flatten': return n.attrs.startDim === 1 ? emit('Flatten', n.name, [x], { axis: 1 }) : reshapeTo(n.name, x, n, true);
      case 'reshape': return reshapeTo(n.name, x, n, true);
      case 'globalAvgPool': return emit('Flatten', n.name, [emit('GlobalAveragePool', n.name, [x])], { axis: 1 });
      case 'clamp': return emit('Clip', n.name, [x, constant(`${n.name}.min`, [], [n.attrs.min as number]), constant(`${n.name}.max`, [], [n.attrs.max as number])]);
      case 'relu': return emit('Relu', n.name, [x]);
      default: {
        const fn: string = n.fn;
        throw new OnnxExportError(`exportFloatOnnx: qf.${fn} (node '${n.name}') has no ONNX operator in this exporter (supported: ${SUPPORTED})`);
      }
    }
  };

  const rankOf = new Map<string, number>();
  for (const n of gm.graph.nodes) {
    rankOf.set(n.name, n.shape.length);
    if (n.op === 'input') {
      env.set(n.name, 'input');
      continue;
    }
    const args = n.args.map((a) => env.get(a)!);
    env.set(n.name, n.op === 'call_module' ? moduleNode(n, args[0], rankOf.get(n.args[0])!) : functionNode(n, args));
  }
  const outNode = gm.node(gm.graph.output);
  const result = env.get(outNode.name)!;
  if (result === 'input' || !nodes.some((m) => m.output[0] === result)) {
    // The output is the input passed through identities only: write it through an Identity node.
    nodes.push(node('Identity', 'output Identity', [result], ['output']));
  } else {
    for (const m of nodes) {
      m.output = m.output.map((t) => (t === result ? 'output' : t));
      m.input = m.input.map((t) => (t === result ? 'output' : t));
    }
  }
  return encodeModel(
    {
      name: opts.name ?? 'qgrad',
      nodes,
      initializers: inits,
      inputs: [valueInfo('input', DataType.FLOAT, ['N', ...opts.inputShape])],
      outputs: [valueInfo('output', DataType.FLOAT, ['N', ...outNode.shape.slice(1)])],
      docString: 'float model exported by qgrad (eval-mode semantics)',
    },
    '0.1.0',
    opts.metadata,
  );
}
