/**
 * Float ONNX export checked by the real runtime: onnxruntime-node (an independent implementation
 * of every operator) runs the exported bytes, and its logits must equal qgrad's own forward pass
 * within 1e-5 relative to max(1, |logit|) on real MNIST test images. The weights are the
 * PyTorch-trained fixtures (test/fixtures/torch-cnn), so the logits are those of a trained model,
 * with and without BatchNorm. A layer the exporter cannot express fails naming the layer.
 */
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { Conv2d, fromArray, Generator, mnistCnn, Module, noGrad, Sequential, type Tensor } from '../../../src/index.js';
import * as F from '../../../src/autograd/functional.js';
import { exportFloatOnnx, prepareQAT, qconfig } from '../../../src/quant/index.js';
import { mnistTest, runOnnx, worstRelative } from './helpers.js';
import { loadSafetensors } from '../../../src/node.js';

const FIXTURES = new URL('../../fixtures/torch-cnn/', import.meta.url);
const N = 1000;

describe('exportFloatOnnx -> onnxruntime-node', () => {
  const { x } = mnistTest(N);
  for (const [name, opts] of [['cnn', {}], ['cnn-bn', { channels: 8, batchNorm: true }]] as const) {
    it(`${name}: onnxruntime's logits = qgrad's within 1e-5 on ${N} test images`, async () => {
      const model = mnistCnn(opts);
      loadSafetensors(fileURLToPath(new URL(`${name}.safetensors`, FIXTURES)), model);
      model.eval();
      const ours = noGrad(() => model.call(fromArray(x, [N, 1, 28, 28])).toTypedArray());
      const theirs = await runOnnx(exportFloatOnnx(model, { inputShape: [1, 28, 28] }), x, N);
      expect(theirs.length).toBe(N * 10);
      expect(worstRelative(theirs, ours)).toBeLessThanOrEqual(1e-5);
    });
  }

  it('a layer without an ONNX mapping fails naming the layer and its type', () => {
    const g = new Generator(1);
    class Square extends Module {
      forward(x: Tensor): Tensor {
        return F.mul(x, x);
      }
    }
    expect(() => exportFloatOnnx(new Sequential(new Conv2d(1, 2, 3, { generator: g }), new Square()), { inputShape: [1, 8, 8] })).toThrow(/module '1' \(Square, node '1'\) has no ONNX operator/);
    const q = prepareQAT(mnistCnn({ channels: 2, generator: g }), { default: qconfig() });
    expect(() => exportFloatOnnx(q, { inputShape: [1, 28, 28] })).toThrow(/module '0' \(QuantStub\) holds the fake-quantizer '0\.activation_fq'/);
  });
});
