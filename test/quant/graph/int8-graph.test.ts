import { describe, expect, it } from 'vitest';
import { noGrad } from '../../../src/index.js';
import { Int8GraphModel, Int8Model, int8Add, int8Mul, type AddNode, type Int8GraphSpec, type MulNode, quantizerOf } from '../../../src/quant/index.js';
import { batchTensor, fakeQuantLevels, quantized } from './helpers.js';


describe('integer graph engine', () => {
  for (const mode of ['fixedPoint', 'float'] as const) {
    it(`add and mul nodes equal int8Add / int8Mul element for element (${mode})`, () => {
      let checked = 0;
      for (const kind of ['resnet', 'mixed'] as const) {
        const { gm, spec, shape } = quantized(kind, { arith: { mode } });
        const model = new Int8GraphModel(spec);
        const x = batchTensor(3, 4, shape);
        const { levels } = model.forwardLevels(x.toTypedArray(), 4);
        for (const n of spec.nodes) {
          if (n.op.kind !== 'add' && n.op.kind !== 'mul') continue;
          const op = n.op as AddNode | MulNode;
          // The input grids' ranges: those of the fake quantizers feeding them.
          const range = (name: string) => pick(quantizerOf(gm, name));
          const pa = { ...op.a, ...range(n.inputs[0]) }, pb = { ...op.b, ...range(n.inputs[1]) };
          const f = op.kind === 'add' ? int8Add : int8Mul;
          const expected = f(levels.get(n.inputs[0])!, pa, levels.get(n.inputs[1])!, pb, op.out, mode === 'float' ? { mode } : { mode });
          expect(Array.from(levels.get(n.name)!)).toEqual(Array.from(expected));
          checked++;
        }
      }
      expect(checked).toBe(4); // three residual adds and one mul
    });
  }

  it('every integer node is within one level of its fake-quant counterpart given the same inputs', () => {
    const kinds = new Set<string>();
    for (const kind of ['resnet', 'mixed'] as const) {
      for (const mode of ['fixedPoint', 'float'] as const) {
        const { gm, spec, shape } = quantized(kind, { arith: { mode } });
        const model = new Int8GraphModel(spec);
        const x = batchTensor(5, 3, shape);
        const fq = fakeQuantLevels(gm, x);
        for (const n of spec.nodes) {
          if (n.op.kind === 'quantize' || n.op.kind === 'dequantize') continue;
          const ins = n.inputs.map((i) => fq.get(i)!);
          const got = model.runNode(n.name, ins, 3);
          const want = fq.get(n.name)!;
          expect(got.length).toBe(want.length);
          let worst = 0;
          for (let i = 0; i < got.length; i++) worst = Math.max(worst, Math.abs(got[i] - want[i]));
          expect(worst, `node ${n.name} (${n.op.kind})`).toBeLessThanOrEqual(1);
          kinds.add(n.op.kind);
        }
      }
    }
    expect([...kinds].sort()).toEqual(['add', 'avgpool2d', 'clamp', 'concat', 'conv2d', 'flatten', 'globalavgpool', 'linear', 'maxpool2d', 'mul', 'relu'].sort());
  });

  it('agrees with the fake-quant model on predictions and runs residual graphs on the plain engine', () => {
    const { gm, spec, shape } = quantized('resnet');
    const model = new Int8GraphModel(spec);
    expect(model.forwardPath().engine).toBe('graph');
    const x = batchTensor(9, 16, shape);
    const logits = noGrad(() => gm.call(x).toTypedArray());
    const out = model.forward(x.toTypedArray(), 16);
    // Output levels of the final linear: within a few levels (errors accumulate over layers).
    const scale = (spec.nodes.find((n) => n.name === 'dequantize')!.op as { scale: number }).scale;
    let worst = 0;
    for (let i = 0; i < out.length; i++) worst = Math.max(worst, Math.abs(out[i] - logits[i]) / scale);
    expect(worst).toBeLessThan(8);
  });

  it('keeps a chain-shaped graph on the chain engine (and its fast path), with identical outputs', () => {
    const chain: Int8GraphSpec = {
      inputShape: [4],
      nodes: [
        { name: 'q', inputs: ['input'], op: { kind: 'quantize', scale: 0.05, zeroPoint: 10, qmin: 0, qmax: 255 } },
        { name: 'fc', inputs: ['q'], op: { kind: 'linear', weight: Int8Array.of(1, -2, 3, 4, 5, 6, -7, 8), weightShape: [2, 4], weightQmin: -127, weightQmax: 127, weightZeroPoint: new Int32Array(2), bias: Int32Array.of(3, -4), inZeroPoint: 10, outZeroPoint: 5, multiplier: Int32Array.of(1 << 30, 1 << 30), shift: Int32Array.of(-3, -4), qmin: 0, qmax: 255 } },
        { name: 'dq', inputs: ['fc'], op: { kind: 'dequantize', scale: 0.1, zeroPoint: 5 } },
      ],
      output: 'dq',
    };
    const g = new Int8GraphModel(chain);
    expect(g.forwardPath().engine).toBe('chain');
    const x = Float32Array.of(0.1, -0.2, 0.3, 0.5, 1, 2, -1, 0);
    const plain = new Int8Model({ inputShape: [4], layers: chain.nodes.map((n) => n.op) as never });
    expect(Array.from(g.forward(x, 2))).toEqual(Array.from(plain.forward(x, 2)));
    expect(Array.from(g.forwardLevels(x, 2).output)).toEqual(Array.from(plain.forward(x, 2)));
  });
});

function pick(r: { qmin: number; qmax: number }) {
  return { qmin: r.qmin, qmax: r.qmax };
}
