/**
 * The shared training and evaluation loops on a tiny slice of real MNIST: trainEpoch is
 * reproducible from a seed (same seed → the same per-step losses and weights, another seed →
 * different ones) and reports the loss of the batch it trained on; evaluate's accuracy, loss,
 * predictions and per-class counts match an independent count of argmax == label. Plus a
 * sanity check that a 2-layer MLP fits a toy function. Kept small: the CNN costs ~10 ms per
 * example forward + backward on a slow machine.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { fromArray, Generator, noGrad, tidy } from '../../src/index.js';
import {
  Adam, evaluate, mlp, mnistCnn, mseLoss, MnistLoader, SGD, trainEpoch, type MnistBatch, type MnistDataset, type Module, type StepInfo,
} from '../../src/nn/index.js';
import { crossEntropyRow, snapshot, values } from './ref.js';
import { loadMnist } from '../../src/node.js';

let train: MnistDataset;
let test: MnistDataset;
beforeAll(() => {
  train = loadMnist({ split: 'train', limit: 256 });
  test = loadMnist({ split: 'test', limit: 50 });
});

const BATCH = 16, STEPS = 4;

interface Run {
  model: Module;
  steps: StepInfo[];
  mean: number;
}

function run(seed: number, o: { batchNorm?: boolean; channels?: number; adam?: boolean } = {}): Run {
  const model = mnistCnn({ generator: new Generator(seed), batchNorm: o.batchNorm, channels: o.channels });
  const opt = o.adam ? new Adam(model.parameters(), { lr: 2e-3 }) : new SGD(model.parameters(), { lr: 0.01, momentum: 0.5 });
  const loader = new MnistLoader(train, { batchSize: BATCH, shuffle: true, seed });
  const steps: StepInfo[] = [];
  const mean = trainEpoch(model, opt, loader, { maxBatches: STEPS, onStep: (s) => steps.push({ ...s }) });
  return { model, steps, mean };
}

/** Mean cross-entropy of a batch under a model, computed here from the logits. */
function batchLoss(model: Module, b: MnistBatch): number {
  const logits = noGrad(() => values(model.call(fromArray(b.x, b.xShape))));
  const classes = logits.length / b.size;
  let s = 0;
  for (let i = 0; i < b.size; i++) s += crossEntropyRow(logits.slice(i * classes, (i + 1) * classes), b.y[i]);
  return s / b.size;
}

describe('trainEpoch', () => {
  let a: Run, b: Run, c: Run;
  beforeAll(() => {
    a = run(1);
    b = run(1);
    c = run(2);
  });

  it('the same seed gives identical per-step losses and identical weights', () => {
    expect(a.steps.map((s) => s.loss)).toEqual(b.steps.map((s) => s.loss));
    expect(a.mean).toBe(b.mean);
    expect(snapshot(a.model)).toEqual(snapshot(b.model));
  });

  it('a different seed gives different losses', () => {
    const la = a.steps.map((s) => s.loss), lc = c.steps.map((s) => s.loss);
    expect(lc).not.toEqual(la);
    expect(lc.every((v, i) => v !== la[i])).toBe(true);
  });

  it('stops after maxBatches and reports step, seen and a mean weighted by batch size', () => {
    expect(a.steps.map((s) => s.step)).toEqual([1, 2, 3, 4]);
    expect(a.steps.map((s) => s.seen)).toEqual([16, 32, 48, 64]);
    const losses = a.steps.map((s) => s.loss);
    expect(losses.every((l) => Number.isFinite(l) && l > 1 && l < 4)).toBe(true); // ≈ ln 10 at the start
    expect(a.mean).toBeCloseTo(losses.reduce((x, y) => x + y * BATCH, 0) / 64, 12);
  });

  it('weights the returned mean by batch size when the last batch is partial', () => {
    const model = mnistCnn({ channels: 2, generator: new Generator(4) });
    const loader = new MnistLoader(train, { batchSize: 16, subset: 40, shuffle: true, seed: 4 });
    const steps: StepInfo[] = [];
    const mean = trainEpoch(model, new SGD(model.parameters(), { lr: 0.01 }), loader, { onStep: (s) => steps.push({ ...s }) });
    expect(steps.map((s) => s.seen)).toEqual([16, 32, 40]);
    const [l1, l2, l3] = steps.map((s) => s.loss);
    expect(mean).toBeCloseTo((16 * l1 + 16 * l2 + 8 * l3) / 40, 12);
  });

  it('the first step reports the loss of the first shuffled batch under the initial weights, then updates them', () => {
    const fresh = mnistCnn({ generator: new Generator(1) });
    const initial = snapshot(fresh);
    const first = new MnistLoader(train, { batchSize: BATCH, shuffle: true, seed: 1 }).batches(0).next().value as MnistBatch;
    expect(a.steps[0].loss).toBeCloseTo(batchLoss(fresh, first), 5);
    const trained = snapshot(a.model);
    for (const k of Object.keys(initial)) expect(trained[k].data, k).not.toEqual(initial[k].data);
  });

  it('is reproducible with batch norm and Adam too, and leaves the model in training mode', () => {
    const x = run(5, { batchNorm: true, channels: 6, adam: true });
    const y = run(5, { batchNorm: true, channels: 6, adam: true });
    expect(x.steps.map((s) => s.loss)).toEqual(y.steps.map((s) => s.loss));
    expect(snapshot(x.model)).toEqual(snapshot(y.model));
    expect(x.model.training).toBe(true);
  });

  describe('evaluate', () => {
    /** Counted here: per example, the first index of the largest logit, compared with the label. */
    function independentCount(model: Module, loader: MnistLoader) {
      model.eval();
      let correct = 0, count = 0, loss = 0;
      const preds: number[] = [], perClass = Array.from({ length: 10 }, () => ({ correct: 0, count: 0 }));
      for (const batch of loader) {
        const logits = tidy(() => noGrad(() => values(model.call(fromArray(batch.x, batch.xShape)))));
        for (let i = 0; i < batch.size; i++) {
          const row = logits.slice(i * 10, (i + 1) * 10);
          const pred = row.indexOf(Math.max(...row));
          preds.push(pred);
          perClass[batch.y[i]].count++;
          if (pred === batch.y[i]) {
            correct++;
            perClass[batch.y[i]].correct++;
          }
          loss += crossEntropyRow(row, batch.y[i]);
          count++;
        }
      }
      return { correct, count, accuracy: correct / count, loss: loss / count, preds, perClass };
    }

    it('accuracy, loss, predictions and per-class counts equal an independent argmax count', () => {
      // 50 examples in batches of 32: a full batch and a partial one.
      const res = evaluate(a.model, new MnistLoader(test, { batchSize: 32 }));
      const want = independentCount(a.model, new MnistLoader(test, { batchSize: 32 }));
      expect(res.count).toBe(50);
      expect(res.correct).toBe(want.correct);
      expect(res.accuracy).toBe(want.accuracy);
      expect(Array.from(res.predictions)).toEqual(want.preds);
      expect(res.perClass).toEqual(want.perClass);
      expect(res.loss).toBeCloseTo(want.loss, 5);
      expect(res.correct).toBeGreaterThan(0); // the count is not vacuous
      expect(res.correct).toBeLessThan(50);
      expect(a.model.training).toBe(false);
    });

    it('with a custom forward: counts argmax == label exactly and takes the first index on ties', () => {
      const loader = new MnistLoader(test, { batchSize: 20 });
      let seenSoFar = 0;
      // Even examples: a one-hot logit on the label (correct); odd: on label + 1 (wrong).
      // Every row also ties two classes at 0.5 below the max, and example 0 ties everything (→ class 0).
      const forward = (x: Float32Array, shape: readonly number[]): Float32Array => {
        const n = shape[0];
        const out = new Float32Array(n * 10).fill(-0.5);
        for (let i = 0; i < n; i++) {
          const k = seenSoFar + i;
          const y = test.labels[k];
          if (k !== 0) out[i * 10 + (k % 2 === 0 ? y : (y + 1) % 10)] = 1;
        }
        seenSoFar += n;
        expect(x.length).toBe(n * 28 * 28);
        return out;
      };
      const res = evaluate(mnistCnn({ channels: 1 }), loader, { forward });
      let want = 0;
      for (let k = 0; k < 50; k++) {
        const pred = k === 0 ? 0 : k % 2 === 0 ? test.labels[k] : (test.labels[k] + 1) % 10;
        if (pred === test.labels[k]) want++;
      }
      expect(res.correct).toBe(want);
      expect(res.predictions[0]).toBe(0);
      expect(res.accuracy).toBe(want / 50);
      // Loss of a one-hot-ish row: log(e¹ + 9e^−0.5) − z_label.
      const lse = Math.log(Math.E + 9 * Math.exp(-0.5));
      let wantLoss = Math.log(10); // example 0: all logits equal
      for (let k = 1; k < 50; k++) wantLoss += k % 2 === 0 ? lse - 1 : lse + 0.5;
      expect(res.loss).toBeCloseTo(wantLoss / 50, 6);
    });
  });
});

describe('a 2-layer MLP fits y = sin(x)', () => {
  it('loss falls by at least 10× in 200 Adam steps', () => {
    const n = 64;
    const xs = Array.from({ length: n }, (_, i) => -Math.PI + (2 * Math.PI * i) / (n - 1));
    const x = fromArray(xs, [n, 1]), y = fromArray(xs.map(Math.sin), [n, 1]);
    const model = mlp([1, 32, 1], new Generator(3));
    const opt = new Adam(model.parameters(), { lr: 0.01 });
    const losses: number[] = [];
    for (let step = 0; step < 200; step++) {
      losses.push(
        tidy(() => {
          opt.zeroGrad();
          const loss = mseLoss(model.call(x), y);
          loss.backward();
          opt.step();
          return loss.item();
        }),
      );
    }
    const start = losses[0], end = losses[losses.length - 1];
    expect(start).toBeGreaterThan(0.05);
    expect(end).toBeLessThan(start / 10);
    // And the fit is real: the model's prediction at π/2 is close to 1.
    const at = noGrad(() => model.call(fromArray([Math.PI / 2], [1, 1])).item());
    expect(Math.abs(at - 1)).toBeLessThan(0.2);
  });
});
