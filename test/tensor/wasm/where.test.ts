/**
 * The wasm backend's float32 `where` (a SIMD select, src/tensor/wasm/elementwise.ts) against the
 * cpu reference loop (runWhere, `c !== 0 ? a : b`) and a naive oracle written here: the same bits
 * everywhere (Object.is), with conditions that are NaN (true in JavaScript), -0 and +0 (false),
 * ±Infinity and subnormals, values that are NaN, ±Infinity and -0, on contiguous, permuted and
 * broadcast (stride 0: the straight-through estimator's scalar 0) operands, lengths around the
 * staging block and not a multiple of 4.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { View } from '../../../src/tensor/backend.js';
import { d } from '../../../src/tensor/cpu/index.js';
import { runWhere } from '../../../src/tensor/cpu/elementwise.js';
import { contiguousStrides, numel } from '../../../src/tensor/shape.js';
import { WasmBackend } from '../../../src/tensor/wasm/index.js';
import { wasmWhere } from '../../../src/tensor/wasm/elementwise.js';
import { rng } from './util.js';

const backend = new WasmBackend();
const SPECIAL = [NaN, -0, 0, Infinity, -Infinity, 1e-45, -1e-45, 1, -1];

function data(rand: () => number, n: number, special: number): Float32Array {
  return Float32Array.from({ length: n }, () => (rand() < special ? SPECIAL[Math.floor(rand() * SPECIAL.length)] : rand() < 0.3 ? 0 : rand() * 4 - 2));
}

function view(data: Float32Array, shape: number[], strides: number[], offset = 0): View {
  return { buffer: backend.upload(data), shape, strides, offset } as unknown as View;
}

describe('wasm where = c !== 0 ? a : b, bit for bit', () => {
  it('contiguous, transposed and broadcast operands (fast-check)', () => {
    const seed = 4711;
    let ranWasm = 0;
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 40 }), fc.integer({ min: 1, max: 700 }), fc.integer({ min: 0, max: 2 }), fc.integer({ min: 1, max: 2 ** 31 - 1 }), (R, C, layout, s) => {
        const rand = rng(s);
        const shape = [R, C], n = R * C;
        const c = data(rand, n, 0.3), a = data(rand, n, 0.2);
        const cv = view(c, shape, contiguousStrides(shape));
        // a read transposed: stored [C, R], viewed [R, C] (short runs: the reference path) or contiguous
        const av = layout === 1 ? view(a, shape, [1, R]) : view(a, shape, contiguousStrides(shape));
        // b: the scalar 0 broadcast (as straightThrough's) or a full operand
        const bv = layout === 2 ? view(data(rand, n, 0.2), shape, contiguousStrides(shape)) : view(Float32Array.of(0), shape, [0, 0]);
        const want = new Float32Array(n);
        runWhere(want, cv, d(cv.buffer), av, d(av.buffer), bv, d(bv.buffer), shape);
        // the oracle, by multi-index
        let bad = -1;
        for (let i = 0; i < R; i++) {
          for (let j = 0; j < C; j++) {
            const at = (v: View) => d(v.buffer)[v.offset + i * v.strides[0] + j * v.strides[1]];
            if (!Object.is(want[i * C + j], Math.fround(at(cv) !== 0 ? at(av) : at(bv))) && bad < 0) bad = i * C + j;
          }
        }
        expect(bad, 'reference vs oracle').toBe(-1);
        const got = d(backend.where(cv, av, bv, shape, 'float32')) as Float32Array;
        for (let i = 0; i < n; i++) if (!Object.is(got[i], want[i])) expect.fail(`element ${i}: ${got[i]} vs ${want[i]}`);
        const probe = new Float32Array(n);
        const f = (v: View) => ({ data: d(v.buffer) as Float32Array, strides: v.strides, offset: v.offset });
        if (wasmWhere(probe, shape, f(cv), f(av), f(bv))) ranWasm++;
      }),
      { seed, numRuns: 50 },
    );
    expect(ranWasm).toBeGreaterThan(12);
  });

  it('a large select across staging blocks takes the SIMD path', () => {
    const rand = rng(8);
    const shape = [3, 16389], n = numel(shape);
    const c = data(rand, n, 0.5), a = data(rand, n, 0.3), b = data(rand, n, 0.3);
    const s = contiguousStrides(shape);
    const out = new Float32Array(n);
    expect(wasmWhere(out, shape, { data: c, strides: s, offset: 0 }, { data: a, strides: s, offset: 0 }, { data: b, strides: s, offset: 0 })).toBe(true);
    for (let i = 0; i < n; i++) if (!Object.is(out[i], c[i] !== 0 ? a[i] : b[i])) expect.fail(`element ${i}`);
  });
});
