/**
 * Planning the int8 fast path of one validated model, in four passes (FastProgram.plan runs them):
 *   1. fuseLayers: the ops over activation values, shapes only, with ReLUs folded into the
 *      preceding conv2d / linear and 2x2-style max pools into the preceding conv2d;
 *   2. layOutValues: each value's border (its consumer's padding) and bytes per image, the chunk
 *      size, and a first bound on kernel memory, checked before anything sized by the model's
 *      shapes is allocated;
 *   3. emitOps: the packed weights and tables of every op, placed in the Layout;
 *   4. the values themselves, after which the layout's final size is checked again.
 * Every size is plain arithmetic on safe integers (see ./layout.ts), so a crafted model with huge
 * shapes or padding gets a reason string (and the reference engine), never a wrapped size.
 */
import { INT16_MAX } from '../../numerics/int-limits.js';
import type { LayerPlan } from '../validate.js';
import { convOp, im2colOp, linearOp, tapPairPlan } from './conv-op.js';
import { QUANTIZE_PARAM_BYTES } from './kernels.js';
import { align16, Layout, MEMORY_LIMIT, type Op, type Value } from './layout.js';
import { poolFusable, weightedProblem } from './tiles.js';
import { winogradWeights, winoOp } from './winograd.js';

/** Activation bytes per chunk the chunk size aims at (inside L2). */
const CHUNK_BYTES = 1 << 20;
const MAX_CHUNK = 64;

type ConvPlan = Extract<LayerPlan, { kind: 'conv2d' }>;
type PoolPlan = Extract<LayerPlan, { kind: 'maxpool2d' }>;

/** An op of pass 1: layers and values, before any constant is built. */
export type Pending =
  | {
    kind: 'conv'; plan: ConvPlan; in: number; out: number; reluLo: boolean; pool: PoolPlan | null;
    /** The value of its input's tap pairs, when it runs as a 1x1 conv over them (decided with the layout). */
    cols?: number;
    /** Winograd's transformed weights, when it runs as Winograd (decided with the layout). */
    wino?: Int32Array | null;
  }
  | { kind: 'linear'; plan: Extract<LayerPlan, { kind: 'linear' }>; in: number; out: number; reluLo: boolean }
  | { kind: 'pool'; plan: PoolPlan; in: number; out: number }
  | { kind: 'relu'; value: number };

/** Why this model cannot take the fast path at all (levels or weights outside int16, accumulators too wide), or null. */
export function modelProblem(plans: LayerPlan[]): string | null {
  const first = plans[0], last = plans[plans.length - 1];
  if (first.kind !== 'quantize' || last.kind !== 'dequantize') return 'unreachable: not a validated model';
  for (const p of plans) {
    const r = p.outRange;
    if (r && (r.qmax - r.zeroPoint > INT16_MAX || r.zeroPoint - r.qmin > INT16_MAX)) {
      return `layer ${p.index} (${p.kind}): levels minus the zero point leave int16`;
    }
    if (p.kind === 'conv2d' || p.kind === 'linear') {
      const why = weightedProblem(p.weighted, p.layer.shift);
      if (why) return `layer ${p.index} (${p.kind}): ${why}`;
    }
  }
  return null;
}

/** Pass 1: the values (shapes only; padding is set by their consumer in pass 2) and the ops over them. */
export function fuseLayers(plans: LayerPlan[]): { values: Value[]; pending: Pending[]; finalValue: number } {
  const values: Value[] = [];
  const newValue = (shape: readonly number[]): number => {
    const [C, H, W] = shape.length === 3 ? shape : [shape.reduce((a, b) => a * b, 1), 1, 1];
    values.push({ C, H, W, padH: 0, padW: 0, Hs: 0, Ws: 0, pairs: Math.ceil(C / 2), pixBytes: 0, imageBytes: 0, colPairs: 0, planes: 0, planeBytes: 0, base: 0, slack: 16 });
    return values.length - 1;
  };
  const pending: Pending[] = [];
  let current = newValue(plans[0].outShape);
  const inner = plans.slice(1, -1);
  for (let i = 0; i < inner.length; i++) {
    const p = inner[i];
    if (p.kind === 'conv2d' || p.kind === 'linear') {
      let reluLo = false, pool: PoolPlan | null = null, outShape = p.outShape;
      const absorbRelus = () => {
        for (; inner[i + 1]?.kind === 'relu'; i++) reluLo = true;
      };
      absorbRelus();
      const next = inner[i + 1];
      if (p.kind === 'conv2d' && next?.kind === 'maxpool2d' && poolFusable(next)) {
        pool = next;
        outShape = next.outShape;
        i++;
        absorbRelus();
      }
      const out = newValue(outShape);
      pending.push(p.kind === 'conv2d' ? { kind: 'conv', plan: p, in: current, out, reluLo, pool } : { kind: 'linear', plan: p, in: current, out, reluLo });
      current = out;
    } else if (p.kind === 'maxpool2d') {
      const out = newValue(p.outShape);
      pending.push({ kind: 'pool', plan: p, in: current, out });
      current = out;
    } else if (p.kind === 'relu') {
      pending.push({ kind: 'relu', value: current });
    }
    // flatten: the data stays where it is, in [C, H, W] order, which is the flattened order.
  }
  return { values, pending, finalValue: current };
}

/**
 * Pass 2: borders (a conv's padding on its input value), tap pairs (a value of its own) or column
 * pairs for a first conv over a single channel (the quantized input, at most ReLUs between), every
 * value's bytes per image, and
 * the chunk size; or the reason the activations alone do not fit in kernel memory.
 */
export function layOutValues(values: Value[], pending: Pending[]): { chunk: number } | string {
  for (const op of pending) {
    if (op.kind !== 'conv') continue;
    const v = values[op.in], g = op.plan.geometry;
    v.padH = Math.max(v.padH, g.padding[0]);
    v.padW = Math.max(v.padW, g.padding[1]);
  }
  for (const v of values) {
    v.Hs = v.H + 2 * v.padH;
    v.Ws = v.W + 2 * v.padW;
  }
  for (const op of pending) {
    if (op.kind !== 'conv' || op.in !== 0 || values[0].C !== 1) continue;
    const g = op.plan.geometry;
    if (g.stride[1] === 1 && g.KH * g.KW > 2) {
      // Tap pairs, ceil(KH·KW / 2) words per output pixel (see im2col in ./kernels.ts).
      const planes = Math.ceil((g.KH * g.KW) / 2);
      values.push({
        C: 2 * planes, H: g.OH, W: g.OW, padH: 0, padW: 0, Hs: g.OH, Ws: g.OW, pairs: 1, pixBytes: 0, imageBytes: 0, colPairs: 0,
        // im2col's last step writes up to 3 words past a plane.
        planes, planeBytes: align16(g.OH * g.OW * 4 + 12), base: 0, slack: 16,
      });
      op.cols = values.length - 1;
    } else if (g.KW > 1) {
      values[0].colPairs = g.dilation[1];
    }
  }
  let perImage = 0;
  for (const v of values) {
    v.pixBytes = v.pairs * 4;
    v.imageBytes = v.planes > 0 ? v.planes * v.planeBytes : align16(v.Hs * v.Ws * v.pixBytes);
    perImage += v.imageBytes;
  }
  // The smallest chunk is 4 images: if their activations alone exceed the limit, stop here, before
  // any table sized by the output (quads, offsets, Winograd's transformed input) is built.
  if (4 * perImage > MEMORY_LIMIT) return `needs at least ${4 * perImage} bytes of kernel memory for activations, more than ${MEMORY_LIMIT}`;
  for (const op of pending) {
    if (op.kind !== 'conv' || !op.pool) continue;
    op.wino = winogradWeights(op.plan, op.pool, values[op.in]);
    // Its transformed input: 16 positions per pooling window.
    if (op.wino) perImage += 16 * op.pool.geometry.OH * op.pool.geometry.OW * 16 * Math.ceil(values[op.in].pairs / 4);
  }
  if (4 * perImage > MEMORY_LIMIT) return `needs at least ${4 * perImage} bytes of kernel memory, more than ${MEMORY_LIMIT}`;
  values[0].slack = Math.max(values[0].slack, 4 * values[0].colPairs + 16);
  const fit = Math.floor(CHUNK_BYTES / perImage);
  return { chunk: Math.max(4, Math.min(MAX_CHUNK, fit - (fit % 4))) };
}

/** The quantize step's constants: 1/scale, the clamp bounds minus the zero point, the tie rule. */
export function quantizeConstants(q: { scale: number; zeroPoint: number; qmin: number; qmax: number; rounding?: string }, chunk: number, inputSize: number, layout: Layout) {
  const params = new Float32Array(QUANTIZE_PARAM_BYTES / 4);
  params.fill(Math.fround(1 / q.scale), 0, 4);
  params.fill(q.qmin - q.zeroPoint, 4, 8);
  params.fill(q.qmax - q.zeroPoint, 8, 12);
  new Int32Array(params.buffer).fill(q.rounding === 'halfAwayFromZero' ? -1 : 0, 12, 16);
  return {
    staging: layout.reserve(chunk * inputSize * 4 + 16),
    params: layout.put(new Int32Array(params.buffer)),
    flag: layout.reserve(16),
  };
}

/** describe()'s note on a weighted op's output stage form (./stage.ts); the per-lane form is the default. */
function stageNote(op: Op): string {
  return (op.kind === 'conv' || op.kind === 'linear' || op.kind === 'wino') && op.spec.requant.kind === 'oneShift' ? ' (one-shift output stage)' : '';
}

/** Pass 3: every op with its constants in the layout, and a line per op for describe(). */
export function emitOps(pending: Pending[], values: Value[], chunk: number, layout: Layout): { ops: Op[]; summary: string[] } {
  const ops: Op[] = [], summary: string[] = [];
  let fn = 0;
  for (const op of pending) {
    if (op.kind === 'relu') {
      ops.push(op);
      summary.push(`relu on int16 values`);
    } else if (op.kind === 'pool') {
      const g = op.plan.geometry;
      ops.push({ kind: 'pool', in: op.in, out: op.out, kernel: g.kernel, stride: g.stride, padding: g.padding, dilation: g.dilation, OH: g.OH, OW: g.OW });
      summary.push(`maxpool2d ${g.kernel.join('x')} on int16 values`);
    } else if (op.kind === 'conv') {
      const wino = op.wino ?? null;
      if (op.cols !== undefined) {
        ops.push(im2colOp(op.plan, values[op.in], values[op.cols], op.in, op.cols));
        ops.push(convOp(fn++, tapPairPlan(op.plan), op.pool, op.reluLo, values[op.cols], values[op.out], op.cols, op.out, layout));
      } else {
        ops.push(
          wino
            ? winoOp(fn++, op.plan, wino, op.reluLo, values[op.in], values[op.out], op.in, op.out, chunk, layout)
            : convOp(fn++, op.plan, op.pool, op.reluLo, values[op.in], values[op.out], op.in, op.out, layout),
        );
      }
      const g = op.plan.geometry;
      summary.push(
        `conv2d ${g.C}->${g.O} k${g.KH}x${g.KW}${op.reluLo ? ' +relu' : ''}${op.pool ? ` +maxpool ${op.pool.geometry.kernel.join('x')} (pooled before requantizing)` : ''}` +
          stageNote(ops[ops.length - 1]) + (wino ? ' as Winograd F(2x2, 3x3)' : '') +
          (op.cols !== undefined ? ` as 1x1 over ${values[op.cols].planes} planes of tap pairs` : ''),
      );
    } else {
      ops.push(linearOp(fn++, op.plan, op.reluLo, values[op.in], values[op.out], op.in, op.out, chunk, layout));
      summary.push(`linear ${op.plan.weighted.K}->${op.plan.weighted.O}${op.reluLo ? ' +relu' : ''}${stageNote(ops[ops.length - 1])}`);
    }
  }
  return { ops, summary };
}
