import { describe, expect, it } from 'vitest';
import { Mulberry32, deriveSeed, shuffleInPlace } from '../../../src/nn/data/rng.js';

/**
 * Oracle: mulberry32 transcribed from the reference C (uint32_t arithmetic) into BigInt,
 * so none of the Math.imul / >>> tricks of the implementation are shared.
 *   uint32_t t = *a += 0x6D2B79F5;
 *   t = (t ^ t >> 15) * (t | 1);
 *   t ^= t + (t ^ t >> 7) * (t | 61);
 *   return t ^ t >> 14;
 */
function* mulberry32Reference(seed: number): Generator<number> {
  const M = (1n << 32n) - 1n;
  let a = BigInt(seed >>> 0);
  for (;;) {
    a = (a + 0x6d2b79f5n) & M;
    let t = a;
    t = ((t ^ (t >> 15n)) * (t | 1n)) & M;
    t = (t ^ ((t + (((t ^ (t >> 7n)) * (t | 61n)) & M)) & M)) & M;
    yield Number(t ^ (t >> 14n));
  }
}

describe('Mulberry32', () => {
  it('matches a BigInt transcription of the reference C for several seeds', () => {
    for (const seed of [0, 1, 42, 0xdeadbeef, -1, 2 ** 40 + 7]) {
      const rng = new Mulberry32(seed);
      const ref = mulberry32Reference(seed);
      const got = Array.from({ length: 2000 }, () => rng.nextUint32());
      const want = Array.from({ length: 2000 }, () => ref.next().value as number);
      expect(got).toEqual(want);
    }
  });

  it('nextFloat is in [0, 1) and has mean about 1/2', () => {
    const rng = new Mulberry32(7);
    let sum = 0;
    let outside = 0;
    for (let i = 0; i < 100_000; i++) {
      const f = rng.nextFloat();
      if (!(f >= 0 && f < 1)) outside++;
      sum += f;
    }
    expect(outside).toBe(0);
    expect(Math.abs(sum / 100_000 - 0.5)).toBeLessThan(0.005);
  });

  it('nextInt(n) stays in [0, n) and hits every value', () => {
    const rng = new Mulberry32(3);
    const seen = new Set<number>();
    for (let i = 0; i < 5000; i++) seen.add(rng.nextInt(7));
    expect([...seen].sort()).toEqual([0, 1, 2, 3, 4, 5, 6]);
    expect(rng.nextInt(1)).toBe(0);
  });

  it('nextInt is unbiased even when n does not divide 2^32 (rejection sampling)', () => {
    // n = 3 * 2^30: plain `x % n` would make [0, 2^30) twice as likely (1/2 instead of 1/3).
    const n = 3 * 2 ** 30;
    const rng = new Mulberry32(11);
    let low = 0;
    const draws = 30_000;
    for (let i = 0; i < draws; i++) if (rng.nextInt(n) < 2 ** 30) low++;
    expect(Math.abs(low / draws - 1 / 3)).toBeLessThan(0.015);
  });

  it('rejects invalid arguments', () => {
    expect(() => new Mulberry32(1.5)).toThrow(RangeError);
    expect(() => new Mulberry32(0).nextInt(0)).toThrow(RangeError);
    expect(() => new Mulberry32(0).nextInt(2.5)).toThrow(RangeError);
  });
});

describe('shuffleInPlace (Fisher–Yates)', () => {
  it('returns a permutation of its input', () => {
    const a = Uint32Array.from({ length: 1000 }, (_, i) => i);
    shuffleInPlace(a, new Mulberry32(5));
    expect(Array.from(a).sort((x, y) => x - y)).toEqual(Array.from({ length: 1000 }, (_, i) => i));
    expect(Array.from(a)).not.toEqual(Array.from({ length: 1000 }, (_, i) => i));
  });

  it('is uniform over all 4! orders (chi-square)', () => {
    // A classic off-by-one (j in [0, i) instead of [0, i]) gives Sattolo's algorithm:
    // only the 6 cyclic orders appear, and chi-square explodes.
    const rng = new Mulberry32(123);
    const counts = new Map<string, number>();
    const trials = 48_000;
    for (let t = 0; t < trials; t++) {
      const key = shuffleInPlace([0, 1, 2, 3], rng).join('');
      counts.set(key, (counts.get(key) ?? 0) + 1);
    }
    expect(counts.size).toBe(24);
    const expected = trials / 24;
    let chi2 = 0;
    for (const c of counts.values()) chi2 += (c - expected) ** 2 / expected;
    // 23 degrees of freedom: P(chi2 > 49.7) = 0.001.
    expect(chi2).toBeLessThan(49.7);
  });

  it('is reproducible: same seed, same order', () => {
    const a = shuffleInPlace(Array.from({ length: 50 }, (_, i) => i), new Mulberry32(9));
    const b = shuffleInPlace(Array.from({ length: 50 }, (_, i) => i), new Mulberry32(9));
    const c = shuffleInPlace(Array.from({ length: 50 }, (_, i) => i), new Mulberry32(10));
    expect(a).toEqual(b);
    expect(a).not.toEqual(c);
  });
});

describe('deriveSeed', () => {
  it('gives distinct seeds for distinct streams of one seed, and depends on the seed', () => {
    const seeds = new Set<number>();
    for (let epoch = 0; epoch < 20_000; epoch++) seeds.add(deriveSeed(42, epoch));
    expect(seeds.size).toBe(20_000);
    expect(deriveSeed(1, 0)).not.toBe(deriveSeed(2, 0));
    expect(deriveSeed(1, 5)).toBe(deriveSeed(1, 5));
    expect([...seeds].every((s) => Number.isInteger(s) && s >= 0 && s < 2 ** 32)).toBe(true);
  });
});
