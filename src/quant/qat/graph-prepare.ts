/**
 * prepareQAT on a traced graph (PyTorch FX's prepare_qat_fx, simplified): every node of the float
 * graph becomes the node the integer engine will run, with FakeQuantize where that engine puts a
 * new scale and zero point:
 *
 *   input                                   -> QuantStub ('quant_stub')
 *   Conv2d [-> BatchNorm2d] [-> ReLU]       -> QConv2d / QConvBn2d, at the conv's path
 *   Linear [-> ReLU]                        -> QLinear
 *       (a BatchNorm2d / ReLU is fused only when it is the conv's sole reader, else the conv's
 *        value would be needed unfused as well)
 *   qf.add, qf.mul, qf.cat, qf.clamp         -> QFunctional with its own output quantizer
 *   AvgPool2d, qf.globalAvgPool              -> QAvgPool (keeps the input's grid)
 *   MaxPool2d, ReLU, qf.relu, Flatten, qf.flatten, qf.reshape, Dropout, Identity
 *                                            -> kept: they keep values on their input's grid
 * Anything else is an error naming the node, its module path and class. A weighted module called
 * twice is refused too (each call would need its own output quantizer). The quantized modules live
 * in a fresh ModuleTree at the float modules' paths and share the float parameter tensors (as
 * PyTorch's in-place prepare does). Layer overrides in QatConfig.layers are keyed by those paths
 * (module path for modules, node name such as 'layer1.add' for functional ops).
 */
import type { Tensor } from '../../tensor/tensor.js';
import { AvgPool2d, BatchNorm2d, Conv2d, Dropout, Flatten, Identity, Linear, MaxPool2d, ReLU } from '../../nn/layers.js';
import type { Module } from '../../nn/module.js';
import { GraphModule, ModuleTree, type GraphNode } from '../../nn/graph/graph.js';
import { trace, type TraceOptions } from '../../nn/graph/trace.js';
import type { FakeQuantize } from '../fake-quantize-module.js';
import type { LayerQConfig, QatConfig } from './config.js';
import { QConv2d, QConvBn2d, QLinear, QuantStub } from './modules.js';
import { QAvgPool, QFunctional } from './functional-modules.js';

const SUPPORTED =
  'Conv2d [BatchNorm2d] [ReLU], Linear [ReLU], MaxPool2d, AvgPool2d, ReLU, Flatten, Dropout, Identity, and qf.add/mul/cat/clamp/relu/flatten/reshape/globalAvgPool';

type Pair = number | [number, number] | undefined;
const pair = (v: Pair, d: [number, number]): [number, number] => (v === undefined ? d : typeof v === 'number' ? [v, v] : v);

/** The quantizer whose grid each value of a prepared graph lies on (by node name). */
export function quantizerOf(gm: GraphModule, name: string): FakeQuantize {
  const n = gm.node(name);
  if (n.op === 'input') throw new Error(`quantizerOf: '${name}' is the float input`);
  if (n.op === 'call_function') return quantizerOf(gm, n.args[0]);
  const m = gm.moduleAt(n.target);
  if (m instanceof QuantStub || m instanceof QConv2d || m instanceof QConvBn2d || m instanceof QLinear || m instanceof QFunctional) return m.activationFq;
  if (m instanceof QAvgPool) return m.inputFq;
  return quantizerOf(gm, n.args[0]);
}

export function prepareQATGraph(float: GraphModule, config: QatConfig): GraphModule {
  const cfgFor = (key: string): LayerQConfig => config.layers?.[key] ?? config.default;
  const tree = new ModuleTree();
  const nodes: GraphNode[] = [];
  const rename = new Map<string, string>();
  const fqOf = new Map<string, FakeQuantize>();
  const registered = new Set<string>();
  const calls = new Map<string, number>();
  const fnodes = float.graph.nodes;
  const byName = new Map(fnodes.map((n) => [n.name, n]));
  const readers = (name: string) => fnodes.filter((n) => n.op !== 'input' && n.args.includes(name));
  const soleReader = (name: string): GraphNode | null => (float.userCount(name) === 1 ? readers(name)[0] ?? null : null);
  const consumed = new Set<string>();

  const input = fnodes[0];
  if (input.op !== 'input' || fnodes.filter((n) => n.op === 'input').length !== 1) throw new Error('prepareQAT: the graph must have exactly one input');
  const stub = new QuantStub(config.input ?? config.default);
  tree.addAt('quant_stub', stub);
  nodes.push({ ...input });
  nodes.push({ op: 'call_module', name: 'quant_stub', target: 'quant_stub', args: [input.name], shape: input.shape });
  rename.set(input.name, 'quant_stub');
  fqOf.set('quant_stub', stub.activationFq);

  const register = (path: string, m: Module) => {
    if (!registered.has(path)) {
      tree.addAt(path, m);
      registered.add(path);
    }
  };
  const argsOf = (n: GraphNode & { args: string[] }) => n.args.map((a) => rename.get(a) ?? a);
  const inFq = (args: string[], who: string): FakeQuantize => {
    const fq = fqOf.get(args[0]);
    if (!fq) throw new Error(`prepareQAT: ${who} reads '${args[0]}', which is not quantized`);
    return fq;
  };

  for (const n of fnodes) {
    if (n.op === 'input' || consumed.has(n.name)) continue;
    const args = argsOf(n);
    if (n.op === 'call_module') {
      const m = float.moduleAt(n.target);
      const who = `node '${n.name}' (module '${n.target}', ${m.constructor.name})`;
      if (m instanceof Conv2d || m instanceof Linear) {
        const count = (calls.get(n.target) ?? 0) + 1;
        calls.set(n.target, count);
        if (count > 1) throw new Error(`prepareQAT: ${who} is called more than once; each call needs its own output quantizer, so use one module per call`);
        let last = n.name;
        let bn: BatchNorm2d | null = null;
        let relu = false;
        let next = soleReader(last);
        if (m instanceof Conv2d && next?.op === 'call_module' && float.moduleAt(next.target) instanceof BatchNorm2d) {
          bn = float.moduleAt(next.target) as BatchNorm2d;
          consumed.add(next.name);
          last = next.name;
          next = soleReader(last);
        }
        if (next && ((next.op === 'call_module' && float.moduleAt(next.target) instanceof ReLU) || (next.op === 'call_function' && next.fn === 'relu'))) {
          relu = true;
          consumed.add(next.name);
          last = next.name;
        }
        const fq = inFq(args, who);
        const q = m instanceof Conv2d
          ? (bn ? new QConvBn2d(m, bn, cfgFor(n.target), fq, relu) : new QConv2d(m, cfgFor(n.target), fq, relu))
          : new QLinear(m, cfgFor(n.target), fq, relu);
        register(n.target, q);
        nodes.push({ op: 'call_module', name: n.name, target: n.target, args, shape: byName.get(last)!.shape });
        for (const f of [n.name, last]) rename.set(f, n.name);
        fqOf.set(n.name, q.activationFq);
      } else if (m instanceof MaxPool2d || m instanceof ReLU || m instanceof Flatten || m instanceof Dropout || m instanceof Identity) {
        register(n.target, m);
        nodes.push({ ...n, args });
        fqOf.set(n.name, inFq(args, who));
      } else if (m instanceof AvgPool2d) {
        const o = m.opts;
        if (o.padding !== undefined && pair(o.padding, [0, 0]).some((p) => p !== 0)) throw new Error(`prepareQAT: ${who} uses padding, which the integer average pool does not support`);
        const k = pair(m.kernelSize, [1, 1]);
        const q = new QAvgPool({ kernel: k, stride: pair(o.stride, k) }, inFq(args, who));
        register(n.target, q);
        nodes.push({ ...n, args });
        fqOf.set(n.name, q.inputFq);
      } else if (m instanceof BatchNorm2d) {
        throw new Error(`prepareQAT: ${who} does not directly follow a Conv2d whose only reader it is, so it cannot be folded; no quantized form`);
      } else {
        throw new Error(`prepareQAT: no quantized form for ${who}; supported: ${SUPPORTED}`);
      }
    } else {
      const who = `node '${n.name}' (qf.${n.fn})`;
      switch (n.fn) {
        case 'relu':
        case 'flatten':
        case 'reshape':
          nodes.push({ ...n, args });
          fqOf.set(n.name, inFq(args, who));
          break;
        case 'globalAvgPool': {
          const q = new QAvgPool({ kernel: null, stride: [1, 1] }, inFq(args, who));
          register(n.name, q);
          nodes.push({ op: 'call_module', name: n.name, target: n.name, args, shape: n.shape });
          fqOf.set(n.name, q.inputFq);
          break;
        }
        case 'add':
        case 'mul':
        case 'cat':
        case 'clamp': {
          for (const a of args) inFq([a], who);
          const q = new QFunctional(n.fn, n.attrs, cfgFor(n.name));
          register(n.name, q);
          nodes.push({ op: 'call_module', name: n.name, target: n.name, args, shape: n.shape });
          fqOf.set(n.name, q.activationFq);
          break;
        }
        default:
          throw new Error(`prepareQAT: no quantized form for ${who}; supported: ${SUPPORTED}`);
      }
    }
  }
  const output = rename.get(float.graph.output) ?? float.graph.output;
  const gm = new GraphModule(tree, { nodes, output });
  gm.train(float.training);
  return gm;
}

export interface PrepareOptions {
  /** An example input [batch, ...] to trace the model with. */
  exampleInput: Tensor;
  trace?: TraceOptions;
}

/** Trace any Module and prepare it for QAT / PTQ: the quantization-aware GraphModule. */
export function prepareModuleQAT(model: Module, config: QatConfig, opts: PrepareOptions): GraphModule {
  const training = model.training;
  const gm = model instanceof GraphModule ? model : trace(model, opts.exampleInput, opts.trace);
  const q = prepareQATGraph(gm, config);
  q.train(training);
  return q;
}
