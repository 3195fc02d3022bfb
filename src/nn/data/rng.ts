/**
 * A tiny seeded PRNG for data shuffling: same seed, same permutation, on every platform.
 *
 * Generator: mulberry32 (Tommy Ettinger, 2017, public domain). One 32-bit word of
 * state, period 2^32. That is far more draws than one epoch needs (60 000 for MNIST),
 * and it is small enough to read in one screen. It is NOT cryptographic, and it does
 * not try to be statistically excellent (xoshiro128** would be); for shuffling
 * examples between epochs that does not matter.
 *
 * This module is deliberately independent of the tensor RNG: data order must not
 * change when someone adds a random op to model initialisation.
 */

/** murmur3's 32-bit finaliser (Appleby, MurmurHash3 `fmix32`): a bijection on uint32 that mixes every bit. */
function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/**
 * Derive an independent-looking seed for stream `stream` (e.g. an epoch number) of `seed`.
 *
 * For a fixed `seed` the map `stream -> seed'` is injective on uint32 (`stream * odd`
 * is a bijection mod 2^32 and `fmix32` is a bijection), so two epochs never share a seed.
 */
export function deriveSeed(seed: number, stream: number): number {
  assertSeed(seed, 'seed');
  assertSeed(stream, 'stream');
  return fmix32((fmix32(seed >>> 0) + Math.imul(stream >>> 0, 0x9e3779b9)) >>> 0);
}

function assertSeed(value: number, name: string): void {
  if (!Number.isSafeInteger(value)) {
    throw new RangeError(`${name} must be a safe integer, got ${value}`);
  }
}

/** Seeded generator. Seeds are integers; only their low 32 bits matter. */
export class Mulberry32 {
  private state: number;

  constructor(seed: number) {
    assertSeed(seed, 'seed');
    this.state = seed >>> 0;
  }

  /** Next uniform integer in [0, 2^32). */
  nextUint32(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  }

  /** Next uniform float in [0, 1), with 32 random bits. */
  nextFloat(): number {
    return this.nextUint32() / 0x1_0000_0000;
  }

  /**
   * Next uniform integer in [0, n), exactly unbiased: draws that fall in the
   * incomplete last block of size `2^32 mod n` are rejected (`floor(f * n)` would
   * favour some values by up to n / 2^32).
   */
  nextInt(n: number): number {
    if (!Number.isInteger(n) || n < 1 || n > 0x1_0000_0000) {
      throw new RangeError(`nextInt(n) needs an integer n in [1, 2^32], got ${n}`);
    }
    const limit = 0x1_0000_0000 - (0x1_0000_0000 % n);
    let x = this.nextUint32();
    while (x >= limit) x = this.nextUint32();
    return x % n;
  }
}

/** The operations shuffling needs; any seeded generator can provide them. */
export interface Rng {
  nextInt(n: number): number;
}

/**
 * Shuffle `array` in place, uniformly over all n! orders (Fisher–Yates, Durstenfeld's
 * variant; Knuth TAOCP vol. 2, §3.4.2, Algorithm P). Returns the same array.
 */
export function shuffleInPlace<T extends { length: number; [index: number]: number }>(array: T, rng: Rng): T {
  for (let i = array.length - 1; i > 0; i--) {
    // j ranges over [0, i] inclusive; drawing from [0, i) is the classic biased bug.
    const j = rng.nextInt(i + 1);
    const tmp = array[i];
    array[i] = array[j];
    array[j] = tmp;
  }
  return array;
}
