/**
 * Learning-rate schedules (torch.optim.lr_scheduler), stepped once per epoch (or per iteration,
 * if you count in iterations):
 *   StepLR:            lr = lr0 · γ^floor(t / stepSize)
 *   CosineAnnealingLR: lr = ηmin + (lr0 − ηmin) · (1 + cos(π t / Tmax)) / 2
 */
import type { Optimizer } from './optimizer.js';

export abstract class LRScheduler {
  protected t = 0;
  protected readonly base: number;
  /** Each parameter group's initial lr (PyTorch's base_lrs): groups are scheduled from their own. */
  protected readonly bases: number[];
  constructor(protected readonly opt: Optimizer<{ lr: number }>) {
    this.base = opt.lr;
    this.bases = opt.groups.map((g) => g.hyper.lr);
  }
  step(): void {
    this.t++;
    this.opt.groups.forEach((g, i) => (g.hyper.lr = this.lrAt(this.t, this.bases[i])));
  }
  get lastEpoch(): number {
    return this.t;
  }
  /** The lr at step t of a group that started at base (the first group's by default). */
  abstract lrAt(t: number, base?: number): number;
}

export class StepLR extends LRScheduler {
  constructor(opt: Optimizer<{ lr: number }>, readonly stepSize: number, readonly gamma = 0.1) {
    super(opt);
  }
  lrAt(t: number, base = this.base): number {
    return base * Math.pow(this.gamma, Math.floor(t / this.stepSize));
  }
}

export class CosineAnnealingLR extends LRScheduler {
  constructor(opt: Optimizer<{ lr: number }>, readonly tMax: number, readonly etaMin = 0) {
    super(opt);
    // tMax = 0 would divide by zero (lr NaN from the first step); PyTorch's T_max is a positive count.
    if (!Number.isSafeInteger(tMax) || tMax < 1) throw new Error(`CosineAnnealingLR: tMax must be a positive integer (steps in the cosine period), got ${String(tMax)}`);
    if (!Number.isFinite(etaMin) || etaMin < 0) throw new Error(`CosineAnnealingLR: etaMin must be a finite number >= 0, got ${String(etaMin)}`);
  }
  lrAt(t: number, base = this.base): number {
    return this.etaMin + ((base - this.etaMin) * (1 + Math.cos((Math.PI * Math.min(t, this.tMax)) / this.tMax))) / 2;
  }
}
