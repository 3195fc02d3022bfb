/**
 * Functions that run inside gpu.js kernels: gpu.js translates their source text (GLSL for the GL
 * modes, WebAssembly for webasm, plain JS for its cpu mode), so they use only the JavaScript
 * subset gpu.js accepts: numbers, Math.*, if/for, no closures, no arrays.
 *
 * Every kernel computes in float32, including index arithmetic: an index is exact while it is an
 * integer below 2^24, which is why buffers are limited to 2^24 elements (see ../limits.ts).
 * Each helper exists because the obvious expression is wrong on some gpu.js mode (measured facts
 * in /work/shared/ARCHITECTURE.md and docs/gpu.md).
 */

/** What a kernel sees as `this`: the id of the output element it computes. */
export interface KernelThis {
  readonly thread: { readonly x: number; readonly y: number; readonly z: number };
}

/** A device buffer as a kernel reads it (a GL texture or a wasm/host array; indexed the same way). */
export type Buf = Float32Array;

/**
 * floor(a / b) for integers 0 <= a < 2^24, b >= 1. A float32 division can round a quotient that
 * lies just below an integer up to it (e.g. (3k - 1) / 3 for large k), so the floor is corrected
 * by one step either way with exact integer products.
 */
export function idiv(a: number, b: number): number {
  let q = Math.floor(a / b);
  if (q * b > a) {
    q = q - 1;
  }
  if ((q + 1) * b <= a) {
    q = q + 1;
  }
  return q;
}

/**
 * tanh that neither overflows nor cancels: gpu.js's GL tanh is (e^2x - 1) / (e^2x + 1), which is
 * Inf/Inf = NaN for x > 44. Cephes' tanhf: an odd polynomial below |x| = 0.625 (relative error
 * ~1e-7 near 0, where 1 - 2/(e^2x + 1) would cancel), 1 - 2/(e^2|x| + 1) above (1 for large |x|).
 */
export function tanhSafe(x: number): number {
  const z = Math.abs(x);
  if (z < 0.625) {
    const s = x * x;
    return ((((-5.70498872745e-3 * s + 2.06390887954e-2) * s - 5.37397155531e-2) * s + 1.33314422036e-1) * s - 3.33332819422e-1) * s * x + x;
  }
  const t = 1 - 2 / (Math.exp(2 * z) + 1);
  if (x < 0) {
    return -t;
  }
  return t;
}

/**
 * Math.pow with JavaScript's answers where GLSL's pow is undefined: x^0 = 1, 0^y, and a negative
 * base with an integer exponent (GLSL computes pow as exp2(y log2 x), NaN for x < 0). x^2 is
 * computed as x * x (exact and cheaper). A negative base with a fractional exponent is NaN in
 * JavaScript; here it is sqrt(-1), NaN where the platform has NaNs.
 */
export function powJs(a: number, b: number): number {
  if (b === 0) {
    return 1;
  }
  if (b === 2) {
    return a * a;
  }
  if (a > 0) {
    return Math.pow(a, b);
  }
  if (a === 0) {
    if (b > 0) {
      return 0;
    }
    return 1 / a;
  }
  if (Math.floor(b) !== b) {
    return Math.sqrt(-1 + a * 0);
  }
  const m = Math.pow(-a, b);
  const half = Math.floor(b * 0.5);
  if (b - half * 2 === 0) {
    return m;
  }
  return -m;
}

/**
 * Round half to even, exactly, without Math.round (which gpu.js implements as floor(x + 0.5) in
 * float32: wrong on ties and on 0.49999997). The tie test compares v with r + 0.5, which is exact
 * for every non-integer float32 v (|r| < 2^23); v - floor(v) would not be (for v = -0.49999997 it
 * rounds to 0.5). Agrees with roundHalfEven of ../../rounding.ts for every float32 input.
 */
export function roundHalfEven(v: number): number {
  const r = Math.floor(v);
  if (v === r) {
    return r;
  }
  const mid = r + 0.5;
  if (v > mid) {
    return r + 1;
  }
  if (v < mid) {
    return r;
  }
  const half = Math.floor(r * 0.5);
  if (r - half * 2 === 0) {
    return r;
  }
  return r + 1;
}

/** Round half away from zero (C's std::round, TFLite), exactly; see roundHalfEven. */
export function roundHalfAway(v: number): number {
  const r = Math.floor(v);
  if (v === r) {
    return r;
  }
  const mid = r + 0.5;
  if (v > mid) {
    return r + 1;
  }
  if (v < mid) {
    return r;
  }
  if (v > 0) {
    return r + 1;
  }
  return r;
}

/** The helpers every kernel may call, by the name kernels call them; gpu.js compiles only those a kernel uses. */
export const KERNEL_HELPERS: Readonly<Record<string, (...args: number[]) => number>> = { idiv, tanhSafe, powJs, roundHalfEven, roundHalfAway };

/**
 * The helpers' source text as gpu.js compiles it, each under its fixed name: a bundler may rename
 * a function declaration to avoid a collision (esbuild turned idiv into idiv2 in the browser
 * bundle), while the kernels call the helpers by these names.
 */
export function helperSources(): string[] {
  return Object.entries(KERNEL_HELPERS).map(([name, fn]) => fn.toString().replace(/^function\s*[\w$]*\s*\(/, `function ${name}(`));
}
