/** Public surface of nn: modules, layers, losses, init, optimizers, data and checkpoints. */
export { Module, type StateDict } from './module.js';
export {
  Linear, Conv2d, BatchNorm, BatchNorm1d, BatchNorm2d, ReLU, MaxPool2d, AvgPool2d, Flatten, Dropout, Identity, Sequential,
  type LayerOptions, type Conv2dLayerOptions,
} from './layers.js';
export { mseLoss, CrossEntropyLoss, NLLLoss, MSELoss } from './loss.js';
export * as init from './init.js';
export * from './optim/index.js';
export * from './data/index.js';
export { loadSafetensorsState, stateDictToSafetensors } from './safetensors.js';
// Checkpoint and safetensors files (saveCheckpoint, loadSafetensors, ...) need Node: src/node.ts.
export { mnistCnn, mlp, type MnistCnnOptions } from './models/mnist.js';
export { trainEpoch, evaluate, batchInput, batchSize, type Batch, type StepInfo, type EvalResult, type TrainEpochOptions } from './train.js';
export { MnistResNet, BasicBlock, mnistResNet, type MnistResNetOptions } from './models/resnet.js';
export * as qf from './graph/functional.js';
export { trace, DEFAULT_LEAF_MODULES, type TraceOptions, type ModuleClass } from './graph/trace.js';
export { GraphModule, ModuleTree, type Graph, type GraphNode, type Attrs } from './graph/graph.js';
