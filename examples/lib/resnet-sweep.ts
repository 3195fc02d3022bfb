/**
 * `npm start -- --model resnet`: the residual network (src/nn/models/resnet.ts) through the whole
 * pipeline on real MNIST: float training, then per bit width PTQ and QAT on the traced graph,
 * each converted to an integer-only Int8GraphModel (int8 add for the skips, integer global
 * average pooling) whose predictions are compared with the fake-quant model's on the test set.
 *
 *   flags: --bits 8,4,2  --epochs N (float, default 3)  --qat-images N (default 12,800)
 *          --calib-images N (default 2048)  --channels N (default 16)  --seed N  --out DIR
 *          --arith fixedPoint|float (int8 add)  --quick (subsets: 8192 train / 2000 test images)
 *          --retrain (ignore a saved float checkpoint)  --val-images N (default 2,000)
 *          --qat-start ptq|observer  --qat-rule loss|mcnemar  --qat-alpha P (default 0.05)
 *          --qat-optimizer auto|adam|sgd  --lr X
 * Writes DIR/resnet-results.json, DIR/mnist-resnet-int8.qgrd (8-bit QAT), and beside it, as the CNN's
 * job does (onnx.ts), DIR/mnist-resnet-float.onnx and DIR/mnist-resnet-int8.onnx (QDQ form).
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { Generator, manualSeed, noGrad, tidy } from '../../src/index.js';
import {
  Adam, CosineAnnealingLR, evaluate, MnistLoader, mnistResNet, SGD, trainEpoch,
  type EvalResult, type GraphModule, type MnistResNet,
} from '../../src/nn/index.js';
import { fromArray } from '../../src/tensor/creation.js';
import {
  calibrate, convertGraph, fakeQuantizers, freezeBn, Int8GraphModel, prepareQAT, qconfig, setQuantState, type QatConfig,
} from '../../src/quant/index.js';
import { loadCheckpoint, saveCheckpoint, saveInt8GraphModel, writeFileAtomic } from '../../src/node.js';
import { writeOnnxModels } from './onnx.js';
import { Progress } from './progress.js';
import { loadSplits } from './splits.js';
import { phaseTimer } from './phases.js';
import { chooseQatSnapshot, chooseQatSnapshotByLoss, type PairedCounts, type PairedLossTest } from './qat-selection.js';
import { runCli, exitUsage } from './cli.js';
import { RESNET_FLAGS } from './flags.js';

export async function runResnetSweep(argv: string[]): Promise<void> {
  const values = runCli('npm start -- --model resnet', 'PTQ and QAT of the residual MNIST network over bit widths, with integer-only int8 graphs.', RESNET_FLAGS, argv);
  const bitsList = values.bits;
  const { epochs, channels, seed, quick } = values;
  const qatImages = values['qat-images'], calibImages = values['calib-images'];
  const arith = { mode: values.arith as 'fixedPoint' | 'float' } as const;
  manualSeed(seed);
  const t0 = performance.now();
  const { phases, phase } = phaseTimer();

  if (values['qat-alpha'] >= 1) exitUsage(`--qat-alpha must be in (0, 1), got ${values['qat-alpha']}`);
  const { train, val, test, valImages } = loadSplits(quick, values['val-images']);
  const testLoader = () => new MnistLoader(test, { batchSize: 500 });
  const newModel = () => mnistResNet({ channels, generator: new Generator(seed) });

  // ---- float
  const floatModel = newModel();
  const ckpt = join(values.out, `resnet-float-c${channels}-seed${seed}-e${epochs}-val${valImages}${quick ? '-quick' : ''}.qgrd`);
  if (existsSync(ckpt) && !values.retrain) {
    loadCheckpoint(ckpt, floatModel);
    console.log(`float resnet: reusing ${ckpt} (pass --retrain to train again)`);
  } else {
    phase('float training', () => {
      const opt = new Adam(floatModel.parameters(), { lr: 2e-3 });
      const loader = new MnistLoader(train, { batchSize: 64, shuffle: true, seed });
      const sched = new CosineAnnealingLR(opt, epochs * loader.numBatches);
      for (let e = 0; e < epochs; e++) {
        const bar = new Progress(`resnet float epoch ${e + 1}/${epochs}`, loader.numBatches);
        trainEpoch(floatModel, opt, loader.batches(e), { onStep: (s) => { sched.step(); bar.update(s.step, { loss: s.loss }, s.seen); } });
      }
    });
    saveCheckpoint(ckpt, floatModel, { seed, epochs, channels });
  }
  const floatRes = phase('float eval', () => evaluate(floatModel, testLoader()));
  console.log(`resnet float test accuracy ${pct(floatRes.accuracy)} (${floatRes.count} images)`);

  const example = fromArray(new Float32Array(2 * 28 * 28), [2, 1, 28, 28]);
  const cloneFloat = (): MnistResNet => {
    const m = newModel();
    m.loadStateDict(floatModel.stateDict());
    return m;
  };
  // b bits for weights and hidden activations; input and logits at 8 bits (as the CNN sweep).
  const configFor = (bits: number, observer: 'histogram' | 'movingAverage'): QatConfig => {
    const eight = qconfig({ bits: 8, activationObserver: observer });
    const base = qconfig({ bits, activationObserver: observer });
    return { default: base, input: eight, layers: { fc: { ...base, activation: eight.activation } } };
  };
  const calibLoader = new MnistLoader(train, { batchSize: 256, subset: { size: Math.min(calibImages, train.count), seed: seed + 2 } });
  const int8Eval = (q: GraphModule, bits: number, kind: string, fq: EvalResult) => {
    const im = new Int8GraphModel(convertGraph(q, { arith, meta: { model: 'resnet', bits, kind } }));
    const r = evaluate(q, testLoader(), { forward: (x, s) => im.forward(x, s[0]) });
    let agree = 0;
    for (let i = 0; i < r.predictions.length; i++) if (r.predictions[i] === fq.predictions[i]) agree++;
    return { accuracy: r.accuracy, agreement: agree / r.count, model: im };
  };

  const optimizerFor = (bits: number): 'adam' | 'sgd' => {
    const o = values['qat-optimizer'];
    return o === 'adam' || o === 'sgd' ? o : bits >= 3 ? 'adam' : 'sgd';
  };
  const rows = [];
  const selections: ({ bits: number } & Selection)[] = [];
  const valLoader = () => new MnistLoader(val, { batchSize: 500 });
  /**
   * evaluate() on the validation split, plus each image's cross-entropy (for --qat-rule loss); the
   * loader is unshuffled, so the i-th row of the logits is validation image i.
   */
  const evaluateVal = (model: GraphModule) => {
    const losses = new Float64Array(val.count);
    let i = 0;
    const r = evaluate(model, valLoader(), {
      forward: (x, shape) => {
        const logits = tidy(() => model.call(fromArray(x, shape)).toTypedArray() as Float32Array);
        for (let row = 0; row < shape[0]; row++, i++) losses[i] = crossEntropyOf(logits, logits.length / shape[0], row, val.labels[i]);
        return logits;
      },
    });
    return { ...r, losses };
  };
  for (const bits of bitsList) {
    const ptqModel = prepareQAT(cloneFloat(), configFor(bits, 'histogram'), { exampleInput: example });
    phase('ptq calibration', () => calibrate(ptqModel, calibLoader));
    const ptq = phase('ptq eval', () => evaluate(ptqModel, testLoader()));
    const ptqInt = phase('int8 convert+eval', () => int8Eval(ptqModel, bits, 'ptq', ptq));

    // QAT starts from the PTQ model itself (weights, calibrated ranges, quant state), as the CNN
    // sweep does; --qat-start observer is the earlier recipe (moving-average observers from a
    // two-batch calibration, frozen at 80% of the steps).
    const fromPtq = values['qat-start'] === 'ptq';
    const qatModel = prepareQAT(cloneFloat(), configFor(bits, fromPtq ? 'histogram' : 'movingAverage'), { exampleInput: example });
    if (fromPtq) qatModel.loadStateDict(ptqModel.stateDict());
    else phase('qat calibration', () => calibrate(qatModel, calibLoader, { maxBatches: 2 }));
    const sel = phase('qat training', () => qatTrain(qatModel, ptqModel, bits, fromPtq));
    selections.push({ bits, ...sel });
    const why = sel.lossTest
      ? `lowest-loss snapshot ${sel.bestStep} vs PTQ: loss lower by ${sel.lossTest.meanDiff.toFixed(4)}, paired t = ${sel.lossTest.t.toFixed(2)}, p = ${sel.lossTest.p.toPrecision(3)}; +${sel.test.b}/-${sel.test.c} images`
      : `best snapshot ${sel.bestStep} vs PTQ: +${sel.test.b}/-${sel.test.c} images, McNemar p = ${sel.test.p.toPrecision(3)}`;
    console.log(`resnet bits ${bits}: QAT kept ${sel.kept} (validation ${sel.history.map((h) => `${h.step}: ${pct(h.accuracy)} loss ${h.loss.toFixed(4)}`).join(', ')}; ${why}; rule ${sel.rule}, alpha ${sel.alpha})`);
    // when PTQ is kept, the QAT result is the PTQ model's: its figures are reused, not recomputed
    const qat = sel.kept === 'ptq' ? ptq : phase('qat eval', () => evaluate(qatModel, testLoader()));
    const qatInt = sel.kept === 'ptq' ? ptqInt : phase('int8 convert+eval', () => int8Eval(qatModel, bits, 'qat', qat));
    rows.push({ bits, ptq: ptq.accuracy, ptqInt: ptqInt.accuracy, ptqAgree: ptqInt.agreement, qat: qat.accuracy, qatInt: qatInt.accuracy, qatAgree: qatInt.agreement });
    console.log(`resnet bits ${bits}: PTQ ${pct(ptq.accuracy)} (int ${pct(ptqInt.accuracy)}, agree ${pct(ptqInt.agreement)}) | QAT ${pct(qat.accuracy)} (int ${pct(qatInt.accuracy)}, agree ${pct(qatInt.agreement)})`);
    if (bits === 8) {
      const int8Path = join(values.out, 'mnist-resnet-int8.qgrd');
      saveInt8GraphModel(qatInt.model, int8Path);
      writeOnnxModels(values.out, 'mnist-resnet', floatModel, int8Path);
    }
  }

  /**
   * Adam (Kingma & Ba 2015) at lr 1e-4 from 3 bits up, SGD with momentum 0.9 below (lr larger at
   * low bits), the learning rate cosine-decayed; batch norm frozen at 60% of the steps. Why Adam:
   * at 4 bits the PTQ model is already within 0.3 points of float on validation, and QAT is a small
   * correction. SGD at lr 0.01-0.02 overshot it (validation accuracy swinging between 98.2% and
   * 99.5% from one 40-step snapshot to the next, the validation loss sometimes above PTQ's), while
   * Adam at 1e-4 improved the validation loss at every snapshot (docs/low-bit.md, the residual
   * network). At 2 bits PTQ is near chance and the larger SGD steps are needed. From PTQ, the
   * activation ranges stay PTQ's calibrated ones (weights' follow the weights); from observers,
   * activation ranges follow a moving average until 80%. Validation accuracy and per-image
   * cross-entropy are measured for PTQ, at 80% and at the end. With --qat-rule loss (the
   * default) the lowest-loss snapshot replaces PTQ only if a one-sided paired t-test on the
   * per-image losses prefers it at --qat-alpha and it is not less accurate than PTQ on validation;
   * with --qat-rule mcnemar (the CNN sweep's rule) the most accurate snapshot replaces PTQ only if
   * the exact McNemar test prefers it (qat-selection.ts says why the two).
   */
  function qatTrain(model: GraphModule, ptqModel: GraphModule, bits: number, fromPtq: boolean): Selection {
    if (fromPtq) for (const fq of fakeQuantizers(model)) { fq.fakeQuantEnabled = true; fq.observerEnabled = !!fq.config.signed; }
    else setQuantState(model, { observe: true, fakeQuant: true });
    const useAdam = optimizerFor(bits) === 'adam';
    const lr0 = values.lr ?? (useAdam ? 1e-4 : bits >= 5 ? 5e-3 : bits >= 3 ? 1e-2 : 2e-2);
    const opt = useAdam ? new Adam(model.parameters(), { lr: lr0 }) : new SGD(model.parameters(), { lr: lr0, momentum: 0.9 });
    const loader = new MnistLoader(train, { batchSize: 64, shuffle: true, seed: seed + 1, subset: { size: Math.min(qatImages, train.count), seed } });
    const total = loader.numBatches;
    const history: Selection['history'] = [];
    // stateDict() holds the live tensors, which training updates in place: a snapshot copies them
    const snapshot = () => new Map([...model.stateDict()].map(([k, t]) => [k, noGrad(() => t.detach().clone())] as const));
    const snaps: { step: string; predictions: ArrayLike<number>; losses: Float64Array; state: ReturnType<typeof snapshot> }[] = [];
    const consider = (step: string) => {
      const r = evaluateVal(model);
      history.push({ step, accuracy: r.accuracy, loss: r.loss });
      snaps.push({ step, predictions: r.predictions, losses: r.losses, state: snapshot() });
      model.train();
    };
    // the baseline: the PTQ model's own validation predictions and losses
    const ptqVal = evaluateVal(ptqModel);
    history.push({ step: 'ptq', accuracy: ptqVal.accuracy, loss: ptqVal.loss });
    model.train();
    const bar = new Progress(`resnet QAT ${bits}-bit`, total);
    trainEpoch(model, opt, loader.batches(0), {
      onStep: (s) => {
        opt.lr = (lr0 * (1 + Math.cos((Math.PI * s.step) / total))) / 2;
        if (s.step === Math.floor(total * 0.6)) freezeBn(model);
        if (!fromPtq && s.step === Math.floor(total * 0.8)) for (const fq of fakeQuantizers(model)) if (!fq.config.signed) fq.observerEnabled = false;
        if (s.step === Math.floor(total * 0.8)) consider(String(s.step));
        bar.update(s.step, { loss: s.loss, lr: opt.lr }, s.seen);
      },
    });
    freezeBn(model);
    for (const fq of fakeQuantizers(model)) if (!fq.config.signed) fq.observerEnabled = false;
    consider(String(total));
    const rule = values['qat-rule'] as 'loss' | 'mcnemar';
    const d: { kept: string; bestStep: string; test: PairedCounts; lossTest?: PairedLossTest; alpha: number } = rule === 'loss'
      ? chooseQatSnapshotByLoss(val.labels, ptqVal, snaps, values['qat-alpha'])
      : chooseQatSnapshot(val.labels, ptqVal.predictions, snaps, values['qat-alpha']);
    // kept 'ptq': the caller reports the PTQ model (with observer start the two models' quant
    // state differs in kind, so PTQ's state is not copied in here)
    if (d.kept !== 'ptq') model.loadStateDict(snaps.find((s) => s.step === d.kept)!.state);
    return { kept: d.kept, rule, history, bestStep: d.bestStep, test: d.test, ...(d.lossTest ? { lossTest: d.lossTest } : {}), alpha: d.alpha };
  }

  const lines = ['| bits | PTQ fake-quant | PTQ int-only | agree | QAT fake-quant | QAT int-only | agree |', '|---|---|---|---|---|---|---|'];
  for (const r of rows) lines.push(`| ${r.bits} | ${pct(r.ptq)} | ${pct(r.ptqInt)} | ${pct(r.ptqAgree)} | ${pct(r.qat)} | ${pct(r.qatInt)} | ${pct(r.qatAgree)} |`);
  const wall = (performance.now() - t0) / 1000;
  console.log(`\nresnet float: ${pct(floatRes.accuracy)} on ${floatRes.count} test images\n${lines.join('\n')}\nwall ${wall.toFixed(0)} s; by phase: ${Object.entries(phases).map(([k, v]) => `${k} ${v.toFixed(1)}s`).join(', ')}`);
  const out = join(values.out, 'resnet-results.json');
  writeFileAtomic(out, JSON.stringify({ float: { accuracy: floatRes.accuracy, epochs, channels }, settings: { quick, seed, qatImages, calibImages, valImages, trainImages: train.count, qatStart: values['qat-start'], qatRule: values['qat-rule'], qatAlpha: values['qat-alpha'], qatOptimizer: Object.fromEntries(bitsList.map((b) => [b, optimizerFor(b)])), lr: values.lr ?? 'by optimizer and bits', arith: arith.mode, testImages: floatRes.count }, rows, qatSelection: selections, phases, wall }, null, 2));
  console.log(`wrote ${out}`);
}

interface Selection {
  /** 'ptq' (the starting point) or the step whose snapshot was kept */
  kept: string;
  rule: 'loss' | 'mcnemar';
  /** validation accuracy and mean cross-entropy of PTQ and of each QAT snapshot */
  history: { step: string; accuracy: number; loss: number }[];
  /** the snapshot the rule tested: most accurate (mcnemar) or lowest loss (loss) */
  bestStep: string;
  /** its paired accuracy counts against PTQ on the validation split */
  test: PairedCounts;
  /** with --qat-rule loss: the paired t-test of its per-image losses against PTQ's */
  lossTest?: PairedLossTest;
  alpha: number;
}

/** −log softmax(logits[row])[label], computed stably (max subtracted). */
function crossEntropyOf(logits: Float32Array, k: number, row: number, label: number): number {
  const o = row * k;
  let m = -Infinity;
  for (let c = 0; c < k; c++) m = Math.max(m, logits[o + c]);
  let s = 0;
  for (let c = 0; c < k; c++) s += Math.exp(logits[o + c] - m);
  return -(logits[o + label] - m - Math.log(s));
}

function pct(x: number): string {
  return `${(x * 100).toFixed(2)}%`;
}
