/**
 * What the dynamic and weight-only studies (study-dynamic.ts, study-weight-only.ts) share: run an
 * Int8ModelSpec on the test set, compare it with the float model, and write the table.
 */
import { join } from 'node:path';
import type { Device } from '../../src/index.js';
import { MnistLoader, evaluate } from '../../src/nn/index.js';
import { Int8Model, calibrate, convert, prepareQAT, qconfig, type Int8ModelSpec } from '../../src/quant/index.js';
import { writeFileAtomic } from '../../src/node.js';
import type { StudyContext } from './study.js';

export interface StudyRow {
  model: string;
  convs: string;
  linear: string;
  accuracy: number;
  /** accuracy - float accuracy, in percentage points. */
  deltaPoints: number;
  /** Share of test images whose predicted class equals the float model's. */
  agreement: number;
  fileBytes: number;
  seconds: number;
}

/** Test accuracy of a spec, run by the int8 engine, against the float model. */
export function evaluateSpec(ctx: StudyContext, floatPredictions: Int32Array, spec: Int8ModelSpec, names: { model: string; convs: string; linear: string }): StudyRow {
  const model = new Int8Model(spec);
  const t0 = performance.now();
  const r = evaluate(ctx.floatModel, new MnistLoader(ctx.test, { batchSize: 500 }), { forward: (x, s) => model.forward(x, s[0]) });
  const seconds = (performance.now() - t0) / 1000;
  let agree = 0;
  for (let i = 0; i < r.count; i++) if (r.predictions[i] === floatPredictions[i]) agree++;
  const row = {
    ...names, accuracy: r.accuracy, deltaPoints: (r.accuracy - ctx.floatAccuracy) * 100, agreement: agree / r.count,
    fileBytes: model.sizeBytes(), seconds,
  };
  console.log(`  ${names.model}: ${pct(row.accuracy)} (${row.deltaPoints >= 0 ? '+' : ''}${row.deltaPoints.toFixed(2)} points vs float), ${row.fileBytes} bytes, ${seconds.toFixed(1)} s`);
  return row;
}

/** The float model's own test predictions (for the agreement column). */
export function floatPredictions(ctx: StudyContext): Int32Array {
  return evaluate(ctx.floatModel, new MnistLoader(ctx.test, { batchSize: 500 })).predictions;
}

/** A static int8 PTQ spec of the float model: 8-bit weights (per channel) and activations, histogram/MSE calibration. */
export function staticInt8Spec(ctx: StudyContext): Int8ModelSpec {
  const q = prepareQAT(ctx.cloneFloat(), { default: qconfig({ bits: 8, activationObserver: 'histogram', calibration: 'mse' }) });
  calibrate(q, new MnistLoader(ctx.train, { batchSize: 256, subset: { size: Math.min(ctx.calibImages, ctx.train.count), seed: ctx.seed + 2 } }), { device: ctx.device as Device });
  return convert(q, { inputShape: [1, 28, 28], meta: { bits: 8, kind: 'ptq' } });
}

export function pct(x: number): string {
  return `${(x * 100).toFixed(2)}%`;
}

/** Print the markdown table and write DIR/study-NAME.json. */
export function writeStudy(ctx: StudyContext, name: string, rows: StudyRow[], extra: Record<string, unknown>): void {
  const lines = [
    `| model | convs | linear | test accuracy | vs float | agrees with float | file bytes |`,
    '|---|---|---|---|---|---|---|',
    `| float | float32 | float32 | ${pct(ctx.floatAccuracy)} | | | |`,
    ...rows.map((r) => `| ${r.model} | ${r.convs} | ${r.linear} | ${pct(r.accuracy)} | ${r.deltaPoints >= 0 ? '+' : ''}${r.deltaPoints.toFixed(2)} | ${pct(r.agreement)} | ${r.fileBytes} |`),
  ];
  console.log(`\n${name} study, ${ctx.test.count} test images:\n\n${lines.join('\n')}\n`);
  const path = join(ctx.outDir, `study-${name}.json`);
  writeFileAtomic(path, JSON.stringify({ study: name, testImages: ctx.test.count, floatAccuracy: ctx.floatAccuracy, seed: ctx.seed, quick: ctx.quick, rows, ...extra }, null, 2));
  console.log(`wrote ${path}`);
}
