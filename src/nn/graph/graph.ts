/**
 * A traced forward as data (torch.fx's Graph and GraphModule, reduced to what quantization needs).
 *
 *   input          the model's one tensor input
 *   call_module    a leaf module, by its dotted path in the module tree ('layer1.0.conv1')
 *   call_function  one of the qf ops (functional.ts) with its plain attributes
 *
 * Nodes are in execution order and name their inputs (`args`) by node name, so a value used
 * twice (the skip connection of a residual block) is simply named twice. `output` names the node
 * whose value the forward returns. Each node keeps the shape its value had while tracing.
 *
 * GraphModule runs a graph over a module tree. It registers the tree's top-level children under
 * their own names, so its state dict has exactly the keys of the model that was traced.
 */
import type { Tensor } from '../../tensor/tensor.js';
import { Module } from '../module.js';
import type { FunctionName } from './context.js';
import { applyFunction } from './functional.js';

export type Attrs = Record<string, number | number[]>;

export type GraphNode =
  | { op: 'input'; name: string; shape: number[] }
  | { op: 'call_module'; name: string; target: string; args: string[]; shape: number[] }
  | { op: 'call_function'; name: string; fn: FunctionName; args: string[]; attrs: Attrs; shape: number[] };

export interface Graph {
  nodes: GraphNode[];
  output: string;
}

/** A module that only holds children by name (the tree prepareQAT builds its quantized modules in). */
export class ModuleTree extends Module {
  forward(): Tensor {
    throw new Error('ModuleTree only holds modules; run it through a GraphModule');
  }
  /** Registers m at a dotted path, creating intermediate ModuleTrees as needed. */
  addAt(path: string, m: Module): void {
    const parts = path.split('.');
    let node: ModuleTree = this;
    for (const p of parts.slice(0, -1)) {
      const existing = node.namedChildren().find(([n]) => n === p)?.[1];
      if (existing && !(existing instanceof ModuleTree)) throw new Error(`ModuleTree: '${path}' would nest under module '${p}' (${existing.constructor.name})`);
      node = (existing as ModuleTree | undefined) ?? node.add(p, new ModuleTree());
    }
    const last = parts[parts.length - 1];
    if (node.namedChildren().some(([n]) => n === last)) throw new Error(`ModuleTree: a module is already registered at '${path}'`);
    node.add(last, m);
  }
  add<M extends Module>(name: string, m: M): M {
    return this.module(name, m);
  }
}

export class GraphModule extends Module {
  private readonly modules = new Map<string, Module>();
  private readonly users = new Map<string, number>();

  constructor(readonly root: Module, readonly graph: Graph) {
    super();
    for (const [name, child] of root.namedChildren()) this.module(name, child);
    for (const [path, m] of root.namedModules()) if (!this.modules.has(path)) this.modules.set(path, m);
    for (const n of graph.nodes) if (n.op !== 'input') for (const a of n.args) this.users.set(a, (this.users.get(a) ?? 0) + 1);
    this.training = root.training;
  }

  /** The module a call_module node runs. */
  moduleAt(path: string): Module {
    const m = this.modules.get(path);
    if (!m) throw new Error(`GraphModule: no module at '${path}'`);
    return m;
  }

  /** How many nodes read `name` (the output counts as one more reader). */
  userCount(name: string): number {
    return (this.users.get(name) ?? 0) + (name === this.graph.output ? 1 : 0);
  }

  node(name: string): GraphNode {
    const n = this.graph.nodes.find((x) => x.name === name);
    if (!n) throw new Error(`GraphModule: no node '${name}'`);
    return n;
  }

  forward(x: Tensor): Tensor {
    return this.run(x).get(this.graph.output)!;
  }

  /**
   * Every node's value for input x (the graph interpreter). `onValue` sees each value as it is
   * computed (tests compare fake-quant and integer nodes this way).
   */
  run(x: Tensor, onValue?: (node: GraphNode, value: Tensor) => void): Map<string, Tensor> {
    const env = new Map<string, Tensor>();
    for (const n of this.graph.nodes) {
      let v: Tensor;
      if (n.op === 'input') v = x;
      else {
        const args = n.args.map((a) => env.get(a)!);
        v = n.op === 'call_module' ? this.moduleAt(n.target).call(...args) : applyFunction(n.fn, args, n.attrs);
      }
      env.set(n.name, v);
      onValue?.(n, v);
    }
    return env;
  }

  /** One line per node: name, op, inputs, shape. */
  describe(): string {
    const lines = this.graph.nodes.map((n) => {
      const what = n.op === 'input' ? 'input' : n.op === 'call_module' ? `${this.moduleAt(n.target).constructor.name}(${n.args.join(', ')})` : `qf.${n.fn}(${n.args.join(', ')})${Object.keys(n.attrs).length ? ' ' + JSON.stringify(n.attrs) : ''}`;
      return `  ${n.name.padEnd(24)} ${what}  -> [${n.shape.join(', ')}]`;
    });
    return [`GraphModule(${this.root.constructor.name}), output ${this.graph.output}`, ...lines].join('\n');
  }

  protected override extraRepr(): string {
    return ` (${this.graph.nodes.length} nodes)`;
  }
}
