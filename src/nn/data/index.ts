// Datasets as plain typed arrays: IDX files, MNIST, batching. Tensor-free, so the nn
// layer (and anyone else) can wrap the arrays however it likes.
export { encodeIdx, parseIdx, readIdx, writeIdx } from './idx.js';
export type { IdxArray, IdxDtype } from './idx.js';
export { MNIST_FILES, clearMnistCache, defaultMnistDir, loadMnist } from './mnist.js';
export type { LoadMnistOptions, MnistDataset, MnistSplit } from './mnist.js';
export { MNIST_MEAN, MNIST_STD, MnistLoader } from './loader.js';
export type { MnistBatch, MnistLoaderOptions, Normalization } from './loader.js';
export { Mulberry32, deriveSeed, shuffleInPlace } from './rng.js';
export type { Rng } from './rng.js';
