/**
 * Where one batch's time goes in the int8 fast path (src/quant/int8/fast/program.ts): the bench's
 * model (mnistCnn(), seeded random weights, PTQ on 256 MNIST training images, converted), a batch
 * of 64 test images, each op of the program timed on its own (per-op timers around the kernel
 * calls, the same calls forward() makes), median over rounds, printed per image. Times are the
 * process's CPU time (process.cpuUsage, µs resolution; an op call runs a whole chunk of images,
 * hundreds of µs), which leaves out time the core was given to other processes; `total` is the
 * CPU time of an unwrapped forward().
 *
 *   npx tsx scripts/int8-op-times.ts [--rounds 400] [--batch 64]
 */
import { cpus } from 'node:os';
import { parseArgs } from 'node:util';
import { Generator, MnistLoader, mnistCnn } from '../src/index.js';
import { calibrate, convert, Int8Model, prepareQAT, qconfig } from '../src/quant/index.js';
import { loadMnist } from '../src/node.js';

const { values } = parseArgs({ options: { rounds: { type: 'string', default: '400' }, batch: { type: 'string', default: '64' } } });
const rounds = Number(values.rounds), batch = Number(values.batch);
const model = mnistCnn({ generator: new Generator(13) }).eval();
const q = prepareQAT(model, { default: qconfig({ bits: 8 }) });
calibrate(q, new MnistLoader(loadMnist({ split: 'train', limit: 256 }), { batchSize: 128 }));
const int8 = new Int8Model(convert(q, { inputShape: [1, 28, 28] }));
const [b] = new MnistLoader(loadMnist({ split: 'test', limit: batch }), { batchSize: batch });
const out = new Float32Array(batch * 10);
int8.forward(b.x, batch);
// eslint-disable-next-line @typescript-eslint/no-explicit-any
const prog = (int8 as any).fast;
console.log(prog.summary.join('\n'), `\nchunk ${prog.chunk}`);

/** CPU time in ms. */
const now = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};
// Time each stage of forward() by running it with a wrapped exports object.
const k = prog.kernels;
const original = k.exports;
const times = new Map<string, number[]>();
const wrapped: Record<string, unknown> = {};
let acc = new Map<string, number>();
for (const name of Object.keys(original)) {
  const f = original[name];
  if (typeof f !== 'function') continue;
  wrapped[name] = (...args: number[]) => {
    const t0 = now();
    f(...args);
    acc.set(name, (acc.get(name) ?? 0) + now() - t0);
  };
}
for (const m of ['quantizeInput', 'dequantizeOutput', 'maxPool'] as const) {
  const f = prog[m].bind(prog);
  prog[m] = (...args: unknown[]) => {
    const t0 = now();
    f(...args);
    acc.set(m, (acc.get(m) ?? 0) + now() - t0);
  };
}
const totals: number[] = [];
for (let r = 0; r < rounds; r++) {
  acc = new Map();
  k.exports = wrapped;
  prog.forward(b.x, batch, out);
  for (const [n, v] of acc) (times.get(n) ?? times.set(n, []).get(n)!).push(v);
  k.exports = original;
  const t1 = now();
  prog.forward(b.x, batch, out);
  totals.push(now() - t1);
}
const med = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1];
console.log(`${cpus()[0].model} node ${process.version}, batch ${batch}, ${rounds} rounds, µs of CPU time per image (median)`);
console.log(`total, unwrapped ${(1000 * med(totals) / batch).toFixed(2)}`);
for (const [n, v] of times) console.log(`${n.padEnd(18)} ${(1000 * med(v) / batch).toFixed(2)}`);
