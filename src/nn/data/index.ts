// Datasets as plain typed arrays: IDX files, MNIST, batching. Tensor-free, so the nn
// layer (and anyone else) can wrap the arrays however it likes.
// (Reading IDX and MNIST files needs Node: src/node.ts exports readIdx, writeIdx and loadMnist.)
export { encodeIdx, parseIdx } from './idx.js';
export type { IdxArray, IdxDtype } from './idx.js';
export type { MnistDataset } from './mnist.js';
export { MNIST_MEAN, MNIST_STD, MnistLoader } from './loader.js';
export type { MnistBatch, MnistLoaderOptions, Normalization } from './loader.js';
export { Mulberry32, deriveSeed, shuffleInPlace } from './rng.js';
export type { Rng } from './rng.js';
