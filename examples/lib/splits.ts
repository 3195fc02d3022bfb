/**
 * The MNIST splits both sweeps use: training images less a validation split carved from the end
 * of the training set, and the test set. QAT's snapshot selection looks only at the validation
 * split, never at the test set; nothing trains or calibrates on it. --quick takes subsets.
 */
import type { MnistDataset } from '../../src/nn/index.js';
import { loadMnist } from '../../src/node.js';
import { exitUsage } from './cli.js';

export interface Splits {
  train: MnistDataset;
  val: MnistDataset;
  test: MnistDataset;
  valImages: number;
}

export function loadSplits(quick: boolean, valImagesFlag: number | undefined): Splits {
  const allTrain = loadMnist({ split: 'train', limit: quick ? 8192 : undefined });
  const valImages = valImagesFlag ?? (quick ? 1024 : 2000);
  if (valImages >= allTrain.count) exitUsage(`--val-images ${valImages} leaves no training images (the training set has ${allTrain.count})`);
  return {
    train: sliceDataset(allTrain, 0, allTrain.count - valImages),
    val: sliceDataset(allTrain, allTrain.count - valImages, allTrain.count),
    test: loadMnist({ split: 'test', limit: quick ? 2000 : undefined }),
    valImages,
  };
}

/** Images [from, to) of a dataset, as views (no copy). */
export function sliceDataset(ds: MnistDataset, from: number, to: number): MnistDataset {
  const per = ds.rows * ds.cols;
  return { ...ds, images: ds.images.subarray(from * per, to * per), labels: ds.labels.subarray(from, to), count: to - from };
}
