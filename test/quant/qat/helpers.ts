/**
 * Shared by the QAT suites: small seeded models and batches, cheap real-MNIST slices, a float
 * pre-training loop, and the comparison of a fake-quant model with the Int8Model built from
 * convert()'s spec.
 */
import {
  fromArray,
  MnistLoader,
  noGrad,
  SGD,
  trainEpoch,
  type MnistBatch,
  type Module,
  type Sequential,
  type Tensor,
} from '../../../src/index.js';
import { convert, Int8Model, type FakeQuantize, type Int8ModelSpec } from '../../../src/quant/index.js';
import { prng } from '../../helpers/arbitraries.js';
import { loadMnist } from '../../../src/node.js';

export { prng };

/** Batches shaped like MnistLoader's, with seeded N(0, 1)-ish inputs of the given per-example shape. */
export function randomBatches(count: number, batchSize: number, exampleShape: [number, number, number], seed: number, classes = 10): MnistBatch[] {
  const rand = prng(seed);
  const per = exampleShape[0] * exampleShape[1] * exampleShape[2];
  return Array.from({ length: count }, () => {
    const x = Float32Array.from({ length: batchSize * per }, () => (rand() + rand() + rand() - 1.5) * 2);
    const y = Int32Array.from({ length: batchSize }, () => Math.floor(rand() * classes));
    return { x, y, size: batchSize, xShape: [batchSize, ...exampleShape] as [number, number, number, number] };
  });
}

/** The first `count` examples of a split as batches (normalised like the loader's default). */
export function mnistBatches(split: 'train' | 'test', count: number, batchSize: number): MnistBatch[] {
  const ds = loadMnist({ split, limit: count });
  return [...new MnistLoader(ds, { batchSize })];
}

/** A few steps of float SGD (momentum 0.9) so weights, BN statistics and logits are not at their initial values. */
export function pretrain(model: Module, batches: Iterable<MnistBatch>, steps: number, lr = 0.05): void {
  const opt = new SGD(model.parameters(), { lr, momentum: 0.9 });
  trainEpoch(model, opt, batches, { maxBatches: steps });
}

/** A model's float output for a batch, without recording (eval or train as the model is set). */
export function logitsOf(model: Module, b: MnistBatch): Float32Array {
  return noGrad(() => model.call(fromArray(b.x, b.xShape)).toTypedArray() as Float32Array);
}

/** The arg-max class per row. */
export function argmaxRows(logits: ArrayLike<number>, classes: number): number[] {
  const out: number[] = [];
  for (let n = 0; n * classes < logits.length; n++) {
    let best = 0;
    for (let c = 1; c < classes; c++) if (logits[n * classes + c] > logits[n * classes + best]) best = c;
    out.push(best);
  }
  return out;
}

export interface Agreement {
  spec: Int8ModelSpec;
  int8: Float32Array;
  fq: Float32Array;
  /** Scale of the output levels. */
  outScale: number;
  /** max |int8 - fq| in output levels. */
  maxLevels: number;
  /** Fraction of examples whose predicted class agrees. */
  predictionAgreement: number;
}

/**
 * Convert the (eval-mode, observers-off) fake-quant model, run the Int8Model on the same batch
 * and compare logits element by element.
 */
export function compareWithInt8(model: Sequential, b: MnistBatch, classes: number): Agreement {
  model.eval();
  const fq = logitsOf(model, b);
  const spec = convert(model, { inputShape: [...b.xShape.slice(1)] });
  const int8 = new Int8Model(spec).forward(b.x, b.size);
  const last = spec.layers[spec.layers.length - 1];
  if (last.kind !== 'dequantize') throw new Error('convert: the last layer must be a dequantize');
  let maxLevels = 0;
  for (let i = 0; i < fq.length; i++) maxLevels = Math.max(maxLevels, Math.abs(int8[i] - fq[i]) / last.scale);
  const a = argmaxRows(int8, classes), f = argmaxRows(fq, classes);
  const predictionAgreement = a.filter((c, i) => c === f[i]).length / a.length;
  return { spec, int8, fq, outScale: last.scale, maxLevels, predictionAgreement };
}

/** The logits' differences in output levels (float32 slack removed by rounding). */
export function levelDiffs(r: Agreement): number[] {
  return Array.from(r.fq, (v, i) => Math.round(Math.abs(r.int8[i] - v) / r.outScale));
}

export interface LayerDiff {
  /** Index in the Sequential and in the spec (they align: QuantStub ↔ quantize). */
  index: number;
  kind: string;
  /** max |int8 - fq| in output levels of this layer, given the same input levels. */
  maxLevels: number;
  /** Output elements that differ at all. */
  mismatches: number;
  size: number;
}

/**
 * Every weighted layer of the spec in isolation: a one-layer Int8Model (quantize with the input
 * quantizer's qparams, the layer, dequantize with its output qparams) run on the fake-quant
 * model's own activation entering that layer (already on the input grid, so both sides see the
 * same input levels), compared level by level with the fake-quant model's output of the layer.
 * This is convert()'s contract: the two differ only in how the accumulator is rescaled.
 */
export function isolatedLayerDiffs(model: Sequential, spec: Int8ModelSpec, b: MnistBatch): LayerDiff[] {
  model.eval();
  const kids = model.namedChildren().map(([, m]) => m);
  const out: LayerDiff[] = [];
  let h = fromArray(b.x, b.xShape);
  let inFq: FakeQuantize | null = null;
  kids.forEach((m, i) => {
    const input = h;
    h = noGrad(() => m.call(input));
    const fq = (m as { activationFq?: FakeQuantize }).activationFq;
    if (!fq) return;
    const layer = spec.layers[i];
    if (inFq && (layer.kind === 'conv2d' || layer.kind === 'linear')) {
      const pin = inFq.computeQParams(), pout = fq.computeQParams();
      const sub: Int8ModelSpec = {
        inputShape: input.shape.slice(1),
        layers: [
          { kind: 'quantize', scale: pin.scale[0], zeroPoint: pin.zeroPoint[0], qmin: inFq.qmin, qmax: inFq.qmax, rounding: inFq.range.rounding },
          layer,
          { kind: 'dequantize', scale: pout.scale[0], zeroPoint: pout.zeroPoint[0] },
        ],
      };
      const got = new Int8Model(sub).forward(input.toTypedArray(), b.size);
      const want = h.toTypedArray();
      const s = pout.scale[0];
      let maxLevels = 0, mismatches = 0;
      for (let k = 0; k < want.length; k++) {
        const d = Math.abs(Math.round(got[k] / s) - Math.round(want[k] / s));
        if (d) mismatches++;
        maxLevels = Math.max(maxLevels, d);
      }
      out.push({ index: i, kind: layer.kind, maxLevels, mismatches, size: want.length });
    }
    inFq = fq;
  });
  return out;
}

/**
 * A rigorous bound, in output levels, on |int8 - fq| at the logits, propagated through the spec
 * from the per-layer contract (at most one level given equal inputs): an input difference of δ
 * levels moves a weighted layer's real output by at most M_o·Σ_k |w_q[o,k] - z_w[o]|·δ levels
 * (M_o = multiplier·2^(shift-31) = s_in·s_w[o]/s_out), and rounding adds at most one more;
 * ReLU, clamping, max pooling and flatten never increase it.
 */
export function propagatedBound(spec: Int8ModelSpec): number {
  let delta = 0;
  for (const l of spec.layers) {
    if (l.kind !== 'conv2d' && l.kind !== 'linear') continue;
    const O = l.weightShape[0];
    const per = l.weight.length / O;
    let worst = 0;
    for (let o = 0; o < O; o++) {
      let k = 0;
      for (let j = 0; j < per; j++) k += Math.abs(l.weight[o * per + j] - l.weightZeroPoint[o]);
      const m = l.multiplier[o] * 2 ** (l.shift[o] - 31);
      worst = Math.max(worst, Math.ceil(m * k * delta * (1 + 1e-6)));
    }
    delta = worst + 1;
  }
  return delta;
}

/** Element values of a tensor as a plain array copy. */
export function values(t: Tensor | null): number[] {
  if (!t) throw new Error('values: tensor is null');
  return Array.from(t.toTypedArray());
}

