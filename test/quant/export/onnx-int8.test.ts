/**
 * int8 ONNX export (QDQ form) checked by the real runtime: the PyTorch-trained fixture CNN is
 * calibrated with PTQ (8 bits, per-channel symmetric int8 weights, affine uint8 activations),
 * converted, and exported; onnxruntime-node (which fuses the QDQ pattern into its own integer
 * kernels with float requantization) must agree with qgrad's integer engine (TFLite fixed-point
 * requantization): predictions on nearly every test image, and every logit within one output
 * level on nearly every image. Exact equality is not expected: the two requantize differently
 * (docs/onnx.md). Unsupported specs fail naming the layer.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { MnistLoader, mnistCnn } from '../../../src/index.js';
import { calibrate, convert, decodeModel, exportInt8Onnx, Int8Model, prepareQAT, qconfig, type Int8ModelSpec } from '../../../src/quant/index.js';
import { mnistTest, runOnnx } from './helpers.js';
import { loadMnist, loadSafetensors } from '../../../src/node.js';

const FIXTURES = new URL('../../fixtures/torch-cnn/', import.meta.url);
const N = 500;

function argmax(a: ArrayLike<number>, from: number, n: number): number {
  let best = 0;
  for (let j = 1; j < n; j++) if (a[from + j] > a[from + best]) best = j;
  return best;
}

function calibratedSpec(name: string, opts: { channels?: number; batchNorm?: boolean }): Int8ModelSpec {
  const model = mnistCnn(opts);
  loadSafetensors(fileURLToPath(new URL(`${name}.safetensors`, FIXTURES)), model);
  model.eval();
  const q = prepareQAT(model, { default: qconfig({ bits: 8, activationObserver: 'minmax' }) });
  calibrate(q, new MnistLoader(loadMnist({ split: 'train', limit: 256 }), { batchSize: 128 }));
  return convert(q, { inputShape: [1, 28, 28] });
}

describe('exportInt8Onnx -> onnxruntime-node vs the integer engine', () => {
  const { x } = mnistTest(N);
  for (const [name, opts] of [['cnn', {}], ['cnn-bn', { channels: 8, batchNorm: true }]] as const) {
    it(`${name}: predictions and logits (within one output level) agree on >= 99% of ${N} test images`, async () => {
      const spec = calibratedSpec(name, opts);
      const ours = new Int8Model(spec).forward(x, N);
      const theirs = await runOnnx(exportInt8Onnx(spec), x, N);
      const out = spec.layers[spec.layers.length - 1];
      if (out.kind !== 'dequantize') throw new Error('spec ends in a dequantize layer');
      let samePrediction = 0, withinOneLevel = 0, exact = 0;
      for (let i = 0; i < N; i++) {
        if (argmax(ours, i * 10, 10) === argmax(theirs, i * 10, 10)) samePrediction++;
        let worst = 0;
        for (let j = 0; j < 10; j++) worst = Math.max(worst, Math.abs(ours[i * 10 + j] - theirs[i * 10 + j]) / out.scale);
        if (worst <= 1 + 1e-3) withinOneLevel++;
        if (worst === 0) exact++;
      }
      console.log(`${name}: same prediction ${samePrediction}/${N}, logits within one level ${withinOneLevel}/${N}, identical ${exact}/${N}`);
      expect(samePrediction / N).toBeGreaterThanOrEqual(0.99);
      expect(withinOneLevel / N).toBeGreaterThanOrEqual(0.99);
      // Not a vacuous comparison: the two runtimes compute the same model, mostly bit for bit.
      expect(exact / N).toBeGreaterThan(0.5);
    });
  }

  it('a spec ONNX cannot express fails naming the layer', () => {
    const spec = calibratedSpec('cnn-bn', { channels: 8, batchNorm: true });
    const conv = spec.layers.findIndex((l) => l.kind === 'conv2d');
    const l = spec.layers[conv];
    if (l.kind !== 'conv2d') throw new Error('unreachable');
    const narrow = { ...spec, layers: spec.layers.map((m, i) => (i === conv ? { ...l, qmin: 0, qmax: 15 } : m)) };
    expect(() => exportInt8Onnx(narrow)).toThrow(new RegExp(`layer ${conv} \\(conv2d\\) clamps its output to \\[0, 15\\]`));
  });

  it('stores int8 weights, int32 biases and uint8 activations, and onnxruntime runs it on integer kernels', async () => {
    const spec = calibratedSpec('cnn-bn', { channels: 8, batchNorm: true });
    const bytes = exportInt8Onnx(spec);
    type Tensor = { name: string; dataType: number; dims: number[] };
    type Node = { opType: string; input: string[]; attribute?: { name: string; i?: number }[] };
    const m = decodeModel(bytes) as { opsetImport: { version: number }[]; graph: { initializer: Tensor[]; node: Node[] } };
    expect(m.opsetImport[0].version).toBe(13);
    const init = new Map(m.graph.initializer.map((t) => [t.name, t]));
    // TensorProto.DataType: 1 FLOAT, 2 UINT8, 3 INT8, 6 INT32
    const weights = m.graph.initializer.filter((t) => t.name.endsWith('.weight_q'));
    expect(weights.map((t) => t.dataType)).toEqual([3, 3, 3]);
    expect(m.graph.initializer.filter((t) => t.name.endsWith('.bias_q')).map((t) => t.dataType)).toEqual([6, 6, 6]);
    expect(m.graph.initializer.some((t) => t.dataType === 1 && t.dims.length > 1), 'no float weight tensor').toBe(false);
    // per-channel weight scales: DequantizeLinear on each weight with axis 0 and one scale per output channel
    for (const w of weights) {
      const dq = m.graph.node.find((n) => n.opType === 'DequantizeLinear' && n.input[0] === w.name)!;
      expect(dq.attribute?.find((a) => a.name === 'axis')?.i ?? 0).toBe(0);
      expect(init.get(dq.input[1])!.dims).toEqual([w.dims[0]]);
    }
    const quantize = m.graph.node.find((n) => n.opType === 'QuantizeLinear')!;
    expect(init.get(quantize.input[2])!.dataType).toBe(2);

    const dir = mkdtempSync(join(tmpdir(), 'qgrad-onnx-'));
    try {
      const optimized = join(dir, 'optimized.onnx');
      const s = await ort.InferenceSession.create(bytes, { intraOpNumThreads: 1, graphOptimizationLevel: 'extended', optimizedModelFilePath: optimized });
      await s.release();
      const ops = (decodeModel(readFileSync(optimized)) as { graph: { node: Node[] } }).graph.node.map((n) => n.opType);
      expect(ops.filter((o) => o === 'QLinearConv')).toHaveLength(2);
      expect(ops).not.toContain('Conv');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
