/**
 * qgrad/node: the parts of qgrad that need Node's file system. Everything else (tensors, autograd,
 * nn, quant, the byte-level file formats) is in the browser-safe entries; this one adds reading
 * and writing files: atomic writes, containers, checkpoints, safetensors files, int8 model files,
 * IDX files and the MNIST loader.
 */
export { writeFileAtomic, type AtomicWriteData, type WriteFileAtomicOptions } from './io/atomic.js';
export { loadContainer, saveContainer } from './io/container-file.js';
export { saveCheckpoint, loadCheckpoint, CHECKPOINT_KIND } from './nn/checkpoint.js';
export { loadSafetensors, saveSafetensors } from './nn/safetensors-file.js';
export { readIdx, writeIdx } from './nn/data/idx-file.js';
export { MNIST_FILES, clearMnistCache, defaultMnistDir, loadMnist, type LoadMnistOptions, type MnistSplit } from './nn/data/mnist.js';
export { saveInt8Model, loadInt8Model, saveInt8GraphModel, loadInt8GraphModel } from './quant/int8/file.js';
