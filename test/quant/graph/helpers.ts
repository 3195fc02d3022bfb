/** Shared by the graph quantization suites: small seeded models with every functional op, and the node-level comparison. */
import { fromArray, Generator, noGrad, type Tensor } from '../../../src/index.js';
import { AvgPool2d, Conv2d, Linear, Module, MnistResNet, qf, type GraphModule } from '../../../src/nn/index.js';
import { calibrate, convertGraph, prepareQAT, qconfig, quantizerOf, type ConvertGraphOptions, type Int8GraphSpec } from '../../../src/quant/index.js';
import { randomBatches } from '../qat/helpers.js';

/** mul, cat, relu6 (clamp), average pooling, flatten and linear around two convolutions reading the same input. */
export class Mixed extends Module {
  readonly c1: Conv2d;
  readonly c2: Conv2d;
  readonly pool: AvgPool2d;
  readonly fc: Linear;
  constructor(g: Generator) {
    super();
    this.c1 = this.module('c1', new Conv2d(1, 4, 3, { padding: 1, generator: g }));
    this.c2 = this.module('c2', new Conv2d(1, 4, 3, { padding: 1, generator: g }));
    this.pool = this.module('pool', new AvgPool2d(2));
    this.fc = this.module('fc', new Linear(8 * 4 * 4, 10, { generator: g }));
  }
  forward(x: Tensor): Tensor {
    const a = this.c1.call(x);
    const b = this.c2.call(x);
    const m = qf.mul(a, b);
    const c = qf.cat([qf.relu6(m), a], 1);
    return this.fc.call(qf.flatten(this.pool.call(c)));
  }
}

export function batchTensor(seed: number, n: number, shape: [number, number, number]): Tensor {
  const b = randomBatches(1, n, shape, seed)[0];
  return fromArray(b.x, b.xShape);
}

/** A prepared, calibrated model and its integer spec. */
export function quantized(kind: 'resnet' | 'mixed', opts: ConvertGraphOptions = {}, bits = 8): { gm: GraphModule; spec: Int8GraphSpec; shape: [number, number, number] } {
  const shape: [number, number, number] = kind === 'resnet' ? [1, 12, 12] : [1, 8, 8];
  const model = kind === 'resnet' ? new MnistResNet({ channels: 4, generator: new Generator(7) }) : new Mixed(new Generator(8));
  // Non-trivial BN statistics.
  noGrad(() => { for (let i = 0; i < 3; i++) model.call(batchTensor(20 + i, 8, shape)); });
  model.eval();
  const gm = prepareQAT(model, { default: qconfig({ bits, activationObserver: 'minmax' }) }, { exampleInput: batchTensor(1, 2, shape) });
  calibrate(gm, randomBatches(4, 8, shape, 30));
  gm.eval();
  return { gm, spec: convertGraph(gm, opts), shape };
}

/** The fake-quant value of every node of a prepared graph, as levels of its grid. */
export function fakeQuantLevels(gm: GraphModule, x: Tensor): Map<string, Int32Array> {
  const out = new Map<string, Int32Array>();
  noGrad(() => gm.run(x, (node, value) => {
    if (node.op === 'input') return;
    const p = quantizerOf(gm, node.name).currentQParams();
    const v = value.toTypedArray();
    out.set(node.name, Int32Array.from(v, (f) => p.zeroPoint[0] + Math.round(f / p.scale[0])));
  }));
  return out;
}
