/**
 * Adam (Kingma & Ba 2015) and AdamW (Loshchilov & Hutter 2019), as torch.optim.Adam/AdamW:
 *   Adam:  g ← g + λ·p          AdamW: p ← p·(1 − lr·λ)   (decoupled weight decay)
 *   m ← β1·m + (1 − β1)·g,   v ← β2·v + (1 − β2)·g²
 *   p ← p − (lr / (1 − β1ᵗ)) · m / (√v / √(1 − β2ᵗ) + ε)
 */
import { fromBuffer, type Tensor } from '../../tensor/tensor.js';
import { zerosLike } from '../../tensor/creation.js';
import { Optimizer } from './optimizer.js';

export interface AdamOptions {
  lr?: number;
  betas?: [number, number];
  eps?: number;
  weightDecay?: number;
}

interface H {
  lr: number;
  betas: [number, number];
  eps: number;
  weightDecay: number;
  decoupled: boolean;
}

export class Adam extends Optimizer<H> {
  constructor(params: Tensor[], opts: AdamOptions = {}, decoupled = false) {
    // `?? default` rather than spreading opts, so an option passed as undefined takes its default.
    super(params, { lr: opts.lr ?? 1e-3, betas: opts.betas ?? [0.9, 0.999], eps: opts.eps ?? 1e-8, weightDecay: opts.weightDecay ?? (decoupled ? 1e-2 : 0), decoupled });
    const { betas: [b1, b2], eps, weightDecay } = this.groups[0].hyper;
    // The checks of torch.optim.Adam: beta = 1 would divide by a zero bias correction.
    if (!(b1 >= 0 && b1 < 1)) throw new Error(`${this.constructor.name}: invalid beta1 ${b1} (must be in [0, 1))`);
    if (!(b2 >= 0 && b2 < 1)) throw new Error(`${this.constructor.name}: invalid beta2 ${b2} (must be in [0, 1))`);
    if (!(eps >= 0)) throw new Error(`${this.constructor.name}: invalid eps ${eps}`);
    if (!(weightDecay >= 0)) throw new Error(`${this.constructor.name}: invalid weight decay ${weightDecay}`);
  }

  protected update(p: Tensor, grad: Tensor, st: Record<string, Tensor | number>, h: H): void {
    const [b1, b2] = h.betas;
    const t = ((st.step as number | undefined) ?? 0) + 1;
    st.step = t;
    if (this.fusedUpdate(p, grad, st, h, t)) return;
    let g = grad;
    if (h.weightDecay && !h.decoupled) g = g.add(p.mul(h.weightDecay));
    if (h.weightDecay && h.decoupled) p.assign_(p.mul(1 - h.lr * h.weightDecay));
    const m = this.setState(st, 'expAvg', ((st.expAvg as Tensor | undefined) ?? zerosLike(p)).mul(b1).add(g.mul(1 - b1)));
    const v = this.setState(st, 'expAvgSq', ((st.expAvgSq as Tensor | undefined) ?? zerosLike(p)).mul(b2).add(g.square().mul(1 - b2)));
    const bc1 = 1 - Math.pow(b1, t), bc2 = 1 - Math.pow(b2, t);
    const denom = v.sqrt().div(Math.sqrt(bc2)).add(h.eps);
    p.assign_(p.sub(m.div(denom).mul(h.lr / bc1)));
  }

  /**
   * The same step as one loop where the backend has it (Backend.adamUpdate: the cpu-side
   * backends, float32 and float64, the same bits as the ops above); false otherwise.
   */
  private fusedUpdate(p: Tensor, grad: Tensor, st: Record<string, Tensor | number>, h: H, t: number): boolean {
    const b = p.backend, m = st.expAvg as Tensor | undefined, v = st.expAvgSq as Tensor | undefined;
    if (!b.adamUpdate || !this.fusable(p, grad, m, v)) return false;
    const [beta1, beta2] = h.betas;
    const r = b.adamUpdate(p.buffer, grad.buffer, m ? m.buffer : null, v ? v.buffer : null, p.size, {
      lr: h.lr, beta1, beta2, eps: h.eps, weightDecay: h.weightDecay, decoupled: h.decoupled, step: t,
    });
    if (!r) return false;
    this.setState(st, 'expAvg', fromBuffer(b, r.m, p.shape));
    this.setState(st, 'expAvgSq', fromBuffer(b, r.v, p.shape));
    p.assign_(fromBuffer(b, r.p, p.shape));
    return true;
  }
}

export class AdamW extends Adam {
  constructor(params: Tensor[], opts: AdamOptions = {}) {
    super(params, opts, true);
  }
}
