/**
 * The float32-vs-float64 drift experiment of issue 17 ("speed must not cost precision"): train the
 * seed tutorial's CNN from one set of weights for a few SGD steps (lr 0.01, momentum 0.5, batch 64,
 * the first training images in file order, normalised as torchvision does) once in float64 on the
 * reference backend and once in float32 on a chosen device, then compare the logits both models
 * give on a fixed batch of test images.
 *
 * The float64 run is the oracle: its own rounding error is ~1e-16, so the difference measures the
 * float32 run's accumulated error. PyTorch's float32 run drifts ~1.4e-6 from its float64 run on
 * the same experiment (scripts/torch_drift.py); a fast kernel should not drift more than that.
 */
import { F, fromArray, Generator, getDefaultDevice, noGrad, setDefaultDevice, tidy } from '../../src/index.js';
import type { Tensor } from '../../src/index.js';
import { MnistLoader, mnistCnn, SGD } from '../../src/nn/index.js';
import { loadMnist } from '../../src/node.js';

export interface DriftOptions {
  steps: number;
  /** Test images whose logits are compared. */
  evalImages?: number;
  seed?: number;
}

/** The eval logits after one training run (as float64), and the loss of every step. */
export interface DriftRun {
  logits: Float64Array;
  losses: number[];
}

const BATCH = 64;

/** Trains a fresh seeded CNN for `steps` steps in `dtype` on `device`; returns the eval logits. */
export function trainRun(dtype: 'float32' | 'float64', device: string, opts: DriftOptions): DriftRun {
  const before = getDefaultDevice();
  setDefaultDevice(device);
  try {
    const model = mnistCnn({ generator: new Generator(opts.seed ?? 1) });
    // The same float32 initial values in either precision.
    for (const p of model.parameters()) {
      const v = p.toTypedArray();
      p.assign_(fromArray(dtype === 'float64' ? Float64Array.from(v) : Float32Array.from(v), p.shape, { dtype, device }));
    }
    const opt = new SGD(model.parameters(), { lr: 0.01, momentum: 0.5 });
    const train = loadMnist({ split: 'train', limit: opts.steps * BATCH });
    const loader = new MnistLoader(train, { batchSize: BATCH });
    const toT = (x: Float32Array, shape: readonly number[]): Tensor =>
      fromArray(dtype === 'float64' ? Float64Array.from(x) : x, shape, { dtype, device });
    const losses: number[] = [];
    model.train();
    for (const b of loader) {
      losses.push(tidy(() => {
        opt.zeroGrad();
        const l = F.crossEntropy(model.call(toT(b.x, b.xShape)), b.y);
        l.backward();
        opt.step();
        return l.item();
      }));
    }
    model.eval();
    const test = new MnistLoader(loadMnist({ split: 'test', limit: opts.evalImages ?? 256 }), { batchSize: opts.evalImages ?? 256 });
    const batch = [...test][0]!;
    const logits = noGrad(() => tidy(() => Float64Array.from(model.call(toT(batch.x, batch.xShape)).toTypedArray())));
    return { logits, losses };
  } finally {
    setDefaultDevice(before);
  }
}

/** ||a - b||_2 / ||b||_2 and max|a - b| / max|b|. */
export function relativeDiff(a: ArrayLike<number>, b: ArrayLike<number>): { l2: number; max: number } {
  let num = 0, den = 0, mx = 0, mb = 0;
  for (let i = 0; i < b.length; i++) {
    const e = a[i]! - b[i]!;
    num += e * e;
    den += b[i]! * b[i]!;
    mx = Math.max(mx, Math.abs(e));
    mb = Math.max(mb, Math.abs(b[i]!));
  }
  return { l2: Math.sqrt(num / den), max: mx / mb };
}
