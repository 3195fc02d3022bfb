/**
 * The main job: post-training quantization (PTQ) and quantization-aware training (QAT) of the seed
 * tutorial's CNN on real MNIST, swept over bit widths, each also converted to an integer-only
 * model whose accuracy and agreement with the fake-quant model are measured.
 *
 *   npm start                      full sweep, bits 1..8 (float model trained once, then reused from runs/)
 *   npm start -- --quick           about a minute: subsets, bits 8,4,2
 *   npm start -- --model resnet    the residual network's sweep instead (examples/lib/resnet-sweep.ts)
 *   npm start -- --help            every flag with its meaning and default (examples/lib/flags.ts)
 *
 * Every flag is validated before any work starts (examples/lib/cli.ts): a bad one prints one
 * line and exits 2.
 *
 * Writes DIR/results.json and DIR/mnist-quant.svg (accuracy vs bits, PTQ and QAT, next to the
 * published figures of seed document 004).
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { manualSeed, Generator } from '../src/index.js';
import {
  MnistLoader, mnistCnn, SGD, Adam, CosineAnnealingLR, trainEpoch, evaluate,
  type Sequential, type MnistDataset, type EvalResult,
} from '../src/nn/index.js';
import {
  prepareQAT, qconfig, calibrate, convert, Int8Model,
  type QatConfig, type CalibrationMethod, type ObserverKind,
} from '../src/quant/index.js';
import { loadCheckpoint, saveCheckpoint, saveInt8Model, writeFileAtomic } from '../src/node.js';
import { Progress } from './lib/progress.js';
import { loadSplits } from './lib/splits.js';
import { phaseTimer } from './lib/phases.js';
import { runCli, pickModel, exitUsage } from './lib/cli.js';
import { MNIST_QUANT_FLAGS } from './lib/flags.js';
import { selectDevice } from './lib/device.js';
import { accuracyChartSvg, type Series } from './lib/chart.js';
import { classReport } from './lib/confusion.js';
import { writeOnnxModels } from './lib/onnx.js';
import { qatTrain, type QatRecipe, type QatSelection } from './lib/qat-recipe.js';

/** Seed document 004's table (PyTorch, naive min/max observers), bits 1..8, in %. */
const PUBLISHED_SOURCE = 'tutorial "Neural network quantization, an introduction: QAT" (PyTorch; seed document 004)';
const PUBLISHED = {
  ptq: [10, 47, 83, 96, 98, 98, 98, 98],
  qat: [10, 63, 90, 97, 98, 98, 98, 98],
};

// --model resnet: the residual network has its own sweep and flags (examples/lib/resnet-sweep.ts).
const modelFlag = pickModel(process.argv.slice(2));
if (modelFlag.model === 'resnet') {
  const { runResnetSweep } = await import('./lib/resnet-sweep.js');
  await runResnetSweep(modelFlag.rest);
  process.exit(0);
}

const flags = runCli('npm start --', 'PTQ and QAT of the MNIST CNN over bit widths, with integer-only int8 models.', MNIST_QUANT_FLAGS, modelFlag.rest);
const quick = flags.quick;
const bitsList = flags.bits ?? (quick ? [8, 4, 2] : [1, 2, 3, 4, 5, 6, 7, 8]);
const floatEpochs = flags.epochs ?? (quick ? 1 : 2);
// QAT fine-tuning data per bit width: at 5 bits and up PTQ already matches float accuracy, so
// half the data suffices there; the low widths get the full budget, 2 bits twice that (chosen
// on the validation split: 12,800 images ended at 98.70%, 25,600 at 99.20%), and uniform 2-bit
// weights with their MSE ranges twice that again (validation 99.05-99.20% and cross-entropy
// 0.039-0.041 over three data seeds at 25,600; 99.30% and 0.034 at 51,200; docs/low-bit.md §7).
const qatImagesFor = (bits: number, code?: WeightCodeName): number =>
  flags['qat-images'] ?? (quick ? 2048 : bits === 2 && code === undefined ? 51_200 : bits === 2 ? 25_600 : bits >= 5 ? 6400 : 12_800);
const calibImages = flags['calib-images'] ?? (quick ? 512 : 2048);
const device = flags.device;
const seed = flags.seed;
const recipe = flags.recipe;
const bn = recipe === 'bn';
const outDir = flags.out;

await selectDevice(device);
manualSeed(seed);

const { phases, phase } = phaseTimer();

if (flags['qat-alpha'] >= 1) exitUsage(`--qat-alpha must be in (0, 1), got ${flags['qat-alpha']}`);
const { train, val, test, valImages } = loadSplits(quick, flags['val-images']);
const testLoader = () => new MnistLoader(test, { batchSize: 500 });

// ---- 1. the float model -----------------------------------------------------------------------
const newModel = () => mnistCnn({ batchNorm: bn, generator: new Generator(seed) }).to(device);
const ckpt = join(outDir, `float-${recipe}-seed${seed}-e${floatEpochs}-val${valImages}${quick ? '-quick' : ''}.qgrd`);
const floatModel = newModel();
if (existsSync(ckpt) && !flags.retrain) {
  loadCheckpoint(ckpt, floatModel);
  console.log(`float model: reusing ${ckpt} (pass --retrain to train again)`);
} else {
  await phase('float training', () => trainFloat(floatModel, train));
  saveCheckpoint(ckpt, floatModel, { recipe, seed, epochs: floatEpochs });
}
const floatRes = await phase('float eval', () => evaluate(floatModel, testLoader(), { device }));
console.log(`float test accuracy ${pct(floatRes.accuracy)}`);

// --study NAME: a side study on this float model instead of the sweep (examples/lib/study.ts).
if (flags.study !== 'none') {
  const { runStudy } = await import('./lib/study.js');
  await runStudy(flags.study, {
    floatModel, cloneFloat, floatAccuracy: floatRes.accuracy, train, val, test, device, seed, quick,
    bits: flags.bits, calibImages, outDir, qatAlpha: flags['qat-alpha'],
  });
  process.exit(0);
}

function trainFloat(model: Sequential, ds: MnistDataset): void {
  const opt = bn ? new Adam(model.parameters(), { lr: 2e-3 }) : new SGD(model.parameters(), { lr: 0.01, momentum: 0.5 });
  const loader = new MnistLoader(ds, { batchSize: 64, shuffle: true, seed });
  const sched = bn ? new CosineAnnealingLR(opt, floatEpochs * loader.numBatches) : null;
  for (let e = 0; e < floatEpochs; e++) {
    const bar = new Progress(`float epoch ${e + 1}/${floatEpochs}`, loader.numBatches);
    trainEpoch(model, opt, loader.batches(e), { device, onStep: (s) => { sched?.step(); bar.update(s.step, { loss: s.loss }, s.seen); } });
  }
}

// ---- 2. the sweep -----------------------------------------------------------------------------
/**
 * Quantization config at b bits: weights and hidden activations at b bits; the network input and
 * the logits at 8 bits (MNIST pixels are 8-bit data already, and argmax over 2^b logit levels
 * would mostly measure ties). The published table quantized those at b bits too: see README.
 */
function configFor(bits: number, kind: 'ptq' | 'qat', code = weightCodeFor(bits)): QatConfig {
  const opts = kind === 'ptq'
    ? { bits, activationObserver: 'histogram' as ObserverKind, calibration: flags.calibration as CalibrationMethod }
    : { bits, activationObserver: flags.observer as ObserverKind, calibration: flags.calibration as CalibrationMethod };
  const eight = qconfig({ ...opts, bits: 8 });
  const last = String(newModelChildren() - 1);
  // (min/max is qconfig's default: only 'mse' is passed, so the configs above 2 bits are unchanged)
  const range = code ? {} : weightRangeFor(bits) === 'mse' ? { weightRange: 'mse' as const } : {};
  const layer = qconfig({ ...opts, ...(code ? { weightCode: code } : {}), ...range });
  return { default: layer, input: eight, layers: { [last]: { ...layer, activation: eight.activation } } };
}
/**
 * Uniform weights' per-channel ranges: min/max, except at 2 bits the range with the least squared
 * weight error (src/quant/mse-weight-observer.ts). A 2-bit symmetric grid is {-2, -1, 0, 1}·max|w|/1.5,
 * which rounds about two thirds of a channel's weights to 0; chosen on the validation split (PTQ
 * 88.60% -> 97.45%, QAT 98.65% -> 99.05%; docs/low-bit.md §7). Not at 1 bit: uniform signed 1-bit
 * weights have the levels {-1, 0}, no positive level for the search to place.
 */
function weightRangeFor(bits: number): 'minmax' | 'mse' {
  return bits === 2 ? 'mse' : 'minmax';
}
/** --weights: 'auto' is binary (XNOR-Net α·sign, src/quant/binary.ts) at 1 bit, uniform above. */
function weightCodeFor(bits: number): 'binary' | 'ternary' | 'pow2' | undefined {
  const w = flags.weights;
  if (w === 'binary' || w === 'ternary' || w === 'pow2') return w;
  return w === 'auto' && bits === 1 ? 'binary' : undefined;
}
type WeightCodeName = 'binary' | 'ternary' | 'pow2';
/**
 * The sweep's rows: one per bit width with the --weights code, and with --weights auto in full
 * mode a second 2-bit row with ternary weights (TWN, src/quant/ternary.ts), the 2-bit counterpart
 * of the binary 1-bit row (issue 14 asks for both beside the uniform rows).
 */
interface Variant { bits: number; code: WeightCodeName | undefined }
const variants: Variant[] = bitsList.flatMap((bits): Variant[] =>
  flags.weights === 'auto' && bits === 2 && !quick ? [{ bits, code: undefined }, { bits, code: 'ternary' }] : [{ bits, code: weightCodeFor(bits) }]);
const variantLabel = (v: { bits: number; code?: WeightCodeName | undefined }) => (v.code ? `${v.bits} (${v.code} w)` : String(v.bits));
/** The row of the bit-width series (the chart's lines): the default code for its width. */
const isMainRow = (v: { bits: number; code?: WeightCodeName | undefined }) => v.code === weightCodeFor(v.bits);
function newModelChildren(): number {
  return floatModel.namedChildren().length;
}

function cloneFloat(): Sequential {
  const m = newModel();
  m.loadStateDict(floatModel.stateDict());
  return m;
}

function int8Eval(q: Sequential, bits: number, kind: string, fq: EvalResult) {
  const spec = convert(q, { inputShape: [1, 28, 28], meta: { bits, kind } });
  const im = new Int8Model(spec);
  const r = evaluate(q, testLoader(), { forward: (x, s) => im.forward(x, s[0]) });
  let agree = 0;
  for (let i = 0; i < r.predictions.length; i++) if (r.predictions[i] === fq.predictions[i]) agree++;
  return { accuracy: r.accuracy, agreement: agree / r.count, model: im, result: r };
}

interface Row {
  bits: number;
  /** the weight code of this row: 'uniform' levels, or binary / ternary / pow2 */
  weights: WeightCodeName | 'uniform';
  ptq: number; ptqInt: number; ptqAgree: number;
  qat: number; qatInt: number; qatAgree: number;
  int8Bytes: number;
}
const rows: Row[] = [];
/** Per bit width: the validation accuracy of each QAT snapshot considered and the one kept. */
const selections: ({ bits: number; weights: string } & QatSelection)[] = [];
const valLoader = () => new MnistLoader(val, { batchSize: 500 });
/** Confusion matrix and per-class accuracy of every model evaluated, by name. */
const testLabels = () => test.labels.subarray(0, floatRes.count);
const perModel: Record<string, ReturnType<typeof classReport>> = { float: classReport(testLabels(), floatRes.predictions) };
const qatLoaderFor = (bits: number, code: WeightCodeName | undefined) =>
  new MnistLoader(train, { batchSize: 64, shuffle: true, seed: seed + 1, subset: { size: Math.min(qatImagesFor(bits, code), train.count), seed } });
const calibLoader = new MnistLoader(train, { batchSize: 256, subset: { size: Math.min(calibImages, train.count), seed: seed + 2 } });

/**
 * QAT fine-tuning of the PTQ model (examples/lib/qat-recipe.ts): SGD with momentum and a
 * cosine-decayed learning rate (lower bits get a larger one: seed document 004 notes the learning
 * rate matters greatly there). The activation ranges stay the ones PTQ calibrated; weight ranges
 * follow the weights. Batch-norm statistics freeze after 60% of the steps. The validation split is
 * measured at the start (= PTQ), at 80% and at the end (three evaluations keep the full run within
 * its 15-minute budget); the most accurate snapshot replaces PTQ only if the exact McNemar test on
 * the validation split says it is better at level --qat-alpha (examples/lib/qat-selection.ts).
 */
function recipeFor(bits: number): QatRecipe {
  return {
    lr: flags.lr ?? (bits >= 5 ? 5e-3 : bits >= 3 ? 1e-2 : 2e-2),
    warmupFraction: 0,
    bnFreezeFraction: 0.6,
    checkFractions: [0.8],
    distill: null,
  };
}

for (const variant of variants) {
  const { bits, code } = variant;
  const name = variantLabel(variant);
  // PTQ: calibrate observers on float activations, then evaluate with fake quantization.
  const ptqModel = prepareQAT(cloneFloat(), configFor(bits, 'ptq', code));
  await phase('ptq calibration', () => calibrate(ptqModel, calibLoader, { device }));
  const ptq = await phase('ptq eval', () => evaluate(ptqModel, testLoader(), { device }));
  const ptqInt = await phase('int8 convert+eval', () => int8Eval(ptqModel, bits, 'ptq', ptq));

  // QAT: start from the PTQ model itself (weights, calibrated ranges, quant state), fine-tune with
  // fake quantization in the loop, and keep the snapshot that does best on the validation split
  // (the PTQ starting point included, so QAT can only lose to PTQ by val/test disagreement).
  const qatModel = prepareQAT(cloneFloat(), configFor(bits, 'ptq', code));
  qatModel.loadStateDict(ptqModel.stateDict());
  const sel = await phase('qat training', () => qatTrain(qatModel, recipeFor(bits), {
    label: `${bits}-bit`, loader: qatLoaderFor(bits, code), val: valLoader, valLabels: val.labels, device, alpha: flags['qat-alpha'],
  }));
  // When the selection keeps PTQ, the QAT model holds exactly PTQ's state: its figures are PTQ's,
  // reused rather than recomputed (about 20 s per width on the full test set).
  const qat = sel.kept === 'ptq' ? ptq : await phase('qat eval', () => evaluate(qatModel, testLoader(), { device }));
  const qatInt = sel.kept === 'ptq' ? ptqInt : await phase('int8 convert+eval', () => int8Eval(qatModel, bits, 'qat', qat));
  const key = code && code !== 'binary' ? `${bits}-bit ${code}-weight` : `${bits}-bit`;
  perModel[`PTQ ${key} fake-quant`] = classReport(testLabels(), ptq.predictions);
  perModel[`PTQ ${key} integer-only`] = classReport(testLabels(), ptqInt.result.predictions);
  perModel[`QAT ${key} fake-quant`] = classReport(testLabels(), qat.predictions);
  perModel[`QAT ${key} integer-only`] = classReport(testLabels(), qatInt.result.predictions);
  rows.push({
    bits, weights: code ?? 'uniform', ptq: ptq.accuracy, ptqInt: ptqInt.accuracy, ptqAgree: ptqInt.agreement,
    qat: qat.accuracy, qatInt: qatInt.accuracy, qatAgree: qatInt.agreement, int8Bytes: qatInt.model.sizeBytes(),
  });
  selections.push({ bits, weights: code ?? 'uniform', ...sel });
  console.log(`bits ${name}: QAT kept ${sel.kept} (validation ${sel.history.map((h) => `${h.step}: ${pct(h.accuracy)}`).join(', ')}; best snapshot ${sel.bestStep} vs PTQ: +${sel.test.b}/-${sel.test.c} images, McNemar p = ${sel.test.p.toPrecision(3)}, alpha ${sel.alpha})`);
  console.log(`bits ${name}: PTQ ${pct(ptq.accuracy)} (int ${pct(ptqInt.accuracy)}, agree ${pct(ptqInt.agreement)}) | QAT ${pct(qat.accuracy)} (int ${pct(qatInt.accuracy)}, agree ${pct(qatInt.agreement)})`);
  if (bits === 8 && isMainRow(variant)) {
    saveInt8Model(qatInt.model, join(outDir, 'mnist-cnn-int8.qgrd'));
    writeOnnxModels(outDir, 'mnist-cnn', floatModel, join(outDir, 'mnist-cnn-int8.qgrd'));
  }
}

// ---- 3. report --------------------------------------------------------------------------------
function pct(x: number): string {
  return `${(x * 100).toFixed(2)}%`;
}
const header = '| bits | PTQ fake-quant | PTQ int-only | agree | QAT fake-quant | QAT int-only | agree | published PTQ | published QAT |';
const lines = [header, '|---|---|---|---|---|---|---|---|---|'];
for (const r of rows) {
  lines.push(`| ${variantLabel({ bits: r.bits, code: r.weights === 'uniform' ? undefined : r.weights })} | ${pct(r.ptq)} | ${pct(r.ptqInt)} | ${pct(r.ptqAgree)} | ${pct(r.qat)} | ${pct(r.qatInt)} | ${pct(r.qatAgree)} | ${PUBLISHED.ptq[r.bits - 1] ?? '-'}% | ${PUBLISHED.qat[r.bits - 1] ?? '-'}% |`);
}
console.log(`\nfloat: ${pct(floatRes.accuracy)} on ${floatRes.count} test images (${recipe} recipe)\n${lines.join('\n')}`);
console.log('\nwall time by phase: ' + Object.entries(phases).map(([k, v]) => `${k} ${v.toFixed(1)}s`).join(', '));

const mode = quick ? `quick mode (${train.count.toLocaleString('en')} training images)` : 'full mode (all 60,000 training images)';
const results = {
  float: { accuracy: floatRes.accuracy, recipe, epochs: floatEpochs },
  settings: { quick, seed, device, weights: flags.weights, valImages, trainImages: train.count, qatImages: Object.fromEntries(variants.map((v) => [variantLabel(v), qatImagesFor(v.bits, v.code)])), calibImages, observer: flags.observer, calibration: flags.calibration, testImages: floatRes.count },
  rows, qatSelection: selections, published: { source: PUBLISHED_SOURCE, ...PUBLISHED }, phases,
  /** Per model: accuracy, per-class accuracy (recall of each digit) and the confusion matrix (rows: true digit, columns: predicted). */
  perModel,
};
writeFileAtomic(join(outDir, 'results.json'), JSON.stringify(results, null, 2));
const asVariant = (r: Row) => ({ bits: r.bits, code: r.weights === 'uniform' ? undefined : r.weights });
const byBits = rows.filter((r) => isMainRow(asVariant(r))).sort((a, b) => a.bits - b.bits);
const extraRows = rows.filter((r) => !isMainRow(asVariant(r)));
const published = [...bitsList].sort((a, b) => a - b);
const series: Series[] = [
  { label: `float baseline (${pct(floatRes.accuracy)})`, color: '#555', dashed: true, noMarkers: true, points: published.map((b) => ({ x: b, y: floatRes.accuracy * 100 })) },
  { label: 'PTQ fake-quant (qgrad)', color: '#1f77b4', points: byBits.map((r) => ({ x: r.bits, y: r.ptq * 100 })) },
  { label: 'PTQ integer-only (qgrad)', color: '#1f77b4', dotted: true, points: byBits.map((r) => ({ x: r.bits, y: r.ptqInt * 100 })) },
  { label: 'QAT fake-quant (qgrad)', color: '#d62728', points: byBits.map((r) => ({ x: r.bits, y: r.qat * 100 })) },
  { label: 'QAT integer-only (qgrad)', color: '#d62728', dotted: true, points: byBits.map((r) => ({ x: r.bits, y: r.qatInt * 100 })) },
  ...extraRows.map((r): Series => ({ label: `QAT, ${r.weights} weights (qgrad)`, color: '#2ca02c', points: [{ x: r.bits, y: r.qat * 100 }] })),
  { label: 'PTQ, published tutorial', color: '#9ecae1', dashed: true, points: published.map((b) => ({ x: b, y: PUBLISHED.ptq[b - 1] })) },
  { label: 'QAT, published tutorial', color: '#f4a6a6', dashed: true, points: published.map((b) => ({ x: b, y: PUBLISHED.qat[b - 1] })) },
];
const svg = accuracyChartSvg({
  title: 'MNIST CNN: test accuracy vs bit width',
  xLabel: 'bits (weights and hidden activations)',
  yLabel: 'test accuracy (%)',
  series,
  panels: [
    { yMin: 0, yMax: 100, yStep: 10, note: 'full range' },
    { yMin: 90, yMax: 100, yStep: 1, note: 'zoom: 90-100% (open markers: below 90%)' },
  ],
  caption: [
    `${floatRes.count.toLocaleString('en')} MNIST test images, ${mode}; float model: ${recipe} recipe, ${floatEpochs} epoch(s), seed ${seed}.`,
    'Published lines: the MNIST table (everything at b bits, naive min/max) of the',
    `${PUBLISHED_SOURCE}.`,
  ],
});
writeFileAtomic(join(outDir, 'mnist-quant.svg'), svg);
console.log(`wrote ${join(outDir, 'results.json')} and ${join(outDir, 'mnist-quant.svg')}`);
