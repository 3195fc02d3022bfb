/**
 * Times the main job's fake-quant phases in isolation (issue 17): one PTQ evaluation of the
 * MNIST CNN (examples/mnist-quant.ts's configuration: histogram/mse calibration, per-channel
 * weights, int32 bias, requantization simulated) and, with --qat, QAT training steps of the same
 * model (weight observers on, activation observers off, as qatTrain). Prints the wall time of
 * each repetition and a digest of the predictions / losses, so a faster build can be checked
 * bit for bit against a slower one (same digest) while it is timed.
 *
 *   npx tsx scripts/fq-eval-time.ts --ckpt runs/full/float-bn-seed1-e2-val2000.qgrd [--bits 4] [--images 2000] [--reps 3] [--qat 20]
 *   node --cpu-prof --cpu-prof-dir=/tmp/prof --import tsx scripts/fq-eval-time.ts ...
 */
import { createHash } from 'node:crypto';
import { parseArgs } from 'node:util';
import { Generator, manualSeed } from '../src/index.js';
import { Adam, evaluate, mnistCnn, MnistLoader, SGD, trainEpoch } from '../src/nn/index.js';
import { calibrate, fakeQuantizers, prepareQAT, qconfig, type QatConfig } from '../src/quant/index.js';
import { loadCheckpoint, loadMnist } from '../src/node.js';
import { selectDevice } from '../examples/lib/device.js';

const { values } = parseArgs({ options: {
  ckpt: { type: 'string', default: 'runs/full/float-bn-seed1-e2-val2000.qgrd' },
  bits: { type: 'string', default: '4' }, images: { type: 'string', default: '2000' },
  reps: { type: 'string', default: '3' }, qat: { type: 'string', default: '0' },
  batch: { type: 'string', default: '500' }, code: { type: 'string' }, float: { type: 'string', default: '0' },
} });
const bits = Number(values.bits), images = Number(values.images), reps = Number(values.reps), qatSteps = Number(values.qat), batch = Number(values.batch);
await selectDevice('wasm');
manualSeed(1);
const floatSteps = Number(values.float);
if (floatSteps > 0) {
  // the job's float recipe (bn): Adam 2e-3, batch 64, from the seed's initial weights
  const m = mnistCnn({ batchNorm: true, generator: new Generator(1) });
  const opt = new Adam(m.parameters(), { lr: 2e-3 });
  const losses: number[] = [];
  const t0 = performance.now();
  trainEpoch(m, opt, new MnistLoader(loadMnist({ split: 'train', limit: floatSteps * 64 }), { batchSize: 64, shuffle: true, seed: 1 }).batches(0), {
    device: 'wasm', onStep: (s) => losses.push(s.loss),
  });
  const dt = performance.now() - t0;
  console.log(`float ${floatSteps} steps: ${dt.toFixed(0)} ms (${(dt / floatSteps).toFixed(1)} ms/step), losses ${createHash('sha256').update(new Uint8Array(Float64Array.from(losses).buffer)).digest('hex').slice(0, 16)}`);
}
const model = mnistCnn({ batchNorm: true, generator: new Generator(1) });
loadCheckpoint(values.ckpt!, model);
const code = values.code as 'binary' | 'ternary' | undefined;
const opts = { bits, activationObserver: 'histogram' as const, calibration: 'mse' as const };
const layer = qconfig({ ...opts, ...(code ? { weightCode: code } : {}) });
const eight = qconfig({ ...opts, bits: 8 });
const config: QatConfig = { default: layer, input: eight, layers: { [String(model.namedChildren().length - 1)]: { ...layer, activation: eight.activation } } };
const q = prepareQAT(model, config);
const train = loadMnist({ split: 'train', limit: 8192 });
const test = loadMnist({ split: 'test', limit: images });
calibrate(q, new MnistLoader(train, { batchSize: 256, subset: { size: 2048, seed: 3 } }), { device: 'wasm' });

const digest = (a: ArrayLike<number>) => createHash('sha256').update(new Uint8Array(Float64Array.from(a).buffer)).digest('hex').slice(0, 16);
for (let r = 0; r < reps; r++) {
  const t0 = performance.now();
  const res = evaluate(q, new MnistLoader(test, { batchSize: batch }), { device: 'wasm' });
  console.log(`eval ${images} images: ${(performance.now() - t0).toFixed(0)} ms, accuracy ${res.accuracy}, loss ${res.loss}, predictions ${digest(res.predictions)}`);
}
if (qatSteps > 0) {
  for (const fq of fakeQuantizers(q)) fq.observerEnabled = !!fq.config.signed;
  const opt = new SGD(q.parameters(), { lr: 0.01, momentum: 0.9 });
  q.train();
  const losses: number[] = [];
  const t0 = performance.now();
  trainEpoch(q, opt, new MnistLoader(train, { batchSize: 64, shuffle: true, seed: 2, subset: { size: qatSteps * 64, seed: 1 } }).batches(0), {
    device: 'wasm', onStep: (s) => losses.push(s.loss),
  });
  console.log(`qat ${qatSteps} steps: ${(performance.now() - t0).toFixed(0)} ms (${((performance.now() - t0) / qatSteps).toFixed(1)} ms/step), losses ${digest(losses)}`);
  const res = evaluate(q, new MnistLoader(test, { batchSize: batch }), { device: 'wasm' });
  console.log(`after qat: accuracy ${res.accuracy}, predictions ${digest(res.predictions)}`);
}
if (process.env.FQ_POOL_STATS) {
  const { getBackend } = await import('../src/index.js');
  const pool = (getBackend('wasm') as unknown as { bufferPool: { hits: number; misses: number; pooledBytes: number } }).bufferPool;
  console.log(`buffer pool: ${pool.hits} hits, ${pool.misses} misses, ${(pool.pooledBytes / 2 ** 20).toFixed(0)} MiB pooled`);
}
