/**
 * Determinism of the seeded generator: same seed, same numbers; different seeds, different
 * numbers; and the samples have the distribution they claim (loose statistical bounds).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Generator, manualSeed, rand, randint, randn } from '../../src/index.js';
import { runs } from '../helpers/assert.js';

describe('seeded randomness', () => {
  it('manualSeed(s) then randn gives identical values twice; other seeds differ', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 0xffffffff }), fc.integer({ min: 0, max: 0xffffffff }), (s, t) => {
        fc.pre(s !== t);
        manualSeed(s);
        const a = Array.from(randn([64], { dtype: 'float64' }).toTypedArray());
        manualSeed(s);
        const b = Array.from(randn([64], { dtype: 'float64' }).toTypedArray());
        expect(b).toEqual(a);
        manualSeed(t);
        const c = Array.from(randn([64], { dtype: 'float64' }).toTypedArray());
        expect(c).not.toEqual(a);
        expect(c.filter((v, i) => v === a[i]).length).toBeLessThan(2);
      }),
      runs(30),
    );
  });

  it('seeds that differ in any single bit give different streams', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 0xffffffff }), (s) => {
        manualSeed(s);
        const a = randn([4], { dtype: 'float64' }).toTypedArray();
        for (let k = 0; k < 32; k++) {
          manualSeed((s ^ (2 ** k)) >>> 0);
          expect(Array.from(randn([4], { dtype: 'float64' }).toTypedArray())).not.toEqual(Array.from(a));
        }
      }),
      runs(10),
    );
  });

  it('the sequence continues across calls (two draws differ) and replays after reseeding', () => {
    manualSeed(42);
    const a = Array.from(rand([8]).toTypedArray());
    const b = Array.from(rand([8]).toTypedArray());
    expect(b).not.toEqual(a);
    manualSeed(42);
    expect(Array.from(rand([8]).toTypedArray())).toEqual(a);
    expect(Array.from(rand([8]).toTypedArray())).toEqual(b);
  });

  it('an explicit Generator is independent of the global one', () => {
    const g1 = new Generator(7), g2 = new Generator(7);
    manualSeed(1);
    const x = randn([16], { generator: g1 }).toTypedArray();
    randn([5]); // advances the global generator only
    const y = randn([16], { generator: g2 }).toTypedArray();
    expect(Array.from(y)).toEqual(Array.from(x));
  });

  it('randn has mean ~0 and std ~1; mean/std options shift and scale', () => {
    manualSeed(123);
    const n = 20000;
    const x = randn([n], { dtype: 'float64' });
    const mean = x.mean().item();
    const std = Math.sqrt(x.sub(mean).square().mean().item());
    expect(Math.abs(mean)).toBeLessThan(4 / Math.sqrt(n)); // 4 standard errors
    expect(Math.abs(std - 1)).toBeLessThan(0.03);
    manualSeed(123);
    const y = randn([n], { dtype: 'float64', mean: 5, std: 2 });
    expect(Math.abs(y.mean().item() - (5 + 2 * mean))).toBeLessThan(1e-9);
  });

  it('rand is uniform in [low, high); randint in [low, high) as int32', () => {
    manualSeed(9);
    const u = Array.from(rand([10000], { low: -1, high: 3, dtype: 'float64' }).toTypedArray());
    expect(Math.min(...u)).toBeGreaterThanOrEqual(-1);
    expect(Math.max(...u)).toBeLessThan(3);
    const quarter = u.filter((v) => v < 0).length / u.length;
    expect(Math.abs(quarter - 0.25)).toBeLessThan(0.02);
    const r = randint(2, 5, [3000]);
    expect(r.dtype).toBe('int32');
    const vals = Array.from(r.toTypedArray());
    expect(new Set(vals)).toEqual(new Set([2, 3, 4]));
  });

  it('the shuffle is a permutation, reproducible per seed', () => {
    const a = new Generator(3).shuffle(Int32Array.from({ length: 50 }, (_, i) => i));
    const b = new Generator(3).shuffle(Int32Array.from({ length: 50 }, (_, i) => i));
    expect(Array.from(a)).toEqual(Array.from(b));
    expect([...a].sort((p, q) => p - q)).toEqual(Array.from({ length: 50 }, (_, i) => i));
    expect(Array.from(a)).not.toEqual(Array.from({ length: 50 }, (_, i) => i));
  });
});
