/**
 * trace(model, example): runs the model's forward once on an example input and records it as a
 * Graph (torch.jit.trace / torch.fx's symbolic tracing, done with real tensors).
 *
 * How it sees the forward: Module.call asks the active tracer (context.ts). A leaf module (the
 * built-in layers, plus any class in `leafModules`) becomes one call_module node and runs with
 * recording off; any other module is entered, so its own forward is traced through. The qf ops
 * (functional.ts) record call_function nodes. Each recorded output tensor is mapped to its node,
 * by identity, so a tensor used twice is one node read twice.
 *
 * What it cannot see, it refuses:
 *   - a tensor reaching a recorded call that no recorded call produced (a Tensor method or F.*
 *     op between modules, a constant, a parameter used directly): the error names the consumer
 *     and the module whose forward made the tensor;
 *   - data-dependent control flow: the forward is traced again on other inputs (by default the
 *     negated example) and the graphs must be identical, else the first difference is reported;
 *   - a module that is not part of the traced model's tree (its path would be unknown).
 * Tracing runs in eval mode without recording gradients (batch-norm statistics are not touched)
 * and restores the training flags after.
 */
import { Tensor } from '../../tensor/tensor.js';
import { noGrad } from '../../autograd/grad-mode.js';
import * as F from '../../autograd/functional.js';
import { AvgPool2d, BatchNorm, Conv2d, Dropout, Flatten, Identity, Linear, MaxPool2d, ReLU } from '../layers.js';
import type { Module } from '../module.js';
import { withTracer, type FunctionCall, type TraceHooks } from './context.js';
import { GraphModule, type Graph, type GraphNode } from './graph.js';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type ModuleClass = abstract new (...args: any[]) => Module;

export const DEFAULT_LEAF_MODULES: readonly ModuleClass[] = [Conv2d, Linear, BatchNorm, ReLU, MaxPool2d, AvgPool2d, Flatten, Dropout, Identity];

export interface TraceOptions {
  /** Module classes recorded as single nodes besides the built-in layers. */
  leafModules?: readonly ModuleClass[];
  /**
   * Other inputs (same shape as the example) on which the forward must record the same graph.
   * Default: the negated example. Pass [] to skip the check.
   */
  checkInputs?: readonly Tensor[];
}

class Tracer implements TraceHooks {
  readonly nodes: GraphNode[] = [];
  private readonly values = new Map<Tensor, string>();
  private readonly taken = new Set<string>();
  private readonly scope: string[] = [];
  private readonly paths = new Map<Module, string>();

  constructor(root: Module, private readonly leaves: readonly ModuleClass[], input: Tensor) {
    for (const [path, m] of root.namedModules()) if (!this.paths.has(m)) this.paths.set(m, path);
    this.nodes.push({ op: 'input', name: 'input', shape: [...input.shape] });
    this.taken.add('input');
    this.values.set(input, 'input');
  }

  private isLeaf(m: Module): boolean {
    return this.leaves.some((c) => m instanceof c);
  }

  private unique(base: string): string {
    let name = base, i = 1;
    while (this.taken.has(name)) name = `${base}_${i++}`;
    this.taken.add(name);
    return name;
  }

  private where(): string {
    const s = this.scope[this.scope.length - 1];
    return s === undefined ? 'the traced forward' : s === '' ? 'the top-level forward' : `the forward of '${s}'`;
  }

  private resolve(inputs: Tensor[], consumer: string): string[] {
    return inputs.map((t, i) => {
      if (!(t instanceof Tensor)) throw new Error(`trace: ${consumer}: input ${i} is not a Tensor`);
      const name = this.values.get(t);
      if (name === undefined) {
        throw new Error(
          `trace: ${consumer} received a tensor (input ${i}, shape [${t.shape.join(', ')}]) that no recorded operation produced: ` +
            `${this.where()} computed it with an operation the tracer cannot see (a Tensor method, an F.* call, a constant or a parameter used directly). ` +
            'Use the qf ops (qf.add, qf.mul, qf.cat, qf.flatten, qf.reshape, qf.globalAvgPool, qf.clamp, qf.relu) between modules, or list the module class in leafModules.',
        );
      }
      return name;
    });
  }

  private record(node: GraphNode, out: Tensor, consumer: string): Tensor {
    if (!(out instanceof Tensor)) throw new Error(`trace: ${consumer} did not return a Tensor`);
    this.nodes.push(node);
    this.values.set(out, node.name);
    return out;
  }

  callModule(m: Module, inputs: Tensor[], run: () => Tensor): Tensor {
    const path = this.paths.get(m);
    if (path === undefined) {
      throw new Error(`trace: a ${m.constructor.name} was called in ${this.where()} but is not registered in the traced model's module tree; register it as a child (this.module(name, m)) so it has a path`);
    }
    if (!this.isLeaf(m)) {
      this.scope.push(path);
      try {
        return run();
      } finally {
        this.scope.pop();
      }
    }
    const consumer = `module '${path || '<root>'}' (${m.constructor.name})`;
    const args = this.resolve(inputs, consumer);
    const out = withTracer(null, run);
    return this.record({ op: 'call_module', name: this.unique(path || 'root'), target: path, args, shape: [...out.shape] }, out, consumer);
  }

  callFunction(call: FunctionCall, out: Tensor): Tensor {
    const s = this.scope[this.scope.length - 1] ?? '';
    const consumer = `qf.${call.fn} in ${this.where()}`;
    const args = this.resolve(call.inputs, consumer);
    const attrs = JSON.parse(JSON.stringify(call.attrs)) as typeof call.attrs;
    return this.record({ op: 'call_function', name: this.unique(s ? `${s}.${call.fn}` : call.fn), fn: call.fn, args, attrs, shape: [...out.shape] }, out, consumer);
  }

  finish(out: Tensor, modelName: string): Graph {
    if (!(out instanceof Tensor)) throw new Error(`trace: the forward of ${modelName} did not return a Tensor`);
    const output = this.values.get(out);
    if (output === undefined) {
      throw new Error(`trace: the output of ${modelName} was produced by an operation the tracer cannot see (a Tensor method or F.* call after the last module); use the qf ops`);
    }
    if (output === 'input') throw new Error(`trace: ${modelName} returns its input unchanged; there is nothing to quantize`);
    return { nodes: this.nodes, output };
  }
}

function traceOnce(model: Module, x: Tensor, leaves: readonly ModuleClass[]): Graph {
  const tracer = new Tracer(model, leaves, x);
  const out = withTracer(tracer, () => model.call(x));
  return tracer.finish(out, model.constructor.name);
}

function nodeText(n: GraphNode | undefined): string {
  if (!n) return '(no node)';
  if (n.op === 'input') return `input [${n.shape.join(', ')}]`;
  const what = n.op === 'call_module' ? `module '${n.target}'` : `qf.${n.fn} ${JSON.stringify(n.attrs)}`;
  return `${n.name} = ${what}(${n.args.join(', ')}) -> [${n.shape.join(', ')}]`;
}

/** Trace `model` on `example` ([batch, ...]) into a GraphModule whose forward equals the model's. */
export function trace(model: Module, example: Tensor, opts: TraceOptions = {}): GraphModule {
  const leaves = [...DEFAULT_LEAF_MODULES, ...(opts.leafModules ?? [])];
  const modes = [...model.namedModules()].map(([, m]) => [m, m.training] as const);
  model.eval();
  let gm: GraphModule;
  try {
    gm = noGrad(() => {
      const graph = traceOnce(model, example, leaves);
      const others = opts.checkInputs ?? [F.neg(example)];
      for (const [k, other] of others.entries()) {
        const again = traceOnce(model, other, leaves);
        const len = Math.max(graph.nodes.length, again.nodes.length);
        for (let i = 0; i <= len; i++) {
          const a = i < len ? nodeText(graph.nodes[i]) : `output ${graph.output}`;
          const b = i < len ? nodeText(again.nodes[i]) : `output ${again.output}`;
          if (a !== b) {
            throw new Error(
              `trace: ${model.constructor.name} is not traceable: its forward records a different graph for check input ${k} ` +
                `(data-dependent control flow?). First difference at node ${i}: '${a}' with the example, '${b}' with the check input`,
            );
          }
        }
      }
      return new GraphModule(model, graph);
    });
  } finally {
    for (const [m, t] of modes) m.training = t;
  }
  gm.training = model.training;
  return gm;
}
