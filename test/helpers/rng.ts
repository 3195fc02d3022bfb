/**
 * mulberry32 (Tommy Ettinger's 32-bit generator): a small seeded source of uniform numbers in
 * [0, 1) for tests that need reproducible data without the library's own PRNG (so that a test's
 * data never depends on the code under test).
 */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
