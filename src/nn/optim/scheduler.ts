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
  constructor(protected readonly opt: Optimizer<{ lr: number }>) {
    this.base = opt.lr;
  }
  step(): void {
    this.t++;
    this.opt.lr = this.lrAt(this.t);
  }
  get lastEpoch(): number {
    return this.t;
  }
  abstract lrAt(t: number): number;
}

export class StepLR extends LRScheduler {
  constructor(opt: Optimizer<{ lr: number }>, readonly stepSize: number, readonly gamma = 0.1) {
    super(opt);
  }
  lrAt(t: number): number {
    return this.base * Math.pow(this.gamma, Math.floor(t / this.stepSize));
  }
}

export class CosineAnnealingLR extends LRScheduler {
  constructor(opt: Optimizer<{ lr: number }>, readonly tMax: number, readonly etaMin = 0) {
    super(opt);
  }
  lrAt(t: number): number {
    return this.etaMin + ((this.base - this.etaMin) * (1 + Math.cos((Math.PI * Math.min(t, this.tMax)) / this.tMax))) / 2;
  }
}
