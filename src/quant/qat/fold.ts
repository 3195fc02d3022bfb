/**
 * Batch-norm folding for inference (seed document 000; Jacob et al. 2018 §3.2):
 *   BN(conv(x, w) + b) = conv(x, w·γ/σ) + (b − μ)·γ/σ + β,   σ = √(running_var + ε)
 * fuseConvBn replaces every Conv2d followed by BatchNorm2d in a Sequential with one Conv2d holding
 * the folded weight and bias; in eval mode the outputs agree to float rounding.
 */
import { noGrad } from '../../autograd/grad-mode.js';
import * as F from '../../autograd/functional.js';
import { BatchNorm2d, Conv2d, Sequential } from '../../nn/layers.js';
import type { Module } from '../../nn/module.js';
import type { Tensor } from '../../tensor/tensor.js';
import { GraphModule, ModuleTree, type GraphNode } from '../../nn/graph/graph.js';

export function foldBatchNorm(weight: Tensor, bias: Tensor | null, bn: BatchNorm2d): { weight: Tensor; bias: Tensor } {
  return noGrad(() => {
    const O = weight.shape[0];
    const std = F.sqrt(F.add(bn.runningVar, bn.eps));
    const sf = bn.weight ? F.div(bn.weight, std) : F.div(1, std);
    const w = F.contiguous(F.mul(weight, F.reshape(sf, [O, 1, 1, 1])));
    let b = F.mul(F.sub(bias ?? F.mul(bn.runningMean, 0), bn.runningMean), sf);
    if (bn.bias) b = F.add(b, bn.bias);
    return { weight: w, bias: F.contiguous(b) };
  });
}

export function fuseConvBn(model: Sequential): Sequential {
  const kids = model.namedChildren();
  const out: Module[] = [];
  for (let i = 0; i < kids.length; i++) {
    const m = kids[i][1];
    const next = kids[i + 1]?.[1];
    if (m instanceof Conv2d && next instanceof BatchNorm2d) {
      const { weight, bias } = foldBatchNorm(m.weight, m.bias, next);
      const fused = new Conv2d(m.inChannels, m.outChannels, [m.weight.shape[2], m.weight.shape[3]], {
        stride: m.opts.stride, padding: m.opts.padding, dilation: m.opts.dilation, groups: m.opts.groups,
      });
      fused.weight.assign_(weight.to({ device: m.weight.device }));
      fused.bias!.assign_(bias.to({ device: m.weight.device }));
      out.push(fused);
      i++;
    } else out.push(m);
  }
  const s = new Sequential(...out);
  s.train(model.training);
  return s;
}

/**
 * fuseConvBn on a traced graph: every Conv2d whose only reader is a BatchNorm2d becomes one Conv2d
 * with the folded weight and bias (at the conv's path); the BN node disappears and its readers read
 * the fused conv. Other modules are shared with the input graph. In eval mode the outputs agree to
 * float rounding.
 */
export function fuseConvBnGraph(gm: GraphModule): GraphModule {
  const tree = new ModuleTree();
  const nodes: GraphNode[] = [];
  const rename = new Map<string, string>();
  const skip = new Set<string>();
  const registered = new Set<string>();
  const add = (path: string, m: Module) => {
    if (!registered.has(path)) {
      tree.addAt(path, m);
      registered.add(path);
    }
  };
  for (const n of gm.graph.nodes) {
    if (skip.has(n.name)) continue;
    if (n.op === 'input') {
      nodes.push({ ...n });
      continue;
    }
    const args = n.args.map((a) => rename.get(a) ?? a);
    if (n.op === 'call_function') {
      nodes.push({ ...n, args });
      continue;
    }
    const m = gm.moduleAt(n.target);
    const reader = gm.userCount(n.name) === 1 ? gm.graph.nodes.find((r) => r.op !== 'input' && r.args.includes(n.name)) : undefined;
    const bn = reader?.op === 'call_module' ? gm.moduleAt(reader.target) : null;
    if (m instanceof Conv2d && bn instanceof BatchNorm2d && reader) {
      const { weight, bias } = foldBatchNorm(m.weight, m.bias, bn);
      const fused = new Conv2d(m.inChannels, m.outChannels, [m.weight.shape[2], m.weight.shape[3]], {
        stride: m.opts.stride, padding: m.opts.padding, dilation: m.opts.dilation, groups: m.opts.groups,
      });
      fused.weight.assign_(weight.to({ device: m.weight.device }));
      fused.bias!.assign_(bias.to({ device: m.weight.device }));
      add(n.target, fused);
      nodes.push({ ...n, args, shape: reader.shape });
      rename.set(reader.name, n.name);
      skip.add(reader.name);
    } else {
      add(n.target, m);
      nodes.push({ ...n, args });
    }
  }
  const out = new GraphModule(tree, { nodes, output: rename.get(gm.graph.output) ?? gm.graph.output });
  out.train(gm.training);
  return out;
}
