/**
 * Reverse-mode differentiation. backward() orders the graph topologically once (a depth-first
 * post-order from the output), then walks it in reverse: each node receives the sum of the
 * gradients flowing into its output, calls its Function's backward, and passes the results to its
 * inputs. Leaves that require grad accumulate into .grad (which they own: it survives tidy()).
 * Afterwards the saved tensors are released, unless retainGraph is set.
 */
import { Tensor } from '../tensor/tensor.js';
import { shapeStr } from '../tensor/shape.js';
import * as raw from '../tensor/raw.js';
import { onesLike } from '../tensor/creation.js';
import { Node, normaliseGrads } from './function.js';
import { noGrad } from './grad-mode.js';

export interface BackwardOptions {
  retainGraph?: boolean;
}

function topoOrder(root: Node): Node[] {
  const order: Node[] = [];
  const seen = new Set<Node>();
  // Iterative DFS: networks can be deep enough to overflow a recursive one.
  const stack: [Node, boolean][] = [[root, false]];
  while (stack.length) {
    const [node, expanded] = stack.pop()!;
    if (expanded) {
      order.push(node);
      continue;
    }
    if (seen.has(node)) continue;
    seen.add(node);
    stack.push([node, true]);
    for (const inp of node.inputs) {
      if (inp instanceof Tensor && inp.gradFn instanceof Node && !seen.has(inp.gradFn)) stack.push([inp.gradFn, false]);
    }
  }
  return order; // inputs before outputs
}

/** Sums gradients arriving at one node. Intermediates are left to tidy()/GC: a backward may return tensors it does not own (its own input, a saved tensor), so the engine never disposes them. */
function accumulate(a: Tensor | undefined, b: Tensor): Tensor {
  return a ? raw.binary('add', a, b) : b;
}

export function backward(output: Tensor, gradOutput?: Tensor, opts: BackwardOptions = {}): void {
  if (!output.requiresGrad) throw new Error('backward: the tensor does not require grad and has no graph (did you forget requiresGrad, or call it under noGrad?)');
  let seed: Tensor;
  if (gradOutput === undefined) {
    if (output.size !== 1) {
      throw new Error(`backward: a gradient must be given for a non-scalar output (shape ${shapeStr(output.shape)}); implicit ones only for scalars`);
    }
    seed = onesLike(output);
  } else {
    if (gradOutput.shape.length !== output.shape.length || gradOutput.shape.some((d, i) => d !== output.shape[i])) {
      throw new Error(`backward: gradient shape ${shapeStr(gradOutput.shape)} does not match output shape ${shapeStr(output.shape)}`);
    }
    seed = gradOutput;
  }
  noGrad(() => {
    if (output.gradFn === null) {
      accumulateLeaf(output, seed);
      return;
    }
    const root = output.gradFn as Node;
    const order = topoOrder(root);
    const grads = new Map<Node, Tensor>([[root, seed]]);
    for (let i = order.length - 1; i >= 0; i--) {
      const node = order[i];
      const g = grads.get(node);
      grads.delete(node);
      if (!g) continue;
      if (node.freed) throw new Error(`backward: the graph through ${node.name} was already freed by an earlier backward(); pass { retainGraph: true } to the first one`);
      const inGrads = normaliseGrads(node, node.fn.backward(node.ctx, g));
      node.inputs.forEach((inp, k) => {
        const ig = inGrads[k];
        if (!(inp instanceof Tensor) || ig === null || !inp.requiresGrad) return;
        if (inp.gradFn instanceof Node) grads.set(inp.gradFn, accumulate(grads.get(inp.gradFn), ig));
        else accumulateLeaf(inp, ig);
      });
      if (!opts.retainGraph) {
        node.ctx.release();
        node.freed = true;
      }
    }
  });
}

/**
 * A leaf owns its .grad: always a fresh buffer (never a view of something else), kept out of
 * tidy() scopes, replaced (and the old one disposed) when gradients accumulate, and disposed by
 * zeroGrad(). Hold a copy if you need an old gradient.
 */
function accumulateLeaf(leaf: Tensor, g: Tensor): void {
  const prev = leaf.grad;
  leaf.grad = prev === null ? raw.unary('identity', g, leaf.dtype) : raw.cast(raw.binary('add', prev, g), leaf.dtype);
  leaf.grad.keep();
  prev?.dispose();
}

/** Drops (and frees) the gradients of these tensors. */
export function zeroGrad(tensors: Iterable<Tensor>): void {
  for (const t of tensors) {
    t.grad?.dispose();
    t.grad = null;
  }
}
