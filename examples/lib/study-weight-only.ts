/**
 * `npm start -- --study weight-only`: weight-only PTQ of the trained float CNN
 * (src/quant/ptq/weight-only.ts). Every conv and linear layer keeps float activations and stores
 * its weights as int8 or int4 levels, per output channel or per group of inputs along the
 * flattened in·kh·kw (GPTQ/AWQ-style group sizes 32, 64, 128; a group size above a layer's K,
 * e.g. the first conv's 9, is per-channel there). --bits picks the widths among 8 and 4.
 * int4 levels are stored one per byte here: the file sizes shrink once sub-byte packing lands.
 */
import { quantizeWeightOnly } from '../../src/quant/index.js';
import { evaluateSpec, floatPredictions, writeStudy, type StudyRow } from './ptq-study.js';
import type { StudyContext } from './study.js';

export async function runStudy(ctx: StudyContext): Promise<void> {
  const reference = floatPredictions(ctx);
  const bits = (ctx.bits ?? [8, 4]).filter((b): b is 8 | 4 => b === 8 || b === 4);
  if (bits.length === 0) throw new Error(`--study weight-only: --bits must include 8 or 4, got ${ctx.bits?.join(',')}`);
  const configs: { bits: 8 | 4; groupSize?: number; symmetric: boolean }[] = [];
  for (const b of bits) {
    configs.push({ bits: b, symmetric: true });
    if (b === 4) {
      for (const groupSize of [128, 64, 32]) configs.push({ bits: b, groupSize, symmetric: true });
      configs.push({ bits: b, symmetric: false }, { bits: b, groupSize: 32, symmetric: false });
    }
  }
  const rows: StudyRow[] = [];
  for (const c of configs) {
    const spec = quantizeWeightOnly(ctx.floatModel, { inputShape: [1, 28, 28], ...c });
    const grouping = c.groupSize ? `groups of ${c.groupSize}` : 'per channel';
    const name = `int${c.bits} ${grouping}, ${c.symmetric ? 'symmetric' : 'asymmetric'}`;
    rows.push(evaluateSpec(ctx, reference, spec, { model: name, convs: `weight-only int${c.bits}`, linear: `weight-only int${c.bits}` }));
  }
  writeStudy(ctx, 'weight-only', rows, { notes: 'int4 levels stored one per byte (int8 arrays) in these files' });
}
