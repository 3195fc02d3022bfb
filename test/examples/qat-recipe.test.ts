/**
 * The QAT learning-rate schedule of examples/lib/qat-recipe.ts against its closed form: without a
 * warm-up it is the cosine the main job always used, lr0·(1 + cos(π·s/T))/2 after s of T steps
 * (Loshchilov & Hutter 2017, no restarts); with one, a linear ramp to the peak over the first
 * floor(T·f) steps, then the cosine over the rest, ending at 0.
 */
import { describe, expect, it } from 'vitest';
import { scheduledLr } from '../../examples/lib/qat-recipe.js';

describe('scheduledLr', () => {
  it('without warm-up equals the cosine formula at every step, from lr0 to 0', () => {
    const T = 400, lr = 0.02;
    for (let s = 0; s <= T; s++) expect(scheduledLr({ lr, warmupFraction: 0 }, s, T)).toBeCloseTo((lr * (1 + Math.cos((Math.PI * s) / T))) / 2, 15);
    expect(scheduledLr({ lr, warmupFraction: 0 }, 0, T)).toBe(lr);
    expect(scheduledLr({ lr, warmupFraction: 0 }, T, T)).toBeCloseTo(0, 15);
  });

  it('with warm-up ramps linearly to the peak, then decays by the cosine over the remaining steps', () => {
    const T = 100, lr = 0.04, W = 10;
    for (let s = 0; s < W; s++) expect(scheduledLr({ lr, warmupFraction: 0.1 }, s, T)).toBeCloseTo((lr * (s + 1)) / W, 15);
    for (let s = W; s <= T; s++) expect(scheduledLr({ lr, warmupFraction: 0.1 }, s, T)).toBeCloseTo((lr * (1 + Math.cos((Math.PI * (s - W)) / (T - W)))) / 2, 15);
  });
});
