/**
 * `npm start -- --study mixed`: mixed precision by sensitivity (issue 14 item 6) on the MNIST CNN.
 *
 *   1. Sensitivity, on the VALIDATION split (never the test set): for each conv / linear layer and
 *      each candidate width, that layer's weights alone at b bits (PTQ weight ranges), everything
 *      else float; the increase of the validation cross-entropy over the float model's is the
 *      layer's sensitivity (src/quant/mixed-precision/sensitivity.ts).
 *   2. The exact Pareto frontier of (packed size, summed sensitivity) over every per-layer
 *      assignment (allocate.ts), with the analytic packed size of size.ts.
 *   3. Frontier configurations and the uniform widths evaluated on the test set as PTQ models:
 *      weights at their layer's bits, every activation (input, hidden, logits) at 8 bits with the
 *      main job's histogram/MSE calibration, then converted to the integer-only Int8Model.
 *
 *   4. QAT of every evaluated configuration, from its PTQ model and ranges, with the main job's
 *      recipe and selection (examples/lib/qat-recipe.ts: SGD, cosine learning rate set by the
 *      configuration's narrowest layer, snapshots judged on the validation split, kept only when
 *      the exact McNemar test says they beat PTQ there), then converted and tested the same way.
 *      HAQ and HAWQ fine-tune their chosen mixed configurations the same way (Wang et al. 2019 §4,
 *      Dong et al. 2019 §4): the sensitivity ranks layers under PTQ, QAT recovers what remains.
 *
 * At 2 bits the weight ranges are the per-channel MSE-optimal ones, as in the main job's 2-bit row
 * (min/max would put two thirds of a channel's weights on 0; examples/mnist-quant.ts).
 *
 * The width chosen here is the weights' only: the budget is model size, which activations do not
 * change (HAQ's size-constrained setting, Wang et al. 2019), so activations stay at 8 bits in every
 * configuration, uniform ones included. This is not the main sweep's "b bits", which also puts the
 * hidden activations at b bits.
 *
 * Writes DIR/study-mixed.json and DIR/mixed-frontier.svg (test accuracy against packed size, PTQ and QAT).
 */
import { join } from 'node:path';
import { MnistLoader, evaluate, type Sequential, type EvalResult } from '../../src/nn/index.js';
import {
  qconfig, calibrate, convert, Int8Model, prepareQAT, measureSensitivity, layerChoices, paretoFrontier,
  allocateBits, packedModelBytes, quantizableLayers, type QatConfig, type FrontierPoint, type QuantLayerInfo,
} from '../../src/quant/index.js';
import { writeFileAtomic } from '../../src/node.js';
import { qatTrain } from './qat-recipe.js';
import { accuracyChartSvg, type Series } from './chart.js';
import type { StudyContext } from './study.js';

const DEFAULT_BITS = [2, 3, 4, 6, 8];

/** A configuration's figures after QAT (examples/lib/qat-recipe.ts). */
export interface QatFigures {
  /** 'ptq' or the training step whose snapshot was kept */
  kept: string;
  /** exact McNemar p-value of the best snapshot against PTQ on the validation split */
  p: number;
  test: number;
  intOnly: number;
  agreement: number;
}

export interface Evaluated {
  kind: 'mixed' | 'uniform';
  bits: Record<string, number>;
  packedBytes: number;
  /** Today's int8 file (one byte per weight level until sub-byte packing lands). */
  int8FileBytes: number;
  estimatedLoss: number;
  test: number;
  intOnly: number;
  agreement: number;
  /** after QAT (absent in charts drawn from older JSON) */
  qat?: QatFigures;
}

export async function runStudy(ctx: StudyContext): Promise<void> {
  const t0 = performance.now();
  const candidateBits = ctx.bits ?? DEFAULT_BITS;
  const bad = candidateBits.filter((b) => b < 2 || b > 8);
  if (bad.length) {
    throw new Error(`--study mixed: --bits must lie in 2..8, got ${bad.join(',')} (uniform 1-bit weights have only the levels {-1, 0}; binary weights are another code, not priced here)`);
  }
  const layers = quantizableLayers(ctx.floatModel);
  const label = (l: QuantLayerInfo) => `${l.kind} ${l.name}`;
  const bitsText = (bits: Record<string, number>) => layers.map((l) => bits[l.name]).join(' / ');

  const act = { activationObserver: 'histogram', calibration: 'mse' } as const;
  const configOf = (bits: Record<string, number>): QatConfig => ({
    default: qconfig({ bits: 8, ...act }),
    input: qconfig({ bits: 8, ...act }),
    layers: Object.fromEntries(Object.entries(bits).map(([name, b]) => [name, qconfig({ weightBits: b, activationBits: 8, ...act, ...(b === 2 ? { weightRange: 'mse' as const } : {}) })])),
  });
  const calibLoader = () => new MnistLoader(ctx.train, { batchSize: 256, subset: { size: Math.min(ctx.calibImages, ctx.train.count), seed: ctx.seed + 2 } });
  const valLoader = () => new MnistLoader(ctx.val, { batchSize: 500 });
  const testLoader = () => new MnistLoader(ctx.test, { batchSize: 500 });

  // ---- 1. sensitivity on the validation split ----------------------------------------------------
  console.log(`mixed precision: ${layers.length} layers (${layers.map((l) => `${label(l)}: ${l.weightCount} weights`).join(', ')}), widths ${candidateBits.join(',')}; sensitivity on ${ctx.val.count} validation images`);
  const valAccuracy: number[] = [];
  const sensitivity = measureSensitivity({
    cloneFloat: ctx.cloneFloat,
    layers: layers.map((l) => l.name),
    candidateBits,
    configFor: (layer, bits) => configOf({ [layer]: bits }),
    // only the weight quantizer stays on, and weights are observed from their values: one batch
    // sets every weight range; the activation ranges it also records are switched off
    calibrate: (m) => calibrate(m, calibLoader(), { device: ctx.device, maxBatches: 1 }),
    metric: (m) => {
      const r = evaluate(m, valLoader(), { device: ctx.device });
      valAccuracy.push(r.accuracy);
      return r.loss;
    },
    better: 'lower',
    onMeasure: (e) => console.log(`  layer ${e.layer} at ${e.bits} bits: validation loss ${signed(e.degradation)}, accuracy ${pct(valAccuracy[valAccuracy.length - 1])}`),
  });
  const tSens = (performance.now() - t0) / 1000;

  // ---- 2. the frontier ---------------------------------------------------------------------------
  const choices = layerChoices(sensitivity, layers);
  const frontier = paretoFrontier(choices);
  const uniformBits = (b: number) => Object.fromEntries(layers.map((l) => [l.name, b]));
  const estimate = (bits: Record<string, number>) =>
    sensitivity.entries.filter((e) => bits[e.layer] === e.bits).reduce((s, e) => s + e.degradation, 0);
  console.log(`frontier: ${frontier.length} configurations from ${packedModelBytes(layers, frontier[0].bits)} to ${frontier[frontier.length - 1].bytes} bytes`);

  // Which frontier points to evaluate on the test set: the best one within each uniform width's
  // size (the direct comparison), then evenly spaced others up to a cap (each costs a calibration
  // and two passes over the test set).
  const cap = ctx.quick ? 6 : 8;
  const picked = new Set<number>(); // indices into the frontier
  const indexOf = (p: FrontierPoint) => frontier.findIndex((f) => f.bytes === p.bytes && f.loss === p.loss);
  for (const b of candidateBits) picked.add(indexOf(allocateBits(choices, packedModelBytes(layers, uniformBits(b)))));
  const want = Math.min(Math.max(cap, picked.size), frontier.length);
  for (let k = 0; k < cap && picked.size < want; k++) picked.add(Math.round((k * (frontier.length - 1)) / Math.max(cap - 1, 1)));
  for (let i = 0; picked.size < want; i++) picked.add(i);

  // ---- 3. test-set evaluation --------------------------------------------------------------------
  // a frontier point that is a uniform configuration is measured once
  const done = new Map<string, Evaluated>();
  const ptqStates = new Map<string, ReturnType<Sequential['stateDict']>>();
  const evalConfig = (kind: Evaluated['kind'], bits: Record<string, number>): Evaluated => {
    const seen = done.get(bitsText(bits));
    if (seen) return { ...seen, kind };
    const q = prepareQAT(ctx.cloneFloat(), configOf(bits));
    calibrate(q, calibLoader(), { device: ctx.device });
    ptqStates.set(bitsText(bits), q.stateDict());
    const fq = evaluate(q, testLoader(), { device: ctx.device });
    const int = intOnly(q, bits, fq);
    const e: Evaluated = {
      kind, bits, packedBytes: packedModelBytes(layers, bits), int8FileBytes: int.fileBytes, estimatedLoss: estimate(bits),
      test: fq.accuracy, intOnly: int.accuracy, agreement: int.agreement,
    };
    console.log(`  ${kind} ${bitsText(bits)}: ${(e.packedBytes / 1024).toFixed(2)} KB packed, test ${pct(e.test)} (int-only ${pct(e.intOnly)}, agree ${pct(e.agreement)})`);
    done.set(bitsText(bits), e);
    return e;
  };
  const intOnly = (q: Sequential, bits: Record<string, number>, fq: EvalResult) => {
    const im = new Int8Model(convert(q, { inputShape: [1, 28, 28], meta: { study: 'mixed', weightBits: bits } }));
    const r = evaluate(q, testLoader(), { forward: (x, s) => im.forward(x, s[0]) });
    let agree = 0;
    for (let i = 0; i < r.predictions.length; i++) if (r.predictions[i] === fq.predictions[i]) agree++;
    return { accuracy: r.accuracy, agreement: agree / r.count, fileBytes: im.sizeBytes() };
  };
  console.log(`evaluating ${picked.size} of the frontier's configurations and ${candidateBits.length} uniform widths on ${ctx.test.count} test images`);
  const uniform = [...candidateBits].sort((a, b) => a - b).map((b) => evalConfig('uniform', uniformBits(b)));
  const mixed = [...picked].sort((a, b) => a - b).map((i) => evalConfig('mixed', frontier[i].bits));
  const tPtq = (performance.now() - t0) / 1000;

  // ---- 4. QAT of each evaluated configuration ------------------------------------------------------
  // The main job's recipe for the configuration's narrowest layer (examples/mnist-quant.ts recipeFor
  // and qatImagesFor, except that its uniform 2-bit row now takes 51,200 images; 25,600 here keeps
  // a 2-bit configuration's QAT at about a minute): the narrowest layer is the one QAT has to repair.
  const qatDone = new Map<string, QatFigures>();
  const qatConfig = (e: Evaluated): QatFigures => {
    const key = bitsText(e.bits);
    const seen = qatDone.get(key);
    if (seen) return seen;
    const narrowest = Math.min(...Object.values(e.bits));
    const images = ctx.quick ? 2048 : narrowest === 2 ? 25_600 : narrowest >= 5 ? 6400 : 12_800;
    const q = prepareQAT(ctx.cloneFloat(), configOf(e.bits));
    q.loadStateDict(ptqStates.get(key)!);
    const sel = qatTrain(q, {
      lr: narrowest >= 5 ? 5e-3 : narrowest >= 3 ? 1e-2 : 2e-2, warmupFraction: 0, bnFreezeFraction: 0.6, checkFractions: [0.8], distill: null,
    }, {
      label: key, device: ctx.device, alpha: ctx.qatAlpha, val: valLoader, valLabels: ctx.val.labels,
      loader: new MnistLoader(ctx.train, { batchSize: 64, shuffle: true, seed: ctx.seed + 1, subset: { size: Math.min(images, ctx.train.count), seed: ctx.seed } }),
    });
    let figures: QatFigures;
    if (sel.kept === 'ptq') {
      figures = { kept: 'ptq', p: sel.test.p, test: e.test, intOnly: e.intOnly, agreement: e.agreement };
    } else {
      const fq = evaluate(q, testLoader(), { device: ctx.device });
      const int = intOnly(q, e.bits, fq);
      figures = { kept: sel.kept, p: sel.test.p, test: fq.accuracy, intOnly: int.accuracy, agreement: int.agreement };
    }
    console.log(`  QAT ${key}: kept ${figures.kept} (McNemar p = ${figures.p.toPrecision(3)} on validation), test ${pct(figures.test)} (int-only ${pct(figures.intOnly)}, agree ${pct(figures.agreement)})`);
    qatDone.set(key, figures);
    return figures;
  };
  console.log(`QAT of the ${done.size} evaluated configurations`);
  for (const e of [...uniform, ...mixed]) e.qat = qatConfig(e);
  const tAll = (performance.now() - t0) / 1000;

  // ---- 4. report ---------------------------------------------------------------------------------
  const sensLines = [
    `| layer | weights | ${candidateBits.map((b) => `${b} bits`).join(' | ')} |`,
    `|---|---|${candidateBits.map(() => '---').join('|')}|`,
    ...layers.map((l) => `| ${label(l)} | ${l.weightCount} | ${candidateBits.map((b) => {
      const i = sensitivity.entries.findIndex((e) => e.layer === l.name && e.bits === b);
      return `${signed(sensitivity.entries[i].degradation)} (${pct(valAccuracy[i + 1])})`;
    }).join(' | ')} |`),
  ];
  const isUniform = (bits: Record<string, number>) => new Set(Object.values(bits)).size === 1;
  const rowOf = (e: Evaluated) =>
    `| ${e.kind === 'mixed' && isUniform(e.bits) ? 'mixed (= uniform)' : e.kind} | ${bitsText(e.bits)} | ${(e.packedBytes / 1024).toFixed(2)} | ${(e.int8FileBytes / 1024).toFixed(2)} | ${signed(e.estimatedLoss)} | ${pct(e.test)} | ${pct(e.intOnly)} | ${pct(e.agreement)} | ${e.qat ? `${pct(e.qat.test)} | ${pct(e.qat.intOnly)} | ${pct(e.qat.agreement)} | ${e.qat.kept}` : '- | - | - | -'} |`;
  const lines = [
    `| config | weight bits (${layers.map(label).join(' / ')}) | packed KB | int8 file KB | est. Δ val loss | PTQ test | int-only test | agree | QAT test | QAT int-only | agree | QAT kept |`,
    '|---|---|---|---|---|---|---|---|---|---|---|---|',
    ...[...mixed, ...uniform.filter((u) => !mixed.some((m) => bitsText(m.bits) === bitsText(u.bits)))].sort((a, b) => a.packedBytes - b.packedBytes || (a.kind < b.kind ? -1 : 1)).map(rowOf),
  ];
  console.log(`\nsensitivity: increase of validation cross-entropy over float (${sensitivity.baseline.toFixed(4)}; float validation accuracy ${pct(valAccuracy[0])}), validation accuracy in brackets\n${sensLines.join('\n')}`);
  console.log(`\nfloat test accuracy ${pct(ctx.floatAccuracy)}; activations at 8 bits everywhere; ${ctx.test.count} test images\n${lines.join('\n')}`);

  const json = {
    study: 'mixed',
    candidateBits,
    layers,
    sizeFormula: 'ceil(n·b/8) + O·12 (+ O·4 with a bias) bytes per conv2d/linear layer (src/quant/mixed-precision/size.ts)',
    activations: '8-bit everywhere (histogram observer, MSE calibration)',
    float: { test: ctx.floatAccuracy, valLoss: sensitivity.baseline, val: valAccuracy[0] },
    sensitivity: sensitivity.entries.map((e, i) => ({ ...e, valAccuracy: valAccuracy[i + 1] })),
    frontier,
    evaluated: { mixed, uniform },
    images: { val: ctx.val.count, test: ctx.test.count, calibration: ctx.calibImages },
    qat: { recipe: 'examples/lib/qat-recipe.ts with the main job\'s settings for the narrowest layer', alpha: ctx.qatAlpha },
    seconds: { sensitivity: tSens, ptq: tPtq - tSens, qat: tAll - tPtq, total: tAll },
  };
  writeFileAtomic(join(ctx.outDir, 'study-mixed.json'), JSON.stringify(json, null, 2));
  writeFileAtomic(join(ctx.outDir, 'mixed-frontier.svg'), mixedFrontierSvg(mixed, uniform, {
    floatAccuracy: ctx.floatAccuracy, testImages: ctx.test.count, valImages: ctx.val.count, calibImages: ctx.calibImages, bits: candidateBits,
  }));
  console.log(`wrote ${join(ctx.outDir, 'study-mixed.json')} and ${join(ctx.outDir, 'mixed-frontier.svg')} (${tAll.toFixed(0)} s)`);
}

/** What the chart's caption and baseline need besides the evaluated configurations. */
export interface ChartInfo { floatAccuracy: number; testImages: number; valImages: number; calibImages: number; bits: number[] }

/** Test accuracy against packed size: the evaluated frontier points beside the uniform widths. */
export function mixedFrontierSvg(mixed: Evaluated[], uniform: Evaluated[], ctx: ChartInfo): string {
  const bits = ctx.bits;
  const kb = (e: Evaluated) => e.packedBytes / 1024;
  const pts = (es: Evaluated[], y: (e: Evaluated) => number) => es.map((e) => ({ x: kb(e), y: y(e) * 100 })).sort((a, b) => a.x - b.x);
  const all = [...mixed, ...uniform];
  const xMin = Math.min(...all.map(kb)), xMax = Math.max(...all.map(kb));
  const step = niceStep((xMax - xMin) / 8);
  const xTicks: number[] = [];
  for (let x = Math.floor(xMin / step) * step; x <= xMax + step; x += step) xTicks.push(Number(x.toFixed(6)));
  const float = ctx.floatAccuracy * 100;
  const yLow = Math.min(...all.map((e) => Math.min(e.test, e.intOnly, e.qat?.test ?? 1) * 100));
  const hasQat = all.every((e) => e.qat !== undefined);
  // integer-only lines only where they differ from fake-quant (the simulation makes them equal)
  const intDiffers = all.some((e) => e.intOnly !== e.test || (e.qat !== undefined && e.qat.intOnly !== e.qat.test));
  const series: Series[] = [
    { label: `float (${float.toFixed(2)}%)`, color: '#555', dashed: true, noMarkers: true, points: [{ x: xTicks[0], y: float }, { x: xTicks[xTicks.length - 1], y: float }] },
    // squares under the frontier's circles: where the frontier passes through a uniform
    // configuration both markers stay visible
    { label: 'uniform weight bits (PTQ fake-quant)', color: '#d62728', dotted: true, points: pts(uniform, (e) => e.test) },
    ...(intDiffers ? [{ label: 'uniform, integer-only', color: '#ff9896', dotted: true, points: pts(uniform, (e) => e.intOnly) }] : []),
    { label: 'mixed, Pareto frontier (PTQ fake-quant)', color: '#1f77b4', points: pts(mixed, (e) => e.test) },
    ...(intDiffers ? [{ label: 'mixed, integer-only', color: '#aec7e8', dashed: true, points: pts(mixed, (e) => e.intOnly) }] : []),
    ...(hasQat ? [
      { label: 'uniform weight bits (QAT fake-quant)', color: '#9467bd', dotted: true, points: pts(uniform, (e) => e.qat!.test) },
      { label: 'mixed, Pareto frontier (QAT fake-quant)', color: '#2ca02c', points: pts(mixed, (e) => e.qat!.test) },
    ] : []),
  ];
  const zoomLow = Math.floor((float - 1) * 2) / 2;
  return accuracyChartSvg({
    title: 'MNIST CNN: mixed-precision weights by sensitivity vs uniform widths',
    xLabel: 'packed model size (KB): ceil(n·b/8) per weight tensor + per-channel int8-file overhead',
    yLabel: 'test accuracy (%)',
    series,
    xTicks,
    panels: [
      { yMin: Math.max(0, Math.floor(yLow / 10) * 10), yMax: 100, yStep: 10, note: 'full range' },
      { yMin: zoomLow, yMax: Math.ceil(float + 0.5), yStep: 0.5, note: `zoom (open markers: below ${zoomLow}%)` },
    ],
    caption: [
      `${ctx.testImages.toLocaleString('en')} MNIST test images; weights at per-layer bits, all activations at 8 bits; PTQ (${ctx.calibImages} calibration images)${hasQat ? ', then QAT from it (kept only if better on validation)' : ''}.`,
      `Uniform points left to right: ${[...bits].sort((a, b) => a - b).join(', ')} bits. Sensitivity measured on ${ctx.valImages.toLocaleString('en')} validation images.`,
      intDiffers ? 'Light colours: the converted integer-only models.' : 'The converted integer-only models have the same accuracy at every point (not drawn separately).',
    ],
  });
}

function niceStep(raw: number): number {
  const p = 10 ** Math.floor(Math.log10(Math.max(raw, 1e-9)));
  return [1, 2, 5, 10].map((m) => m * p).find((s) => s >= raw) ?? 10 * p;
}

function signed(x: number): string {
  return `${x >= 0 ? '+' : '−'}${Math.abs(x).toFixed(4)}`;
}

function pct(x: number): string {
  return `${(x * 100).toFixed(2)}%`;
}
