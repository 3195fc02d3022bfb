import { describe, expect, it } from 'vitest';
import { fromArray, Generator, noGrad } from '../../../src/index.js';
import type { Tensor } from '../../../src/index.js';
import * as F from '../../../src/autograd/functional.js';
import { Conv2d, Linear, Module, MnistResNet, ReLU, qf, trace } from '../../../src/nn/index.js';
import { prng } from '../../helpers/arbitraries.js';

function input(n: number, seed: number, shape = [1, 28, 28]): Tensor {
  const rand = prng(seed);
  const per = shape.reduce((a, b) => a * b, 1);
  return fromArray(Float32Array.from({ length: n * per }, () => rand() * 2 - 1), [n, ...shape]);
}

describe('trace', () => {
  it('records the residual network as a graph whose forward equals the eager forward bit for bit', () => {
    const model = new MnistResNet({ channels: 4, generator: new Generator(3) });
    // Non-trivial BN statistics: a few training-mode forwards.
    noGrad(() => { for (let i = 0; i < 3; i++) model.call(input(4, 10 + i)); });
    const gm = trace(model, input(2, 1));
    model.eval();
    gm.eval();
    const x = input(3, 2);
    const eager = noGrad(() => model.call(x).toTypedArray());
    const traced = noGrad(() => gm.call(x).toTypedArray());
    expect(Array.from(traced)).toEqual(Array.from(eager));
    const kinds = gm.graph.nodes.map((n) => (n.op === 'call_function' ? n.fn : n.op));
    expect(kinds.filter((k) => k === 'add')).toHaveLength(3);
    expect(kinds.filter((k) => k === 'globalAvgPool')).toHaveLength(1);
    // The stem's output feeds layer1's conv1 and its skip add: one value used twice.
    expect(gm.userCount('stem.3')).toBe(2);
    // Same state dict keys as the traced model.
    expect([...gm.stateDict().keys()].sort()).toEqual([...model.stateDict().keys()].sort());
  });

  it('does not touch batch-norm statistics or training flags while tracing', () => {
    const model = new MnistResNet({ channels: 4, generator: new Generator(4) });
    const before = model.stateDict().get('stem.1.running_mean')!.toTypedArray().slice();
    const gm = trace(model, input(2, 5));
    expect(gm.training).toBe(true);
    expect(Array.from(model.stateDict().get('stem.1.running_mean')!.toTypedArray())).toEqual(Array.from(before));
    expect(model.training).toBe(true);
    expect(model.layer1.bn1.training).toBe(true);
  });

  it('names the module where an operation the tracer cannot see happened', () => {
    class Bad extends Module {
      readonly a = this.module('a', new Conv2d(1, 2, 3, { generator: new Generator(1) }));
      readonly relu = this.module('relu', new ReLU());
      forward(x: Tensor): Tensor {
        const y = this.a.call(x);
        return this.relu.call(y.add(y)); // Tensor method: not recorded
      }
    }
    expect(() => trace(new Bad(), input(1, 1, [1, 6, 6]))).toThrow(/module 'relu' \(ReLU\) received a tensor .*top-level forward.*qf\.add/);
  });

  it('rejects data-dependent control flow, naming the first differing node', () => {
    class Branchy extends Module {
      readonly a = this.module('a', new Linear(4, 4, { generator: new Generator(2) }));
      readonly b = this.module('b', new ReLU());
      forward(x: Tensor): Tensor {
        const y = this.a.call(x);
        return F.sum(x).item() > 0 ? this.b.call(y) : qf.relu6(y);
      }
    }
    const x = fromArray([1, 2, 3, 4], [1, 4]);
    expect(() => trace(new Branchy(), x)).toThrow(/not traceable.*data-dependent control flow.*First difference at node 2/);
  });

  it('rejects a module that is not registered in the tree, and an untraced output', () => {
    const stray = new ReLU();
    class Stray extends Module {
      readonly a = this.module('a', new Linear(4, 4, { generator: new Generator(2) }));
      forward(x: Tensor): Tensor {
        return stray.call(this.a.call(x));
      }
    }
    expect(() => trace(new Stray(), fromArray([1, 2, 3, 4], [1, 4]))).toThrow(/ReLU was called .* not registered/);
    class Tail extends Module {
      readonly a = this.module('a', new Linear(4, 4, { generator: new Generator(2) }));
      forward(x: Tensor): Tensor {
        return F.relu(this.a.call(x));
      }
    }
    expect(() => trace(new Tail(), fromArray([1, 2, 3, 4], [1, 4]))).toThrow(/output of Tail .* cannot see/);
  });
});
