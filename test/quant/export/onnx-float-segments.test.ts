/**
 * ONNX export of chains with float segments (onnx-float-segments.ts), checked by onnxruntime-node
 * against qgrad's int8 engine on the PyTorch-trained fixture CNN:
 *   - dynamic PTQ (dynamicLinear: the range measured at run time, integer GEMM, float rescale) is
 *     written with the engine's own float32 steps, so the runtime must reproduce it bit for bit,
 *     per row and per tensor, uint8 and int8 activations, behind weight-only or static int8 convs
 *     (the static stretch in the integer form, which is bit-exact too);
 *   - weight-only PTQ (int8 per channel, int4 per group with a short last group, symmetric and
 *     affine) dequantizes the weights in the graph exactly as the engine does, then sums in float32
 *     where the engine sums in float64: outputs agree to float32 rounding.
 */
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { MnistLoader, mnistCnn } from '../../../src/index.js';
import {
  calibrate, convert, decodeModel, exportInt8Onnx, Int8Model, prepareQAT, qconfig, quantizeDynamic, quantizeWeightOnly, type Int8ModelSpec,
} from '../../../src/quant/index.js';
import { loadMnist, loadSafetensors } from '../../../src/node.js';
import { mnistTest, runOnnx, worstRelative } from './helpers.js';

const FIXTURES = new URL('../../fixtures/torch-cnn/', import.meta.url);
const inputShape = [1, 28, 28];

function fixtureModel() {
  const model = mnistCnn({});
  loadSafetensors(fileURLToPath(new URL('cnn.safetensors', FIXTURES)), model);
  model.eval();
  return model;
}

function staticSpec(): Int8ModelSpec {
  const q = prepareQAT(fixtureModel(), { default: qconfig({ bits: 8, activationObserver: 'minmax' }) });
  calibrate(q, new MnistLoader(loadMnist({ split: 'train', limit: 256 }), { batchSize: 128 }));
  return convert(q, { inputShape });
}

function argmaxRows(a: ArrayLike<number>, n: number, c: number): number[] {
  return Array.from({ length: n }, (_, i) => {
    let best = 0;
    for (let j = 1; j < c; j++) if (a[i * c + j] > a[i * c + best]) best = j;
    return best;
  });
}

function firstDifference(a: Float32Array, b: Float32Array): string {
  for (let i = 0; i < b.length; i++) if (!Object.is(a[i], b[i])) return `element ${i}: onnxruntime ${a[i]}, qgrad ${b[i]}`;
  return 'none';
}

describe('exportInt8Onnx with dynamic layers: onnxruntime reproduces the engine bit for bit', () => {
  // 32 images: one engine chunk for this CNN (about 38 images), so a per-tensor range covers the same values in both.
  const N = 32;
  const { x } = mnistTest(N, 100);
  const variants = [
    { activation: 'uint8', granularity: 'row' },
    { activation: 'uint8', granularity: 'tensor' },
    { activation: 'int8', granularity: 'row' },
    { activation: 'int8', granularity: 'tensor' },
  ] as const;
  for (const v of variants) {
    it(`weight-only int8 convs + dynamic linear, ${v.activation} per ${v.granularity}: same predictions, logits to float32 rounding`, async () => {
      const spec = quantizeDynamic(fixtureModel(), { inputShape, ...v });
      expect(spec.layers.map((l) => l.kind)).toContain('dynamicLinear');
      const ours = new Int8Model(spec).forward(x, N);
      const theirs = await runOnnx(exportInt8Onnx(spec), x, N);
      // The convs are weight-only (float sums in the runtime), so feed the head the same input:
      // compare the dynamic layer alone below; here, predictions and closeness.
      expect(worstRelative(theirs, ours)).toBeLessThan(1e-3);
      expect(argmaxRows(theirs, N, 10)).toEqual(argmaxRows(ours, N, 10));
    });
  }

  it('a dynamic linear layer alone: identical outputs for every variant', async () => {
    // The head of the fixture CNN on its own ([1000] float features), so no float conv sits in front of it.
    const full = quantizeDynamic(fixtureModel(), { inputShape, activation: 'uint8', granularity: 'row' });
    const head = full.layers.find((l) => l.kind === 'dynamicLinear');
    if (!head || head.kind !== 'dynamicLinear') throw new Error('expected a dynamicLinear layer');
    const K = head.weightShape[1];
    // Features with negative and positive values, a zero row and a constant row (the range-0 and
    // one-sided cases of the scale formula).
    const rows = 8;
    const feats = new Float32Array(rows * K);
    let s = 12345;
    for (let i = 0; i < feats.length; i++) {
      s = (s * 1103515245 + 12345) >>> 0;
      feats[i] = ((s / 2 ** 32) - 0.3) * 7;
    }
    feats.fill(0, 2 * K, 3 * K);
    feats.fill(2.5, 5 * K, 6 * K);
    for (const v of variants) {
      const spec: Int8ModelSpec = { inputShape: [K], layers: [{ ...head, activation: v.activation, granularity: v.granularity }] };
      const ours = new Int8Model(spec).forward(feats, rows);
      const theirs = await runOnnxShape(exportInt8Onnx(spec), feats, [rows, K]);
      expect(firstDifference(theirs, ours), `${v.activation} per ${v.granularity}`).toBe('none');
    }
  });

  it('static int8 convs (integer form) + dequantize + dynamic linear: identical logits', async () => {
    const spec = quantizeDynamic(fixtureModel(), { inputShape, activation: 'uint8', granularity: 'row', staticSpec: staticSpec() });
    const kinds = spec.layers.map((l) => l.kind);
    expect(kinds[0]).toBe('quantize');
    expect(kinds).toContain('dequantize');
    expect(kinds[kinds.length - 1]).toBe('dynamicLinear');
    const ours = new Int8Model(spec).forward(x, N);
    const integer = await runOnnx(exportInt8Onnx(spec, { form: 'integer' }), x, N);
    expect(firstDifference(integer, ours)).toBe('none');
    // The QDQ form requantizes the static stretch in float (one level apart near ties): predictions agree.
    const qdq = await runOnnx(exportInt8Onnx(spec), x, N);
    const same = argmaxRows(qdq, N, 10).filter((p, i) => p === argmaxRows(ours, N, 10)[i]).length;
    expect(same).toBeGreaterThanOrEqual(N - 1);
  });
});

describe('exportInt8Onnx with weight-only layers: float32 agreement', () => {
  const N = 64;
  const { x } = mnistTest(N, 200);
  const cases = [
    { bits: 8, symmetric: true },
    { bits: 4, symmetric: true, groupSize: 32 },
    { bits: 4, symmetric: false, groupSize: 32 },
    { bits: 4, symmetric: false, groupSize: 7 },
  ] as const;
  for (const c of cases) {
    it(`int${c.bits} ${c.symmetric ? 'symmetric' : 'affine'} ${'groupSize' in c ? `groups of ${c.groupSize}` : 'per channel'}`, async () => {
      const spec = quantizeWeightOnly(fixtureModel(), { inputShape, ...c });
      const kinds = spec.layers.map((l) => l.kind);
      expect(kinds).toContain('weightOnlyConv2d');
      expect(kinds).toContain('weightOnlyLinear');
      const bytes = exportInt8Onnx(spec);
      const ours = new Int8Model(spec).forward(x, N);
      const theirs = await runOnnx(bytes, x, N);
      // float32 sums (runtime) against float64 sums (engine) over K <= 1000 terms
      expect(worstRelative(theirs, ours)).toBeLessThan(1e-4);
      expect(argmaxRows(theirs, N, 10)).toEqual(argmaxRows(ours, N, 10));
      // the levels travel as int8 initializers, not as float weights
      const graph = (decodeModel(bytes) as { graph: { initializer: { name: string; dataType: number }[] } }).graph;
      const levels = graph.initializer.filter((t) => t.name.endsWith('.weight_q'));
      expect(levels.length).toBe(3);
      expect(levels.every((t) => t.dataType === 3)).toBe(true); // TensorProto.INT8
    });
  }

  it('an unknown form is refused by name', () => {
    const spec = quantizeWeightOnly(fixtureModel(), { inputShape, bits: 8 });
    expect(() => exportInt8Onnx(spec, { form: 'fast' as 'qdq' })).toThrow(/form must be 'qdq' or 'integer', got "fast"/);
  });
});

async function runOnnxShape(bytes: Uint8Array, x: Float32Array, dims: number[]): Promise<Float32Array> {
  const ort = await import('onnxruntime-node');
  const session = await ort.InferenceSession.create(bytes, { intraOpNumThreads: 1, interOpNumThreads: 1, executionProviders: ['cpu'] });
  try {
    const out = await session.run({ input: new ort.Tensor('float32', x, dims) });
    return out.output.data as Float32Array;
  } finally {
    await session.release();
  }
}
