/**
 * Summarises a V8 CPU profile (`node --cpu-prof`) by self time: the top functions, and a coarse
 * split into the wasm GEMM micro-kernel and driver, the other wasm kernels, garbage collection
 * and everything else (JavaScript around the kernels, elementwise loops, allocation).
 *
 *   QGRAD_THREADS=1 node --cpu-prof --cpu-prof-dir=/tmp/prof --import tsx scripts/train-step-time.ts --steps 40
 *   npx tsx scripts/profile-summary.ts /tmp/prof/<file>.cpuprofile [top]
 */
import { readFileSync } from 'node:fs';

interface Node { id: number; callFrame: { functionName: string; url: string; lineNumber: number }; hitCount?: number }
const [path, topArg] = process.argv.slice(2);
if (!path) throw new Error('usage: npx tsx scripts/profile-summary.ts <file.cpuprofile> [top]');
const prof = JSON.parse(readFileSync(path, 'utf8')) as { nodes: Node[]; samples: number[]; timeDeltas: number[] };
const self = new Map<number, number>();
prof.samples.forEach((id, i) => self.set(id, (self.get(id) ?? 0) + (prof.timeDeltas[i] ?? 0)));
const byName = new Map<string, number>();
let total = 0;
for (const n of prof.nodes) {
  const t = self.get(n.id) ?? 0;
  if (!t) continue;
  const f = n.callFrame;
  const file = f.url.split('/').slice(-2).join('/');
  const key = `${f.functionName || '(anonymous)'} ${file}${file ? `:${f.lineNumber + 1}` : ''}`;
  byName.set(key, (byName.get(key) ?? 0) + t);
  total += t;
}
const rows = [...byName].sort((a, b) => b[1] - a[1]);
const pct = (t: number) => `${((100 * t) / total).toFixed(1)}%`;
console.log(`total sampled ${(total / 1000).toFixed(0)} ms`);
for (const [k, t] of rows.slice(0, Number(topArg ?? 25))) console.log(`${pct(t).padStart(6)}  ${(t / 1000).toFixed(0).padStart(6)} ms  ${k}`);
// V8 names wasm functions by their export name, or wasm-function[i] for internal ones (index 0 is the f32 micro-kernel).
const cat = (k: string): string => {
  if (/^(kernel_f32|gemm_f32|wasm-function\[0\]|wasm-function\[1\])/.test(k)) return 'wasm gemm (micro-kernel + driver)';
  if (/^(pack_gather|col2im|maxpool2x2|unary_|binary_|sum_f32|wasm-function)/.test(k)) return 'other wasm kernels (packing, col2im, pooling, elementwise)';
  if (/^\(garbage collector\)/.test(k)) return 'garbage collection';
  if (/^\((idle|program)\)/.test(k)) return 'idle / program';
  // Loading tsx, compiling TypeScript and modules: start-up, not the step.
  if (/(esm\/|cjs\/|bootstrap\/|lexer\/|^ModuleWrap|^Instance |^Module |^compile|^wrapSafe)/.test(k)) return 'start-up (module loading, not the step)';
  return 'JavaScript (around kernels, reference loops, allocation)';
};
const cats = new Map<string, number>();
for (const [k, t] of rows) cats.set(cat(k), (cats.get(cat(k)) ?? 0) + t);
const steps = (cats.get('wasm gemm (micro-kernel + driver)') ?? 0) + (cats.get('other wasm kernels (packing, col2im, pooling, elementwise)') ?? 0)
  + (cats.get('garbage collection') ?? 0) + (cats.get('JavaScript (around kernels, reference loops, allocation)') ?? 0);
console.log('\nby category (share of the steps: start-up and idle excluded)');
for (const [k, t] of [...cats].sort((a, b) => b[1] - a[1])) {
  const share = /^(start-up|idle)/.test(k) ? '' : `${((100 * t) / steps).toFixed(1)}% of steps`;
  console.log(`${pct(t).padStart(6)}  ${(t / 1000).toFixed(0).padStart(6)} ms  ${k}  ${share}`);
}
