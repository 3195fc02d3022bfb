/**
 * Interleaved timing of int8 inference of the bench's model (bench/peers/onnxruntime.ts: mnistCnn(),
 * seeded random weights, PTQ on 256 MNIST training images, converted; a batch of 64 test images):
 * this checkout's Int8Model (A), another checkout's (B, e.g. `git archive main src | tar -x -C
 * /tmp/base`, with node_modules and package.json beside it), and onnxruntime-node on 1 thread
 * running the exported QDQ model, in rounds A B O / O B A. Prints the median and range of the
 * per-round ratios A/B and A/O, of wall time and of CPU time, and checks that A's and B's outputs
 * are bit-identical.
 *
 *   npx tsx scripts/int8-ab.ts /tmp/base [--rounds 200] [--batch 64]
 */
import { createRequire } from 'node:module';
import { cpus } from 'node:os';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { Generator, MnistLoader, mnistCnn } from '../src/index.js';
import { calibrate, convert, exportInt8Onnx, Int8Model, prepareQAT, qconfig } from '../src/quant/index.js';
import { loadMnist } from '../src/node.js';

const { values, positionals } = parseArgs({ allowPositionals: true, options: { rounds: { type: 'string', default: '200' }, batch: { type: 'string', default: '64' } } });
const base = positionals[0];
if (!base) throw new Error('usage: npx tsx scripts/int8-ab.ts <other checkout> [--rounds N] [--batch N]');
const rounds = Number(values.rounds), batch = Number(values.batch);
const B = (await import(resolve(base, 'src/quant/index.ts'))) as { Int8Model: typeof Int8Model };
const ort = createRequire(import.meta.url)('onnxruntime-node') as typeof import('onnxruntime-node');

const model = mnistCnn({ generator: new Generator(13) }).eval();
const q = prepareQAT(model, { default: qconfig({ bits: 8 }) });
calibrate(q, new MnistLoader(loadMnist({ split: 'train', limit: 256 }), { batchSize: 128 }));
const spec = convert(q, { inputShape: [1, 28, 28] });
const a = new Int8Model(spec), b = new B.Int8Model(structuredClone(spec));
const [x] = new MnistLoader(loadMnist({ split: 'test', limit: batch }), { batchSize: batch });
const session = await ort.InferenceSession.create(exportInt8Onnx(spec), {
  intraOpNumThreads: 1, interOpNumThreads: 1, executionProviders: ['cpu'], graphOptimizationLevel: 'all',
});
const input = { input: new ort.Tensor('float32', x.x, [batch, 1, 28, 28]) };
const ya = a.forward(x.x, batch), yb = b.forward(x.x, batch);
for (let i = 0; i < ya.length; i++) if (!Object.is(ya[i], yb[i])) throw new Error(`outputs differ at ${i}: ${ya[i]} vs ${yb[i]}`);
for (let i = 0; i < 5; i++) { a.forward(x.x, batch); b.forward(x.x, batch); await session.run(input); }

// Wall time, and the process's CPU time (user + system, all threads: onnxruntime runs the session
// on a worker thread), which leaves out the time another process holds the core; the order within
// a round alternates (A B O, O B A) so that neither side always runs first.
const ta: number[] = [], tb: number[] = [], to: number[] = [], ab: number[] = [], ao: number[] = [];
const ca: number[] = [], cb: number[] = [], co: number[] = [], cab: number[] = [], cao: number[] = [];
const cpu = () => { const u = process.cpuUsage(); return (u.user + u.system) / 1000; };
async function timed(run: () => unknown): Promise<[number, number]> {
  const c0 = cpu(), t0 = performance.now();
  await run();
  return [performance.now() - t0, cpu() - c0];
}
for (let r = 0; r < rounds; r++) {
  const runA = () => timed(() => a.forward(x.x, batch)), runB = () => timed(() => b.forward(x.x, batch)), runO = () => timed(() => session.run(input));
  let da: [number, number], db: [number, number], dO: [number, number];
  if (r % 2 === 0) { da = await runA(); db = await runB(); dO = await runO(); }
  else { dO = await runO(); db = await runB(); da = await runA(); }
  ta.push(da[0]); tb.push(db[0]); to.push(dO[0]); ab.push(da[0] / db[0]); ao.push(da[0] / dO[0]);
  ca.push(da[1]); cb.push(db[1]); co.push(dO[1]); cab.push(da[1] / db[1]); cao.push(da[1] / dO[1]);
}
await session.release();
const sorted = (v: number[]) => [...v].sort((p, q) => p - q);
const med = (v: number[]) => { const s = sorted(v); return s.length % 2 ? s[s.length >> 1] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2; };
const us = (v: number[]) => `${(1000 * med(v) / batch).toFixed(1)} µs/image`;
const ratio = (v: number[]) => { const s = sorted(v); return `${med(v).toFixed(3)} (IQR ${s[Math.floor(s.length / 4)].toFixed(3)}-${s[Math.floor(3 * s.length / 4)].toFixed(3)}, range ${s[0].toFixed(3)}-${s[s.length - 1].toFixed(3)})`; };
console.log(`${cpus()[0].model} x${cpus().length}, node ${process.version}, onnxruntime-node ${ort.env.versions.node}, batch ${batch}, ${rounds} rounds A B O`);
console.log(`A (this checkout) ${us(ta)}, B (${base}) ${us(tb)}, O (onnxruntime 1t) ${us(to)}`);
console.log(`A/B median ${ratio(ab)}`);
console.log(`A/O median ${ratio(ao)}`);
console.log(`CPU time: A ${us(ca)}, B ${us(cb)}, O ${us(co)}`);
console.log(`CPU A/B median ${ratio(cab)}`);
console.log(`CPU A/O median ${ratio(cao)}`);
if (process.env.DEBUG_AB) for (const [n, v] of [['a', ta], ['b', tb], ['o', to]] as const) console.log(n, sorted(v).filter((_, i) => i % 20 === 0).map((t) => t.toFixed(2)).join(' '));
