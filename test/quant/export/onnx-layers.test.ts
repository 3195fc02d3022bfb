/**
 * Layer options the MNIST CNN does not use, checked the same way (onnxruntime-node runs the
 * exported bytes, qgrad's own forward is the reference): convolution padding, stride, dilation
 * and groups, max pooling with stride and padding, BatchNorm with non-trivial statistics, and,
 * for the int8 export, a ReLU that is not fused into a convolution (it becomes a Clip on the
 * levels). Random seeded weights and inputs: the point is the attribute mapping, not accuracy.
 */
import { describe, expect, it } from 'vitest';
import { BatchNorm2d, Conv2d, Flatten, fromArray, Generator, Linear, MaxPool2d, noGrad, ReLU, Sequential } from '../../../src/index.js';
import { calibrate, convert, exportFloatOnnx, exportInt8Onnx, Int8Model, prepareQAT, qconfig } from '../../../src/quant/index.js';
import * as ort from 'onnxruntime-node';
import { worstRelative } from './helpers.js';

const SHAPE = [2, 12, 12];
const N = 16;

function model(seed: number): Sequential {
  const g = new Generator(seed);
  const m = new Sequential(
    new Conv2d(2, 6, 3, { generator: g, padding: 2, stride: 1, dilation: 2 }),
    new BatchNorm2d(6),
    new MaxPool2d(3, { stride: 2, padding: 1 }),
    new ReLU(),
    new Conv2d(6, 6, 3, { generator: g, padding: 1, stride: 2, groups: 3 }),
    new ReLU(),
    new Flatten(),
    new Linear(6 * 3 * 3, 5, { generator: g }),
  );
  const bn = m.at(1) as BatchNorm2d;
  bn.runningMean.assign_(fromArray([0.1, -0.2, 0.3, 0, 0.5, -0.1], [6]));
  bn.runningVar.assign_(fromArray([0.5, 1.5, 2, 0.8, 1, 3], [6]));
  return m.eval();
}

function input(seed: number, n: number): Float32Array {
  const g = new Generator(seed);
  return Float32Array.from({ length: n * 2 * 12 * 12 }, () => g.normal());
}

async function run(bytes: Uint8Array, x: Float32Array, n: number): Promise<Float32Array> {
  const s = await ort.InferenceSession.create(bytes, { intraOpNumThreads: 1, executionProviders: ['cpu'] });
  const out = (await s.run({ input: new ort.Tensor('float32', x, [n, ...SHAPE]) })).output.data as Float32Array;
  await s.release();
  return out;
}

describe('ONNX export: padding, stride, dilation, groups, pooling', () => {
  it('float: onnxruntime = qgrad within 1e-5', async () => {
    const m = model(5);
    const x = input(6, N);
    const ours = noGrad(() => m.call(fromArray(x, [N, ...SHAPE])).toTypedArray());
    const theirs = await run(exportFloatOnnx(m, { inputShape: SHAPE }), x, N);
    expect(theirs.length).toBe(N * 5);
    expect(worstRelative(theirs, ours)).toBeLessThanOrEqual(1e-5);
  });

  it('int8: onnxruntime within one output level of the integer engine, a standalone ReLU included', async () => {
    const g = new Generator(7);
    // conv (no fused ReLU) -> maxpool -> ReLU: convert emits a standalone 'relu' layer
    const m = new Sequential(
      new Conv2d(2, 4, 3, { generator: g, padding: 1, stride: 2 }),
      new MaxPool2d(2, { stride: 1, padding: 1 }),
      new ReLU(),
      new Conv2d(4, 4, 3, { generator: g, padding: 2, dilation: 2, groups: 2 }),
      new ReLU(),
      new Flatten(),
      new Linear(4 * 7 * 7, 5, { generator: g }),
    ).eval();
    const q = prepareQAT(m, { default: qconfig({ bits: 8, activationObserver: 'minmax' }) });
    const x = input(8, 64);
    calibrate(q, [{ x, y: new Int32Array(64), size: 64, xShape: [64, 2, 12, 12] }]);
    const spec = convert(q, { inputShape: SHAPE });
    expect(spec.layers.map((l) => l.kind)).toContain('relu');
    const ours = new Int8Model(spec).forward(x, 64);
    const theirs = await run(exportInt8Onnx(spec), x, 64);
    const last = spec.layers[spec.layers.length - 1];
    if (last.kind !== 'dequantize') throw new Error('spec ends in dequantize');
    let worst = 0, identical = 0;
    for (let i = 0; i < ours.length; i++) {
      const d = Math.round(Math.abs(ours[i] - theirs[i]) / last.scale);
      worst = Math.max(worst, d);
      if (d === 0) identical++;
    }
    expect(worst).toBeLessThanOrEqual(1);
    expect(identical / ours.length).toBeGreaterThan(0.9);
  });
});
