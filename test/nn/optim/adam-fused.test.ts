/**
 * Adam's and AdamW's fused step (Backend.adamUpdate, src/tensor/cpu/adam.ts): on the cpu-side
 * backends, in float32 and float64, with L2 and decoupled weight decay, other betas and eps, the
 * parameters and both moments after several steps are bit for bit those of the separate tensor ops
 * (the primitive hidden); Adam's first step is lr · sign(g) when eps is 0 (the closed form of
 * Kingma & Ba's bias-corrected update); and the primitive actually ran.
 */
import { afterEach, describe, expect, it } from 'vitest';
import '../../../src/tensor/wasm/index.js';
import { F, fromArray, getBackend } from '../../../src/index.js';
import { Adam, AdamW, type AdamOptions } from '../../../src/nn/index.js';
import { seededSteps } from './seeded-steps.js';

const OPTIONS: [string, AdamOptions][] = [
  ['Adam', { lr: 1e-3 }],
  ['Adam', { lr: 0.01, betas: [0.8, 0.99], eps: 1e-3 }],
  ['Adam', { lr: 2e-3, weightDecay: 0.7 }], // L2 decay as large as the gradient: its own rounding shows
  ['AdamW', { lr: 0.5, weightDecay: 0.1 }],
  ['AdamW', { lr: 1e-3 }],
];
type Hidden = { adamUpdate?: ((...a: unknown[]) => unknown) | undefined };
const restore: (() => void)[] = [];
afterEach(() => restore.splice(0).forEach((f) => f()));

/** `steps` Adam or AdamW steps with seeded gradients: each parameter's values and both moments. */
const train = (device: string, dtype: 'float32' | 'float64', kind: string, opts: AdamOptions, steps: number) =>
  seededSteps(device, dtype, 11, steps, (params) => (kind === 'AdamW' ? new AdamW(params, opts) : new Adam(params, opts)), ['expAvg', 'expAvgSq']);

describe('Adam fused step', () => {
  for (const device of ['cpu', 'wasm']) {
    for (const dtype of ['float32', 'float64'] as const) {
      it(`${device}, ${dtype}: bit for bit the separate ops, Adam and AdamW, 5 steps`, () => {
        const b = getBackend(device) as unknown as Hidden;
        const real = (b.adamUpdate as (...a: unknown[]) => unknown).bind(b);
        let calls = 0;
        const counted = (...a: unknown[]) => (calls++, real(...a));
        b.adamUpdate = counted;
        restore.push(() => delete b.adamUpdate);
        for (const [kind, opts] of OPTIONS) {
          const before = calls;
          const fused = train(device, dtype, kind, opts, 5);
          expect(calls - before, `${kind} ${JSON.stringify(opts)}`).toBe(2 * 5);
          b.adamUpdate = undefined; // hides the prototype's method: the optimizer runs the tensor ops
          const ops = train(device, dtype, kind, opts, 5);
          b.adamUpdate = counted;
          expect(fused, `${kind} ${JSON.stringify(opts)}`).toEqual(ops);
        }
      });
    }
  }

  it('float64: with eps = 0 the first step moves every weight by lr against the sign of its gradient', () => {
    const p0 = [0.25, -1.5, 3, 0.75], g = [0.5, -0.125, 2e-6, -7];
    const p = fromArray(p0, [4], { device: 'cpu', dtype: 'float64', requiresGrad: true });
    const opt = new Adam([p], { lr: 0.01, eps: 0 });
    F.mul(p, fromArray(g, [4], { device: 'cpu', dtype: 'float64' })).sum().backward();
    opt.step();
    const got = Array.from(p.toTypedArray());
    p0.forEach((v, i) => expect(got[i]).toBeCloseTo(v - 0.01 * Math.sign(g[i]), 14));
  });
});
