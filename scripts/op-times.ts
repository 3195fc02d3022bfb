/**
 * Where one train step's time goes, per op, with per-op timers (no sampling): every autograd
 * Function's forward and backward is wrapped with a timer, and the wasm runtime's kernel hook
 * (observeKernels) reports the time of each GEMM dispatch, which is charged to the op running it.
 * Prints one row per op (exclusive time: nested Functions are charged to themselves), split into
 * time inside the GEMM micro-kernel + driver (`gemm_f32`) and time outside it, per step.
 *
 *   QGRAD_THREADS=1 npx tsx scripts/op-times.ts [--steps 30] [--warmup 5] [--batch 64] [--infer] [--kernels]
 *
 * --kernels adds the time of every wasm kernel dispatch, and the split again with the GEMM operands'
 * packing counted as GEMM time (as a BLAS call counts its own packing).
 * --infer times inference of 1000 images (batches of 100, as the bench) under noGrad instead. Timers add
 * ~1 µs per op call (a few hundred per step): the step total is within noise of the plain one.
 */
import { cpus } from 'node:os';
import { parseArgs } from 'node:util';
import '../src/tensor/wasm/index.js';
import { F, manualSeed, noGrad, randn, setDefaultDevice, tidy } from '../src/index.js';
import { mnistCnn, SGD } from '../src/nn/index.js';
import { Tensor } from '../src/tensor/tensor.js';
import { getWasmKernelConfig } from '../src/tensor/wasm/index.js';
import { observeKernels } from '../src/tensor/wasm/runtime.js';
import * as conv from '../src/autograd/ops/conv.js';
import * as convPool from '../src/autograd/ops/conv-pool.js';
import * as elementwise from '../src/autograd/ops/elementwise.js';
import * as matmul from '../src/autograd/ops/matmul.js';
import * as reduce from '../src/autograd/ops/reduce.js';
import * as shape from '../src/autograd/ops/shape.js';
import * as softmax from '../src/autograd/ops/softmax.js';

const { values } = parseArgs({ options: {
  steps: { type: 'string', default: '30' }, warmup: { type: 'string', default: '5' },
  batch: { type: 'string', default: '64' }, infer: { type: 'boolean', default: false },
  kernels: { type: 'boolean', default: false },
} });
const steps = Number(values.steps), warmup = Number(values.warmup), batch = Number(values.batch);
for (const [k, v] of [['steps', steps], ['warmup', warmup], ['batch', batch]] as const) {
  if (!Number.isInteger(v) || v < (k === 'warmup' ? 0 : 1)) throw new Error(`--${k} must be a ${k === 'warmup' ? 'non-negative' : 'positive'} integer, got ${v}`);
}
setDefaultDevice('wasm');

// ---- timers ------------------------------------------------------------------------------------
interface Row { total: number; gemm: number; calls: number }
const rows = new Map<string, Row>();
/** The running ops, innermost last, each with the time of its nested ops so far. */
const stack: { key: string; t0: number; nested: number; gemm: number }[] = [];
const row = (key: string) => rows.get(key) ?? rows.set(key, { total: 0, gemm: 0, calls: 0 }).get(key)!;
const shapeOf = (args: unknown[]) => {
  const t = args.find((a) => a instanceof Tensor) as Tensor | undefined;
  return t ? `[${t.shape.join(',')}]` : '';
};
function timed<A extends unknown[], R>(label: (args: A) => string, f: (...a: A) => R): (...a: A) => R {
  return function (this: unknown, ...a: A): R {
    const frame = { key: label(a), t0: performance.now(), nested: 0, gemm: 0 };
    stack.push(frame);
    try {
      return f.apply(this, a);
    } finally {
      stack.pop();
      const dt = performance.now() - frame.t0;
      const r = row(frame.key);
      r.total += dt - frame.nested;
      r.gemm += frame.gemm;
      r.calls++;
      if (stack.length) stack[stack.length - 1].nested += dt;
    }
  };
}
/** --kernels: the time of every wasm kernel dispatch, by export. */
const kernelTimes = new Map<string, { ms: number; calls: number }>();
observeKernels((op, ms) => {
  const k = kernelTimes.get(op) ?? kernelTimes.set(op, { ms: 0, calls: 0 }).get(op)!;
  k.ms += ms;
  k.calls++;
  if (op !== 'gemm_f32') return;
  const top = stack[stack.length - 1];
  if (top) top.gemm += ms;
  else row('(no op)').gemm += ms;
});
type FnClass = { name: string; forward: (...a: unknown[]) => unknown; backward: (...a: unknown[]) => unknown };
for (const mod of [conv, convPool, elementwise, matmul, reduce, shape, softmax]) {
  for (const v of Object.values(mod)) {
    if (typeof v !== 'function' || !Object.prototype.hasOwnProperty.call(v, 'backward')) continue;
    const c = v as unknown as FnClass;
    const fw = c.forward, bw = c.backward;
    c.forward = timed((a) => `${c.name} forward ${shapeOf(a.slice(1))}`, fw);
    c.backward = timed((a) => `${c.name} backward ${shapeOf(a.slice(1))}`, bw);
  }
}

// ---- the step ----------------------------------------------------------------------------------
manualSeed(0);
const model = mnistCnn();
const opt = new SGD(model.parameters(), { lr: 0.01, momentum: 0.5 });
const optStep = timed(() => 'SGD step', () => opt.step());
const zeroGrad = timed(() => 'zeroGrad', () => opt.zeroGrad());
const x = randn([batch, 1, 28, 28]);
const y = Array.from({ length: batch }, (_, i) => i % 10);
const xs = randn([100, 1, 28, 28]);
const trainStep = () => tidy(() => {
  zeroGrad();
  const loss = F.crossEntropy(model.call(x), y);
  loss.backward();
  optStep();
  return loss.item();
});
// As the bench's inference case: 1000 images in batches of 100.
const infer = () => noGrad(() => {
  for (let i = 0; i < 10; i++) tidy(() => model.call(xs).toTypedArray());
});
const run = values.infer ? infer : trainStep;
for (let i = 0; i < warmup; i++) run();
rows.clear();
kernelTimes.clear();
let wall = 0;
for (let i = 0; i < steps; i++) {
  const t0 = performance.now();
  run();
  wall += performance.now() - t0;
}

// ---- report ------------------------------------------------------------------------------------
const per = (ms: number) => (ms / steps).toFixed(2);
const timedTotal = [...rows.values()].reduce((s, r) => s + r.total, 0);
const gemmTotal = [...rows.values()].reduce((s, r) => s + r.gemm, 0);
rows.set('(untimed: engine, tidy, loss.item, module calls)', { total: wall - timedTotal, gemm: 0, calls: steps });
const sorted = [...rows].sort((a, b) => b[1].total - a[1].total);
console.log(`${values.infer ? 'inference of 1000 images, batch 100' : `train step, batch ${batch}`}; ${steps} timed runs after ${warmup}; threads ${getWasmKernelConfig().threads}; CPU ${cpus()[0]?.model}`);
console.log(`| op | ms / ${values.infer ? 'run' : 'step'} | in GEMM | outside GEMM | share of ${values.infer ? 'run' : 'step'} |`);
console.log('|---|---|---|---|---|');
for (const [k, r] of sorted) {
  if (r.total / wall < 0.002) continue;
  console.log(`| ${k} | ${per(r.total)} | ${per(r.gemm)} | ${per(r.total - r.gemm)} | ${((100 * r.total) / wall).toFixed(1)}% |`);
}
console.log(`| **total** | **${per(wall)}** | **${per(gemmTotal)}** (${((100 * gemmTotal) / wall).toFixed(1)}%) | **${per(wall - gemmTotal)}** (${((100 * (wall - gemmTotal)) / wall).toFixed(1)}%) | 100% |`);
if (values.kernels) {
  console.log(`\n| wasm kernel | ms / ${values.infer ? 'run' : 'step'} | calls / ${values.infer ? 'run' : 'step'} |`);
  console.log('|---|---|---|');
  for (const [k, r] of [...kernelTimes].sort((a, b) => b[1].ms - a[1].ms)) console.log(`| ${k} | ${per(r.ms)} | ${(r.calls / steps).toFixed(1)} |`);
  // The table above charges the packing of the GEMM operands (for a convolution, the im2col
  // gather fused into it) to "outside". A BLAS sgemm call packs its operands inside the call, so a
  // profile of a BLAS-based engine counts that time as GEMM: the same split by that convention.
  const packing = ['pack_gather4', 'pack_gather8'].reduce((s, k) => s + (kernelTimes.get(k)?.ms ?? 0), 0);
  const outside = wall - gemmTotal - packing;
  console.log(`\ncounting the wasm operand packing (pack_gather4/8, ${per(packing)} ms) as GEMM time, as a BLAS call's own packing is: outside the GEMMs ${per(outside)} ms (${((100 * outside) / wall).toFixed(1)}%)`);
}
process.exit(0);
