/**
 * Throughput of the int8 GEMM micro-kernel's inner step with i32x4.dot_i16x8_s + i32x4.add (what
 * src/quant/int8/fast/kernels.ts uses: 8 x 8 = 64 multiply-adds of int16 pairs) against the same
 * step with relaxed SIMD's i32x4.relaxed_dot_i8x16_i7x16_add_s (8 x 16 = 128 multiply-adds of
 * int8 x 7-bit), 8 independent accumulators, data in L1. Enables --experimental-wasm-relaxed-simd
 * (Node 20's V8 11.3 has it behind the flag). Prints the best of 8 runs of each, in ns per step.
 * If the engine lowered the relaxed dot to one VNNI instruction (vpdpbusd), its step would take
 * about as long as the dot_i16x8 step and do twice the work; the 3-instruction SSE lowering
 * (pmaddubsw, pmaddwd, paddd) makes it slower.
 *
 *   npx tsx scripts/relaxed-dot-micro.ts
 */
import { emit } from '../src/tensor/wasm/index.js';
import v8 from 'node:v8';
v8.setFlagsFromString('--experimental-wasm-relaxed-simd');
const { buildModule, defineFunction, forLoop, i32, local, uleb, v128 } = emit;
const simd = (op: number) => [0xfd, ...uleb(op)];
const dot = (a: number[], b: number[]) => [...a, ...b, ...simd(0xba)];
const add = (a: number[], b: number[]) => [...a, ...b, ...simd(0xae)];
const rdot = (a: number[], b: number[], c: number[]) => [...a, ...b, ...c, ...simd(0x113)];
function fn(name: string, kind: 'dot' | 'rdot') {
  return defineFunction(name, { n: 'i32' }, { i: 'i32', w0: 'v128', w1: 'v128', s: 'v128', a0: 'v128', a1: 'v128', a2: 'v128', a3: 'v128', a4: 'v128', a5: 'v128', a6: 'v128', a7: 'v128' }, (l) => {
    const g = local.get, set = local.set;
    const accs = [l.a0, l.a1, l.a2, l.a3, l.a4, l.a5, l.a6, l.a7];
    const body: number[][] = [set(l.w0, v128.load(i32.const(0))), set(l.w1, v128.load(i32.const(16)))];
    for (let j = 0; j < 4; j++) {
      body.push(set(l.s, v128.load32Splat(i32.const(32), 4 * j)));
      for (let h = 0; h < 2; h++) {
        const a = accs[2 * j + h], w = h ? l.w1 : l.w0;
        body.push(set(a, kind === 'dot' ? add(g(a), dot(g(l.s), g(w))) : rdot(g(w), g(l.s), g(a))));
      }
    }
    let sum = g(l.a0);
    for (const a of accs.slice(1)) sum = add(sum, g(a));
    return [forLoop(l.i, i32.const(0), g(l.n), 1, body), v128.store(i32.const(64), sum)];
  }, true);
}
const bytes = buildModule([fn('dot', 'dot'), fn('rdot', 'rdot')], { initialPages: 1, maximumPages: 1, shared: false });
if (!WebAssembly.validate(bytes)) throw new Error('relaxed SIMD did not validate');
const memory = new WebAssembly.Memory({ initial: 1, maximum: 1 });
const ex = new WebAssembly.Instance(new WebAssembly.Module(bytes), { env: { memory } }).exports as unknown as Record<string, (n: number) => void>;
const u8 = new Uint8Array(memory.buffer);
for (let i = 0; i < 48; i++) u8[i] = (i * 37) & 0x7f;
const N = 2e6;
const best: Record<string, number> = { dot: Infinity, rdot: Infinity };
for (let r = 0; r < 8; r++) {
  for (const k of ['dot', 'rdot']) {
    const t0 = performance.now(); ex[k](N); const t = performance.now() - t0;
    best[k] = Math.min(best[k], (t * 1e6) / N);
  }
}
const macs = { dot: 64, rdot: 128 } as Record<string, number>;
for (const k of ['dot', 'rdot']) console.log(`${k}: ${best[k].toFixed(2)} ns per step, ${(macs[k] / best[k]).toFixed(1)} multiply-adds per ns`);
