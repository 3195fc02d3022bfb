import { describe, expect, it } from 'vitest';
import { decodeContainer, encodeContainer } from '../../../src/io/container.js';
import { Generator, fromArray } from '../../../src/index.js';
import { BatchNorm2d, Conv2d, Module, ReLU, Sequential, Linear, trace, type GraphModule } from '../../../src/nn/index.js';
import type { Tensor } from '../../../src/index.js';
import { Int8GraphModel, Int8Model, prepareQAT, qconfig, type Int8GraphSpec } from '../../../src/quant/index.js';
import { batchTensor, quantized } from './helpers.js';

function clone(spec: Int8GraphSpec): Int8GraphSpec {
  return new Int8GraphModel(spec).toSpec();
}

describe('int8 graph model files (format version 2)', () => {
  it('round-trips a residual graph bit for bit', () => {
    const { spec, shape } = quantized('resnet');
    const model = new Int8GraphModel(spec);
    const again = Int8GraphModel.fromBytes(model.toBytes(), 'resnet.qgrad');
    const x = batchTensor(4, 5, shape).toTypedArray();
    expect(Array.from(again.forward(x, 5))).toEqual(Array.from(model.forward(x, 5)));
    expect(again.toSpec().nodes.map((n) => n.name)).toEqual(spec.nodes.map((n) => n.name));
  });

  it('still reads version 1 (chain) files, and names an unknown version', () => {
    const chain = new Int8Model({
      inputShape: [2],
      layers: [
        { kind: 'quantize', scale: 0.1, zeroPoint: 0, qmin: -128, qmax: 127 },
        { kind: 'linear', weight: Int8Array.of(1, 2), weightShape: [1, 2], weightQmin: -127, weightQmax: 127, weightZeroPoint: new Int32Array(1), bias: null, inZeroPoint: 0, outZeroPoint: 0, multiplier: Int32Array.of(1 << 30), shift: Int32Array.of(0), qmin: -128, qmax: 127 },
        { kind: 'dequantize', scale: 0.1, zeroPoint: 0 },
      ],
    });
    const v1 = chain.toBytes();
    const g = Int8GraphModel.fromBytes(v1, 'old.qgrad');
    expect(Array.from(g.forward([0.5, -0.3], 1))).toEqual(Array.from(chain.forward([0.5, -0.3], 1)));
    const c = decodeContainer(v1, 'old.qgrad');
    const v5 = encodeContainer({ ...c, meta: { ...c.meta, formatVersion: 5 } });
    expect(() => Int8GraphModel.fromBytes(v5, 'new.qgrad')).toThrow(/new\.qgrad.*unsupported int8 model format version 5 \(this qgrad reads versions 1 to 4\)/);
  });

  it('rejects malformed graphs, naming the problem, before running anything', () => {
    const { spec } = quantized('resnet');
    const edit = (f: (s: Int8GraphSpec) => void) => {
      const s = clone(spec);
      f(s);
      return () => new Int8GraphModel(s);
    };
    const named = (s: Int8GraphSpec, name: string) => s.nodes.find((n) => n.name === name)!;
    expect(edit((s) => { named(s, 'layer1.add').inputs[1] = 'nowhere'; })).toThrow(/node 'layer1.add' \(add\): input 'nowhere' is not a node of the graph \(dangling input\)/);
    expect(edit((s) => { named(s, 'layer1.conv1').inputs[0] = 'layer1.add'; })).toThrow(/cycle: .*'layer1.add'.*'layer1.conv1'|cycle: .*'layer1.conv1'.*'layer1.add'/);
    expect(edit((s) => { named(s, 'layer2.add').inputs[1] = 'stem.3'; })).toThrow(/node 'layer2.add' \(add\): inputs have shapes \[8, 3, 3\] and \[4, 6, 6\]/);
    expect(edit((s) => { (named(s, 'layer1.add').op as { a: { zeroPoint: number } }).a.zeroPoint += 1; })).toThrow(/a.zeroPoint = .* does not match the zero point/);
    expect(edit((s) => { s.nodes.push({ name: 'extra', inputs: ['layer1.add'], op: { kind: 'relu', zeroPoint: 0 } }); })).toThrow(/node 'extra' .*dead node|does not match/);
    expect(edit((s) => { s.nodes[0].name = 'layer1.add'; })).toThrow(/used by two nodes/);
    expect(edit((s) => { s.inputShape = [1, 4096, 8192]; })).toThrow(/inputShape.*exceeds/);
    // A damaged file: the same errors, naming the file, and no model.
    const bytes = new Int8GraphModel(spec).toBytes();
    const c = decodeContainer(bytes, 'x');
    const nodes = (c.meta.nodes as { name: string; inputs: string[] }[]).map((n) => ({ ...n, inputs: [...n.inputs] }));
    nodes.find((n) => n.name === 'layer3.add')!.inputs[0] = 'missing';
    expect(() => Int8GraphModel.fromBytes(encodeContainer({ ...c, meta: { ...c.meta, nodes } }), 'bad.qgrad')).toThrow(/bad\.qgrad.*input 'missing' is not a node/);
  });
});

describe('what cannot be quantized is refused by name', () => {
  const x = () => fromArray(new Float32Array(2 * 36), [2, 1, 6, 6]);
  it('an unsupported leaf module', () => {
    class Swish extends Module {
      forward(t: Tensor): Tensor {
        return t.mul(t.sigmoid());
      }
    }
    class Net extends Module {
      readonly conv = this.module('conv', new Conv2d(1, 2, 3, { generator: new Generator(1) }));
      readonly act = this.module('act', new Swish());
      forward(t: Tensor): Tensor {
        return this.act.call(this.conv.call(t));
      }
    }
    expect(() => prepareQAT(new Net(), { default: qconfig() }, { exampleInput: x(), trace: { leafModules: [Swish] } })).toThrow(/no quantized form for node 'act' \(module 'act', Swish\)/);
  });
  it('a batch norm that cannot be folded, and a weighted module called twice', () => {
    class Shared extends Module {
      readonly conv = this.module('conv', new Conv2d(1, 1, 3, { padding: 1, generator: new Generator(1) }));
      forward(t: Tensor): Tensor {
        return this.conv.call(this.conv.call(t));
      }
    }
    expect(() => prepareQAT(new Shared(), { default: qconfig() }, { exampleInput: x() })).toThrow(/node 'conv_1' \(module 'conv', Conv2d\) is called more than once/);
    const bnFirst = new Sequential(new BatchNorm2d(1), new Conv2d(1, 1, 3, { generator: new Generator(2) }), new ReLU());
    expect(() => prepareQAT(bnFirst, { default: qconfig() }, { exampleInput: x() })).toThrow(/node '0' \(module '0', BatchNorm2d\) does not directly follow a Conv2d/);
  });
  it('a model that is not a Sequential without an example input', () => {
    class Net extends Module {
      readonly fc = this.module('fc', new Linear(2, 2));
      forward(t: Tensor): Tensor {
        return this.fc.call(t);
      }
    }
    expect(() => prepareQAT(new Net() as never, { default: qconfig() })).toThrow(/Net is not a Sequential; pass \{ exampleInput \}/);
    const gm: GraphModule = trace(new Net(), fromArray([1, 2], [1, 2]));
    expect(gm.graph.nodes).toHaveLength(2);
  });
});
