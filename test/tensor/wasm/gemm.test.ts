/**
 * The wasm float32 gemm and the int16/int8 gemm against the TypeScript reference and a naive
 * triple loop: random and edge sizes (0, 1, not multiples of the 4 x 8 tile, deeper than one
 * 256 K block), strided and transposed operands, accumulate mode.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { gemmInt8, gemmInt8Reference, type IntOperand } from '../../../src/quant/int8/fast/gemm-int8.js';
import { gemm as gemmReference } from '../../../src/tensor/cpu/gemm.js';
import { gemmF32 as gemm } from '../../../src/tensor/wasm/gemm.js';
import { getWasmKernelConfig, setWasmKernelConfig } from '../../../src/tensor/wasm/index.js';
import { expectWithinDotBound, randomF32, randomInt, rng } from './util.js';

afterAll(() => setWasmKernelConfig());

type Layout = 'rowMajor' | 'transposed' | 'strided';

/** An M x K matrix of the given values (row-major in `vals`) stored in one of three layouts. */
function operand<T extends Float32Array | Int32Array | Int8Array | Int16Array>(vals: T, rows: number, cols: number, layout: Layout, make: (n: number) => T): { data: T; offset: number; rowStride: number; colStride: number } {
  if (layout === 'rowMajor') return { data: vals, offset: 0, rowStride: cols, colStride: 1 };
  if (layout === 'transposed') {
    const t = make(rows * cols);
    for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) t[j * rows + i] = vals[i * cols + j];
    return { data: t, offset: 0, rowStride: 1, colStride: rows };
  }
  // Every element 3 apart in a row, rows 3 * cols + 5 apart, starting at offset 7.
  const rs = 3 * cols + 5, off = 7;
  const s = make(off + rows * rs + 1);
  for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) s[off + i * rs + 3 * j] = vals[i * cols + j];
  return { data: s, offset: off, rowStride: rs, colStride: 3 };
}

function naive(M: number, N: number, K: number, A: { data: ArrayLike<number>; offset: number; rowStride: number; colStride: number }, B: typeof A) {
  const exact = new Float64Array(M * N), abs = new Float64Array(M * N);
  for (let i = 0; i < M; i++) {
    for (let j = 0; j < N; j++) {
      let s = 0, t = 0;
      for (let k = 0; k < K; k++) {
        const p = A.data[A.offset + i * A.rowStride + k * A.colStride] * B.data[B.offset + k * B.rowStride + j * B.colStride];
        s += p;
        t += Math.abs(p);
      }
      exact[i * N + j] = s;
      abs[i * N + j] = t;
    }
  }
  return { exact, abs };
}

const SIZES: [number, number, number][] = [
  [0, 5, 3], [5, 0, 3], [3, 5, 0], [1, 1, 1], [1, 8, 1], [4, 8, 1], [3, 7, 2], [5, 9, 3], [4, 8, 300],
  [13, 17, 19], [1, 33, 64], [33, 1, 64], [64, 10, 1000], [40, 121, 360], [37, 29, 513], [100, 100, 100],
];
const LAYOUTS: Layout[] = ['rowMajor', 'transposed', 'strided'];

describe('float32 gemm (wasm SIMD)', () => {
  it('runs on wasm here (Node 20 has wasm SIMD and shared memory)', () => {
    expect(getWasmKernelConfig().wasmAvailable).toBe(true);
  });

  it('matches the float64 triple loop within the float32 dot-product bound, every size and layout', () => {
    setWasmKernelConfig({ threads: 1 });
    const rand = rng(1);
    for (const [M, N, K] of SIZES) {
      for (const la of LAYOUTS) {
        for (const lb of LAYOUTS) {
          const A = operand(randomF32(M * K, rand), M, K, la, (n) => new Float32Array(n));
          const B = operand(randomF32(K * N, rand), K, N, lb, (n) => new Float32Array(n));
          const C = new Float32Array(M * N + 3).fill(NaN);
          gemm(M, N, K, A, B, C, 3, false);
          const { exact, abs } = naive(M, N, K, A, B);
          expectWithinDotBound(C.subarray(3), exact, abs, K, `${M}x${N}x${K} ${la}/${lb}`);
          expect(C[0]).toBeNaN(); // nothing written before cOffset
        }
      }
    }
  });

  it('packs broadcast operands (stride 0) as their materialised copies: the same bits', () => {
    setWasmKernelConfig({ threads: 1 });
    const rand = rng(2);
    const [M, N, K] = [64, 10, 1000];
    const row = randomF32(K, rand), col = randomF32(K, rand);
    // A: one row repeated (rowStride 0); B: one column repeated (colStride 0).
    const A0 = { data: row, offset: 0, rowStride: 0, colStride: 1 }, B0 = { data: col, offset: 0, rowStride: 1, colStride: 0 };
    const A1 = { data: new Float32Array(M * K), offset: 0, rowStride: K, colStride: 1 }, B1 = { data: new Float32Array(K * N), offset: 0, rowStride: N, colStride: 1 };
    for (let i = 0; i < M; i++) A1.data.set(row, i * K);
    for (let k = 0; k < K; k++) B1.data.fill(col[k], k * N, (k + 1) * N);
    const C0 = new Float32Array(M * N), C1 = new Float32Array(M * N);
    gemm(M, N, K, A0, B0, C0, 0, false);
    gemm(M, N, K, A1, B1, C1, 0, false);
    expect(Array.from(C0)).toEqual(Array.from(C1));
    const { exact, abs } = naive(M, N, K, A1, B1);
    expectWithinDotBound(C0, exact, abs, K, 'broadcast');
  });

  it('agrees with gemmReference (float64 accumulation) and accumulates into C', () => {
    setWasmKernelConfig({ threads: 1 });
    const rand = rng(2);
    for (const [M, N, K] of SIZES) {
      const A = operand(randomF32(M * K, rand), M, K, 'rowMajor', (n) => new Float32Array(n));
      const B = operand(randomF32(K * N, rand), K, N, 'transposed', (n) => new Float32Array(n));
      const init = randomF32(M * N, rand);
      const fast = init.slice(), ref = init.slice();
      gemm(M, N, K, A, B, fast, 0, true);
      gemmReference(M, N, K, A, B, ref, 0, true);
      const { abs } = naive(M, N, K, A, B);
      // Both are within the bound of the exact sum; the reference itself is one rounding away.
      expectWithinDotBound(fast, ref, abs.map((v, i) => v + Math.abs(init[i])), K + 1, `accumulate ${M}x${N}x${K}`);
    }
  });

  it('takes the reference path for float64 (bit-identical to it)', () => {
    const rand = rng(3);
    const M = 9, N = 11, K = 13;
    const A = operand(randomF32(M * K, rand), M, K, 'rowMajor', (n) => new Float32Array(n));
    const B = operand(randomF32(K * N, rand), K, N, 'rowMajor', (n) => new Float32Array(n));
    const A64 = { ...A, data: Float64Array.from(A.data) }, B64 = { ...B, data: Float64Array.from(B.data) };
    const c64 = new Float64Array(M * N), r64 = new Float64Array(M * N);
    gemm(M, N, K, A64, B64, c64, 0, false);
    gemmReference(M, N, K, A64, B64, r64, 0, false);
    expect(Array.from(c64)).toEqual(Array.from(r64));
  });
});

describe('gemmInt8 (exact int32)', () => {
  const makers = {
    int8: (n: number) => new Int8Array(n),
    int16: (n: number) => new Int16Array(n),
    int32: (n: number) => new Int32Array(n),
  };

  function naiveInt(M: number, N: number, K: number, A: IntOperand, B: IntOperand): Int32Array {
    const C = new Int32Array(M * N);
    for (let i = 0; i < M; i++) {
      for (let j = 0; j < N; j++) {
        let s = 0n;
        for (let k = 0; k < K; k++) s += BigInt(A.data[A.offset + i * A.rowStride + k * A.colStride]) * BigInt(B.data[B.offset + k * B.rowStride + j * B.colStride]);
        C[i * N + j] = Number(BigInt.asIntN(32, s));
      }
    }
    return C;
  }

  it('equals the exact sum (BigInt) and the reference, for levels minus zero points in [-255, 255]', () => {
    setWasmKernelConfig({ threads: 1 });
    const rand = rng(4);
    for (const [M, N, K] of SIZES) {
      for (const la of LAYOUTS) {
        const A = operand(randomInt(M * K, -255, 255, rand), M, K, la, makers.int32);
        const B = operand(randomInt(K * N, -255, 255, rand), K, N, 'strided', makers.int32);
        const C = new Int32Array(M * N), R = new Int32Array(M * N);
        gemmInt8(M, N, K, A, B, C);
        gemmInt8Reference(M, N, K, A, B, R);
        const exact = naiveInt(M, N, K, A, B);
        expect(Array.from(C), `${M}x${N}x${K} ${la}`).toEqual(Array.from(exact));
        expect(Array.from(R)).toEqual(Array.from(exact));
      }
    }
  });

  it('accepts Int8Array and Int16Array operands, offsets and accumulate', () => {
    setWasmKernelConfig({ threads: 1 });
    const rand = rng(5);
    const M = 7, N = 19, K = 33;
    const A = operand(Int8Array.from(randomInt(M * K, -128, 127, rand)), M, K, 'rowMajor', makers.int8);
    const B = operand(Int16Array.from(randomInt(K * N, -255, 255, rand)), K, N, 'transposed', makers.int16);
    const init = randomInt(M * N + 2, -1000, 1000, rand);
    const C = init.slice(), R = init.slice();
    gemmInt8(M, N, K, A, B, C, 2, true);
    gemmInt8Reference(M, N, K, A, B, R, 2, true);
    expect(Array.from(C)).toEqual(Array.from(R));
    const exact = naiveInt(M, N, K, A, B);
    for (let i = 0; i < M * N; i++) expect(C[2 + i]).toBe((init[2 + i] + exact[i]) | 0);
  });

  it('wraps modulo 2^32 exactly like int32 arithmetic across the whole int16 range', () => {
    setWasmKernelConfig({ threads: 1 });
    const M = 3, N = 9, K = 5000; // 5000 * 32767^2 overflows int32 many times over
    const A = { data: new Int32Array(M * K).fill(-32768), offset: 0, rowStride: K, colStride: 1 };
    const rand = rng(6);
    const B = { data: randomInt(K * N, -32768, 32767, rand), offset: 0, rowStride: N, colStride: 1 };
    const C = new Int32Array(M * N), R = new Int32Array(M * N);
    gemmInt8(M, N, K, A, B, C);
    gemmInt8Reference(M, N, K, A, B, R);
    expect(Array.from(C)).toEqual(Array.from(naiveInt(M, N, K, A, B)));
    expect(Array.from(R)).toEqual(Array.from(C));
  });

  it('rejects values outside int16 in both implementations', () => {
    const A = { data: Int32Array.from([1, 40000]), offset: 0, rowStride: 2, colStride: 1 };
    const B = { data: Int32Array.from([1, 1]), offset: 0, rowStride: 1, colStride: 1 };
    expect(() => gemmInt8(1, 1, 2, A, B, new Int32Array(1))).toThrow(RangeError);
    expect(() => gemmInt8Reference(1, 1, 2, A, B, new Int32Array(1))).toThrow(RangeError);
  });

  it('gives the same answer as its reference', () => {
    const rand = rng(7);
    const M = 10, N = 10, K = 77;
    const A = operand(randomInt(M * K, -255, 255, rand), M, K, 'rowMajor', makers.int32);
    const B = operand(randomInt(K * N, -255, 255, rand), K, N, 'rowMajor', makers.int32);
    const C = new Int32Array(M * N), R = new Int32Array(M * N);
    gemmInt8Reference(M, N, K, A, B, R);
    gemmInt8(M, N, K, A, B, C);
    expect(Array.from(C)).toEqual(Array.from(R));
  });
});
