/**
 * The integer form of the int8 ONNX export (onnx-int8-integer.ts) checked by the real runtime:
 * onnxruntime-node runs qgrad's fixed-point arithmetic written as ONNX integer operators, and every
 * node's levels (tapped as extra outputs) and the logits must equal Int8GraphModel's exactly — the
 * engine is the oracle, onnxruntime an independent implementation of ConvInteger, MatMulInteger
 * and int64 arithmetic. Covered: a PTQ-calibrated MnistResNet (conv, BN folded, maxpool, the
 * TFLite fixed-point add, global average pooling, linear) on MNIST test images; a model with mul,
 * concat, relu6 (clamp) and average pooling, with the add/mul in both arithmetic modes
 * ('fixedPoint' and 'float'); the seed CNN's chain spec through exportInt8Onnx. The QDQ form's
 * taps leave its logits unchanged.
 */
import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { fromArray, Generator, mnistCnn, type Tensor } from '../../../src/index.js';
import { AvgPool2d, BatchNorm, Conv2d, Linear, MnistLoader, mnistResNet, Module, qf } from '../../../src/nn/index.js';
import {
  calibrate, convert, convertGraph, decodeModel, exportInt8GraphOnnx, exportInt8Onnx, Int8GraphModel, Int8Model, prepareQAT, qconfig, type Int8GraphSpec,
} from '../../../src/quant/index.js';
import { loadMnist } from '../../../src/node.js';
import { multiplyByQuantizedMultiplier, quantize } from '../../../src/quant/numerics/index.js';
import { mulberry32 } from '../../helpers/rng.js';
import { mnistTest } from './helpers.js';

const N = 100;

class Mixed extends Module {
  readonly c1 = this.module('c1', new Conv2d(1, 4, 3, { padding: 1, stride: 2, generator: new Generator(41) }));
  readonly c2 = this.module('c2', new Conv2d(1, 4, 3, { padding: 1, stride: 2, generator: new Generator(42) }));
  readonly pool = this.module('pool', new AvgPool2d(2));
  readonly fc = this.module('fc', new Linear(8 * 7 * 7, 10, { generator: new Generator(43) }));
  forward(x: Tensor): Tensor {
    const a = this.c1.call(x);
    const b = this.c2.call(x);
    const c = qf.cat([qf.relu6(qf.mul(a, b)), qf.add(a, b)], 1);
    return this.fc.call(qf.flatten(this.pool.call(c)));
  }
}

/** Seeded running statistics and affine parameters, so the folded convolutions are not plain. */
function randomizeBatchNorm(model: Module, seed: number): void {
  const g = new Generator(seed);
  for (const [, m] of model.namedModules()) {
    if (!(m instanceof BatchNorm)) continue;
    const C = m.numFeatures;
    m.runningMean.assign_(fromArray(Float32Array.from({ length: C }, () => 0.2 * g.normal()), [C]));
    m.runningVar.assign_(fromArray(Float32Array.from({ length: C }, () => 0.5 + g.uniform()), [C]));
  }
}

function calibrated(model: Module, arith: 'fixedPoint' | 'float'): Int8GraphSpec {
  model.eval();
  const gm = prepareQAT(model, { default: qconfig({ bits: 8, activationObserver: 'minmax' }) }, { exampleInput: fromArray(new Float32Array(2 * 784), [2, 1, 28, 28]) });
  calibrate(gm, new MnistLoader(loadMnist({ split: 'train', limit: 256 }), { batchSize: 128 }));
  gm.eval();
  return convertGraph(gm, { arith: { mode: arith } });
}

async function run(bytes: Uint8Array, x: Float32Array, n: number): Promise<ort.InferenceSession.OnnxValueMapType> {
  const session = await ort.InferenceSession.create(bytes, { intraOpNumThreads: 1, interOpNumThreads: 1, executionProviders: ['cpu'] });
  try {
    return await session.run({ input: new ort.Tensor('float32', x, [n, 1, 28, 28]) });
  } finally {
    await session.release();
  }
}

/** Every node's levels and the logits of the integer form equal the engine's. */
async function expectBitExact(spec: Int8GraphSpec, x: Float32Array, n: number): Promise<void> {
  const engine = new Int8GraphModel(spec);
  const { levels, output } = engine.forwardLevels(x, n);
  const result = await run(exportInt8GraphOnnx(spec, { form: 'integer', tapLevels: true }), x, n);
  let compared = 0;
  for (const node of spec.nodes) {
    const ours = levels.get(node.name);
    if (!ours) continue;
    const theirs = result[`${node.name}:levels`].data as Uint8Array | Int8Array;
    expect(theirs.length, node.name).toBe(ours.length);
    let differ = 0;
    for (let i = 0; i < ours.length; i++) if (ours[i] !== theirs[i]) differ++;
    expect(differ, `levels of node '${node.name}' (${node.op.kind}) that differ`).toBe(0);
    compared++;
  }
  expect(compared).toBe(spec.nodes.length - 1); // all but the dequantize node hold levels
  expect(Array.from(result.output.data as Float32Array)).toEqual(Array.from(output));
  // The integer form is what it says: no float requantization for a runtime to fuse.
  const ops = new Set((decodeModel(exportInt8GraphOnnx(spec, { form: 'integer' })).graph as { node: { opType: string }[] }).node.map((m) => m.opType));
  expect(ops).not.toContain('QuantizeLinear');
}

describe('int8 ONNX export, integer form -> onnxruntime-node equals Int8GraphModel bit for bit', () => {
  const { x } = mnistTest(N);

  it(`MnistResNet (fixed-point add): every node's levels and the logits on ${N} test images`, async () => {
    const model = mnistResNet({ channels: 4, generator: new Generator(44) });
    randomizeBatchNorm(model, 45);
    const spec = calibrated(model, 'fixedPoint');
    for (const k of ['conv2d', 'maxpool2d', 'add', 'relu', 'globalavgpool', 'linear']) expect(spec.nodes.map((n) => n.op.kind)).toContain(k);
    await expectBitExact(spec, x, N);
  });

  for (const arith of ['fixedPoint', 'float'] as const) {
    it(`mul, concat, relu6, average pooling, add (${arith} arithmetic)`, async () => {
      const spec = calibrated(new Mixed(), arith);
      for (const k of ['mul', 'add', 'concat', 'clamp', 'avgpool2d', 'flatten']) expect(spec.nodes.map((n) => n.op.kind)).toContain(k);
      await expectBitExact(spec, x, N);
    });
  }

  it('the seed CNN as a chain spec (exportInt8Onnx form integer): logits equal Int8Model', async () => {
    const q = prepareQAT(mnistCnn({ channels: 8, generator: new Generator(46) }).eval(), { default: qconfig({ bits: 8, activationObserver: 'minmax' }) });
    calibrate(q, new MnistLoader(loadMnist({ split: 'train', limit: 256 }), { batchSize: 128 }));
    q.eval();
    const spec = convert(q, { inputShape: [1, 28, 28] });
    const ours = new Int8Model(spec).forward(x, N);
    const theirs = (await run(exportInt8Onnx(spec, { form: 'integer' }), x, N)).output.data as Float32Array;
    expect(Array.from(theirs)).toEqual(Array.from(ours));
  });

  it("the QDQ form's level taps leave its logits unchanged", async () => {
    const spec = calibrated(mnistResNet({ channels: 4, generator: new Generator(47) }), 'fixedPoint');
    const plain = (await run(exportInt8GraphOnnx(spec), x, N)).output.data as Float32Array;
    const tapped = await run(exportInt8GraphOnnx(spec, { tapLevels: true }), x, N);
    expect(Array.from(tapped.output.data as Float32Array)).toEqual(Array.from(plain));
    expect(Object.keys(tapped).filter((k) => k.endsWith(':levels')).length).toBe(spec.nodes.length - 1);
  });

  it("the int64 MultiplyByQuantizedMultiplier equals the numerics reference on every level, ties and left shifts included; so does the input quantization with both tie rules", async () => {
    // quantize (scale 1, zero point 128) -> clamp (requantize by multiplier·2^(shift-31), zero points 128)
    // -> dequantize, on all 256 input levels: q - 128 runs over [-128, 127], both signs.
    const rand = mulberry32(20261206);
    const cases: [number, number][] = [
      [2 ** 30, 0], [2 ** 30, -1], [2 ** 30, -2], [2 ** 30 + 1, -3], [2 ** 31 - 1, -7], [2 ** 30, 1], [3 * 2 ** 29, -1], [0, 0],
      ...Array.from({ length: 12 }, (): [number, number] => [2 ** 30 + Math.floor(rand() * 2 ** 30), -Math.floor(rand() * 9)]),
    ];
    const x = Float32Array.from({ length: 256 }, (_, i) => i - 128);
    const session = async (spec: Int8GraphSpec) => {
      const s = await ort.InferenceSession.create(exportInt8GraphOnnx(spec, { form: 'integer', tapLevels: true }), { intraOpNumThreads: 1, executionProviders: ['cpu'] });
      const r = await s.run({ input: new ort.Tensor('float32', x, [1, 256]) });
      await s.release();
      return r['requant:levels'].data as Uint8Array;
    };
    for (const [multiplier, shift] of cases) {
      const spec: Int8GraphSpec = {
        inputShape: [256],
        nodes: [
          { name: 'q', inputs: ['input'], op: { kind: 'quantize', scale: 1, zeroPoint: 128, qmin: 0, qmax: 255 } },
          { name: 'requant', inputs: ['q'], op: { kind: 'clamp', inZeroPoint: 128, multiplier, shift, outZeroPoint: 128, qmin: 0, qmax: 255 } },
          { name: 'out', inputs: ['requant'], op: { kind: 'dequantize', scale: 1, zeroPoint: 128 } },
        ],
        output: 'out',
      };
      const theirs = await session(spec);
      // The reference: src/quant/numerics' TFLite transcription (itself checked against a BigInt one).
      const expected = Array.from(x, (v) => Math.min(255, Math.max(0, 128 + multiplyByQuantizedMultiplier(v, multiplier, shift))));
      expect(Array.from(theirs), `multiplier ${multiplier}, shift ${shift}`).toEqual(expected);
    }
    // The input quantization with both tie rules, on ties of both signs and just below them.
    const xs = Float32Array.from({ length: 256 }, (_, i) => (i % 2 ? (i - 128) / 2 : Math.fround(0.49999997) * Math.sign(i - 128 || 1)));
    for (const rounding of ['halfEven', 'halfAwayFromZero'] as const) {
      const spec: Int8GraphSpec = {
        inputShape: [256],
        nodes: [
          { name: 'q', inputs: ['input'], op: { kind: 'quantize', scale: 1, zeroPoint: 128, qmin: 0, qmax: 255, rounding } },
          { name: 'out', inputs: ['q'], op: { kind: 'dequantize', scale: 1, zeroPoint: 128 } },
        ],
        output: 'out',
      };
      const s = await ort.InferenceSession.create(exportInt8GraphOnnx(spec, { form: 'integer', tapLevels: true }), { intraOpNumThreads: 1, executionProviders: ['cpu'] });
      const levels = (await s.run({ input: new ort.Tensor('float32', xs, [1, 256]) }))['q:levels'].data as Uint8Array;
      await s.release();
      expect(Array.from(levels), rounding).toEqual(Array.from(quantize(xs, { scale: 1, zeroPoint: 128, qmin: 0, qmax: 255, rounding })));
    }
    // Coverage: the cases hit exact .5 ties of both signs (x·M = ±0.5 at M = 1/4, x = ±2).
    expect(multiplyByQuantizedMultiplier(2, 2 ** 30, -1)).toBe(1);
    expect(multiplyByQuantizedMultiplier(-2, 2 ** 30, -1)).toBe(-1);
  });

  it('refuses an unknown form by name', () => {
    const spec = calibrated(new Mixed(), 'fixedPoint');
    expect(() => exportInt8GraphOnnx(spec, { form: 'float' as never })).toThrow(/form must be 'qdq' or 'integer', got "float"/);
  });
});
