/**
 * Autograd semantics: accumulation, which tensors get .grad, detach, noGrad, freed graphs and
 * retainGraph, non-scalar backward, broadcast reduction, custom Functions, shared subexpressions.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  Context, Function, gradCheck, isGradEnabled, noGrad, ones, tensor, zeroGrad, type Tensor,
} from '../../src/index.js';
import { anyTensorCaseArb, broadcastShapesArb, tensorCaseArb } from '../helpers/arbitraries.js';
import { errorOf, expectClose, expectGradOk, runs } from '../helpers/assert.js';
import * as R from '../helpers/reference.js';

const f64 = (data: Parameters<typeof tensor>[0], requiresGrad = true) => tensor(data, { dtype: 'float64', requiresGrad });

/** A user-defined op: x^3 * scale, saving its input for backward. */
class ScaledCube extends Function {
  static override forward(ctx: Context<{ scale: number }>, x: Tensor, scale: number): Tensor {
    ctx.saveForBackward(x);
    ctx.attrs = { scale };
    return x.mul(x).mul(x).mul(scale);
  }
  static override backward(ctx: Context<{ scale: number }>, g: Tensor) {
    const [x] = ctx.savedTensors;
    return [g.mul(x.mul(x).mul(3 * ctx.attrs.scale)), null];
  }
}

/** A user-defined op of two tensors with a deliberately wrong gradient shape. */
class BadShape extends Function {
  static override forward(_ctx: Context, x: Tensor): Tensor {
    return x.sum();
  }
  static override backward(_ctx: Context, g: Tensor) {
    return [g.reshape([1])];
  }
}

describe('gradient accumulation and ownership', () => {
  it('gradients accumulate across two backward calls until zeroGrad', () => {
    const x = f64([1, 2, 3]);
    x.mul(3).sum().backward();
    expectClose(x.grad!, [3, 3, 3]);
    x.square().sum().backward();
    expectClose(x.grad!, [5, 7, 9]); // 3 + 2x
    zeroGrad([x]);
    expect(x.grad).toBeNull();
    x.sum().backward();
    expectClose(x.grad!, [1, 1, 1]);
  });

  it('.grad is set only on leaves that require grad', () => {
    const x = f64([1, 2]);
    const c = f64([5, 6], false);
    const h = x.mul(c);
    expect(h.requiresGrad).toBe(true);
    expect(h.isLeaf).toBe(false);
    expect(h.gradFn?.name).toBe('Mul');
    h.sum().backward();
    expectClose(x.grad!, [5, 6]);
    expect(c.grad).toBeNull();
    expect(h.grad).toBeNull();
  });

  it('ops on tensors that need no grad record nothing', () => {
    const a = f64([1, 2], false);
    const y = a.exp().mul(a).sum();
    expect(y.requiresGrad).toBe(false);
    expect(y.gradFn).toBeNull();
    expect(errorOf(() => y.backward())).toMatch(/does not require grad/);
  });

  it('detach() shares storage but cuts the graph', () => {
    const x = f64([2, 3]);
    const d = x.detach();
    expect(d.storage).toBe(x.storage);
    expect(d.requiresGrad).toBe(false);
    // y = stopgrad(x) * x: dy/dx = x (not 2x)
    d.mul(x).sum().backward();
    expectClose(x.grad!, [2, 3]);
  });

  it('noGrad records nothing, restores recording after (also after a throw), and nests', () => {
    const x = f64([1, 2]);
    const y = noGrad(() => {
      expect(isGradEnabled()).toBe(false);
      noGrad(() => expect(isGradEnabled()).toBe(false));
      expect(isGradEnabled()).toBe(false);
      return x.mul(2).exp();
    });
    expect(isGradEnabled()).toBe(true);
    expect(y.requiresGrad).toBe(false);
    expect(y.gradFn).toBeNull();
    expect(() => noGrad(() => { throw new Error('boom'); })).toThrow('boom');
    expect(isGradEnabled()).toBe(true);
    expect(x.mul(2).requiresGrad).toBe(true);
  });

  it('backward into a leaf output itself accumulates the given gradient', () => {
    const x = f64([1, 2]);
    x.backward(f64([3, 4], false));
    expectClose(x.grad!, [3, 4]);
  });

  it('.to(dtype) is differentiable and hands the gradient back in the leaf dtype', () => {
    const x = tensor([1, 2], { requiresGrad: true });
    const y = x.to('float64');
    expect(y.dtype).toBe('float64');
    y.square().sum().backward();
    expect(x.grad!.dtype).toBe('float32');
    expectClose(x.grad!, [2, 4]);
  });

  it('clone() copies storage and passes the gradient through; requiresGrad_ only on leaves', () => {
    const x = f64([1, 2]);
    const c = x.clone();
    expect(c.storage).not.toBe(x.storage);
    c.mul(3).sum().backward();
    expectClose(x.grad!, [3, 3]);
    expect(() => c.requiresGrad_()).toThrow(/leaf/);
    const leaf = f64([1], false).requiresGrad_();
    expect(leaf.requiresGrad).toBe(true);
  });

  it('the gradient of a float32 leaf is float32 even when the graph computes in float64', () => {
    const x = tensor([1, 2], { requiresGrad: true });
    x.mul(f64([0.5, 0.25], false)).sum().backward();
    expect(x.grad!.dtype).toBe('float32');
    expectClose(x.grad!, [0.5, 0.25]);
  });
});

describe('graph lifetime', () => {
  it('a second backward through a freed graph throws a clear error', () => {
    const x = f64([1, 2]);
    const y = x.exp().mul(x).sum();
    y.backward();
    const msg = errorOf(() => y.backward());
    expect(msg).toMatch(/second time|already freed/);
    expect(msg).toMatch(/retainGraph/);
  });

  it('works twice with { retainGraph: true }, accumulating twice the gradient', () => {
    const x = f64([1, 2]);
    const y = x.square().sum();
    y.backward(undefined, { retainGraph: true });
    y.backward();
    expectClose(x.grad!, [4, 8]);
    expect(() => y.backward()).toThrow(/retainGraph/);
  });

  it('backward on a non-scalar needs a gradient; the error names the shape', () => {
    const x = f64([[1, 2, 3], [4, 5, 6]]);
    const y = x.mul(2);
    const msg = errorOf(() => y.backward());
    expect(msg).toContain('[2, 3]');
    const bad = errorOf(() => y.backward(ones([3, 2], { dtype: 'float64' })));
    expect(bad).toContain('[3, 2]');
    expect(bad).toContain('[2, 3]');
    // a given gradient is a vector-Jacobian product
    y.backward(f64([[1, 0, 2], [0, 1, 0]], false));
    expectClose(x.grad!, [2, 0, 4, 0, 2, 0]);
  });

  it('a very deep chain does not overflow the stack', () => {
    const x = f64([1]);
    let y = x;
    for (let i = 0; i < 20000; i++) y = y.add(1);
    y.sum().backward();
    expectClose(x.grad!, [1]);
    expect(y.item()).toBe(20001);
  });
});

describe('graph shapes', () => {
  it('broadcast gradients reduce to each input shape', () => {
    fc.assert(
      fc.property(
        broadcastShapesArb(2, { maxRank: 4, maxDim: 3 }).chain(({ out, inputs: [sa, sb] }) =>
          fc.record({ out: fc.constant(out), a: tensorCaseArb(sa, { layouts: ['contiguous'] }), b: tensorCaseArb(sb, { layouts: ['contiguous'] }) }),
        ),
        ({ out, a, b }) => {
          const x = a.make({ requiresGrad: true }), y = b.make({ requiresGrad: true });
          x.mul(y).sum().backward();
          expect([...x.grad!.shape]).toEqual(a.shape);
          expect([...y.grad!.shape]).toEqual(b.shape);
          // d/dx sum(x * y) = y summed over the dims x was broadcast along
          const yb = R.expand(b.ref(), out);
          const lead = out.length - a.shape.length;
          const want = R.build(a.shape, (i) => {
            let s = 0;
            for (let f = 0; f < yb.data.length; f++) {
              const o = R.unravel(f, out);
              if (a.shape.every((d, k) => d === 1 || o[lead + k] === i[k])) s += yb.data[f];
            }
            return s;
          });
          expectClose(x.grad!, want, { rtol: 1e-12, atol: 1e-12 });
        },
      ),
      runs(40),
    );
  });

  it('a diamond (x used twice) sums the gradients of both paths', () => {
    const x = f64([1, -2, 0.5]);
    const a = x.mul(2), b = x.mul(3);
    a.mul(b).sum().backward(); // 6x^2 -> 12x
    expectClose(x.grad!, [12, -24, 6]);
    // a shared intermediate feeding three consumers
    const z = f64([0.3, 0.7]);
    const h = z.tanh();
    h.mul(h).add(h).add(h.exp()).sum().backward();
    const t = [0.3, 0.7].map(Math.tanh);
    expectClose(z.grad!, t.map((v) => (2 * v + 1 + Math.exp(v)) * (1 - v * v)), { rtol: 1e-12 });
  });

  it('random compositions of ops over shared inputs pass gradCheck', () => {
    fc.assert(
      fc.property(anyTensorCaseArb({ minRank: 1, maxRank: 2, maxDim: 3 }, { values: { kind: 'uniform', min: 0.5, max: 2 } }), (c) => {
        expectGradOk((b) => {
          const x = c.view(b);
          const h = x.sigmoid().mul(x);
          return h.div(x.add(1)).add(h.sqrt().mul(x.log())).sum(-1).softmax(-1);
        }, [c.makeBase({ requiresGrad: true })]);
      }),
      runs(20),
    );
  });
});

describe('custom Functions', () => {
  it('a user-defined Function works through apply, records one node, and passes gradCheck', () => {
    const x = f64([1, -2, 0.5]);
    const y = ScaledCube.apply(x, 2);
    expect(y.gradFn?.name).toBe('ScaledCube');
    expectClose(y, [2, -16, 0.25]);
    y.sum().backward();
    expectClose(x.grad!, [6, 24, 1.5]); // 6x^2
    const r = gradCheck((t) => ScaledCube.apply(t, -0.5), [f64([[0.3, -1.2], [2, 0.7]])]);
    expect(r.ok).toBe(true);
    // forward ran with recording off: its internal ops left no graph behind
    expect(noGrad(() => ScaledCube.apply(x, 1)).gradFn).toBeNull();
  });

  it('ctx.needsInputGrad reflects which inputs need a gradient', () => {
    let seen: boolean[] = [];
    class Probe extends Function {
      static override forward(ctx: Context, a: Tensor, b: Tensor): Tensor {
        seen = ctx.needsInputGrad;
        return a.add(b);
      }
      static override backward(_ctx: Context, g: Tensor) {
        return [g, g];
      }
    }
    Probe.apply(f64([1]), f64([1], false));
    expect(seen).toEqual([true, false]);
  });

  it('a backward returning a gradient of the wrong shape is reported with both shapes', () => {
    const y = BadShape.apply(f64([1, 2, 3]));
    const msg = errorOf(() => y.backward());
    expect(msg).toContain('BadShape');
    expect(msg).toContain('[1]');
    expect(msg).toContain('[3]');
  });

  it('gradCheck catches a wrong gradient', () => {
    class WrongCube extends Function {
      static override forward(ctx: Context, x: Tensor): Tensor {
        ctx.saveForBackward(x);
        return x.pow(3);
      }
      static override backward(ctx: Context, g: Tensor) {
        return [g.mul(ctx.savedTensors[0].square().mul(2))]; // should be 3x^2
      }
    }
    const r = gradCheck((t) => WrongCube.apply(t), [f64([1, 2])]);
    expect(r.ok).toBe(false);
    expect(r.worst).not.toBeNull();
  });

  it('a Function returning its own input still gets its own graph node', () => {
    class Identity extends Function {
      static override forward(_ctx: Context, x: Tensor): Tensor {
        return x;
      }
      static override backward(_ctx: Context, g: Tensor) {
        return [g.mul(2)];
      }
    }
    const x = f64([1, 2]);
    const y = Identity.apply(x);
    expect(y).not.toBe(x);
    expect(x.isLeaf).toBe(true);
    y.sum().backward();
    expectClose(x.grad!, [2, 2]);
  });
});
