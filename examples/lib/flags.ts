/**
 * The flag tables of the example scripts, kept apart from the scripts (which start work when
 * imported) so that tests can parse against the real tables. See cli.ts for the flag kinds.
 */
import { getDefaultDevice } from '../../src/index.js';
import { OBSERVER_KINDS, CALIBRATION_METHODS } from '../../src/quant/index.js';
import type { Spec } from './cli.js';

/**
 * Devices the examples can run on: 'wasm' (the WebAssembly SIMD fast path), 'cpu' (the plain
 * TypeScript reference), 'gpu' (gpu.js; see device.ts for what it runs on). The default is the
 * library's own default device (src/tensor/devices.ts): wasm where WebAssembly SIMD exists.
 */
export const DEVICES = ['wasm', 'cpu', 'gpu'] as const;
const DEFAULT_DEVICE = getDefaultDevice() as (typeof DEVICES)[number];

export const MNIST_QUANT_FLAGS = {
  quick: { kind: 'boolean', default: false, help: 'about a minute: 8,192 training and 2,000 test images, bits 8,4,2' },
  bits: { kind: 'bits', min: 1, max: 8, defaultText: '1-8 (8,4,2 with --quick)', help: 'bit widths to sweep, a list (8,4,2) or range (2-4), in the order given' },
  epochs: { kind: 'int', min: 1, max: 1000, defaultText: '2 (1 with --quick)', help: 'epochs of float training' },
  'qat-images': { kind: 'int', min: 1, defaultText: '51,200 at 2 bits with uniform weights, 25,600 with ternary ones, 12,800 at 1, 3 and 4 bits, 6,400 above (2,048 with --quick)', help: 'training images for QAT fine-tuning per bit width' },
  'calib-images': { kind: 'int', min: 1, defaultText: '2,048 (512 with --quick)', help: 'training images for PTQ calibration' },
  lr: { kind: 'number', positive: true, defaultText: '5e-3 at >= 5 bits, 1e-2 at 3-4, 2e-2 below', help: 'QAT initial learning rate (cosine-decayed)' },
  device: { kind: 'choice', choices: DEVICES, default: DEFAULT_DEVICE, help: 'tensor backend' },
  seed: { kind: 'int', min: 0, max: 2 ** 31 - 1, default: 1, help: 'seed of every random choice (init, shuffles, subsets)' },
  observer: { kind: 'choice', choices: OBSERVER_KINDS, default: 'movingAverage', help: 'unused: QAT now starts from the PTQ model and keeps its calibrated activation ranges (kept so old command lines still parse)' },
  weights: { kind: 'choice', choices: ['auto', 'uniform', 'binary', 'ternary', 'pow2'], default: 'auto', help: "weight quantizer: uniform levels, binary (XNOR-Net α·sign), ternary (TWN) or pow2 (±2^k, 2-4 bits); 'auto': binary at 1 bit, uniform above, plus a ternary-weight row at 2 bits in full mode" },
  'val-images': { kind: 'int', min: 1, defaultText: '2,000 (1,024 with --quick)', help: 'training images held out (the last N) as the validation split for QAT snapshot selection' },
  'qat-alpha': { kind: 'number', positive: true, default: 0.05, help: 'QAT replaces PTQ only if its best validation snapshot beats PTQ with exact McNemar p <= this (examples/lib/qat-selection.ts)' },
  calibration: { kind: 'choice', choices: CALIBRATION_METHODS, default: 'mse', help: 'PTQ histogram calibration method' },
  recipe: { kind: 'choice', choices: ['bn', 'reference'], default: 'bn', help: "float model: 'bn' (BatchNorm + Adam) or the tutorial's 'reference' (SGD, no BN)" },
  retrain: { kind: 'boolean', default: false, help: 'train the float model again even if its checkpoint exists in --out' },
  study: { kind: 'choice', choices: ['none', 'dynamic', 'weight-only', 'pow2', 'mixed'], default: 'none', help: "run one side study on the float model instead of the bit sweep (examples/lib/study.ts)" },
  out: { kind: 'dir', default: 'runs', help: 'directory for the checkpoint, results.json, the chart and the int8 model' },
} satisfies Spec;

export const MNIST_TRAIN_FLAGS = {
  recipe: { kind: 'choice', choices: ['reference', 'better'], default: 'reference', help: "'reference': SGD lr 0.01 momentum 0.5, 1 epoch; 'better': BatchNorm + Adam, 3 epochs" },
  epochs: { kind: 'int', min: 1, max: 1000, defaultText: '1 (3 with --recipe better)', help: 'training epochs' },
  optimizer: { kind: 'choice', choices: ['auto', 'sgd', 'adam'], default: 'auto', help: 'optimizer (sgd: momentum 0.5); auto: sgd for the reference recipe, adam for better' },
  lr: { kind: 'number', positive: true, defaultText: '0.01 for sgd, 2e-3 for adam', help: 'learning rate' },
  batch: { kind: 'int', min: 1, max: 60_000, default: 64, help: 'batch size' },
  device: { kind: 'choice', choices: DEVICES, default: DEFAULT_DEVICE, help: 'tensor backend' },
  seed: { kind: 'int', min: 0, max: 2 ** 31 - 1, default: 1, help: 'seed of init and shuffling' },
  bn: { kind: 'boolean', default: false, help: 'BatchNorm after each conv (on with --recipe better)' },
  limit: { kind: 'int', min: 1, max: 60_000, defaultText: 'all 60,000', help: 'use only the first N training images' },
  out: { kind: 'file', default: 'runs/mnist-cnn.qgrd', help: 'checkpoint file to write' },
} satisfies Spec;

export const MLP_TOY_FLAGS = {
  steps: { kind: 'int', min: 1, max: 10_000_000, default: 600, help: 'Adam steps' },
  lr: { kind: 'number', positive: true, default: 0.003, help: 'learning rate' },
  hidden: { kind: 'int', min: 1, max: 4096, default: 32, help: 'units in each of the two hidden layers' },
  points: { kind: 'int', min: 2, max: 1_000_000, default: 128, help: 'training points on [-pi, pi]' },
  seed: { kind: 'int', min: 0, max: 2 ** 31 - 1, default: 0, help: 'seed of the initialisation' },
} satisfies Spec;

/** `npm start -- --model resnet` (examples/lib/resnet-sweep.ts). */
export const RESNET_FLAGS = {
  quick: { kind: 'boolean', default: false, help: 'subsets: 8,192 training and 2,000 test images' },
  bits: { kind: 'bits', min: 2, max: 8, default: '8,4,2', help: "bit widths to sweep (2..8: the int8 engine's add needs levels within 8 bits)" },
  epochs: { kind: 'int', min: 1, max: 1000, default: 3, help: 'epochs of float training' },
  'qat-images': { kind: 'int', min: 64, default: 12_800, help: 'training images for QAT fine-tuning per bit width' },
  'calib-images': { kind: 'int', min: 64, default: 2048, help: 'training images for PTQ calibration' },
  'val-images': { kind: 'int', min: 1, defaultText: '2,000 (1,024 with --quick)', help: 'training images held out (the last N) as the validation split for QAT snapshot selection' },
  'qat-start': { kind: 'choice', choices: ['ptq', 'observer'], default: 'ptq', help: "QAT starts from the PTQ model and keeps its calibrated activation ranges ('ptq'), or from moving-average observers frozen at 80% ('observer', the earlier recipe)" },
  'qat-alpha': { kind: 'number', positive: true, default: 0.05, help: 'level of the selection test of --qat-rule: QAT replaces PTQ only with p <= this (examples/lib/qat-selection.ts)' },
  'qat-rule': { kind: 'choice', choices: ['loss', 'mcnemar'], default: 'loss', help: "QAT replaces PTQ only if its lowest-loss validation snapshot has a lower per-image cross-entropy than PTQ by a one-sided paired t-test at --qat-alpha and is not less accurate ('loss'), or if its most accurate snapshot beats PTQ by the exact McNemar test at --qat-alpha ('mcnemar', the CNN's rule); examples/lib/qat-selection.ts" },
  'qat-optimizer': { kind: 'choice', choices: ['auto', 'adam', 'sgd'], default: 'auto', help: "QAT's optimizer: Adam or SGD with momentum 0.9; 'auto' is Adam at >= 3 bits (fine-tuning a PTQ model that is already close) and SGD below" },
  lr: { kind: 'number', positive: true, defaultText: 'Adam 1e-4; SGD 5e-3 at >= 5 bits, 1e-2 at 3-4, 2e-2 below', help: 'QAT initial learning rate (cosine-decayed)' },
  channels: { kind: 'int', min: 1, max: 1024, default: 16, help: 'channels of the residual blocks' },
  seed: { kind: 'int', min: 0, max: 2 ** 31 - 1, default: 1, help: 'seed of every random choice' },
  arith: { kind: 'choice', choices: ['fixedPoint', 'float'], default: 'fixedPoint', help: "int8 add/mul: TFLite's fixed point or the seed document's float formula" },
  retrain: { kind: 'boolean', default: false, help: 'train the float model again even if its checkpoint exists in --out' },
  out: { kind: 'dir', default: 'runs', help: 'directory for the checkpoint, resnet-results.json and the int8 model' },
} satisfies Spec;
