/**
 * Optimizer base: parameter groups with their own hyper-parameters (lr is what schedulers change),
 * per-parameter state tensors owned by the optimizer, and zeroGrad. step() runs without recording
 * and replaces each parameter's data in place (Tensor.assign_), so modules keep their references.
 */
import { isContiguous } from '../../tensor/shape.js';
import type { Tensor } from '../../tensor/tensor.js';
import { zeroGrad } from '../../autograd/engine.js';
import { noGrad } from '../../autograd/grad-mode.js';

export interface ParamGroup<H> {
  params: Tensor[];
  hyper: H;
}

export abstract class Optimizer<H extends { lr: number }> {
  readonly groups: ParamGroup<H>[];
  protected readonly state = new Map<Tensor, Record<string, Tensor | number>>();

  constructor(params: Tensor[] | { params: Tensor[]; hyper?: Partial<H> }[], defaults: H) {
    if (!(defaults.lr >= 0)) throw new Error(`${this.constructor.name}: invalid learning rate ${defaults.lr}`);
    const list = Array.isArray(params) && (params.length === 0 || !('params' in params[0])) ? [{ params: params as Tensor[] }] : (params as { params: Tensor[]; hyper?: Partial<H> }[]);
    this.groups = list.map((g) => ({ params: g.params, hyper: { ...defaults, ...(g.hyper ?? {}) } }));
    if (this.groups.every((g) => g.params.length === 0)) throw new Error(`${this.constructor.name}: got an empty parameter list`);
  }

  get lr(): number {
    return this.groups[0].hyper.lr;
  }
  set lr(v: number) {
    for (const g of this.groups) g.hyper.lr = v;
  }

  zeroGrad(): void {
    for (const g of this.groups) zeroGrad(g.params);
  }

  step(): void {
    noGrad(() => {
      for (const g of this.groups) {
        for (const p of g.params) {
          if (!p.grad) continue;
          let st = this.state.get(p);
          if (!st) this.state.set(p, (st = {}));
          this.update(p, p.grad, st, g.hyper);
        }
      }
    });
  }

  /**
   * Whether a fused update loop may read p and these tensors (its gradient, its state) as flat
   * arrays of p's size: all on p's backend, in p's dtype, contiguous from offset 0.
   */
  protected fusable(p: Tensor, ...ts: (Tensor | undefined)[]): boolean {
    const flat = (t: Tensor) => t.backend === p.backend && t.dtype === p.dtype && t.size === p.size && t.offset === 0 && isContiguous(t.shape, t.strides);
    return flat(p) && ts.every((t) => !t || flat(t));
  }

  /** Replaces a state tensor, disposing the old one: the optimizer owns its state. */
  protected setState(st: Record<string, Tensor | number>, key: string, t: Tensor): Tensor {
    const old = st[key];
    t.keep();
    st[key] = t;
    if (typeof old === 'object' && old !== t && old.storage !== t.storage) old.dispose();
    return t;
  }

  protected abstract update(p: Tensor, grad: Tensor, st: Record<string, Tensor | number>, h: H): void;
}
