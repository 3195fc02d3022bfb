/**
 * What an implicit-GEMM convolution over padded rows would cost on the tutorial CNN's conv2
 * (docs/performance.md, "Issue 17: closing"): a micro-kernel that reads its B operand in place
 * needs eight consecutive output columns at eight consecutive input addresses, true only inside
 * an output row, so conv2's 11-wide output rows would be computed 13 wide (the input's width),
 * 64 x 11 x 13 = 9152 columns instead of 64 x 11 x 11 = 7744. This times, interleaved, the
 * float32 GEMM 40 x 7744 x 360 against 40 x 9152 x 360 and the packing that the in-place read
 * would remove (pack_gather8 of conv2's im2col operand), 40 rounds after 5, medians.
 *
 *   QGRAD_THREADS=1 npx tsx scripts/padded-rows-cost.ts
 */
import '../src/tensor/wasm/index.js';
import { gemmWorkspace, packGatherWasm, runWorkspace } from '../src/tensor/wasm/runtime.js';
import { NR } from '../src/tensor/wasm/kernels.js';
import { cpus } from 'node:os';
const N = 64, C = 40, H = 13, O = 40, OH = 11, K = C * 9;
function rnd(a: Float32Array, s: number, e: number) { for (let i = s; i < e; i++) a[i] = Math.sin(i * 12.9898) * 0.5; }
function gemmTime(cols: number) {
  const ws = gemmWorkspace('f32', O, cols, K)!;
  rnd(ws.f32, ws.a, ws.c);
  const t0 = performance.now(); runWorkspace(ws); return performance.now() - t0;
}
function packTime() {
  const ws = gemmWorkspace('f32', O, N * OH * OH, K, N * C * H * H + N * OH * OH + K + 64)!;
  const xw = ws.extra, posw = xw + N * C * H * H, tapw = posw + N * OH * OH;
  rnd(ws.f32, xw, posw);
  let j = 0;
  for (let n = 0; n < N; n++) for (let oh = 0; oh < OH; oh++) for (let ow = 0; ow < OH; ow++) ws.i32[posw + j++] = 4 * (n * C * H * H + oh * H + ow);
  let k = 0;
  for (let c = 0; c < C; c++) for (let kh = 0; kh < 3; kh++) for (let kw = 0; kw < 3; kw++) ws.i32[tapw + k++] = 4 * (c * H * H + kh * H + kw);
  const t0 = performance.now(); packGatherWasm(xw, posw, N * OH * OH, tapw, K, NR, ws.b); return performance.now() - t0;
}
/** Rounds of (GEMM on real rows, GEMM on padded rows, the packing). */
const a: number[] = [], b: number[] = [], p: number[] = [];
for (let r = 0; r < 45; r++) { const x = gemmTime(N * OH * OH), y = gemmTime(N * OH * 13), z = packTime(); if (r >= 5) { a.push(x); b.push(y); p.push(z); } }
const med = (v: number[]) => [...v].sort((s, t) => s - t)[v.length >> 1];
const ratios = a.map((x, i) => b[i] / x);
console.log(JSON.stringify({ cpu: cpus()[0]?.model, gemm7744: med(a), gemm9152: med(b), extra: med(b.map((y, i) => y - a[i])), ratio: med(ratios), pack: med(p) }));
