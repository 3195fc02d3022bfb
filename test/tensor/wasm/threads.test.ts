/**
 * Worker threads: a product split across threads gives bit-identical results to one thread
 * (every C tile is computed by the same kernel calls in the same order, whichever thread runs
 * it; col2im splits by image, so each gx entry still sums in the same order), and a process that
 * used them exits on its own.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import type { Conv2dParams } from '../../../src/tensor/backend.js';
import { gemmInt8 } from '../../../src/quant/int8/fast/gemm-int8.js';
import { gemmF32 as gemm } from '../../../src/tensor/wasm/gemm.js';
import { setWasmKernelConfig, shutdownThreads, threadedCallCounts } from '../../../src/tensor/wasm/index.js';
import { conv2dForward, conv2dGradInput, conv2dGradWeight, randomF32, randomInt, rng, useThreads } from './util.js';

afterAll(async () => {
  await shutdownThreads();
  setWasmKernelConfig();
});

describe('threaded kernels', () => {
  it('gemm, gemmInt8 and conv give identical results on 1 and 2 threads', async () => {
    const run = () => {
      const out: Float32Array[] = [];
      // Both split directions: more B panels than A panels, and the reverse.
      for (const [M, N, K] of [[64, 1000, 300], [1000, 40, 300], [130, 130, 130]]) {
        const r = rng(M + N + K);
        const A = { data: randomF32(M * K, r), offset: 0, rowStride: K, colStride: 1 };
        const B = { data: randomF32(K * N, r), offset: 0, rowStride: 1, colStride: K };
        const C = new Float32Array(M * N);
        gemm(M, N, K, A, B, C, 0, false);
        out.push(C);
        const Ai = { data: randomInt(M * K, -255, 255, r), offset: 0, rowStride: K, colStride: 1 };
        const Bi = { data: randomInt(K * N, -255, 255, r), offset: 0, rowStride: N, colStride: 1 };
        const Ci = new Int32Array(M * N);
        gemmInt8(M, N, K, Ai, Bi, Ci);
        out.push(new Float32Array(Ci.buffer));
      }
      const r = rng(5);
      const p: Conv2dParams = { stride: [1, 1], padding: [1, 1], dilation: [1, 1], groups: 1 };
      // Big enough that packing and col2im split too (>= 2^20 moves).
      const xShape = [32, 16, 16, 16], wShape = [16, 16, 3, 3];
      const x = randomF32(32 * 16 * 16 * 16, r), w = randomF32(16 * 16 * 9, r), gy = randomF32(32 * 16 * 16 * 16, r);
      out.push(conv2dForward(x, xShape, w, wShape, p, 'float32') as Float32Array);
      out.push(conv2dGradInput(gy, wShape, w, xShape, p, 'float32') as Float32Array);
      out.push(conv2dGradWeight(x, xShape, gy, wShape, p, 'float32') as Float32Array);
      return out;
    };
    setWasmKernelConfig({ threads: 1 });
    const single = run();
    await useThreads(2);
    const before = threadedCallCounts();
    const threaded = run();
    const after = threadedCallCounts();
    for (const op of ['gemm_f32', 'gemm_i16', 'pack_gather8', 'col2im']) {
      expect((after[op] ?? 0) - (before[op] ?? 0), `${op} split across threads`).toBeGreaterThan(0);
    }
    expect(threaded.length).toBe(single.length);
    for (let i = 0; i < single.length; i++) {
      const a = new Uint32Array(single[i].buffer, single[i].byteOffset, single[i].length);
      const b = new Uint32Array(threaded[i].buffer, threaded[i].byteOffset, threaded[i].length);
      expect(b, `output ${i}`).toEqual(a); // bit patterns, so NaN or -0 differences would show
    }
  });

  /** Runs an ES module script in a fresh Node process (with tsx) and returns its stdout. */
  function runScript(source: (url: (path: string) => string) => string): string {
    const root = fileURLToPath(new URL('../../../', import.meta.url));
    const dir = mkdtempSync(join(tmpdir(), 'qgrad-threads-'));
    const script = join(dir, 'script.mts'); // .mts: an ES module wherever it lives (top-level await)
    writeFileSync(script, source((path) => JSON.stringify(pathToFileURL(join(root, path)).href)));
    return execFileSync(process.execPath, ['--import', 'tsx', script], {
      cwd: root,
      env: { ...process.env, QGRAD_THREADS: '2', QGRAD_CPU_KERNELS: '', QGRAD_DEVICE: '' },
      timeout: 60_000,
      encoding: 'utf8',
    });
  }

  it('a process that used worker threads exits by itself', () => {
    const out = runScript((url) => `
      import { gemmF32 as gemm } from ${url('src/tensor/wasm/gemm.ts')};
      import { readyThreads } from ${url('src/tensor/wasm/index.ts')};
      const n = 256, A = { data: new Float32Array(n * n).fill(1), offset: 0, rowStride: n, colStride: 1 };
      const C = new Float32Array(n * n);
      const deadline = Date.now() + 20000;
      while (readyThreads() < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
      gemm(n, n, n, A, A, C, 0, false);
      console.log(readyThreads(), C[0]);
    `);
    expect(out.trim()).toBe('2 256');
  });

  it('without SharedArrayBuffer (a page that is not cross-origin isolated) runs on unshared memory, one thread', () => {
    const out = runScript((url) => `
      // As in such a page, there is no SharedArrayBuffer (removed before qgrad is loaded).
      delete (globalThis as { SharedArrayBuffer?: unknown }).SharedArrayBuffer;
      const { gemmF32: gemm } = await import(${url('src/tensor/wasm/gemm.ts')});
      const { gemm: gemmReference } = await import(${url('src/tensor/cpu/gemm.ts')});
      const { getWasmKernelConfig, readyThreads } = await import(${url('src/tensor/wasm/index.ts')});
      const n = 300, A = { data: Float32Array.from({ length: n * n }, (_, i) => ((i * 7919) % 13) - 6), offset: 0, rowStride: n, colStride: 1 };
      const C = new Float32Array(n * n), R = new Float32Array(n * n);
      for (let i = 0; i < 3; i++) gemm(n, n, n, A, A, C, 0, false); // also grows the memory
      gemmReference(n, n, n, A, A, R, 0, false);
      await new Promise((r) => setTimeout(r, 200));
      const c = getWasmKernelConfig();
      console.log(JSON.stringify({ wasm: c.wasmAvailable, shared: c.sharedMemory, ready: readyThreads(), equal: C.every((v, i) => v === R[i]) }));
    `);
    // Small integers: every partial sum is exact in float32, so both paths agree exactly.
    expect(JSON.parse(out)).toEqual({ wasm: true, shared: false, ready: 1, equal: true });
  });

});
