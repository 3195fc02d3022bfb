/**
 * Sequential runs a Conv2d directly followed by a ReLU as one fused op (F.conv2dRelu). It must be
 * invisible: the same outputs and parameter gradients, bit for bit, as calling the layers one by
 * one (the unfused ops), on the fast device and the reference; and a traced graph still records
 * both modules.
 */
import { describe, expect, it } from 'vitest';
import '../../src/tensor/wasm/index.js';
import { F, fromArray, Generator, type Tensor } from '../../src/index.js';
import { mnistCnn, trace, type Module } from '../../src/nn/index.js';
import { mulberry32 } from '../helpers/rng.js';

function gradsOf(model: Module, run: (x: Tensor) => Tensor, device: 'wasm' | 'cpu'): number[][] {
  const r = mulberry32(5);
  const x = fromArray(Float32Array.from({ length: 8 * 28 * 28 }, () => r() * 2 - 1), [8, 1, 28, 28], { device });
  const y = run(x);
  F.crossEntropy(y, [0, 1, 2, 3, 4, 5, 6, 7]).backward();
  return [Array.from(y.toTypedArray()), ...model.parameters().map((p) => Array.from(p.grad!.toTypedArray()))];
}

describe('Sequential: Conv2d + ReLU fused', () => {
  for (const device of ['wasm', 'cpu'] as const) {
    it(`gives the layer-by-layer values and gradients bit for bit (${device})`, () => {
      const fused = mnistCnn({ generator: new Generator(3) }).to(device);
      const plain = mnistCnn({ generator: new Generator(3) }).to(device);
      const a = gradsOf(fused, (x) => fused.call(x), device);
      const layers = plain.namedChildren().map(([, m]) => m);
      const b = gradsOf(plain, (x) => layers.reduce((h, m) => m.call(h), x), device);
      expect(a.length).toBe(b.length);
      a.forEach((v, i) => expect(v, `tensor ${i}`).toEqual(b[i]));
    });
  }

  it('a traced model keeps both the Conv2d and the ReLU node', () => {
    const g = trace(mnistCnn({ generator: new Generator(3) }), fromArray(new Float32Array(2 * 784).fill(0.5), [2, 1, 28, 28]));
    const targets = g.graph.nodes.flatMap((n) => (n.op === 'call_module' ? [n.target] : []));
    expect(targets.slice(0, 3)).toEqual(['0', '1', '2']);
  });
});
