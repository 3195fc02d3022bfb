/**
 * Times the seed CNN's train step (batch 64, SGD lr 0.01 momentum 0.5, the bench's case) in
 * this process: `--warmup` untimed steps, then `--steps` timed ones; prints the median ms and the
 * CPU model. Meant to be run as interleaved processes, A B A B, against another checkout:
 *
 *   npx tsx scripts/train-step-time.ts [--steps 30] [--warmup 5] [--device wasm|cpu] [--infer]
 *
 * --infer times the bench's other CNN case instead: inference of 1000 images in batches of 100
 * under noGrad (one "step" is the 1000 images).
 * QGRAD_THREADS sets the thread count as everywhere.
 */
import { cpus } from 'node:os';
import { parseArgs } from 'node:util';
import '../src/tensor/wasm/index.js';
import { F, manualSeed, noGrad, randn, setDefaultDevice, tidy } from '../src/index.js';
import { mnistCnn, SGD } from '../src/nn/index.js';
import { readyThreads, getWasmKernelConfig } from '../src/tensor/wasm/index.js';

const { values } = parseArgs({ options: { steps: { type: 'string', default: '30' }, warmup: { type: 'string', default: '5' }, device: { type: 'string', default: 'wasm' }, infer: { type: 'boolean', default: false } } });
const steps = Number(values.steps), warmup = Number(values.warmup);
if (!(Number.isInteger(steps) && steps > 0)) throw new Error(`--steps must be a positive integer, got ${values.steps}`);
if (!(Number.isInteger(warmup) && warmup >= 0)) throw new Error(`--warmup must be a non-negative integer, got ${values.warmup}`);
if (values.device !== 'wasm' && values.device !== 'cpu') throw new Error(`--device must be wasm or cpu, got ${values.device}`);
setDefaultDevice(values.device);
manualSeed(0);
const model = mnistCnn();
const opt = new SGD(model.parameters(), { lr: 0.01, momentum: 0.5 });
const x = randn([64, 1, 28, 28]);
const y = Array.from({ length: 64 }, (_, i) => i % 10);
const step = () => tidy(() => {
  opt.zeroGrad();
  const loss = F.crossEntropy(model.call(x), y);
  loss.backward();
  opt.step();
  return loss.item();
});
const xi = randn([100, 1, 28, 28]);
const infer = () => noGrad(() => {
  for (let b = 0; b < 10; b++) tidy(() => void model.call(xi).toTypedArray());
});
const run = values.infer ? infer : step;
for (let i = 0; i < warmup; i++) run();
// Let worker threads come up before timing (they start in the background).
const deadline = Date.now() + 10_000;
while (readyThreads() < getWasmKernelConfig().threads && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
const ts: number[] = [];
for (let i = 0; i < steps; i++) {
  const t0 = performance.now();
  run();
  ts.push(performance.now() - t0);
}
ts.sort((a, b) => a - b);
console.log(JSON.stringify({ medianMs: ts[steps >> 1], minMs: ts[0], maxMs: ts[steps - 1], threads: getWasmKernelConfig().threads, relaxedSimd: getWasmKernelConfig().relaxedSimd, case: values.infer ? 'infer1000' : 'train64', cpu: cpus()[0]?.model }));
process.exit(0);
