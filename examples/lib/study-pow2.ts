/**
 * `npm start -- --study pow2`: power-of-two (logarithmic) weights against uniform ones (issue 14,
 * item 2), at 3 and 4 bits (or --bits, within 2..4), PTQ and QAT, on the run's test set.
 *
 * For each width and weight scheme: PTQ (histogram calibration, the main job's recipe), then QAT
 * from the PTQ model with the main job's schedule and validation-split snapshot selection (a
 * minimal copy of examples/mnist-quant.ts qatTrain); each model converted to an integer-only
 * Int8Model, whose power-of-two layers compute every product as a shift (src/quant/int8/pow2-shift.ts).
 * Measured: fake-quant accuracy, integer-only accuracy, their prediction agreement, and the size of
 * the model file (packed weights, src/quant/int8/pack.ts). A second table gives the file sizes of
 * the main job's models at 8, 4, 2 and 1 bits (PTQ; binary weights at 1 bit) with and without
 * packing.
 *
 * Writes DIR/study-pow2.json and prints markdown tables.
 */
import { join } from 'node:path';
import { noGrad } from '../../src/index.js';
import { MnistLoader, SGD, trainEpoch, evaluate, type Sequential, type EvalResult } from '../../src/nn/index.js';
import { prepareQAT, qconfig, calibrate, convert, Int8Model, freezeBn, fakeQuantizers, type QatConfig } from '../../src/quant/index.js';
import { encodeContainer } from '../../src/io/container.js';
import { int8SpecToContainer } from '../../src/quant/int8/format.js';
import { writeFileAtomic } from '../../src/node.js';
import { Progress } from './progress.js';
import type { StudyContext } from './study.js';

type Scheme = 'uniform' | 'pow2';
type WeightCode = 'binary' | 'pow2' | undefined;

interface Measured {
  fakeQuant: number;
  intOnly: number;
  agreement: number;
  /** The integer model's forward path: 'js (power-of-two layers run the shift kernel …)' for pow2. */
  intPath: string;
  fileBytes: number;
}

interface StudyRow {
  bits: number;
  scheme: Scheme;
  ptq: Measured;
  qat: Measured;
  qatKept: string;
  qatValidation: { step: string; accuracy: number }[];
}

const pct = (x: number) => `${(x * 100).toFixed(2)}%`;

export async function runStudy(ctx: StudyContext): Promise<void> {
  const bitsList = ctx.bits ?? [4, 3];
  for (const b of bitsList) {
    if (b < 2 || b > 4) throw new Error(`--study pow2: --bits must be within 2..4 (power-of-two levels up to ±2^6 fit int8), got ${b}`);
  }
  const t0 = performance.now();
  const testLoader = () => new MnistLoader(ctx.test, { batchSize: 500 });
  const valLoader = () => new MnistLoader(ctx.val, { batchSize: 500 });
  const calibLoader = new MnistLoader(ctx.train, { batchSize: 256, subset: { size: Math.min(ctx.calibImages, ctx.train.count), seed: ctx.seed + 2 } });
  const last = String(ctx.floatModel.namedChildren().length - 1);

  /** The main job's config (examples/mnist-quant.ts configFor): input and logits at 8 bits. */
  const configFor = (bits: number, code: WeightCode): QatConfig => {
    const opts = { bits, activationObserver: 'histogram' as const, calibration: 'mse' as const };
    const eight = qconfig({ ...opts, bits: 8 });
    const layer = qconfig({ ...opts, ...(code ? { weightCode: code } : {}) });
    return { default: layer, input: eight, layers: { [last]: { ...layer, activation: eight.activation } } };
  };

  const measure = (q: Sequential, bits: number, kind: string, scheme: string): Measured => {
    const fq = evaluate(q, testLoader(), { device: ctx.device });
    const im = new Int8Model(convert(q, { inputShape: [1, 28, 28], meta: { bits, kind, scheme } }));
    const r = evaluate(q, testLoader(), { forward: (x, s) => im.forward(x, s[0]) });
    const path = im.forwardPath();
    return {
      fakeQuant: fq.accuracy, intOnly: r.accuracy, agreement: agreement(r, fq),
      intPath: path.kernels === 'js' ? `js (${path.reason})` : 'wasm', fileBytes: im.sizeBytes(),
    };
  };

  const rows: StudyRow[] = [];
  for (const bits of bitsList) {
    for (const scheme of ['uniform', 'pow2'] as const) {
      const config = configFor(bits, scheme === 'pow2' ? 'pow2' : undefined);
      const ptqModel = prepareQAT(ctx.cloneFloat(), config);
      calibrate(ptqModel, calibLoader, { device: ctx.device });
      const ptq = measure(ptqModel, bits, 'ptq', scheme);
      const qatModel = prepareQAT(ctx.cloneFloat(), config);
      qatModel.loadStateDict(ptqModel.stateDict());
      const sel = qatTrain(ctx, qatModel, bits, `${scheme} ${bits}-bit`, valLoader);
      const qat = measure(qatModel, bits, 'qat', scheme);
      rows.push({ bits, scheme, ptq, qat, qatKept: sel.kept, qatValidation: sel.history });
      console.log(`${scheme} ${bits}-bit: PTQ ${pct(ptq.fakeQuant)} (int ${pct(ptq.intOnly)}, agree ${pct(ptq.agreement)}) | QAT ${pct(qat.fakeQuant)} (int ${pct(qat.intOnly)}, agree ${pct(qat.agreement)}, kept ${sel.kept}) | ${qat.fileBytes} bytes | int path ${qat.intPath}`);
    }
  }

  // File sizes of the main job's models (PTQ, binary weights at 1 bit), packed and as version 1.
  const sizes: { bits: number; weights: string; packedBytes: number; unpackedBytes: number }[] = [];
  for (const bits of [8, 4, 2, 1]) {
    const code: WeightCode = bits === 1 ? 'binary' : undefined;
    const q = prepareQAT(ctx.cloneFloat(), configFor(bits, code));
    calibrate(q, calibLoader, { device: ctx.device });
    q.eval();
    const spec = convert(q, { inputShape: [1, 28, 28] });
    const packedBytes = new Int8Model(spec).sizeBytes();
    const unpackedBytes = encodeContainer(int8SpecToContainer(spec, { pack: false })).length;
    sizes.push({ bits, weights: code ?? 'uniform', packedBytes, unpackedBytes });
  }

  const seconds = (performance.now() - t0) / 1000;
  const table = [
    '| bits | weights | PTQ fake-quant | PTQ int-only (agree) | QAT fake-quant | QAT int-only (agree) | QAT kept | int8 file |',
    '|---|---|---|---|---|---|---|---|',
    ...rows.map((r) =>
      `| ${r.bits} | ${r.scheme} | ${pct(r.ptq.fakeQuant)} | ${pct(r.ptq.intOnly)} (${pct(r.ptq.agreement)}) | ${pct(r.qat.fakeQuant)} | ${pct(r.qat.intOnly)} (${pct(r.qat.agreement)}) | ${r.qatKept} | ${r.qat.fileBytes.toLocaleString('en')} B |`),
  ];
  const sizeTable = [
    '| bits | weights | int8 file, packed | unpacked (version 1) | packed / 8-bit |',
    '|---|---|---|---|---|',
    ...sizes.map((s) => `| ${s.bits} | ${s.weights} | ${s.packedBytes.toLocaleString('en')} B | ${s.unpackedBytes.toLocaleString('en')} B | ${(s.packedBytes / sizes[0].packedBytes).toFixed(3)} |`),
  ];
  console.log(`\nfloat: ${pct(ctx.floatAccuracy)} on ${ctx.test.count} test images\n${table.join('\n')}\n\n${sizeTable.join('\n')}\n\nstudy wall time ${seconds.toFixed(0)} s`);
  const out = join(ctx.outDir, 'study-pow2.json');
  writeFileAtomic(out, JSON.stringify({
    float: { accuracy: ctx.floatAccuracy },
    settings: { quick: ctx.quick, seed: ctx.seed, device: ctx.device, bits: bitsList, testImages: ctx.test.count, valImages: ctx.val.count, trainImages: ctx.train.count, calibImages: ctx.calibImages, qatImages: qatImagesFor(ctx) },
    rows, fileSizes: sizes, seconds,
  }, null, 2));
  console.log(`wrote ${out}`);
}

function agreement(a: EvalResult, b: EvalResult): number {
  let same = 0;
  for (let i = 0; i < a.predictions.length; i++) if (a.predictions[i] === b.predictions[i]) same++;
  return same / a.predictions.length;
}

/** The main job's QAT data budget at 2-4 bits (examples/mnist-quant.ts qatImagesFor). */
function qatImagesFor(ctx: StudyContext): number {
  return ctx.quick ? 2048 : 12_800;
}

/**
 * A minimal copy of examples/mnist-quant.ts qatTrain (kept here so that changes to the main job's
 * QAT do not silently change this study): SGD momentum 0.9, learning rate 1e-2 at 3-4 bits and
 * 2e-2 below, cosine-decayed over one pass of the QAT images; activation ranges fixed at PTQ's,
 * weight ranges following the weights; BN frozen at 60%; the validation split measured at the
 * start (= PTQ), at 80% and at the end, the best snapshot kept (the earlier on ties).
 */
function qatTrain(ctx: StudyContext, model: Sequential, bits: number, label: string, valLoader: () => MnistLoader) {
  for (const fq of fakeQuantizers(model)) fq.observerEnabled = !!fq.config.signed;
  const lr0 = bits >= 3 ? 1e-2 : 2e-2;
  const opt = new SGD(model.parameters(), { lr: lr0, momentum: 0.9 });
  const loader = new MnistLoader(ctx.train, { batchSize: 64, shuffle: true, seed: ctx.seed + 1, subset: { size: Math.min(qatImagesFor(ctx), ctx.train.count), seed: ctx.seed } });
  const total = loader.numBatches;
  const history: { step: string; accuracy: number }[] = [];
  const snapshot = () => new Map([...model.stateDict()].map(([k, t]) => [k, noGrad(() => t.detach().clone())] as const));
  let best = { accuracy: -1, step: 'ptq', state: snapshot() };
  const consider = (step: string) => {
    const accuracy = evaluate(model, valLoader(), { device: ctx.device }).accuracy;
    history.push({ step, accuracy });
    if (accuracy > best.accuracy) best = { accuracy, step, state: snapshot() };
  };
  consider('ptq');
  model.train();
  const check = Math.floor(total * 0.8);
  const bar = new Progress(`QAT ${label}`, total);
  trainEpoch(model, opt, loader.batches(0), {
    device: ctx.device,
    onStep: (s) => {
      opt.lr = (lr0 * (1 + Math.cos((Math.PI * s.step) / total))) / 2;
      bar.update(s.step, { loss: s.loss, lr: opt.lr }, s.seen);
      if (s.step === check) {
        consider(String(s.step));
        model.train();
      }
      if (s.step === Math.floor(total * 0.6)) freezeBn(model);
    },
  });
  freezeBn(model);
  consider(String(total));
  model.loadStateDict(best.state);
  return { kept: best.step, history };
}
