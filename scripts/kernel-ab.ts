/**
 * In-process A/B of the wasm conv kernels of this checkout (A, "new") against another checkout's
 * (B, "old"; e.g. `git archive <commit> | tar -x -C /tmp/base`), one thread, alternating calls
 * A B A B 40 times per case; prints the median of the per-pair ratios with its spread. Each
 * checkout's kernels live in their own wasm instance.
 *
 *   npx tsx scripts/kernel-ab.ts /tmp/base
 */
import { resolve } from 'node:path';
import * as A from '../src/tensor/wasm/conv.js';
import { setWasmKernelConfig as sa } from '../src/tensor/wasm/runtime.js';

const base = process.argv[2];
if (!base) throw new Error('usage: npx tsx scripts/kernel-ab.ts <other checkout>');
const B = (await import(resolve(base, 'src/tensor/wasm/conv.ts'))) as typeof A;
const { setWasmKernelConfig: sb } = (await import(resolve(base, 'src/tensor/wasm/runtime.ts'))) as { setWasmKernelConfig: typeof sa };
sa({ threads: 1 }); sb({ threads: 1 });
const p = { stride: [1, 1] as [number, number], padding: [0, 0] as [number, number], dilation: [1, 1] as [number, number], groups: 1 };
const rnd = (n: number) => Float32Array.from({ length: n }, () => Math.random() * 2 - 1);
const cases = [
  { name: 'conv1 gradW', x: [64, 1, 28, 28], w: [40, 1, 3, 3], y: [64, 40, 26, 26] },
  { name: 'conv2 gradW', x: [64, 40, 13, 13], w: [40, 40, 3, 3], y: [64, 40, 11, 11] },
  { name: 'conv2 fwd', x: [64, 40, 13, 13], w: [40, 40, 3, 3], y: [64, 40, 11, 11] },
];
const n = (s: number[]) => s.reduce((a, b) => a * b, 1);
for (const c of cases) {
  const x = rnd(n(c.x)), w = rnd(n(c.w)), gy = rnd(n(c.y));
  const f = (m: typeof A) => c.name.endsWith('gradW') ? m.conv2dGradWeightF32(x, c.x, gy, c.w, p) : m.conv2dForwardF32(x, c.x, w, c.w, p);
  for (let i = 0; i < 3; i++) { f(A); f(B); }
  const r: number[] = [], ta: number[] = [], tb: number[] = [];
  for (let i = 0; i < 40; i++) {
    let t = performance.now(); f(A); const a = performance.now() - t;
    t = performance.now(); f(B); const b = performance.now() - t;
    r.push(a / b); ta.push(a); tb.push(b);
  }
  const med = (v: number[]) => [...v].sort((p, q) => p - q)[v.length >> 1];
  const s = [...r].sort((p, q) => p - q);
  console.log(`${c.name}: new ${med(ta).toFixed(2)} ms, old ${med(tb).toFixed(2)} ms, median new/old ${med(r).toFixed(3)} (IQR ${s[10].toFixed(3)}-${s[30].toFixed(3)}, range ${s[0].toFixed(3)}-${s[39].toFixed(3)})`);
}
process.exit(0);
