/**
 * A DataLoader over an in-memory image dataset (MNIST-shaped: uint8 images, labels),
 * yielding ready-to-wrap typed arrays; the nn layer turns them into tensors.
 *
 * Mirrors torch.utils.data.DataLoader's options (batch_size, shuffle, drop_last) and
 * its epoch semantics: each `for (const batch of loader)` is one epoch, and with
 * `shuffle` each epoch visits the examples in a new order. Orders are reproducible:
 * epoch k is shuffled with the seed `deriveSeed(seed, k)`, so the same seed gives the
 * same sequence of epochs on every run and every machine, and `batches(k)` can replay
 * any single epoch (as DistributedSampler.set_epoch does in PyTorch).
 *
 * Pixels are mapped through a 256-entry table, so a batch costs one Float32Array,
 * one Int32Array and a table lookup per pixel, with no per-image allocation.
 */

import type { MnistDataset } from './mnist.js';
import { Mulberry32, deriveSeed, shuffleInPlace } from './rng.js';

/** Mean and std of the MNIST training pixels scaled to [0, 1], as in PyTorch's MNIST example (examples/mnist/main.py). */
export const MNIST_MEAN = 0.1307;
export const MNIST_STD = 0.3081;

export interface Normalization {
  mean: number;
  std: number;
}

export interface MnistLoaderOptions {
  batchSize: number;
  /** Reshuffle the examples every epoch. Default false (PyTorch's default). */
  shuffle?: boolean;
  /** Seed of the epoch orders. Integers; only the low 32 bits count. Default 0. */
  seed?: number;
  /**
   * true (default): x = (p/255 - MNIST_MEAN) / MNIST_STD, i.e. torchvision's
   * ToTensor() then Normalize((0.1307,), (0.3081,)); `{ mean, std }`: the same with
   * other statistics; false: x = p/255 (ToTensor() only).
   */
  normalize?: boolean | Normalization;
  /** Drop the last batch if it is smaller than batchSize. Default false. */
  dropLast?: boolean;
  /**
   * Use only part of the dataset, fixed for all epochs: `n` takes the first n examples;
   * `{ size, seed }` takes `size` examples drawn at random without replacement
   * (kept in dataset order).
   */
  subset?: number | { size: number; seed: number };
}

export interface MnistBatch {
  /** size x 1 x rows x cols, row-major (NCHW). */
  x: Float32Array;
  /** size class indices (int32, as cross-entropy targets). */
  y: Int32Array;
  /** Examples in this batch: batchSize, or fewer for the last batch unless dropLast. */
  size: number;
  /** The shape of x: [size, 1, rows, cols]. */
  xShape: readonly [number, number, number, number];
}

export class MnistLoader implements Iterable<MnistBatch> {
  readonly batchSize: number;
  readonly shuffle: boolean;
  readonly seed: number;
  readonly dropLast: boolean;
  /** Examples visited per epoch (the subset size, or the whole dataset). */
  readonly length: number;
  /** Batches per epoch (PyTorch's len(loader)). */
  readonly numBatches: number;

  private readonly dataset: MnistDataset;
  /** Dataset indices of the examples in use, ascending. */
  private readonly indices: Uint32Array;
  /** Pixel value -> input value, computed once. */
  private readonly lookup: Float32Array;
  private nextEpoch = 0;

  constructor(dataset: MnistDataset, options: MnistLoaderOptions) {
    const { count, rows, cols, images, labels } = dataset;
    if (images.length !== count * rows * cols || labels.length !== count) {
      throw new RangeError(
        `MnistLoader: dataset arrays do not match count=${count}, rows=${rows}, cols=${cols} ` +
          `(images ${images.length}, labels ${labels.length})`,
      );
    }
    const { batchSize, shuffle = false, seed = 0, normalize = true, dropLast = false, subset } = options;
    if (!Number.isInteger(batchSize) || batchSize < 1) {
      throw new RangeError(`MnistLoader: batchSize must be a positive integer, got ${batchSize}`);
    }
    if (!Number.isSafeInteger(seed)) throw new RangeError(`MnistLoader: seed must be an integer, got ${seed}`);

    this.dataset = dataset;
    this.batchSize = batchSize;
    this.shuffle = shuffle;
    this.seed = seed;
    this.dropLast = dropLast;
    this.indices = chooseSubset(count, subset);
    this.length = this.indices.length;
    this.numBatches = dropLast ? Math.floor(this.length / batchSize) : Math.ceil(this.length / batchSize);
    this.lookup = pixelLookup(normalize);
  }

  /** The epoch the next `for...of` will run (starts at 0, advances by one per iteration). */
  get epoch(): number {
    return this.nextEpoch;
  }

  /** Make the next `for...of` run epoch `epoch`, e.g. when resuming from a checkpoint. */
  setEpoch(epoch: number): void {
    if (!Number.isSafeInteger(epoch) || epoch < 0) throw new RangeError(`setEpoch: epoch must be a non-negative integer, got ${epoch}`);
    this.nextEpoch = epoch;
  }

  [Symbol.iterator](): Generator<MnistBatch, void, undefined> {
    return this.batches(this.nextEpoch++);
  }

  /** Dataset indices in the order epoch `epoch` visits them (all of them, before dropLast). */
  order(epoch: number): Uint32Array {
    if (!Number.isSafeInteger(epoch) || epoch < 0) throw new RangeError(`epoch must be a non-negative integer, got ${epoch}`);
    const order = this.indices.slice();
    if (this.shuffle) shuffleInPlace(order, new Mulberry32(deriveSeed(this.seed, epoch)));
    return order;
  }

  /** The batches of epoch `epoch`, independent of the loader's own epoch counter. */
  *batches(epoch: number): Generator<MnistBatch, void, undefined> {
    const order = this.order(epoch);
    const { images, labels, rows, cols } = this.dataset;
    const pixels = rows * cols;
    const lookup = this.lookup;
    for (let b = 0; b < this.numBatches; b++) {
      const start = b * this.batchSize;
      const size = Math.min(this.batchSize, order.length - start);
      const x = new Float32Array(size * pixels);
      const y = new Int32Array(size);
      for (let i = 0; i < size; i++) {
        const example = order[start + i]!;
        const src = example * pixels;
        const dst = i * pixels;
        for (let p = 0; p < pixels; p++) x[dst + p] = lookup[images[src + p]!]!;
        y[i] = labels[example]!;
      }
      yield { x, y, size, xShape: [size, 1, rows, cols] };
    }
  }
}

/**
 * The value of every possible pixel, computed step by step in float32 exactly as
 * torchvision does (to_tensor: `img.float().div(255)`; normalize: `sub_(mean).div_(std)`
 * with mean and std as float32 tensors), so inputs match PyTorch's CPU kernels bit for
 * bit (its div_true_kernel divides; only the CUDA kernel multiplies by a reciprocal).
 * Math.fround after each double-precision step gives the correctly rounded float32
 * result, because a double has at least 2*24+2 bits (Figueroa 1995, "When is double
 * rounding innocuous?").
 */
function pixelLookup(normalize: boolean | Normalization): Float32Array {
  const stats: Normalization | undefined = normalize === true ? { mean: MNIST_MEAN, std: MNIST_STD } : normalize || undefined;
  if (stats !== undefined && !(Number.isFinite(stats.mean) && Number.isFinite(stats.std) && stats.std > 0)) {
    throw new RangeError(`MnistLoader: normalize needs a finite mean and a positive std, got ${JSON.stringify(stats)}`);
  }
  const lookup = new Float32Array(256);
  for (let p = 0; p < 256; p++) {
    const scaled = Math.fround(p / 255);
    lookup[p] = stats === undefined ? scaled : Math.fround(Math.fround(scaled - Math.fround(stats.mean)) / Math.fround(stats.std));
  }
  return lookup;
}

function chooseSubset(count: number, subset: MnistLoaderOptions['subset']): Uint32Array {
  if (subset === undefined) return identity(count);
  const size = typeof subset === 'number' ? subset : subset.size;
  if (!Number.isInteger(size) || size < 0 || size > count) {
    throw new RangeError(`MnistLoader: subset size must be an integer in [0, ${count}], got ${size}`);
  }
  if (typeof subset === 'number') return identity(size);
  // A partial Fisher–Yates shuffle: the first `size` slots become a uniform random sample.
  const rng = new Mulberry32(subset.seed);
  const all = identity(count);
  for (let i = 0; i < size; i++) {
    const j = i + rng.nextInt(count - i);
    const tmp = all[i]!;
    all[i] = all[j]!;
    all[j] = tmp;
  }
  return all.slice(0, size).sort();
}

function identity(n: number): Uint32Array {
  const out = new Uint32Array(n);
  for (let i = 0; i < n; i++) out[i] = i;
  return out;
}
