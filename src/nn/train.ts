/**
 * The classification training and evaluation loops every MNIST experiment shares. Each step runs
 * inside tidy(), so intermediates are freed every batch on every backend; parameters, gradients
 * and optimizer state are kept by their owners.
 */
import { fromArray } from '../tensor/creation.js';
import { tidy } from '../tensor/scope.js';
import type { Device } from '../tensor/backend.js';
import * as F from '../autograd/functional.js';
import { noGrad } from '../autograd/grad-mode.js';
import type { Module } from './module.js';
import type { Optimizer } from './optim/optimizer.js';
import type { MnistBatch } from './data/loader.js';

export interface StepInfo {
  step: number;
  loss: number;
  seen: number;
  batches: number;
}

export interface TrainEpochOptions {
  device?: Device;
  onStep?: (info: StepInfo) => void;
  /** Stop after this many batches (quick runs). */
  maxBatches?: number;
}

/** One epoch of minibatch training; returns the mean loss. */
export function trainEpoch(model: Module, opt: Optimizer<{ lr: number }>, batches: Iterable<MnistBatch>, opts: TrainEpochOptions = {}): number {
  model.train();
  let total = 0, seen = 0, step = 0;
  const nb = opts.maxBatches ?? Infinity;
  for (const b of batches) {
    if (step >= nb) break;
    const loss = tidy(() => {
      opt.zeroGrad();
      const x = fromArray(b.x, b.xShape, { device: opts.device });
      const l = F.crossEntropy(model.call(x), b.y);
      l.backward();
      opt.step();
      return l.item();
    });
    if (!Number.isFinite(loss)) throw new Error(`training diverged: loss is ${loss} at step ${step}`);
    total += loss * b.size;
    seen += b.size;
    step++;
    opts.onStep?.({ step, loss, seen, batches: step });
  }
  return total / Math.max(seen, 1);
}

export interface EvalResult {
  accuracy: number;
  loss: number;
  correct: number;
  count: number;
  perClass: { correct: number; count: number }[];
  predictions: Int32Array;
}

/** Accuracy, mean loss, per-class accuracy and every prediction, in eval mode without recording. */
export function evaluate(model: Module, batches: Iterable<MnistBatch>, opts: { device?: Device; forward?: (x: Float32Array, shape: readonly number[]) => Float32Array } = {}): EvalResult {
  model.eval();
  const perClass = Array.from({ length: 10 }, () => ({ correct: 0, count: 0 }));
  const preds: number[] = [];
  let correct = 0, count = 0, lossSum = 0;
  noGrad(() => {
    for (const b of batches) {
      const logits = opts.forward
        ? opts.forward(b.x, b.xShape)
        : tidy(() => model.call(fromArray(b.x, b.xShape, { device: opts.device })).toTypedArray() as Float32Array);
      const classes = logits.length / b.size;
      for (let i = 0; i < b.size; i++) {
        let best = 0, m = -Infinity, sum = 0;
        for (let c = 0; c < classes; c++) if (logits[i * classes + c] > m) { m = logits[i * classes + c]; best = c; }
        for (let c = 0; c < classes; c++) sum += Math.exp(logits[i * classes + c] - m);
        const y = b.y[i];
        lossSum += -(logits[i * classes + y] - m - Math.log(sum));
        preds.push(best);
        perClass[y].count++;
        if (best === y) { correct++; perClass[y].correct++; }
        count++;
      }
    }
  });
  return { accuracy: correct / Math.max(count, 1), loss: lossSum / Math.max(count, 1), correct, count, perClass, predictions: Int32Array.from(preds) };
}
