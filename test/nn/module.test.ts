/**
 * Module: dotted parameter and buffer names, train/eval propagation, state dicts (round trip,
 * copies not aliases, strictness, errors that leave the model untouched), and to(device).
 */
import { describe, expect, it } from 'vitest';
import { fromArray, Generator, getDefaultDevice, noGrad, type Tensor } from '../../src/index.js';
import { BatchNorm1d, BatchNorm2d, Conv2d, Dropout, Flatten, Linear, mnistCnn, Module, ReLU, Sequential, type StateDict } from '../../src/nn/index.js';
import { errorOf } from '../helpers/assert.js';
import { setValues, snapshot, vals, values } from './ref.js';

function net(seed: number): Sequential {
  const g = new Generator(seed);
  return new Sequential(new Linear(4, 3, { generator: g }), new BatchNorm1d(3), new ReLU(), new Linear(3, 2, { generator: g }));
}

/** Gives the batch-norm buffers non-default values, so copying them is observable. */
function perturbBuffers(m: Module, seed: number): void {
  for (const [name, t] of m.namedBuffers()) setValues(t, vals(seed + name.length, t.size, 0.5, 1.5));
}

const forwardEval = (m: Module, x: readonly number[], shape: number[]): number[] => noGrad(() => values(m.eval().call(fromArray(x, shape))));

/** A copy of a state dict's entries (fresh tensors), optionally edited. */
function copyState(sd: StateDict): Map<string, Tensor> {
  return new Map([...sd].map(([k, t]) => [k, fromArray(t.toTypedArray(), t.shape, { dtype: t.dtype })]));
}

describe('names', () => {
  it("namedParameters uses dotted names ('0.weight', ...) in registration order, all requiring grad", () => {
    const m = net(1);
    expect(m.namedParameters().map(([n]) => n)).toEqual(['0.weight', '0.bias', '1.weight', '1.bias', '3.weight', '3.bias']);
    expect(m.parameters().every((p) => p.requiresGrad)).toBe(true);
    expect(m.numParameters()).toBe(4 * 3 + 3 + 3 + 3 + 3 * 2 + 2);
  });

  it('nests names through Sequential inside Sequential', () => {
    const inner = new Sequential(new Conv2d(1, 2, 3), new BatchNorm2d(2));
    const m = new Sequential(inner, new Flatten(), new Linear(8, 2));
    expect(m.namedParameters().map(([n]) => n)).toEqual(['0.0.weight', '0.0.bias', '0.1.weight', '0.1.bias', '2.weight', '2.bias']);
    expect(m.namedBuffers().map(([n]) => n)).toEqual(['0.1.running_mean', '0.1.running_var', '0.1.num_batches_tracked']);
    expect([...m.namedModules()].map(([n]) => n)).toEqual(['', '0', '0.0', '0.1', '1', '2']);
  });

  it('stateDict holds the parameters and buffers by name: the live tensors', () => {
    const m = net(2);
    const sd = m.stateDict();
    expect([...sd.keys()].sort()).toEqual(
      ['0.weight', '0.bias', '1.weight', '1.bias', '1.running_mean', '1.running_var', '1.num_batches_tracked', '3.weight', '3.bias'].sort(),
    );
    expect(sd.get('0.weight')).toBe((m.at(0) as Linear).weight);
    expect(sd.get('1.running_var')).toBe((m.at(1) as BatchNorm1d).runningVar);
  });
});

describe('train() / eval()', () => {
  it('propagate to every nested module and return the module', () => {
    const inner = new Sequential(new Dropout(0.5), new BatchNorm1d(2));
    const m = new Sequential(new Linear(2, 2), inner);
    expect([...m.namedModules()].every(([, c]) => c.training)).toBe(true);
    expect(m.eval()).toBe(m);
    expect([...m.namedModules()].map(([, c]) => c.training)).toEqual([false, false, false, false, false]);
    expect(m.train()).toBe(m);
    expect([...m.namedModules()].every(([, c]) => c.training)).toBe(true);
    m.train(false);
    expect(inner.at(1).training).toBe(false);
  });

  it('switch behaviour: nested dropout is the identity and batch norm uses running stats in eval', () => {
    const bn = new BatchNorm1d(2);
    const m = new Sequential(new Sequential(new Dropout(0.9, new Generator(1)), bn));
    const x = vals(5, 8, 1, 2);
    m.eval();
    // eval: (x − 0) / √(1 + eps), nothing dropped, running stats untouched.
    const y = noGrad(() => values(m.call(fromArray(x, [4, 2]))));
    y.forEach((v, i) => expect(v).toBeCloseTo(x[i] / Math.sqrt(1 + 1e-5), 6));
    expect(values(bn.numBatchesTracked)).toEqual([0]);
    m.train();
    noGrad(() => m.call(fromArray(x, [4, 2])));
    expect(values(bn.numBatchesTracked)).toEqual([1]);
  });
});

describe('stateDict / loadStateDict', () => {
  const x = vals(9, 5 * 4);

  it('round trip: a differently initialised model loads the state and computes the same outputs', () => {
    const a = net(10), b = net(11);
    perturbBuffers(a, 3);
    expect(forwardEval(b, x, [5, 4])).not.toEqual(forwardEval(a, x, [5, 4]));
    b.loadStateDict(a.stateDict());
    expect(snapshot(b)).toEqual(snapshot(a));
    expect(forwardEval(b, x, [5, 4])).toEqual(forwardEval(a, x, [5, 4]));
  });

  it('copies values (no aliasing) and keeps the target’s tensor identities and dtypes', () => {
    const a = net(12), b = net(13);
    const before = b.namedParameters().map(([, p]) => p);
    b.loadStateDict(a.stateDict());
    const loaded = snapshot(b);
    const sa = a.stateDict();
    for (const [k, t] of b.stateDict()) expect(t.storage, k).not.toBe(sa.get(k)!.storage);
    // Changing the source afterwards does not reach the target, and vice versa.
    for (const [, t] of sa) setValues(t, vals(99, t.size));
    expect(snapshot(b)).toEqual(loaded);
    setValues((b.at(0) as Linear).weight, vals(98, 12));
    expect(values((a.at(0) as Linear).weight)).toEqual(vals(99, 12));
    expect(b.namedParameters().map(([, p]) => p)).toEqual(before);
    b.namedParameters().forEach(([, p], i) => expect(p).toBe(before[i]));
    expect(b.parameters().every((p) => p.requiresGrad && p.dtype === 'float32')).toBe(true);
  });

  it('accepts a plain object and converts float64 values to the model dtype', () => {
    const a = net(14), b = net(15);
    const obj: Record<string, Tensor> = {};
    for (const [k, t] of a.stateDict()) obj[k] = fromArray(Float64Array.from(t.toTypedArray()), t.shape, { dtype: 'float64' });
    b.loadStateDict(obj);
    expect(snapshot(b)).toEqual(snapshot(a));
    expect(b.stateDict().get('0.weight')!.dtype).toBe('float32');
  });

  describe('errors leave the model untouched (checked before anything is written)', () => {
    /** A complete, valid-looking state from another model, so a half-load would be visible. */
    const source = (): Map<string, Tensor> => {
      const s = net(20);
      perturbBuffers(s, 7);
      return copyState(s.stateDict());
    };

    function expectRejected(edit: (s: Map<string, Tensor>) => void, pattern: RegExp, strict?: boolean): string {
      const m = net(21);
      const before = snapshot(m);
      const state = source();
      edit(state);
      const msg = errorOf(() => m.loadStateDict(state, strict === undefined ? {} : { strict }));
      expect(msg).toMatch(pattern);
      expect(snapshot(m)).toEqual(before);
      return msg;
    }

    it('a missing key is named', () => {
      expectRejected((s) => s.delete('3.bias'), /missing keys: 3\.bias/);
    });

    it('an unexpected key is named', () => {
      expectRejected((s) => s.set('4.weight', fromArray([1, 2], [2])), /unexpected keys: 4\.weight/);
    });

    it('missing and unexpected keys together are both named', () => {
      const msg = expectRejected((s) => {
        s.delete('1.running_mean');
        s.set('extra', fromArray([0], [1]));
      }, /missing keys: 1\.running_mean/);
      expect(msg).toMatch(/unexpected keys: extra/);
    });

    it('a wrong shape names the key and both shapes, even for the last key', () => {
      const msg = expectRejected((s) => s.set('3.bias', fromArray([1, 2, 3], [3])), /'3\.bias'/);
      expect(msg).toContain('[3]');
      expect(msg).toContain('[2]');
      expectRejected((s) => s.set('0.weight', fromArray(vals(1, 12), [4, 3])), /'0\.weight' has shape \[4, 3\] in the state but \[3, 4\] in the model/);
    });

    it('a wrong shape is rejected with strict: false too', () => {
      expectRejected((s) => s.set('3.weight', fromArray(vals(1, 6), [6])), /'3\.weight'.*\[6\].*\[2, 3\]/, false);
    });
  });

  it('strict: false loads the keys present, ignoring unexpected ones and leaving missing ones alone', () => {
    const a = net(30), b = net(31);
    const keep = snapshot(b)['3.weight'];
    const state = copyState(a.stateDict());
    state.delete('3.weight');
    state.set('unused', fromArray([1], [1]));
    b.loadStateDict(state, { strict: false });
    const got = snapshot(b), want = snapshot(a);
    expect(got['3.weight']).toEqual(keep);
    expect(got['0.weight']).toEqual(want['0.weight']);
    expect(got['3.bias']).toEqual(want['3.bias']);
  });
});

describe('to(device)', () => {
  it('to(the device it is on) keeps every parameter and buffer object, their values and the module', () => {
    const device = getDefaultDevice();
    const m = mnistCnn({ channels: 2, batchNorm: true, generator: new Generator(40) });
    const tensors = [...m.stateDict()];
    const before = snapshot(m);
    expect(m.to(device)).toBe(m);
    const after = [...m.stateDict()];
    expect(after.map(([k]) => k)).toEqual(tensors.map(([k]) => k));
    after.forEach(([, t], i) => expect(t).toBe(tensors[i][1]));
    expect(snapshot(m)).toEqual(before);
    expect(m.parameters().every((p) => p.device === device && p.requiresGrad)).toBe(true);
  });
});

describe('zeroGrad', () => {
  it('clears every parameter’s gradient', () => {
    const m = net(50);
    m.call(fromArray(vals(1, 8), [2, 4])).sum().backward();
    expect(m.parameters().every((p) => p.grad !== null)).toBe(true);
    m.zeroGrad();
    expect(m.parameters().every((p) => p.grad === null)).toBe(true);
  });
});
