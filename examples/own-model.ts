/**
 * Quantize your own model: any Module (here a tiny residual network) through prepare, calibrate,
 * convert, save, load and predict. README.md quotes the part between the README markers, and
 * test/examples/own-model.test.ts runs it, so the README example cannot go stale.
 *
 *   npx tsx examples/own-model.ts
 */
// README:begin
import { fromArray, type Tensor } from '../src/index.js';
import { Adam, BatchNorm2d, Conv2d, evaluate, Linear, MaxPool2d, MnistLoader, Module, qf, ReLU, trainEpoch } from '../src/nn/index.js';
import { loadInt8GraphModel, loadMnist, saveInt8GraphModel } from '../src/node.js';
import { calibrate, convertGraph, Int8GraphModel, prepareQAT, qconfig } from '../src/quant/index.js';

// 1. Any Module. Between modules, use the qf ops (add, mul, cat, flatten, reshape,
//    globalAvgPool, clamp, relu) so the forward can be traced and quantized.
class TinyResNet extends Module {
  readonly conv1 = this.module('conv1', new Conv2d(1, 8, 3, { stride: 2, padding: 1 }));
  readonly bn1 = this.module('bn1', new BatchNorm2d(8));
  readonly relu1 = this.module('relu1', new ReLU());
  readonly conv2 = this.module('conv2', new Conv2d(8, 8, 3, { padding: 1 }));
  readonly bn2 = this.module('bn2', new BatchNorm2d(8));
  readonly relu2 = this.module('relu2', new ReLU());
  readonly pool = this.module('pool', new MaxPool2d(2));
  readonly fc = this.module('fc', new Linear(8 * 7 * 7, 10));
  forward(x: Tensor): Tensor {
    const h = this.relu1.call(this.bn1.call(this.conv1.call(x)));
    const r = this.bn2.call(this.conv2.call(h));
    const y = this.relu2.call(qf.add(h, r)); // the skip connection, h used twice
    return this.fc.call(qf.flatten(this.pool.call(y)));
  }
}

export function quantizeOwnModel(trainImages: number, file: string) {
  const train = loadMnist({ split: 'train', limit: trainImages });
  const test = loadMnist({ split: 'test', limit: 1000 });
  const model = new TinyResNet();
  trainEpoch(model, new Adam(model.parameters(), { lr: 5e-3 }), new MnistLoader(train, { batchSize: 32, shuffle: true, seed: 1 }));
  const float = evaluate(model, new MnistLoader(test, { batchSize: 500 }));

  // 2. Prepare: trace the forward on an example input, insert fake quantization (8 bits).
  const example = fromArray(new Float32Array(28 * 28), [1, 1, 28, 28]);
  const q = prepareQAT(model, { default: qconfig({ bits: 8 }) }, { exampleInput: example });

  // 3. Calibrate (post-training quantization), or train q with trainEpoch for QAT.
  calibrate(q, new MnistLoader(train, { batchSize: 128 }), { maxBatches: 8 });
  const fakeQuant = evaluate(q, new MnistLoader(test, { batchSize: 500 }));

  // 4. Convert to an integer-only model, save it, load it back, predict.
  saveInt8GraphModel(new Int8GraphModel(convertGraph(q)), file);
  const int8 = loadInt8GraphModel(file);
  const int8Result = evaluate(q, new MnistLoader(test, { batchSize: 500 }), { forward: (x, shape) => int8.forward(x, shape[0]) });
  const first = [...new MnistLoader(test, { batchSize: 8 })][0];
  const predicted = int8.predict(first.x, first.size); // class indices
  return { float: float.accuracy, fakeQuant: fakeQuant.accuracy, int8: int8Result.accuracy, predicted, labels: first.y };
}
// README:end

if (import.meta.url === `file://${process.argv[1]}`) {
  const r = quantizeOwnModel(8192, 'runs/own-model.qgrd');
  console.log(`float ${(r.float * 100).toFixed(1)}%, fake-quant ${(r.fakeQuant * 100).toFixed(1)}%, int8 ${(r.int8 * 100).toFixed(1)}%; predicted ${Array.from(r.predicted)} for labels ${Array.from(r.labels)}`);
}
