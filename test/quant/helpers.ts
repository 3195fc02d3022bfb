/**
 * Helpers for the tensor-level quantization suites: exact (bit-pattern) comparison of float32
 * results; seeded uniform (test/helpers' mulberry32) and normal samples.
 */
import { expect } from 'vitest';

export { prng } from '../helpers/arbitraries.js';

/** IEEE-754 bit pattern of each value as float32 (distinguishes -0 from +0 and keeps NaN visible). */
export function bits32(values: ArrayLike<number>): number[] {
  const f = Float32Array.from(values);
  return Array.from(new Uint32Array(f.buffer));
}

/** Asserts two float arrays hold the same float32 values bit for bit, naming the first difference. */
export function expectSameBits(actual: ArrayLike<number>, expected: ArrayLike<number>, label = ''): void {
  const where = label ? `${label}: ` : '';
  expect(actual.length, `${where}length`).toBe(expected.length);
  const a = bits32(actual), e = bits32(expected);
  for (let i = 0; i < e.length; i++) {
    if (a[i] !== e[i]) expect.fail(`${where}element ${i} is ${actual[i]} (0x${a[i].toString(16)}), expected ${expected[i]} (0x${e[i].toString(16)})`);
  }
}

/** Standard normal samples (Box-Muller) from a uniform generator. */
export function gaussian(rand: () => number): () => number {
  return () => Math.sqrt(-2 * Math.log(1 - rand())) * Math.cos(2 * Math.PI * rand());
}
