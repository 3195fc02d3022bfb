/**
 * Checks the ONNX files of a run against qgrad with onnxruntime-node (CPU, 1 thread) on the MNIST
 * test set, and prints the figures of issue 13's acceptance:
 *   float: the largest |onnxruntime - qgrad| / max(1, |qgrad|) over all logits
 *   int8:  the share of images where the predictions agree, where every logit is within one output
 *          level, and where the logits are identical (qgrad's integer engine vs onnxruntime)
 *
 *   npx tsx examples/onnx-check.ts [--dir runs] [--name mnist-cnn] [--checkpoint runs/float-....qgrd] [--images 10000]
 *
 * Reads <dir>/mnist-cnn-int8.qgrd (the main job's 8-bit QAT model) and the float checkpoint
 * (default: the newest <dir>/float-*.qgrd), exports both to <dir>/<name>-{float,int8}.onnx
 * (writeOnnxModels), then runs all four models on the same batches.
 */
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { fromArray, MnistLoader, mnistCnn, noGrad, type Sequential } from '../src/index.js';
import { Int8Model } from '../src/quant/index.js';
import { int8SpecFromContainer } from '../src/quant/int8/format.js';
import { runCli } from './lib/cli.js';
import { writeOnnxModels } from './lib/onnx.js';
import { loadCheckpoint, loadContainer, loadMnist } from '../src/node.js';

const flags = runCli('npx tsx examples/onnx-check.ts', "The main job's exported ONNX files in onnxruntime-node against qgrad on MNIST test images.", {
  dir: { kind: 'dir', default: 'runs', help: 'the main job\'s output directory (float-*.qgrd, mnist-cnn-int8.qgrd); the .onnx files are written there' },
  name: { kind: 'choice', choices: ['mnist-cnn'], default: 'mnist-cnn', help: 'model name of the files' },
  checkpoint: { kind: 'input', defaultText: 'the newest float-*.qgrd in --dir', help: 'float checkpoint to export' },
  images: { kind: 'int', min: 1, max: 10_000, default: 10_000, help: 'test images to compare on' },
});
const dir = flags.dir;
const images = flags.images;
const int8Path = join(dir, 'mnist-cnn-int8.qgrd');
const checkpoint = flags.checkpoint ?? newest(dir, /^float-.*\.qgrd$/);

function newest(d: string, pattern: RegExp): string {
  const files = readdirSync(d).filter((f) => pattern.test(f)).map((f) => join(d, f));
  if (!files.length) throw new Error(`no float checkpoint (float-*.qgrd) in ${d}: run \`npm start\` first or pass --checkpoint`);
  return files.sort((a, b) => statSync(b).mtimeMs - statSync(a).mtimeMs)[0];
}

/** The checkpoint's architecture: with BatchNorm (recipe bn) or without (recipe reference). */
function loadFloat(path: string): Sequential {
  for (const batchNorm of [true, false]) {
    const m = mnistCnn({ batchNorm });
    try {
      loadCheckpoint(path, m);
      return m.eval();
    } catch {
      // try the other recipe
    }
  }
  throw new Error(`${path}: neither mnistCnn({ batchNorm: true }) nor mnistCnn() matches its state dict`);
}

const floatModel = loadFloat(checkpoint);
const files = writeOnnxModels(dir, flags.name, floatModel, int8Path);
const spec = int8SpecFromContainer(loadContainer(int8Path), int8Path);
const int8 = new Int8Model(spec);
const last = spec.layers[spec.layers.length - 1];
if (last.kind !== 'dequantize') throw new Error(`${int8Path}: the last layer is ${last.kind}, not dequantize`);
const outScale = last.scale;

const session = (path: string) => ort.InferenceSession.create(path, { intraOpNumThreads: 1, interOpNumThreads: 1, executionProviders: ['cpu'] });
const floatSession = await session(files.float);
const int8Session = await session(files.int8);

const argmax = (a: ArrayLike<number>, at: number) => {
  let b = 0;
  for (let j = 1; j < 10; j++) if (a[at + j] > a[at + b]) b = j;
  return b;
};
let worstFloat = 0, samePrediction = 0, withinOne = 0, identical = 0, n = 0, maxLevels = 0;
const differing: string[] = [];
/** Levels between the largest and the second largest logit of example i. */
const topGap = (a: ArrayLike<number>, at: number) => {
  const v = Array.from({ length: 10 }, (_, j) => a[at + j]).sort((p, q) => q - p);
  return Math.round((v[0] - v[1]) / outScale);
};
for (const batch of new MnistLoader(loadMnist({ split: 'test', limit: images }), { batchSize: 500 })) {
  const input = new ort.Tensor('float32', batch.x, [batch.size, 1, 28, 28]);
  const ours = noGrad(() => floatModel.call(fromArray(batch.x, batch.xShape)).toTypedArray());
  const theirs = (await floatSession.run({ input })).output.data as Float32Array;
  for (let i = 0; i < ours.length; i++) worstFloat = Math.max(worstFloat, Math.abs(theirs[i] - ours[i]) / Math.max(1, Math.abs(ours[i])));
  const ours8 = int8.forward(batch.x, batch.size);
  const theirs8 = (await int8Session.run({ input })).output.data as Float32Array;
  for (let i = 0; i < batch.size; i++) {
    if (argmax(ours8, i * 10) === argmax(theirs8, i * 10)) samePrediction++;
    else differing.push(`test image ${n + i}: qgrad top-two gap ${topGap(ours8, i * 10)} level(s), onnxruntime ${topGap(theirs8, i * 10)}`);
    let worst = 0;
    for (let j = 0; j < 10; j++) worst = Math.max(worst, Math.round(Math.abs(ours8[i * 10 + j] - theirs8[i * 10 + j]) / outScale));
    maxLevels = Math.max(maxLevels, worst);
    if (worst <= 1) withinOne++;
    if (worst === 0) identical++;
  }
  n += batch.size;
}
const pct = (k: number) => `${((100 * k) / n).toFixed(2)}% (${k}/${n})`;
console.log(`float checkpoint ${checkpoint}, int8 model ${int8Path}, ${n} MNIST test images, onnxruntime-node ${ort.env.versions.node} (CPU, 1 thread)`);
console.log(`float: largest |onnxruntime - qgrad| / max(1, |qgrad|) = ${worstFloat.toExponential(2)}`);
console.log(`int8:  same prediction ${pct(samePrediction)}, every logit within one output level ${pct(withinOne)}, identical logits ${pct(identical)}, largest difference ${maxLevels} level(s)`);
for (const d of differing) console.log(`  different prediction: ${d}`);
await floatSession.release();
await int8Session.release();
