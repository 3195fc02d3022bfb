/**
 * Checks the ONNX files of a run against qgrad with onnxruntime-node (CPU, 1 thread) on the MNIST
 * test set, and prints the figures of issue 13's acceptance:
 *   float: the largest |onnxruntime - qgrad| / max(1, |qgrad|) over all logits
 *   int8:  the share of images where the predictions agree, where every logit is within one output
 *          level, and where the logits are identical (qgrad's integer engine vs onnxruntime)
 *
 *   npx tsx examples/onnx-check.ts [--dir runs] [--name mnist-cnn|mnist-resnet] [--checkpoint F] [--images 10000] [--per-node 500]
 *
 * Reads <dir>/<name>-int8.qgrd (the 8-bit QAT model of `npm start` or `npm start -- --model resnet`)
 * and the float checkpoint (default: the newest <dir>/float-*.qgrd for the CNN,
 * <dir>/resnet-float-*.qgrd for the ResNet), exports both to <dir>/<name>-{float,int8}.onnx
 * (writeOnnxModels), then runs all four models on the same batches.
 *
 * The int8 model is also exported in the integer form (exportInt8GraphOnnx form 'integer'), whose
 * logits must equal qgrad's exactly.
 *
 * --per-node K compares every integer node on the first K test images, both ways:
 *   propagated  onnxruntime's levels of the node in the whole network vs qgrad's (differences
 *               carried in from earlier nodes included);
 *   isolated    qgrad's node run on onnxruntime's own input levels vs onnxruntime's output: what
 *               the node's arithmetic alone contributes.
 * (The int8 model is exported once more with every node's levels as extra outputs, tapLevels.)
 */
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { fromArray, MnistLoader, mnistCnn, noGrad, type Module } from '../src/index.js';
import { mnistResNet } from '../src/nn/index.js';
import { exportInt8GraphOnnx, type Int8GraphSpec } from '../src/quant/index.js';
import { runCli } from './lib/cli.js';
import { writeOnnxModels } from './lib/onnx.js';
import { loadCheckpoint, loadInt8GraphModel, loadMnist } from '../src/node.js';

const flags = runCli('npx tsx examples/onnx-check.ts', "The main job's exported ONNX files in onnxruntime-node against qgrad on MNIST test images.", {
  dir: { kind: 'dir', default: 'runs', help: "the job's output directory (float checkpoint, <name>-int8.qgrd); the .onnx files are written there" },
  name: { kind: 'choice', choices: ['mnist-cnn', 'mnist-resnet'], default: 'mnist-cnn', help: 'which model: the CNN of `npm start` or the ResNet of `npm start -- --model resnet`' },
  checkpoint: { kind: 'input', defaultText: 'the newest float-*.qgrd (CNN) or resnet-float-*.qgrd (ResNet) in --dir', help: 'float checkpoint to export' },
  images: { kind: 'int', min: 1, max: 10_000, default: 10_000, help: 'test images to compare on' },
  'per-node': { kind: 'int', min: 0, max: 2000, default: 0, help: 'also compare every integer node on this many test images (0: off)' },
});
const dir = flags.dir;
const images = flags.images;
const resnet = flags.name === 'mnist-resnet';
const int8Path = join(dir, `${flags.name}-int8.qgrd`);
const checkpoint = flags.checkpoint ?? newest(dir, resnet ? /^resnet-float-.*\.qgrd$/ : /^float-.*\.qgrd$/);

function newest(d: string, pattern: RegExp): string {
  const files = readdirSync(d).filter((f) => pattern.test(f)).map((f) => join(d, f));
  if (!files.length) throw new Error(`no float checkpoint (${pattern.source}) in ${d}: run \`npm start${resnet ? ' -- --model resnet' : ''}\` first or pass --checkpoint`);
  return files.sort((a, b) => statSync(b).mtimeMs - statSync(a).mtimeMs)[0];
}

/** The checkpoint's architecture: the CNN with BatchNorm (recipe bn) or without (reference); the ResNet at the width in its name. */
function loadFloat(path: string): Module {
  const width = /-c(\d+)-/.exec(path);
  const candidates: (() => Module)[] = resnet
    ? [width ? Number(width[1]) : 16, 16, 4, 8, 32].map((channels) => () => mnistResNet({ channels }))
    : [true, false].map((batchNorm) => () => mnistCnn({ batchNorm }));
  for (const make of candidates) {
    const m = make();
    try {
      loadCheckpoint(path, m);
      return m.eval();
    } catch {
      // try the next architecture
    }
  }
  throw new Error(`${path}: no ${resnet ? 'mnistResNet({ channels })' : 'mnistCnn({ batchNorm })'} matches its state dict`);
}

const floatModel = loadFloat(checkpoint);
const files = writeOnnxModels(dir, flags.name, floatModel, int8Path);
const int8 = loadInt8GraphModel(int8Path);
const spec: Int8GraphSpec = int8.toSpec();
const last = spec.nodes.find((n) => n.name === spec.output)!.op;
if (last.kind !== 'dequantize') throw new Error(`${int8Path}: the output node is ${last.kind}, not dequantize`);
const outScale = last.scale;
const classes = int8.outputShape.reduce((a, b) => a * b, 1);

const session = (model: string | Uint8Array) =>
  typeof model === 'string'
    ? ort.InferenceSession.create(model, { intraOpNumThreads: 1, interOpNumThreads: 1, executionProviders: ['cpu'] })
    : ort.InferenceSession.create(model, { intraOpNumThreads: 1, interOpNumThreads: 1, executionProviders: ['cpu'] });
const floatSession = await session(files.float);
const int8Session = await session(files.int8);
// The integer form (qgrad's fixed-point arithmetic in ONNX integer operators) of the same model.
const integerSession = await session(exportInt8GraphOnnx(spec, { form: 'integer', name: `${flags.name}-int8-integer` }));
let integerIdentical = 0;
/** onnxruntime's time in each int8 form (ms), summed over the batches: the price of the integer form. */
const ms = { qdq: 0, integer: 0 };
const timed = async (key: keyof typeof ms, run: () => Promise<Float32Array>) => {
  const t = performance.now();
  const r = await run();
  ms[key] += performance.now() - t;
  return r;
};

const argmax = (a: ArrayLike<number>, at: number) => {
  let b = 0;
  for (let j = 1; j < classes; j++) if (a[at + j] > a[at + b]) b = j;
  return b;
};
let worstFloat = 0, samePrediction = 0, withinOne = 0, identical = 0, n = 0, maxLevels = 0;
const histogram = new Map<number, number>();
const differing: string[] = [];
/** Levels between the largest and the second largest logit of example i. */
const topGap = (a: ArrayLike<number>, at: number) => {
  const v = Array.from({ length: classes }, (_, j) => a[at + j]).sort((p, q) => q - p);
  return Math.round((v[0] - v[1]) / outScale);
};
const test = loadMnist({ split: 'test', limit: images });
const t0 = performance.now();
for (const batch of new MnistLoader(test, { batchSize: 500 })) {
  const input = new ort.Tensor('float32', batch.x, [batch.size, 1, 28, 28]);
  const ours = noGrad(() => floatModel.call(fromArray(batch.x, batch.xShape)).toTypedArray());
  const theirs = (await floatSession.run({ input })).output.data as Float32Array;
  for (let i = 0; i < ours.length; i++) worstFloat = Math.max(worstFloat, Math.abs(theirs[i] - ours[i]) / Math.max(1, Math.abs(ours[i])));
  const ours8 = int8.forward(batch.x, batch.size);
  const theirs8 = await timed('qdq', async () => (await int8Session.run({ input })).output.data as Float32Array);
  const exact8 = await timed('integer', async () => (await integerSession.run({ input })).output.data as Float32Array);
  for (let i = 0; i < batch.size; i++) {
    let same = true;
    for (let j = 0; j < classes; j++) if (exact8[i * classes + j] !== ours8[i * classes + j]) same = false;
    if (same) integerIdentical++;
  }
  for (let i = 0; i < batch.size; i++) {
    if (argmax(ours8, i * classes) === argmax(theirs8, i * classes)) samePrediction++;
    else differing.push(`test image ${n + i}: qgrad top-two gap ${topGap(ours8, i * classes)} level(s), onnxruntime ${topGap(theirs8, i * classes)}`);
    let worst = 0;
    for (let j = 0; j < classes; j++) worst = Math.max(worst, Math.round(Math.abs(ours8[i * classes + j] - theirs8[i * classes + j]) / outScale));
    maxLevels = Math.max(maxLevels, worst);
    histogram.set(worst, (histogram.get(worst) ?? 0) + 1);
    if (worst <= 1) withinOne++;
    if (worst === 0) identical++;
  }
  n += batch.size;
}
const pct = (k: number, of = n) => `${((100 * k) / of).toFixed(2)}% (${k}/${of})`;
console.log(`float checkpoint ${checkpoint}, int8 model ${int8Path}, ${n} MNIST test images, onnxruntime-node ${ort.env.versions.node} (CPU, 1 thread), ${((performance.now() - t0) / 1000).toFixed(0)} s`);
console.log(`float: largest |onnxruntime - qgrad| / max(1, |qgrad|) = ${worstFloat.toExponential(2)}`);
console.log(`int8:  same prediction ${pct(samePrediction)}, every logit within one output level ${pct(withinOne)}, identical logits ${pct(identical)}, largest difference ${maxLevels} level(s)`);
console.log(`int8:  images by largest logit difference: ${[...histogram].sort((a, b) => a[0] - b[0]).map(([d, k]) => `${d} level(s): ${k}`).join(', ')}`);
for (const d of differing) console.log(`  different prediction: ${d}`);
console.log(`int8, integer form (form: 'integer'): identical logits ${pct(integerIdentical)}`);
console.log(`onnxruntime's time on the ${n} images (batches of 500, 1 thread): QDQ ${(ms.qdq / 1000).toFixed(1)} s, integer form ${(ms.integer / 1000).toFixed(1)} s`);
await floatSession.release();
await int8Session.release();
await integerSession.release();

if (flags['per-node'] > 0) await perNode(flags['per-node']);

async function perNode(k: number): Promise<void> {
  const [batch] = new MnistLoader(loadMnist({ split: 'test', limit: k }), { batchSize: k });
  const tapped = await session(exportInt8GraphOnnx(spec, { tapLevels: true }));
  const result = await tapped.run({ input: new ort.Tensor('float32', batch.x, [k, 1, 28, 28]) });
  await tapped.release();
  const plain = await session(files.int8);
  const untapped = (await plain.run({ input: new ort.Tensor('float32', batch.x, [k, 1, 28, 28]) })).output.data as Float32Array;
  await plain.release();
  const logits = result.output.data as Float32Array;
  const same = logits.length === untapped.length && logits.every((v, i) => v === untapped[i]);
  console.log(`\nper node, first ${k} test images (the extra outputs ${same ? 'leave onnxruntime\'s logits unchanged' : 'CHANGE onnxruntime\'s logits: the figures below are not those of the plain model'}):`);
  const ours = int8.forwardLevels(batch.x, k).levels;
  const theirs = new Map<string, Int32Array>();
  for (const name of Object.keys(result)) if (name.endsWith(':levels')) theirs.set(name.slice(0, -':levels'.length), Int32Array.from(result[name].data as Uint8Array | Int8Array));
  const rows = ['| node | kind | values | propagated: differ | largest | isolated: differ | largest |', '|---|---|---|---|---|---|---|'];
  const count = (a: Int32Array, b: Int32Array) => {
    let d = 0, worst = 0;
    for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) { d++; worst = Math.max(worst, Math.abs(a[i] - b[i])); }
    return { d, worst };
  };
  for (const node of spec.nodes) {
    const t = theirs.get(node.name), o = ours.get(node.name);
    if (!t || !o) continue;
    const prop = count(o, t);
    // A quantize node reads the float input, which both share: propagated is isolated.
    let iso = pct(prop.d, t.length), isoWorst = String(prop.worst);
    if (node.op.kind !== 'quantize') {
      const inputs = node.inputs.map((i) => theirs.get(i)!);
      const r = count(int8.runNode(node.name, inputs, k), t);
      iso = pct(r.d, t.length);
      isoWorst = String(r.worst);
    }
    rows.push(`| ${node.name} | ${node.op.kind} | ${t.length} | ${pct(prop.d, t.length)} | ${prop.worst} | ${iso} | ${isoWorst} |`);
  }
  console.log(rows.join('\n'));
}
