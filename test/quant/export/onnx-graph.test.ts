/**
 * int8 graph ONNX export (QDQ form) checked by the real runtime: a residual MnistResNet (add,
 * global average pool, BN-folded convolutions, maxpool, relu) and a model with mul, concat,
 * relu6 (clamp) and average pooling are calibrated with PTQ on MNIST training images, converted
 * with convertGraph and exported; onnxruntime-node (which fuses the QDQ patterns into its integer
 * kernels with float requantization) must agree with Int8GraphModel (TFLite fixed-point
 * requantization, exact rounding division in the pools): predictions on nearly every test image,
 * every logit within one output level on nearly every image for the shallow model, and within a
 * few levels for the deep ResNet (one-level differences grow through layers with gain > 1). An
 * unsupported node kind is refused by name.
 */
import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { fromArray, Generator, type Tensor } from '../../../src/index.js';
import { Adam, AvgPool2d, Conv2d, Linear, MnistLoader, MnistResNet, Module, qf, trainEpoch } from '../../../src/nn/index.js';
import { calibrate, convertGraph, exportInt8GraphOnnx, Int8GraphModel, prepareQAT, qconfig, type Int8GraphSpec } from '../../../src/quant/index.js';
import { loadMnist } from '../../../src/node.js';
import { mnistTest } from './helpers.js';

const N = 300;

/** mul, concat, relu6 (clamp), average pooling and flatten on MNIST. */
class Mixed extends Module {
  readonly c1: Conv2d;
  readonly c2: Conv2d;
  readonly pool: AvgPool2d;
  readonly fc: Linear;
  constructor(g: Generator) {
    super();
    this.c1 = this.module('c1', new Conv2d(1, 4, 3, { padding: 1, stride: 2, generator: g }));
    this.c2 = this.module('c2', new Conv2d(1, 4, 3, { padding: 1, stride: 2, generator: g }));
    this.pool = this.module('pool', new AvgPool2d(2));
    this.fc = this.module('fc', new Linear(8 * 7 * 7, 10, { generator: g }));
  }
  forward(x: Tensor): Tensor {
    const a = this.c1.call(x);
    const b = this.c2.call(x);
    const c = qf.cat([qf.relu6(qf.mul(a, b)), a], 1);
    return this.fc.call(qf.flatten(this.pool.call(c)));
  }
}

function argmax(a: ArrayLike<number>, from: number, n: number): number {
  let best = 0;
  for (let j = 1; j < n; j++) if (a[from + j] > a[from + best]) best = j;
  return best;
}

function calibratedSpec(kind: 'resnet' | 'mixed'): Int8GraphSpec {
  const model = kind === 'resnet' ? new MnistResNet({ channels: 4, generator: new Generator(11) }) : new Mixed(new Generator(12));
  const train = loadMnist({ split: 'train', limit: 512 });
  // A few seeded training steps: untrained random weights amplify every one-level difference
  // layer after layer, which says nothing about the export (and sets non-trivial BN statistics).
  trainEpoch(model, new Adam(model.parameters(), { lr: 3e-3 }), new MnistLoader(train, { batchSize: 32, shuffle: true, seed: 5 }).batches(0));
  model.eval();
  const gm = prepareQAT(model, { default: qconfig({ bits: 8, activationObserver: 'minmax' }) }, { exampleInput: fromArray(new Float32Array(2 * 784), [2, 1, 28, 28]) });
  calibrate(gm, new MnistLoader(train, { batchSize: 128 }));
  gm.eval();
  return convertGraph(gm);
}

async function runOnnx(bytes: Uint8Array, x: Float32Array, n: number): Promise<Float32Array> {
  const session = await ort.InferenceSession.create(bytes, { intraOpNumThreads: 1, interOpNumThreads: 1, executionProviders: ['cpu'] });
  try {
    const out = await session.run({ input: new ort.Tensor('float32', x, [n, 1, 28, 28]) });
    return out.output.data as Float32Array;
  } finally {
    await session.release();
  }
}

describe('exportInt8GraphOnnx -> onnxruntime-node vs Int8GraphModel', () => {
  const { x } = mnistTest(N);
  for (const kind of ['resnet', 'mixed'] as const) {
    it(`${kind}: predictions agree on >= 99% of ${N} test images, logits within the stated level bounds`, async () => {
      const spec = calibratedSpec(kind);
      const kinds = new Set(spec.nodes.map((n) => n.op.kind));
      // The graph kinds this model is here to cover.
      for (const k of kind === 'resnet' ? ['add', 'globalavgpool', 'conv2d', 'maxpool2d', 'linear'] : ['mul', 'concat', 'clamp', 'avgpool2d', 'flatten']) expect(kinds).toContain(k);
      const ours = new Int8GraphModel(spec).forward(x, N);
      const theirs = await runOnnx(exportInt8GraphOnnx(spec), x, N);
      const out = spec.nodes.find((n) => n.name === spec.output)!.op;
      if (out.kind !== 'dequantize') throw new Error('the output is a dequantize node');
      let samePrediction = 0, withinOneLevel = 0, exact = 0, worstAll = 0;
      for (let i = 0; i < N; i++) {
        if (argmax(ours, i * 10, 10) === argmax(theirs, i * 10, 10)) samePrediction++;
        let worst = 0;
        for (let j = 0; j < 10; j++) worst = Math.max(worst, Math.abs(ours[i * 10 + j] - theirs[i * 10 + j]) / out.scale);
        worstAll = Math.max(worstAll, worst);
        if (worst <= 1 + 1e-3) withinOneLevel++;
        if (worst === 0) exact++;
      }
      console.log(`${kind}: same prediction ${samePrediction}/${N}, logits within one level ${withinOneLevel}/${N}, identical ${exact}/${N}, largest difference ${worstAll.toFixed(2)} levels`);
      expect(samePrediction / N).toBeGreaterThanOrEqual(0.99);
      // The ResNet is eight requantizing layers deep, and a layer whose gain (s_in·Σ|w|/s_out) exceeds
      // one turns a one-level difference in its input into several in its output: the first layers
      // differ by one level on a small fraction of values, but the logits drift apart by up to 4
      // levels on a minority of images (measured: 251/300 within one level, largest 4; docs/onnx.md).
      // The shallow model must hold the one-level bound on nearly every image.
      const tol = kind === 'resnet' ? { oneLevel: 0.8, maxLevels: 6 } : { oneLevel: 0.99, maxLevels: 2 };
      expect(withinOneLevel / N).toBeGreaterThanOrEqual(tol.oneLevel);
      expect(worstAll).toBeLessThanOrEqual(tol.maxLevels + 1e-3);
      // Not a vacuous comparison: the logits spread over many levels, and mostly match bit for bit.
      expect(exact / N).toBeGreaterThan(0.5);
    });
  }

  it('an unsupported node kind is refused naming the node and its kind', () => {
    const spec = calibratedSpec('mixed');
    const i = spec.nodes.findIndex((n) => n.op.kind === 'mul');
    const bad = { ...spec, nodes: spec.nodes.map((n, k) => (k === i ? { ...n, op: { kind: 'softmax' } as never } : n)) };
    expect(() => exportInt8GraphOnnx(bad)).toThrow(new RegExp(`node '${spec.nodes[i].name}' \\(softmax\\) has no ONNX counterpart`));
  });
});
