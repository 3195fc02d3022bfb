/**
 * Peer: int8 inference of the same exported model, qgrad's integer engine (Int8Model.forward,
 * single-threaded) against onnxruntime-node on 1 thread running the QDQ ONNX file that
 * exportInt8Onnx writes (onnxruntime fuses it into QLinearConv/QGemm, docs/onnx.md).
 *
 * The model is mnistCnn() (40 channels) with seeded random weights, PTQ-calibrated on 256 MNIST
 * training images and converted; the input is a batch of 64 test images. The two are timed
 * interleaved, A B B A A B ... (the order alternates so that neither always runs first), and the
 * speed figure is the median of the per-pair ratios (onnxruntime time / qgrad time), so a burst of
 * load from other processes hits both sides of a pair alike instead of skewing one column. Each
 * sample also records the process's CPU time (user + system over all threads; onnxruntime runs
 * the session on a worker thread), which leaves out the time the core was given to another
 * process: on a loaded machine its ratios spread far less than wall-clock ones.
 */
import { createRequire } from 'node:module';
import { Generator, MnistLoader, mnistCnn } from '../../src/index.js';
import { calibrate, convert, exportInt8Onnx, Int8Model, prepareQAT, qconfig } from '../../src/quant/index.js';
import { stats, type Stats } from '../harness.js';
import { loadMnist } from '../../src/node.js';

export interface OnnxInt8Result {
  name: string;
  qgrad: Stats;
  onnxruntime: Stats;
  /** Per-pair onnxruntime ms / qgrad ms: > 1 means qgrad is faster. */
  ratio: Stats;
  /** The same from CPU time. */
  cpuRatio: Stats;
  notes: string[];
}

type Ort = typeof import('onnxruntime-node');

export async function benchOnnxInt8(opts: { reps: number; budgetMs: number; root: string }): Promise<OnnxInt8Result | { error: string }> {
  let ort: Ort;
  try {
    ort = createRequire(`${opts.root}/package.json`)('onnxruntime-node') as Ort;
  } catch (e) {
    return { error: `onnxruntime-node not loaded (${(e as Error).message.split('\n')[0]}); install it with ONNXRUNTIME_NODE_INSTALL=skip npm install` };
  }
  const batch = 64;
  const model = mnistCnn({ generator: new Generator(13) }).eval();
  const q = prepareQAT(model, { default: qconfig({ bits: 8 }) });
  calibrate(q, new MnistLoader(loadMnist({ split: 'train', limit: 256 }), { batchSize: 128 }));
  const spec = convert(q, { inputShape: [1, 28, 28] });
  const int8 = new Int8Model(spec);
  const [b] = new MnistLoader(loadMnist({ split: 'test', limit: batch }), { batchSize: batch });
  const session = await ort.InferenceSession.create(exportInt8Onnx(spec), {
    intraOpNumThreads: 1, interOpNumThreads: 1, executionProviders: ['cpu'], graphOptimizationLevel: 'all',
  });
  const input = { input: new ort.Tensor('float32', b.x, [batch, 1, 28, 28]) };
  const runQgrad = () => int8.forward(b.x, batch);
  const runOrt = () => session.run(input);

  for (let i = 0; i < 2; i++) {
    runQgrad();
    await runOrt();
  }
  const a: number[] = [], o: number[] = [], r: number[] = [], cr: number[] = [];
  const cpu = () => {
    const u = process.cpuUsage();
    return (u.user + u.system) / 1000;
  };
  const timed = async (run: () => unknown): Promise<[number, number]> => {
    const c0 = cpu(), t0 = performance.now();
    await run();
    return [performance.now() - t0, cpu() - c0];
  };
  let spent = 0;
  for (let i = 0; i < opts.reps && (i < 3 || spent < opts.budgetMs); i++) {
    let ta: [number, number], to: [number, number];
    if (i % 2 === 0) {
      ta = await timed(runQgrad);
      to = await timed(runOrt);
    } else {
      to = await timed(runOrt);
      ta = await timed(runQgrad);
    }
    a.push(ta[0]);
    o.push(to[0]);
    r.push(to[0] / ta[0]);
    cr.push(to[1] / ta[1]);
    spent += ta[0] + to[0];
  }
  await session.release();
  const path = int8.forwardPath();
  return {
    name: `int8 mnistCnn fwd b=${batch}`,
    qgrad: stats(a),
    onnxruntime: stats(o),
    ratio: stats(r),
    cpuRatio: stats(cr),
    notes: [
      `int8 mnistCnn: qgrad Int8Model (${path.kernels} kernels${path.reason ? `: ${path.reason}` : ''}, 1 thread) vs onnxruntime-node ${ort.env.versions.node} (CPU EP, 1 thread, QDQ model fused to QLinearConv/QGemm); ` +
        `median of ${r.length} interleaved per-pair ratios onnxruntime/qgrad = ${stats(r).median.toFixed(2)} (> 1: qgrad faster); ` +
        `from CPU time ${stats(cr).median.toFixed(2)} (range ${stats(cr).min.toFixed(2)}-${stats(cr).max.toFixed(2)})`,
    ],
  };
}
