import { describe, expect, it } from 'vitest';
import { fromArray, Generator, manualSeed } from '../../src/index.js';
import { evaluate, Linear, ReLU, SGD, Sequential, trainEpoch, type Batch } from '../../src/nn/index.js';
import { calibrate, prepareQAT, qconfig, fakeQuantizers } from '../../src/quant/index.js';
import { prng } from '../helpers/arbitraries.js';

/** Three Gaussian blobs in 2-D as {x: Tensor, y} batches from a generator: no MNIST involved. */
function* blobs(seed: number, batches: number, n: number, asTensor: boolean): IterableIterator<Batch> {
  const rand = prng(seed);
  const centres = [[2, 0], [-2, 1], [0, -2]];
  for (let b = 0; b < batches; b++) {
    const x = new Float32Array(n * 2), y = new Int32Array(n);
    for (let i = 0; i < n; i++) {
      const c = Math.floor(rand() * 3);
      y[i] = c;
      x[2 * i] = centres[c][0] + (rand() - 0.5);
      x[2 * i + 1] = centres[c][1] + (rand() - 0.5);
    }
    yield asTensor ? { x: fromArray(x, [n, 2]), y } : { x, xShape: [n, 2], y };
  }
}

describe('training, calibration and evaluation take any iterable of {x, y} batches', () => {
  it('learns separable blobs from tensor batches, and array batches give the same figures', () => {
    manualSeed(1);
    const model = new Sequential(new Linear(2, 8, { generator: new Generator(1) }), new ReLU(), new Linear(8, 3, { generator: new Generator(2) }));
    const opt = new SGD(model.parameters(), { lr: 0.1 });
    for (let e = 0; e < 5; e++) trainEpoch(model, opt, blobs(10 + e, 10, 16, true));
    const a = evaluate(model, blobs(99, 4, 25, true));
    const b = evaluate(model, blobs(99, 4, 25, false));
    expect(a.count).toBe(100);
    expect(a.perClass).toHaveLength(3);
    expect(a.perClass.reduce((s, c) => s + c.count, 0)).toBe(100);
    expect(a.accuracy).toBeGreaterThan(0.95);
    expect(b.correct).toBe(a.correct);
    expect(b.loss).toBe(a.loss);
    const q = prepareQAT(model, { default: qconfig({ bits: 8 }) });
    expect(calibrate(q, blobs(5, 3, 16, true))).toBe(3);
    expect(fakeQuantizers(q).every((f) => f.qparams !== null)).toBe(true);
    expect(evaluate(q, blobs(99, 4, 25, true)).accuracy).toBeGreaterThan(0.9);
  });

  it('names a batch whose shape does not match its data', () => {
    const model = new Sequential(new Linear(2, 3));
    expect(() => evaluate(model, [{ x: new Float32Array(5), xShape: [2, 2], y: [0, 1] }])).toThrow(/xShape \[2, 2\] needs 4 values, x has 5/);
  });
});
