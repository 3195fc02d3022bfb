/**
 * `npm start -- --study dynamic`: dynamic PTQ of the trained float CNN (src/quant/ptq/dynamic.ts).
 * The Linear layer becomes a dynamicLinear layer (int8 weights per channel, activation range
 * measured at run time, int32 GEMM, float output); the convolutions run either as static int8
 * (the job's PTQ recipe: 8-bit, histogram/MSE calibration, then a dequantize as the float
 * boundary) or as weight-only int8 on float activations (the nearest the engine has to
 * quantize_dynamic's float convs). Static int8 PTQ of the whole model is the reference row.
 */
import { quantizeDynamic } from '../../src/quant/index.js';
import { evaluateSpec, floatPredictions, staticInt8Spec, writeStudy, type StudyRow } from './ptq-study.js';
import type { StudyContext } from './study.js';

export async function runStudy(ctx: StudyContext): Promise<void> {
  const reference = floatPredictions(ctx);
  const staticSpec = staticInt8Spec(ctx);
  const inputShape = [1, 28, 28];
  const rows: StudyRow[] = [];
  rows.push(evaluateSpec(ctx, reference, staticSpec, { model: 'static int8 PTQ', convs: 'static int8', linear: 'static int8' }));
  const variants = [
    { activation: 'uint8', granularity: 'row' },
    { activation: 'uint8', granularity: 'tensor' },
    { activation: 'int8', granularity: 'row' },
  ] as const;
  for (const v of variants) {
    const spec = quantizeDynamic(ctx.floatModel, { inputShape, staticSpec, ...v });
    rows.push(evaluateSpec(ctx, reference, spec, { model: `dynamic int8, ${v.activation} activations per ${v.granularity}`, convs: 'static int8', linear: 'dynamic int8' }));
  }
  const floatConvs = quantizeDynamic(ctx.floatModel, { inputShape, activation: 'uint8', granularity: 'row' });
  rows.push(evaluateSpec(ctx, reference, floatConvs, { model: 'dynamic int8, uint8 activations per row', convs: 'weight-only int8', linear: 'dynamic int8' }));
  writeStudy(ctx, 'dynamic', rows, {
    notes: "per 'tensor' = one range per engine forward chunk (38 images of this CNN; the evaluation batch is 500); per 'row' = one range per image",
  });
}
