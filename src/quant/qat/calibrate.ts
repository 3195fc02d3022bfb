/**
 * Post-training quantization (seed document 003: static PTQ): run calibration batches through the
 * prepared model with observers on and fake quantization off, so every observer sees the float
 * activations; then switch to observers off, fake quantization on. The calibration method is the
 * activation observer's (max / moving average / histogram with 'max', 'percentile', 'mse', 'kl'),
 * chosen in the QConfig. Weights are observed from their current values. Any iterable of
 * {x, y} batches (nn/train.ts Batch) works; only x is read.
 */
import { tidy } from '../../tensor/scope.js';
import type { Device } from '../../tensor/backend.js';
import { noGrad } from '../../autograd/grad-mode.js';
import type { Module } from '../../nn/module.js';
import { batchInput, type Batch } from '../../nn/train.js';
import { setQuantState } from './prepare.js';

export function calibrate(model: Module, batches: Iterable<Omit<Batch, 'y'> & { y?: Batch['y'] }>, opts: { device?: Device; maxBatches?: number } = {}): number {
  model.eval();
  setQuantState(model, { observe: true, fakeQuant: false });
  let n = 0;
  noGrad(() => {
    for (const b of batches) {
      if (n >= (opts.maxBatches ?? Infinity)) break;
      tidy(() => {
        model.call(batchInput(b, opts.device));
      });
      n++;
    }
  });
  if (n === 0) throw new Error('calibrate: no calibration batches were given');
  setQuantState(model, { observe: false, fakeQuant: true });
  return n;
}
