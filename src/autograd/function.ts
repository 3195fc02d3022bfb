/**
 * Custom differentiable operations, in the style of torch.autograd.Function:
 *
 *   class Square extends Function {
 *     static override forward(ctx: Context, x: Tensor) { ctx.saveForBackward(x); return x.mul(x); }
 *     static override backward(ctx: Context, g: Tensor) { const [x] = ctx.savedTensors; return [g.mul(x).mul(2)]; }
 *   }
 *   const y = Square.apply(x);
 *
 * (`static override`: the project compiles with noImplicitOverride. The same example, compiled and
 * run by the test suite, is examples/custom-function.ts.)
 *
 * forward runs with recording off and may use any tensor op; apply() records one graph node
 * for the whole Function when an input requires grad. backward returns one gradient per forward
 * argument (null for non-tensors or inputs that need none). Every built-in op uses this mechanism.
 */
import { Tensor, viewOf } from '../tensor/tensor.js';
import type { GradNode } from '../tensor/tensor.js';
import { shapeStr } from '../tensor/shape.js';
import { isGradEnabled, noGrad } from './grad-mode.js';

export class Context<A extends object = Record<string, unknown>> {
  private saved: Tensor[] | null = [];
  /** needsInputGrad[i]: whether forward's i-th argument is a tensor that needs a gradient. */
  needsInputGrad: boolean[] = [];
  /** Non-tensor state for backward (shapes, axes, options). */
  attrs: A = {} as A;

  saveForBackward(...tensors: Tensor[]): void {
    this.saved = tensors;
  }

  get savedTensors(): Tensor[] {
    if (this.saved === null) {
      throw new Error('trying to backward through the graph a second time (saved tensors were freed); pass { retainGraph: true } to the first backward()');
    }
    return this.saved;
  }

  /** Drops the saved tensors so their memory can be reclaimed after backward. */
  release(): void {
    this.saved = null;
  }
}

export type Grads = (Tensor | null | undefined)[] | Tensor | null;

// Structural types so subclasses' static methods can declare concrete argument types.
interface FunctionClass<Args extends unknown[]> {
  name: string;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  forward(ctx: Context<any>, ...args: Args): Tensor;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  backward(ctx: Context<any>, gradOutput: Tensor): Grads;
}

/** A recorded application of a Function: the edge list of the graph. */
export class Node implements GradNode {
  freed = false;
  constructor(
    readonly fn: FunctionClass<unknown[]>,
    readonly ctx: Context<object>,
    /** Forward's arguments: the tensors among them are the graph's edges. */
    readonly inputs: readonly unknown[],
    readonly outShape: readonly number[],
  ) {}
  get name(): string {
    return this.fn.name;
  }
}

export abstract class Function {
  static forward(_ctx: Context<object>, ..._args: unknown[]): Tensor {
    throw new Error(`${this.name}.forward is not implemented`);
  }

  static backward(_ctx: Context<object>, _gradOutput: Tensor): Grads {
    throw new Error(`${this.name}.backward is not implemented`);
  }

  static apply<Args extends unknown[]>(this: FunctionClass<Args>, ...args: Args): Tensor {
    const ctx = new Context();
    ctx.needsInputGrad = args.map((a) => a instanceof Tensor && a.requiresGrad);
    const record = isGradEnabled() && ctx.needsInputGrad.some(Boolean);
    let out = noGrad(() => this.forward(ctx, ...args));
    if (!(out instanceof Tensor)) throw new Error(`${this.name}.forward must return a Tensor`);
    if (!record) return out;
    // Never relabel an input as this op's output: give the output its own view.
    if (args.includes(out)) out = viewOf(out, out.shape, out.strides, out.offset);
    out.requiresGrad = true;
    out.gradFn = new Node(this as FunctionClass<unknown[]>, ctx, args, out.shape);
    return out;
  }
}

/** Normalises what backward returned into one entry per forward argument, checking shapes. */
export function normaliseGrads(node: Node, grads: Grads): (Tensor | null)[] {
  const list = grads instanceof Tensor || grads === null ? [grads] : grads;
  const n = node.inputs.length;
  if (list.length < n) {
    // Allow trailing non-tensor arguments to be omitted.
    for (let i = list.length; i < n; i++) {
      if (node.inputs[i] instanceof Tensor && (node.inputs[i] as Tensor).requiresGrad) {
        throw new Error(`${node.name}.backward returned ${list.length} gradients for ${n} inputs`);
      }
    }
  }
  return node.inputs.map((inp, i) => {
    const g = list[i] ?? null;
    if (!(inp instanceof Tensor) || g === null) return null;
    if (!(g instanceof Tensor)) throw new Error(`${node.name}.backward: gradient ${i} is not a Tensor`);
    if (g.shape.length !== inp.shape.length || g.shape.some((d, k) => d !== inp.shape[k])) {
      throw new Error(`${node.name}.backward: gradient ${i} has shape ${shapeStr(g.shape)} but its input has shape ${shapeStr(inp.shape)}`);
    }
    return g;
  });
}
