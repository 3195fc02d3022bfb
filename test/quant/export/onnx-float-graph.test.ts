/**
 * Float ONNX export of traced models, checked by the real runtime: onnxruntime-node (an
 * independent implementation of every operator) runs the exported bytes, and its outputs must
 * equal qgrad's own eval-mode forward within 1e-5 relative to max(1, |value|).
 *   - MnistResNet (random seeded init, non-trivial BatchNorm statistics) on MNIST test images:
 *     Conv, BatchNormalization, Relu, MaxPool, Add (the skips), GlobalAveragePool, Gemm; exported
 *     from the model itself and from its traced GraphModule;
 *   - a model using every other op the exporter maps (mul, cat, relu6/hardtanh clamps, qf.relu,
 *     qf.flatten from dim 2, qf.reshape, AvgPool2d with padding, MaxPool2d with padding and
 *     stride, Flatten(2, -1), Linear on a rank-3 input (MatMul + Add), BatchNorm1d, Dropout,
 *     Identity) on seeded random inputs;
 *   - an op without an ONNX form fails naming the op and the module path, as do a QAT model and
 *     a forward with data-dependent control flow.
 */
import { describe, expect, it } from 'vitest';
import { fromArray, Generator, noGrad, type Tensor } from '../../../src/index.js';
import * as F from '../../../src/autograd/functional.js';
import {
  AvgPool2d, BatchNorm, BatchNorm1d, Conv2d, Dropout, Flatten, Identity, Linear, MaxPool2d, mnistResNet, Module, qf, trace,
} from '../../../src/nn/index.js';
import { decodeModel, exportFloatOnnx, OnnxExportError, prepareQAT, qconfig } from '../../../src/quant/index.js';
import * as ort from 'onnxruntime-node';
import { mnistTest, runOnnx, worstRelative } from './helpers.js';

/** Seeded running statistics, so BatchNormalization is not the identity. */
function randomizeBatchNorm(model: Module, seed: number): void {
  const g = new Generator(seed);
  for (const [, m] of model.namedModules()) {
    if (!(m instanceof BatchNorm)) continue;
    const C = m.numFeatures;
    m.runningMean.assign_(fromArray(Float32Array.from({ length: C }, () => 0.3 * g.normal()), [C]));
    m.runningVar.assign_(fromArray(Float32Array.from({ length: C }, () => 0.5 + g.uniform()), [C]));
    m.weight?.assign_(fromArray(Float32Array.from({ length: C }, () => 1 + 0.2 * g.normal()), [C]));
    m.bias?.assign_(fromArray(Float32Array.from({ length: C }, () => 0.1 * g.normal()), [C]));
  }
}

function opTypes(bytes: Uint8Array): Set<string> {
  const graph = decodeModel(bytes).graph as { node: { opType: string }[] };
  return new Set(graph.node.map((n) => n.opType));
}

describe('exportFloatOnnx on traced graphs -> onnxruntime-node', () => {
  it('MnistResNet: logits within 1e-5 of qgrad on 200 MNIST test images, from the model and from its GraphModule', async () => {
    const N = 200;
    const model = mnistResNet({ channels: 8, generator: new Generator(3) });
    randomizeBatchNorm(model, 4);
    model.eval();
    const { x } = mnistTest(N);
    const ours = noGrad(() => model.call(fromArray(x, [N, 1, 28, 28])).toTypedArray());
    const bytes = exportFloatOnnx(model, { inputShape: [1, 28, 28] });
    for (const op of ['Conv', 'BatchNormalization', 'Relu', 'MaxPool', 'Add', 'GlobalAveragePool', 'Gemm']) expect(opTypes(bytes)).toContain(op);
    const theirs = await runOnnx(bytes, x, N);
    expect(theirs.length).toBe(N * 10);
    // Not vacuous: the logits are not all tiny.
    expect(Math.max(...Array.from(ours, Math.abs))).toBeGreaterThan(0.1);
    expect(worstRelative(theirs, ours)).toBeLessThanOrEqual(1e-5);

    const gm = trace(model, fromArray(new Float32Array(2 * 784), [2, 1, 28, 28]));
    const fromGraph = await runOnnx(exportFloatOnnx(gm, { inputShape: [1, 28, 28] }), x, N);
    expect(worstRelative(fromGraph, ours)).toBeLessThanOrEqual(1e-5);
    expect(() => exportFloatOnnx(gm, { inputShape: [1, 14, 14] })).toThrow(/inputShape \[1, 14, 14\] differs from the shape the GraphModule was traced with, \[1, 28, 28\]/);
  });

  it('every other mapped op: outputs within 1e-5 of qgrad on seeded random inputs', async () => {
    class Inner extends Module {
      readonly conv = this.module('conv', new Conv2d(4, 4, 3, { padding: 1, generator: new Generator(21) }));
      readonly drop = this.module('drop', new Dropout(0.3));
      forward(x: Tensor): Tensor {
        return qf.hardtanh(this.drop.call(this.conv.call(x)), -0.5, 0.75);
      }
    }
    class AllOps extends Module {
      readonly c1 = this.module('c1', new Conv2d(2, 4, 3, { padding: 1, stride: 2, generator: new Generator(11) }));
      readonly c2 = this.module('c2', new Conv2d(2, 4, 3, { padding: 1, stride: 2, generator: new Generator(12) }));
      readonly inner = this.module('inner', new Inner());
      readonly avg = this.module('avg', new AvgPool2d(3, { stride: 2, padding: 1 }));
      readonly max = this.module('max', new MaxPool2d(3, { stride: 1, padding: 1 }));
      readonly flat = this.module('flat', new Flatten(2, -1));
      readonly lin3 = this.module('lin3', new Linear(9, 6, { generator: new Generator(13) }));
      readonly bn1 = this.module('bn1', new BatchNorm1d(8 * 6));
      readonly id = this.module('id', new Identity());
      readonly fc = this.module('fc', new Linear(8 * 6, 5, { generator: new Generator(14) }));
      forward(x: Tensor): Tensor {
        const a = this.c1.call(x); // [N, 4, 6, 6]
        const b = qf.relu(this.c2.call(x));
        const m = qf.relu6(qf.mul(qf.add(a, b), this.inner.call(a)));
        const c = qf.cat([m, a], 1); // [N, 8, 6, 6]
        const p = this.max.call(this.avg.call(c)); // [N, 8, 3, 3]
        const r = qf.reshape(qf.flatten(p, 2), [8, 3, 3]); // through [N, 8, 9] and back
        const t = this.lin3.call(this.flat.call(r)); // Linear on [N, 8, 9] -> [N, 8, 6]
        return this.fc.call(this.id.call(this.bn1.call(qf.flatten(t))));
      }
    }
    const N = 32, SHAPE = [2, 12, 12];
    const model = new AllOps();
    randomizeBatchNorm(model, 15);
    model.eval();
    const g = new Generator(16);
    const x = Float32Array.from({ length: N * 2 * 12 * 12 }, () => g.normal());
    const ours = noGrad(() => model.call(fromArray(x, [N, ...SHAPE])).toTypedArray());
    const bytes = exportFloatOnnx(model, { inputShape: SHAPE });
    const ops = opTypes(bytes);
    for (const op of ['Mul', 'Add', 'Concat', 'Clip', 'Relu', 'AveragePool', 'MaxPool', 'Reshape', 'Flatten', 'MatMul', 'Gemm', 'BatchNormalization']) expect(ops).toContain(op);
    const session = await ort.InferenceSession.create(bytes, { intraOpNumThreads: 1, executionProviders: ['cpu'] });
    const theirs = (await session.run({ input: new ort.Tensor('float32', x, [N, ...SHAPE]) })).output.data as Float32Array;
    await session.release();
    expect(theirs.length).toBe(N * 5);
    expect(worstRelative(theirs, ours)).toBeLessThanOrEqual(1e-5);
  });

  it('an op without an ONNX form fails naming the op and the module path; so do a QAT model and data-dependent control flow', () => {
    /** A layer the exporter does not know (childless, so traced as one node). */
    class Swish extends Module {
      forward(x: Tensor): Tensor {
        return F.mul(x, F.sigmoid(x));
      }
    }
    class Block extends Module {
      readonly conv = this.module('conv', new Conv2d(1, 2, 3, { generator: new Generator(31) }));
      readonly act = this.module('act', new Swish());
      forward(x: Tensor): Tensor {
        return this.act.call(this.conv.call(x));
      }
    }
    class Net extends Module {
      readonly block = this.module('block', new Block());
      readonly fc = this.module('fc', new Linear(2 * 6 * 6, 3, { generator: new Generator(32) }));
      forward(x: Tensor): Tensor {
        return this.fc.call(qf.flatten(this.block.call(x)));
      }
    }
    const bad = () => exportFloatOnnx(new Net(), { inputShape: [1, 8, 8] });
    expect(bad).toThrow(OnnxExportError);
    expect(bad).toThrow(/exportFloatOnnx: module 'block\.act' \(Swish, node 'block\.act'\) has no ONNX operator in this exporter \(supported: modules Conv2d/);

    const q = prepareQAT(mnistResNet({ channels: 2, generator: new Generator(33) }), { default: qconfig() }, { exampleInput: fromArray(new Float32Array(2 * 784), [2, 1, 28, 28]) });
    expect(() => exportFloatOnnx(q, { inputShape: [1, 28, 28] })).toThrow(/module 'quant_stub' \(QuantStub\) holds the fake-quantizer 'quant_stub\.activation_fq': a QAT model has no float ONNX form/);

    class Branchy extends Module {
      readonly fc = this.module('fc', new Linear(4, 2, { generator: new Generator(34) }));
      forward(x: Tensor): Tensor {
        const y = this.fc.call(x);
        return y.toTypedArray()[0] > 0 ? qf.relu(y) : qf.relu6(y);
      }
    }
    expect(() => exportFloatOnnx(new Branchy(), { inputShape: [4] })).toThrow(/exportFloatOnnx: cannot trace Branchy: .*data-dependent control flow/);
    expect(() => exportFloatOnnx(new Net(), { inputShape: [1, 0, 8] })).toThrow(/inputShape must hold positive integers/);
  });
});
