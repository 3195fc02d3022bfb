/**
 * Ownership of device memory, watched through the cpu backend's liveBuffers() count: tidy()
 * disposes what it created except what it returns, kept tensors and leaf gradients; a long
 * training loop does not grow the count.
 *
 * Every tensor created outside tidy here is disposed explicitly or kept reachable, so no buffer is
 * left to the garbage collector's finalizer, which would change the count at an arbitrary moment.
 */
import { describe, expect, it } from 'vitest';
import { F, fromArray, getBackend, getDefaultDevice, noGrad, randn, tensor, tidy, zeroGrad, zeros, type Tensor } from '../../src/index.js';
import { expectClose } from '../helpers/assert.js';

const live = () => getBackend(getDefaultDevice()).liveBuffers();

describe('tidy', () => {
  it('disposes intermediates; the returned tensor survives and is the only new buffer', () => {
    const x = tensor([1, 2, 3], { dtype: 'float64' });
    const base = live();
    let inner: Tensor | null = null;
    const y = tidy(() => {
      inner = x.mul(2).exp();
      return inner.add(1).sum();
    });
    expect(live()).toBe(base + 1);
    expect(y.item()).toBeCloseTo(Math.exp(2) + Math.exp(4) + Math.exp(6) + 3, 10);
    expect(inner!.disposed).toBe(true);
    expect(() => inner!.toArray()).toThrow(/disposed/);
    expect(x.disposed).toBe(false); // created outside the scope
    y.dispose();
    x.dispose();
    expect(live()).toBe(base - 1);
  });

  it('keeps tensors inside returned arrays and plain objects, and views share their storage', () => {
    const base = live();
    const out = tidy(() => {
      const a = tensor([[1, 2], [3, 4]], { dtype: 'float64' });
      const t = a.transpose(0, 1); // a view: keeps a's storage alive
      const s = a.sum();
      a.mul(3); // dropped
      return { t, list: [s, s.add(1)] };
    });
    expect(live()).toBe(base + 3);
    expectClose(out.t, [1, 3, 2, 4]);
    expect(out.list[0].item()).toBe(10);
    expect(out.list[1].item()).toBe(11);
    for (const t of [out.t, ...out.list]) t.dispose();
    expect(live()).toBe(base);
  });

  it('nested scopes hand returned tensors to the enclosing scope', () => {
    const base = live();
    let fromInner: Tensor | null = null;
    tidy(() => {
      fromInner = tidy(() => tensor([1, 2]).mul(2));
      expect(fromInner.disposed).toBe(false);
      expect(live()).toBe(base + 1);
      return null;
    });
    expect(fromInner!.disposed).toBe(true); // the outer scope did not return it
    expect(live()).toBe(base);
  });

  it('disposes what the scope created when fn throws (kept tensors excepted)', () => {
    const base = live();
    let kept: Tensor | null = null;
    expect(() =>
      tidy(() => {
        tensor([1, 2]).mul(2).exp();
        kept = tensor([7]).keep();
        throw new Error('boom');
      }),
    ).toThrow('boom');
    expect(live()).toBe(base + 1);
    expect(kept!.item()).toBe(7);
    kept!.dispose();
    expect(live()).toBe(base);
  });

  it('keep() lets a tensor outlive every enclosing scope', () => {
    const base = live();
    let kept: Tensor | null = null;
    tidy(() => tidy(() => {
      kept = tensor([5]).add(1).keep();
      return null;
    }));
    expect(live()).toBe(base + 1);
    expect(kept!.item()).toBe(6);
    kept!.dispose();
    expect(live()).toBe(base);
    // kept from an inner scope, created in an outer one (how optimizer state is often kept)
    let outer: Tensor | null = null;
    tidy(() => {
      outer = tensor([1, 2]);
      tidy(() => {
        outer!.keep();
        return null;
      });
      return null;
    });
    expect(outer!.disposed).toBe(false);
    expect(live()).toBe(base + 1);
    outer!.dispose();
    expect(live()).toBe(base);
  });

  it('leaf gradients survive the scope that ran backward; zeroGrad frees them', () => {
    const w = randn([3, 2], { dtype: 'float64', requiresGrad: true });
    const x = randn([4, 3], { dtype: 'float64' });
    const base = live();
    tidy(() => {
      F.crossEntropy(x.matmul(w), [0, 1, 1, 0]).backward();
      return null;
    });
    expect(live()).toBe(base + 1); // w.grad
    expect(w.grad!.disposed).toBe(false);
    expect(w.grad!.shape).toEqual([3, 2]);
    // a second backward replaces .grad by the sum and frees the old one
    tidy(() => {
      x.matmul(w).sum().backward();
      return null;
    });
    expect(live()).toBe(base + 1);
    zeroGrad([w]);
    expect(live()).toBe(base);
    w.dispose();
    x.dispose();
  });

  it('a forward + backward over every op family leaves nothing behind', () => {
    const x = randn([2, 2, 5, 5], { dtype: 'float64', requiresGrad: true });
    const k = randn([3, 2, 3, 3], { dtype: 'float64', requiresGrad: true });
    const base = live();
    tidy(() => {
      const y = F.conv2d(x, k, null, { padding: 1 }).relu();
      const p = F.maxPool2d(y, 2).add(F.avgPool2d(y, 2));
      const flat = p.reshape([2, -1]);
      const z = F.concat([flat, flat.slice(1, 0, 4).permute([1, 0]).matmul(flat.slice(1, 0, 4)).sum(0, true).expand([2, 4])], 1);
      F.crossEntropy(z.tanh().mul(z.sigmoid()).clamp(-1, 1), [1, 3]).backward();
      return null;
    });
    expect(live()).toBe(base + 2); // x.grad, k.grad
    zeroGrad([x, k]);
    expect(live()).toBe(base);
    x.dispose();
    k.dispose();
  });
});

describe('training loop', () => {
  it('1000 SGD steps inside tidy keep liveBuffers constant and fit the data', () => {
    // y = X w* + b* with w* = [1, -2, 0.5], b* = 0.3
    const X = randn([16, 3], { dtype: 'float64' });
    const Y = noGrad(() => X.matmul(fromArray([1, -2, 0.5], [3, 1], { dtype: 'float64' })).add(0.3));
    let w = zeros([3, 1], { dtype: 'float64', requiresGrad: true });
    let b = zeros([1], { dtype: 'float64', requiresGrad: true });
    const lr = 0.1;
    const counts: number[] = [];
    let first = NaN, last = NaN;
    for (let step = 0; step < 1000; step++) {
      const loss = tidy(() => {
        const l = X.matmul(w).add(b).sub(Y).square().mean();
        l.backward();
        // No in-place ops: build the updated parameters, keep them, free the old ones.
        const [nw, nb] = noGrad(() => [w.sub(w.grad!.mul(lr)).keep(), b.sub(b.grad!.mul(lr)).keep()]);
        zeroGrad([w, b]);
        w.dispose();
        b.dispose();
        w = nw.requiresGrad_();
        b = nb.requiresGrad_();
        return l.item();
      });
      if (step === 0) first = loss;
      last = loss;
      counts.push(live());
    }
    expect(new Set(counts).size).toBe(1);
    expect(first).toBeGreaterThan(1);
    expect(last).toBeLessThan(1e-8);
    expectClose(w, [1, -2, 0.5], { rtol: 1e-4, atol: 1e-4 });
    expectClose(b, [0.3], { rtol: 1e-4, atol: 1e-4 });
    for (const t of [X, Y, w, b]) t.dispose();
  });
});
