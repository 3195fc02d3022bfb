/**
 * Stochastic gradient descent with momentum, exactly as torch.optim.SGD:
 *   g ← g + λ·p                          (weight decay λ)
 *   b ← g (first step),  b ← μ·b + (1 − τ)·g (later)   (momentum μ, dampening τ)
 *   g ← g + μ·b (Nesterov)  or  g ← b
 *   p ← p − lr·g
 */
import { fromBuffer, type Tensor } from '../../tensor/tensor.js';
import { Optimizer } from './optimizer.js';

export interface SGDOptions {
  lr: number;
  momentum?: number;
  dampening?: number;
  nesterov?: boolean;
  weightDecay?: number;
}

type H = Required<SGDOptions>;

export class SGD extends Optimizer<H> {
  constructor(params: Tensor[], opts: SGDOptions) {
    const h: H = { lr: opts.lr, momentum: opts.momentum ?? 0, dampening: opts.dampening ?? 0, nesterov: opts.nesterov ?? false, weightDecay: opts.weightDecay ?? 0 };
    if (!(h.momentum >= 0)) throw new Error(`SGD: invalid momentum ${h.momentum}`);
    if (!(h.weightDecay >= 0)) throw new Error(`SGD: invalid weight decay ${h.weightDecay}`);
    if (h.nesterov && (h.momentum <= 0 || h.dampening !== 0)) throw new Error('SGD: Nesterov momentum requires a momentum and zero dampening');
    super(params, h);
  }

  protected update(p: Tensor, grad: Tensor, st: Record<string, Tensor | number>, h: H): void {
    if (this.fusedUpdate(p, grad, st, h)) return;
    let g = h.weightDecay ? grad.add(p.mul(h.weightDecay)) : grad;
    if (h.momentum) {
      const prev = st.momentumBuffer as Tensor | undefined;
      const buf = prev ? prev.mul(h.momentum).add(g.mul(1 - h.dampening)) : g.clone();
      this.setState(st, 'momentumBuffer', buf);
      g = h.nesterov ? g.add(buf.mul(h.momentum)) : buf;
    }
    p.assign_(p.sub(g.mul(h.lr)));
  }

  /**
   * The same step as one loop where the backend has it (Backend.sgdUpdate: the cpu-side
   * backends, float32 and float64, the same bits as the ops above); false otherwise.
   */
  private fusedUpdate(p: Tensor, grad: Tensor, st: Record<string, Tensor | number>, h: H): boolean {
    const b = p.backend, prev = h.momentum ? (st.momentumBuffer as Tensor | undefined) : undefined;
    if (!b.sgdUpdate || !this.fusable(p, grad, prev)) return false;
    const r = b.sgdUpdate(p.buffer, grad.buffer, prev ? prev.buffer : null, p.size, h);
    if (!r) return false;
    if (r.buf) this.setState(st, 'momentumBuffer', fromBuffer(b, r.buf, p.shape));
    p.assign_(fromBuffer(b, r.p, p.shape));
    return true;
  }
}
