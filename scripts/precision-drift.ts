/**
 * Prints the float32-vs-float64 drift of issue 17 for the reference kernels and the wasm kernels
 * (see test/helpers/drift.ts), and optionally writes the seeded initial weights for the PyTorch
 * twin of this experiment (scripts/torch_drift.py).
 *
 *   npx tsx scripts/precision-drift.ts [--steps 20] [--eval 256] [--weights runs/drift-init.safetensors]
 */
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { parseArgs } from 'node:util';
import '../src/tensor/wasm/index.js';
import { Generator } from '../src/index.js';
import { mnistCnn } from '../src/nn/index.js';
import { saveSafetensors } from '../src/nn/safetensors-file.js';
import { relativeDiff, trainRun } from '../test/helpers/drift.js';

const { values } = parseArgs({ options: { steps: { type: 'string', default: '20' }, eval: { type: 'string', default: '256' }, weights: { type: 'string' } } });
const steps = Number(values.steps), evalImages = Number(values.eval);
if (!Number.isInteger(steps) || steps < 1) throw new Error(`--steps must be a positive integer, got ${values.steps}`);
if (!Number.isInteger(evalImages) || evalImages < 1) throw new Error(`--eval must be a positive integer, got ${values.eval}`);
if (values.weights) {
  mkdirSync(dirname(values.weights), { recursive: true });
  saveSafetensors(values.weights, mnistCnn({ generator: new Generator(1) }));
  console.log(`initial weights written to ${values.weights}`);
}
const opts = { steps, evalImages };
const t0 = performance.now();
const ref = trainRun('float64', 'cpu', opts);
const t1 = performance.now();
console.log(`float64 on cpu: ${((t1 - t0) / 1000).toFixed(1)} s, last loss ${ref.losses.at(-1)}`);
for (const device of ['cpu', 'wasm']) {
  const s = performance.now();
  const r = trainRun('float32', device, opts);
  const d = relativeDiff(r.logits, ref.logits);
  console.log(`float32 on ${device}: ${steps} steps, logits of ${evalImages} test images vs float64: relative L2 ${d.l2.toExponential(3)}, max ${d.max.toExponential(3)} (${((performance.now() - s) / 1000).toFixed(1)} s)`);
}
process.exit(0);
