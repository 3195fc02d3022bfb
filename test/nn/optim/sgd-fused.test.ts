/**
 * SGD's fused step (Backend.sgdUpdate, src/tensor/cpu/sgd.ts): on the cpu-side backends, in float32
 * and float64, every option (momentum, dampening, Nesterov, weight decay, learning rates that are
 * and are not float32 numbers), the parameters and momentum buffers after several steps are bit
 * for bit those of the separate tensor ops (the primitive hidden); against a closed form in
 * float64; and the primitive actually ran.
 */
import { afterEach, describe, expect, it } from 'vitest';
import '../../../src/tensor/wasm/index.js';
import { F, fromArray, getBackend } from '../../../src/index.js';
import { SGD, type SGDOptions } from '../../../src/nn/index.js';
import { seededSteps } from './seeded-steps.js';

const OPTIONS: SGDOptions[] = [
  { lr: 0.01 },
  { lr: 0.5, momentum: 0.9 },
  { lr: 0.01, momentum: 0.9, dampening: 0.1 },
  { lr: 0.01, momentum: 0.9, nesterov: true },
  { lr: 0.01, weightDecay: 1e-3 },
  { lr: 0.01, weightDecay: 0.7 }, // p·wd as large as g: its own rounding shows in the sum
  { lr: 0.03, momentum: 0.5, weightDecay: 5e-4, nesterov: true },
];
type Hidden = { sgdUpdate?: ((...a: unknown[]) => unknown) | undefined };
const restore: (() => void)[] = [];
afterEach(() => restore.splice(0).forEach((f) => f()));

/** `steps` SGD steps with seeded gradients: each parameter's values and momentum buffer. */
const train = (device: string, dtype: 'float32' | 'float64', opts: SGDOptions, steps: number) =>
  seededSteps(device, dtype, 7, steps, (params) => new SGD(params, opts), ['momentumBuffer']);

describe('SGD fused step', () => {
  for (const device of ['cpu', 'wasm']) {
    for (const dtype of ['float32', 'float64'] as const) {
      it(`${device}, ${dtype}: bit for bit the separate ops, every option, 4 steps`, () => {
        const b = getBackend(device) as unknown as Hidden;
        const real = (b.sgdUpdate as (...a: unknown[]) => unknown).bind(b);
        let calls = 0;
        b.sgdUpdate = (...a: unknown[]) => (calls++, real(...a));
        restore.push(() => delete b.sgdUpdate);
        for (const opts of OPTIONS) {
          const before = calls;
          const fused = train(device, dtype, opts, 4);
          expect(calls - before, JSON.stringify(opts)).toBe(2 * 4);
          b.sgdUpdate = undefined; // hides the prototype's method: the optimizer runs the tensor ops
          const ops = train(device, dtype, opts, 4);
          b.sgdUpdate = (...a: unknown[]) => (calls++, real(...a));
          expect(fused, JSON.stringify(opts)).toEqual(ops);
        }
      });
    }
  }

  it('float64: two steps of momentum SGD with weight decay equal the closed form', () => {
    const p0 = [0.25, -1.5, 3], g = [[0.5, 0.125, -2], [1, -0.75, 0.5]];
    const [lr, m, wd] = [0.1, 0.9, 0.01];
    const p = fromArray(p0, [3], { device: 'cpu', dtype: 'float64', requiresGrad: true });
    const opt = new SGD([p], { lr, momentum: m, weightDecay: wd });
    for (const gs of g) {
      opt.zeroGrad();
      F.mul(p, fromArray(gs, [3], { device: 'cpu', dtype: 'float64' })).sum().backward();
      opt.step();
    }
    // Closed form: g1 = g + wd p; buf1 = g1 (first step); p1 = p0 - lr buf1; buf2 = m buf1 + g2'; p2 = p1 - lr buf2.
    const want = p0.map((v, i) => {
      const b1 = g[0][i] + wd * v, p1 = v - lr * b1;
      const b2 = m * b1 + (g[1][i] + wd * p1);
      return p1 - lr * b2;
    });
    expect(Array.from(p.toTypedArray())).toEqual(want);
  });
});
