import { describe, expect, it } from 'vitest';
import { MNIST_MEAN, MNIST_STD, MnistLoader, type MnistBatch } from '../../../src/nn/data/loader.js';
import { loadMnist, type MnistDataset } from '../../../src/nn/data/mnist.js';

/**
 * A synthetic dataset in which example i can be recognised from its pixels: pixel 0
 * holds i % 256, pixel 1 holds floor(i / 256), the rest are 255; its label is i % 10.
 */
function taggedDataset(count: number, rows = 3, cols = 2): MnistDataset {
  const pixels = rows * cols;
  const images = new Uint8Array(count * pixels).fill(255);
  const labels = new Uint8Array(count);
  for (let i = 0; i < count; i++) {
    images[i * pixels] = i % 256;
    images[i * pixels + 1] = Math.floor(i / 256);
    labels[i] = i % 10;
  }
  return { images, labels, count, rows, cols };
}

/** Recover the example indices of a batch from its pixels (needs normalize: false, x = p/255). */
function indicesOf(batch: MnistBatch, pixels: number): number[] {
  const out: number[] = [];
  for (let i = 0; i < batch.size; i++) {
    const lo = Math.round(batch.x[i * pixels]! * 255);
    const hi = Math.round(batch.x[i * pixels + 1]! * 255);
    out.push(hi * 256 + lo);
  }
  return out;
}

function epochIndices(loader: Iterable<MnistBatch>, pixels: number): number[] {
  return [...loader].flatMap((b) => indicesOf(b, pixels));
}

const range = (n: number) => Array.from({ length: n }, (_, i) => i);

describe('MnistLoader batching', () => {
  const ds = taggedDataset(10);

  it('yields batches of the right shapes, last one partial', () => {
    const loader = new MnistLoader(ds, { batchSize: 4 });
    expect(loader.numBatches).toBe(3);
    const batches = [...loader];
    expect(batches.map((b) => b.size)).toEqual([4, 4, 2]);
    for (const b of batches) {
      expect(b.x).toBeInstanceOf(Float32Array);
      expect(b.y).toBeInstanceOf(Int32Array);
      expect(b.x.length).toBe(b.size * 1 * 3 * 2);
      expect(b.y.length).toBe(b.size);
      expect(b.xShape).toEqual([b.size, 1, 3, 2]);
    }
  });

  it('dropLast drops the partial batch, and only that', () => {
    const drop = new MnistLoader(ds, { batchSize: 4, dropLast: true });
    expect(drop.numBatches).toBe(2);
    expect([...drop].map((b) => b.size)).toEqual([4, 4]);
    const exact = new MnistLoader(ds, { batchSize: 5, dropLast: true });
    expect([...exact].map((b) => b.size)).toEqual([5, 5]);
    const tooBig = new MnistLoader(ds, { batchSize: 11, dropLast: true });
    expect(tooBig.numBatches).toBe(0);
    expect([...tooBig]).toEqual([]);
    expect(new MnistLoader(ds, { batchSize: 11 }).numBatches).toBe(1);
  });

  it('without shuffle visits the examples in dataset order, labels aligned', () => {
    const loader = new MnistLoader(ds, { batchSize: 3, normalize: false });
    const batches = [...loader];
    expect(batches.flatMap((b) => indicesOf(b, 6))).toEqual(range(10));
    expect(batches.flatMap((b) => Array.from(b.y))).toEqual(range(10).map((i) => i % 10));
  });

  it('rejects bad options and inconsistent datasets', () => {
    expect(() => new MnistLoader(ds, { batchSize: 0 })).toThrow(RangeError);
    expect(() => new MnistLoader(ds, { batchSize: 1.5 })).toThrow(RangeError);
    expect(() => new MnistLoader(ds, { batchSize: 1, subset: 11 })).toThrow(/subset size/);
    expect(() => new MnistLoader(ds, { batchSize: 1, normalize: { mean: 0, std: 0 } })).toThrow(/positive std/);
    expect(() => new MnistLoader({ ...ds, count: 11 }, { batchSize: 1 })).toThrow(/do not match/);
  });
});

describe('MnistLoader shuffling', () => {
  const count = 1000;
  const ds = taggedDataset(count);
  const opts = { batchSize: 64, shuffle: true, seed: 1234, normalize: false } as const;

  it('visits every example exactly once per epoch, with its own label', () => {
    const loader = new MnistLoader(ds, opts);
    for (let epoch = 0; epoch < 3; epoch++) {
      const seen: number[] = [];
      for (const batch of loader) {
        const idx = indicesOf(batch, 6);
        expect(Array.from(batch.y)).toEqual(idx.map((i) => i % 10));
        seen.push(...idx);
      }
      expect(seen).toHaveLength(count);
      expect([...seen].sort((a, b) => a - b)).toEqual(range(count));
      expect(seen).not.toEqual(range(count));
    }
  });

  it('same seed gives the same order; epochs and seeds differ', () => {
    const a = new MnistLoader(ds, opts);
    const b = new MnistLoader(ds, opts);
    const a0 = epochIndices(a, 6);
    const a1 = epochIndices(a, 6);
    expect(epochIndices(b, 6)).toEqual(a0);
    expect(epochIndices(b, 6)).toEqual(a1);
    expect(a1).not.toEqual(a0);
    const other = new MnistLoader(ds, { ...opts, seed: 1235 });
    expect(epochIndices(other, 6)).not.toEqual(a0);
  });

  it('batches(k) and setEpoch replay epoch k independently of the counter', () => {
    const loader = new MnistLoader(ds, opts);
    const orders = [0, 1, 2].map(() => epochIndices(loader, 6));
    expect(loader.epoch).toBe(3);
    expect([...loader.batches(1)].flatMap((b) => indicesOf(b, 6))).toEqual(orders[1]);
    expect(Array.from(loader.order(2))).toEqual(orders[2]);
    loader.setEpoch(0);
    expect(epochIndices(loader, 6)).toEqual(orders[0]);
  });

  it('dropLast with shuffle drops a different tail each epoch, never duplicates', () => {
    const loader = new MnistLoader(ds, { ...opts, dropLast: true });
    expect(loader.numBatches).toBe(15);
    const e0 = epochIndices(loader, 6);
    const e1 = epochIndices(loader, 6);
    for (const e of [e0, e1]) {
      expect(e).toHaveLength(15 * 64);
      expect(new Set(e).size).toBe(15 * 64);
    }
    expect(new Set(e0)).not.toEqual(new Set(e1));
  });
});

describe('MnistLoader subset', () => {
  const ds = taggedDataset(500);

  it('a number takes the first n examples', () => {
    const loader = new MnistLoader(ds, { batchSize: 7, subset: 20, normalize: false });
    expect(loader.length).toBe(20);
    expect(loader.numBatches).toBe(3);
    expect(epochIndices(loader, 6)).toEqual(range(20));
  });

  it('{ size, seed } takes a reproducible random sample, the same every epoch', () => {
    const opts = { batchSize: 10, subset: { size: 50, seed: 7 }, shuffle: true, normalize: false } as const;
    const loader = new MnistLoader(ds, opts);
    const e0 = epochIndices(loader, 6);
    const e1 = epochIndices(loader, 6);
    expect(new Set(e0).size).toBe(50);
    expect([...e0].sort((a, b) => a - b)).toEqual([...e1].sort((a, b) => a - b));
    expect(e0.every((i) => i >= 0 && i < 500)).toBe(true);
    expect(e0.some((i) => i >= 50)).toBe(true); // not just the first 50
    expect(epochIndices(new MnistLoader(ds, opts), 6)).toEqual(e0);
    const other = epochIndices(new MnistLoader(ds, { ...opts, subset: { size: 50, seed: 8 } }), 6);
    expect(new Set(other)).not.toEqual(new Set(e0));
    // Without shuffle the sample is visited in dataset order.
    const ordered = epochIndices(new MnistLoader(ds, { ...opts, shuffle: false }), 6);
    expect(ordered).toEqual([...e0].sort((a, b) => a - b));
  });
});

describe('MnistLoader normalisation', () => {
  // One image holding every pixel value 0..255.
  const all: MnistDataset = { images: Uint8Array.from(range(256)), labels: Uint8Array.from([3]), count: 1, rows: 16, cols: 16 };
  const first = (loader: MnistLoader) => [...loader][0]!.x;

  it('default: (p/255 - 0.1307) / 0.3081 (PyTorch MNIST example)', () => {
    const x = first(new MnistLoader(all, { batchSize: 1 }));
    expect(x[0]).toBeCloseTo(-0.4242129, 6); // (0 - 0.1307) / 0.3081
    expect(x[255]).toBeCloseTo(2.8214867, 6); // (1 - 0.1307) / 0.3081
    for (let p = 0; p < 256; p++) {
      const exact = (p / 255 - 0.1307) / 0.3081;
      expect(Math.abs(x[p]! - exact)).toBeLessThan(1e-6 * Math.max(1, Math.abs(exact)));
    }
    expect(MNIST_MEAN).toBe(0.1307);
    expect(MNIST_STD).toBe(0.3081);
  });

  it('is computed in float32, step by step, as torchvision does', () => {
    // Oracle: the same float32 operations, each result rounded by storing it into a
    // Float32Array; mean and std are float32 too, as torch.as_tensor(mean, dtype) makes them.
    const f = new Float32Array(5);
    f[3] = 0.1307;
    f[4] = 0.3081;
    const x = first(new MnistLoader(all, { batchSize: 1 }));
    const got: number[] = [];
    const want: number[] = [];
    for (let p = 0; p < 256; p++) {
      f[0] = p / 255;
      f[1] = f[0] - f[3]!;
      f[2] = f[1] / f[4]!;
      got.push(x[p]!);
      want.push(f[2]!);
    }
    expect(got).toEqual(want);
    // ...which is not the same as rounding the float64 result once, for some pixels.
    expect(want.some((v, p) => v !== Math.fround((p / 255 - 0.1307) / 0.3081))).toBe(true);
  });

  it('normalize: false gives p/255, custom stats are honoured', () => {
    const raw = first(new MnistLoader(all, { batchSize: 1, normalize: false }));
    expect(raw[0]).toBe(0);
    expect(raw[255]).toBe(1);
    expect(raw[51]).toBeCloseTo(0.2, 7);
    const custom = first(new MnistLoader(all, { batchSize: 1, normalize: { mean: 0.5, std: 0.5 } }));
    expect(custom[0]).toBe(-1);
    expect(custom[255]).toBe(1);
  });

  it('on the real training set the normalised inputs have mean ~0 and std ~1', () => {
    const ds = loadMnist({ split: 'train' });
    const loader = new MnistLoader(ds, { batchSize: 10_000 });
    let sum = 0;
    let sumSq = 0;
    let n = 0;
    let labels = 0;
    for (const { x, y } of loader) {
      for (let i = 0; i < x.length; i++) {
        sum += x[i]!;
        sumSq += x[i]! * x[i]!;
      }
      n += x.length;
      labels += y.length;
    }
    const mean = sum / n;
    expect(n).toBe(60000 * 784);
    expect(labels).toBe(60000);
    expect(Math.abs(mean)).toBeLessThan(1e-3);
    expect(Math.abs(Math.sqrt(sumSq / n - mean * mean) - 1)).toBeLessThan(1e-3);
  });
});
