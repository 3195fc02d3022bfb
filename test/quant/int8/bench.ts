/**
 * Timing of the int8 engine on the reference MNIST CNN (conv 1→40 k3, ReLU, maxpool 2,
 * conv 40→40 k3, ReLU, maxpool 2, flatten, linear 1000→10) over the 10,000 MNIST test images,
 * and the model file size against float32. Weights are random (calibrated PTQ-style on 8 test
 * images): the integer work does not depend on their values. Not part of the test suite:
 *
 *   npx tsx test/int8/bench.ts [images] [--reference] [--int32]
 *
 * Times forward() on its default path (the WebAssembly fast path, src/quant/int8/fast.ts); with
 * --reference also the TypeScript reference path (kernels: 'js', per-layer GEMMs), with --int32 also
 * the reference with gemmInt32 everywhere. Every path must give the same outputs.
 */
import { cpus, loadavg } from 'node:os';
import { encodeContainer, type Container } from '../../../src/io/container.js';

import { Int8Model, gemmInt32 } from '../../../src/quant/int8/index.js';
import { buildInt8Model, mnistCnnLayers } from './build.js';
import { loadMnist } from '../../../src/node.js';

const args = process.argv.slice(2);
const count = Number(args.find((a) => !a.startsWith('--')) ?? 10000);
const mnist = loadMnist({ split: 'test', limit: count });
const x = Float32Array.from(mnist.images, (p) => p / 255);

const built = buildInt8Model(mnistCnnLayers(1), [1, 28, 28], x.subarray(0, 8 * 784), 8);
const model = new Int8Model(built.spec);
console.log(model.describe());

const runs: [string, Int8Model][] = [[`default path (${model.forwardPath().kernels})`, model]];
if (args.includes('--reference')) runs.push(['reference path (kernels: js, per-layer GEMM)', new Int8Model(built.spec, { kernels: 'js' })]);
if (args.includes('--int32')) runs.push(['reference path, gemmInt32 everywhere', new Int8Model(built.spec, { gemm: gemmInt32 })]);
let first: Float32Array | null = null;
for (const [name, m] of runs) {
  m.forward(x.subarray(0, 64 * 784), 64); // warm up the JIT
  const check = Math.min(256, count);
  const logits = m.forward(x.subarray(0, check * 784), check);
  first ??= logits;
  if (logits.some((v, i) => v !== first![i])) throw new Error(`${name}: outputs differ from the first path's`);
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const predictions = m.predict(x, count);
  const wall = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  const agree = predictions.reduce((n, p, i) => n + (p === mnist.labels[i] ? 1 : 0), 0);
  // On a shared machine the least disturbed slice is the best estimate of the unloaded speed.
  let best = Infinity;
  for (let n0 = 0; n0 + 500 <= count; n0 += 500) {
    const t = performance.now();
    m.forward(x.subarray(n0 * 784, (n0 + 500) * 784), 500);
    best = Math.min(best, (performance.now() - t) / 500);
  }
  console.log(
    `${name}: ${count} images in ${wall.toFixed(2)} s wall, ${((cpu.user + cpu.system) / 1e6).toFixed(2)} s CPU ` +
      `(${((wall / count) * 1e6).toFixed(0)} µs/image; fastest 500-image slice ${(best * 1000).toFixed(0)} µs/image = ${(best * 10).toFixed(1)} s per 10k); ` +
      `${agree} match the labels (random weights: chance)`,
  );
}
console.log(`load average during the run: ${loadavg().map((l) => l.toFixed(1)).join(' ')} on ${cpus().length} CPUs`);

const floatArrays: Container['arrays'] = {};
built.spec.layers.forEach((layer, i) => {
  if (layer.kind !== 'conv2d' && layer.kind !== 'linear') return;
  floatArrays[`layers.${i}.weight`] = { dtype: 'float32', shape: layer.weightShape, data: new Float32Array(layer.weight.length) };
  floatArrays[`layers.${i}.bias`] = { dtype: 'float32', shape: [layer.weightShape[0]], data: new Float32Array(layer.weightShape[0]) };
});
const floatBytes = encodeContainer({ kind: 'qgrad.checkpoint', meta: {}, arrays: floatArrays }).length;
console.log(`file: int8 model ${model.sizeBytes()} bytes; float32 container with the same weights and biases ${floatBytes} bytes (${((model.sizeBytes() / floatBytes) * 100).toFixed(1)}%)`);
