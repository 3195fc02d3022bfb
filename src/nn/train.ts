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
import { Tensor } from '../tensor/tensor.js';

/**
 * One batch of any dataset: inputs x (a Tensor, or a flat Float32Array with its shape xShape,
 * batch first) and integer class labels y. MnistLoader's batches are one kind of Batch; any
 * iterable of them (an array, a generator, a loader) feeds training, calibration and evaluation.
 */
export interface Batch {
  x: Tensor | Float32Array;
  xShape?: readonly number[];
  y: ArrayLike<number> | Tensor;
  /** Examples in the batch; default x's first dimension. */
  size?: number;
}

/** The batch's input as a tensor on `device` (validating xShape against the data). */
export function batchInput(b: Omit<Batch, 'y'>, device?: Device): Tensor {
  if (b.x instanceof Tensor) return device && b.x.device !== device ? b.x.to({ device }) : b.x;
  if (!b.xShape) throw new Error('batch: x is a Float32Array, so xShape (its shape, batch first) is required');
  const n = b.xShape.reduce((a, d) => a * d, 1);
  if (n !== b.x.length) throw new Error(`batch: xShape [${b.xShape.join(', ')}] needs ${n} values, x has ${b.x.length}`);
  return fromArray(b.x, b.xShape, { device });
}

/** Number of examples in a batch. */
export function batchSize(b: Omit<Batch, 'y'>): number {
  return b.size ?? (b.x instanceof Tensor ? b.x.shape[0] : b.xShape![0]);
}

function labelsOf(b: Batch): ArrayLike<number> {
  return b.y instanceof Tensor ? (b.y.toTypedArray() as ArrayLike<number>) : b.y;
}

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
export function trainEpoch(model: Module, opt: Optimizer<{ lr: number }>, batches: Iterable<Batch>, opts: TrainEpochOptions = {}): number {
  model.train();
  let total = 0, seen = 0, step = 0;
  const nb = opts.maxBatches ?? Infinity;
  for (const b of batches) {
    if (step >= nb) break;
    const loss = tidy(() => {
      opt.zeroGrad();
      const x = batchInput(b, opts.device);
      const l = F.crossEntropy(model.call(x), labelsOf(b));
      l.backward();
      opt.step();
      return l.item();
    });
    if (!Number.isFinite(loss)) throw new Error(`training diverged: loss is ${loss} at step ${step}`);
    const n = batchSize(b);
    total += loss * n;
    seen += n;
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
export function evaluate(model: Module, batches: Iterable<Batch>, opts: { device?: Device; forward?: (x: Float32Array, shape: readonly number[]) => Float32Array } = {}): EvalResult {
  model.eval();
  const perClass: { correct: number; count: number }[] = [];
  const preds: number[] = [];
  let correct = 0, count = 0, lossSum = 0;
  noGrad(() => {
    for (const b of batches) {
      const size = batchSize(b);
      const labels = labelsOf(b);
      const logits = opts.forward
        ? opts.forward(b.x instanceof Tensor ? (b.x.toTypedArray() as Float32Array) : b.x, b.x instanceof Tensor ? b.x.shape : b.xShape!)
        : tidy(() => model.call(batchInput(b, opts.device)).toTypedArray() as Float32Array);
      const classes = logits.length / size;
      while (perClass.length < classes) perClass.push({ correct: 0, count: 0 });
      for (let i = 0; i < size; i++) {
        let best = 0, m = -Infinity, sum = 0;
        for (let c = 0; c < classes; c++) if (logits[i * classes + c] > m) { m = logits[i * classes + c]; best = c; }
        for (let c = 0; c < classes; c++) sum += Math.exp(logits[i * classes + c] - m);
        const y = labels[i];
        if (!Number.isInteger(y) || y < 0) throw new Error(`evaluate: label ${y} of example ${i} is not a class index`);
        while (perClass.length <= y) perClass.push({ correct: 0, count: 0 });
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
