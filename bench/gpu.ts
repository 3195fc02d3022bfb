/**
 * Timings of the gpu backend per gpu.js mode, with the cpu backend as the reference column:
 * square matmul 128/256/512, a 1M-element a*b+c, and kernel compile (first-call) times.
 *
 *   npx tsx bench/gpu.ts                         webasm, gpu.js cpu mode (+ headlessgl with a display)
 *   xvfb-run -a npx tsx bench/gpu.ts --modes webasm,headlessgl --runs 7
 *   npx tsx bench/gpu.ts --precision             also measure each mode's error against float64
 *
 * Every sample includes read() of the result: GL queues work and only a read-back forces it to
 * finish, so a time without it measures the queueing, not the kernel. The `resident` row of the
 * elementwise case times the two kernels without reading (results stay on the device): on GL it
 * is dispatch cost only. Medians of --runs samples (default 5) after one warm-up.
 * On machines without a GPU (llvmpipe, SwiftShader) these are software-rendering numbers: they say
 * what the gpu backend costs there, not how fast a GPU is.
 */
import { cpus } from 'node:os';
import { fromArray, getBackend, raw, registerBackend, type Tensor } from '../src/index.js';
import { createGpuBackend, headlessglStatus, type GpuBackend, type GpuMode } from '../src/tensor/gpu/index.js';

const args = process.argv.slice(2);
const opt = (name: string): string | undefined => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : undefined;
};
const runs = Number(opt('runs') ?? 5);
const modes: GpuMode[] = (opt('modes')?.split(',') as GpuMode[] | undefined)
  ?? (['webasm', 'cpu', ...(headlessglStatus().ok ? ['headlessgl' as const] : [])] as GpuMode[]);

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) >> 1] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

function time(fn: () => void): number {
  fn(); // warm-up (and, on a fresh kernel, the compile)
  const xs: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    fn();
    xs.push(performance.now() - t0);
  }
  return median(xs);
}

function rand(n: number, seed: number): Float32Array {
  let s = seed;
  return Float32Array.from({ length: n }, () => ((s = (s * 16807) % 2147483647) / 2147483647) * 2 - 1);
}

interface Column {
  name: string;
  device: string;
  backend: GpuBackend | null;
}

const columns: Column[] = [{ name: 'cpu backend', device: 'cpu', backend: null }];
for (const mode of modes) {
  const device = `gpu-${mode}`;
  const backend = createGpuBackend({ mode, name: device });
  registerBackend(device, () => backend);
  columns.push({ name: `gpu ${backend.actualMode()}`, device, backend });
}

const rows: { name: string; cells: string[] }[] = [];
const fmt = (ms: number) => (ms < 10 ? ms.toFixed(2) : ms < 100 ? ms.toFixed(1) : ms.toFixed(0));

/** First call of a fresh kernel (compile + one run) and the steady time, for one column. */
const compileRows = new Map<string, string[]>();

for (const n of [128, 256, 512]) {
  const cells: string[] = [];
  for (const c of columns) {
    const a = fromArray(rand(n * n, 1), [n, n], { device: c.device });
    const b = fromArray(rand(n * n, 2), [n, n], { device: c.device });
    cells.push(fmt(time(() => readAndFree(raw.matmul(a, b)))));
    a.dispose();
    b.dispose();
  }
  rows.push({ name: `matmul ${n}x${n} @ ${n}x${n} + read`, cells });
}

function readAndFree(t: Tensor): void {
  t.toTypedArray();
  t.dispose();
}

{
  const N = 1 << 20;
  const withRead: string[] = [], resident: string[] = [], upload: string[] = [];
  for (const c of columns) {
    const host = [rand(N, 3), rand(N, 4), rand(N, 5)];
    const [x, y, z] = host.map((h) => fromArray(h, [N], { device: c.device }));
    withRead.push(fmt(time(() => readAndFree(raw.binary('add', raw.binary('mul', x, y), z)))));
    resident.push(fmt(time(() => {
      const p = raw.binary('mul', x, y);
      const q = raw.binary('add', p, z);
      p.dispose();
      q.dispose();
    })));
    upload.push(fmt(time(() => fromArray(host[0], [N], { device: c.device }).dispose())));
    for (const t of [x, y, z]) t.dispose();
  }
  rows.push({ name: '1M a*b+c (2 kernels) + read', cells: withRead });
  rows.push({ name: '1M a*b+c, resident (no read)', cells: resident });
  rows.push({ name: '1M upload', cells: upload });
}

// Compile cost: the first call of a kernel on a fresh backend minus its steady time.
for (const mode of modes) {
  const b = createGpuBackend({ mode, name: `fresh-${mode}` });
  registerBackend(`fresh-${mode}`, () => b);
  const dev = `fresh-${mode}`;
  b.actualMode(); // context creation and the probe kernel are not a kernel's compile
  const a = fromArray(rand(128 * 128, 1), [128, 128], { device: dev });
  const measureFirst = (fn: () => void): number => {
    const t0 = performance.now();
    fn();
    return performance.now() - t0;
  };
  const mm = () => readAndFree(raw.matmul(a, a));
  const ew = () => readAndFree(raw.binary('mul', a, a));
  const firstMm = measureFirst(mm), steadyMm = time(mm);
  const firstEw = measureFirst(ew), steadyEw = time(ew);
  const th = () => readAndFree(raw.unary('tanh', a));
  const firstTanh = measureFirst(th);
  const stats = b.kernelCache();
  compileRows.set(mode, [
    fmt(firstMm - steadyMm), fmt(firstEw - steadyEw), fmt(firstTanh - steadyEw), `${stats.builds} builds, ${fmt(stats.compileMs)} ms`,
  ]);
}

const header = ['case', ...columns.map((c) => c.name)];
const lines = [`| ${header.join(' | ')} |`, `|${header.map(() => '---').join('|')}|`];
for (const r of rows) lines.push(`| ${r.name} | ${r.cells.join(' | ')} |`);
console.log(`gpu backend timings, ms (median of ${runs}; ${cpus().length} cores: ${cpus()[0]?.model ?? '?'}; cpu backend: ${getBackend('cpu').describe()})\n`);
console.log(lines.join('\n'));
console.log('\nkernel compile time (first call minus steady call), ms');
console.log('| mode | matmul | elementwise mul | elementwise tanh | all first calls on that backend |');
console.log('|---|---|---|---|---|');
for (const [mode, cells] of compileRows) console.log(`| ${mode} | ${cells.join(' | ')} |`);
for (const c of columns) if (c.backend) console.log(`\n${c.backend.describe()}: ${JSON.stringify({ ...c.backend.kernelCache(), keys: undefined })}`);

// ---- precision: each mode's error against a float64 reference, on float32 inputs --------------

if (args.includes('--precision')) {
  const N = 1 << 16;
  const unary: [string, (x: number) => number, (t: Tensor) => Tensor, number, number][] = [
    ['exp', Math.exp, (t) => raw.unary('exp', t), -10, 10],
    ['log', Math.log, (t) => raw.unary('log', t), 1e-3, 100],
    ['sqrt', Math.sqrt, (t) => raw.unary('sqrt', t), 0, 100],
    ['tanh', Math.tanh, (t) => raw.unary('tanh', t), -20, 20],
    ['sigmoid', (x) => 1 / (1 + Math.exp(-x)), (t) => raw.unary('sigmoid', t), -20, 20],
    ['reciprocal', (x) => 1 / x, (t) => raw.unary('reciprocal', t), 0.01, 100],
    ['pow(x, 1.7)', (x) => x ** 1.7, (t) => raw.binaryScalar('pow', t, 1.7), 0.01, 10],
  ];
  const head = ['op (max error vs float64)', ...columns.map((c) => c.name)];
  const out = [`| ${head.join(' | ')} |`, `|${head.map(() => '---').join('|')}|`];
  for (const [name, ref, op, lo, hi] of unary) {
    const x = Float32Array.from({ length: N }, (_, i) => Math.fround(lo + ((hi - lo) * (i + 0.5)) / N));
    const cells = columns.map((c) => {
      const y = op(fromArray(x, [N], { device: c.device })).toTypedArray();
      let rel = 0, abs = 0;
      for (let i = 0; i < N; i++) {
        const e = ref(x[i]), d = Math.abs(y[i] - e);
        abs = Math.max(abs, d);
        rel = Math.max(rel, d / Math.max(Math.abs(e), 1e-30));
      }
      return `rel ${rel.toExponential(1)}, abs ${abs.toExponential(1)}`;
    });
    out.push(`| ${name} on [${lo}, ${hi}] | ${cells.join(' | ')} |`);
  }
  // Accumulations: error relative to S = sum of |terms| (what the tests' tolerance is scaled by).
  const accum: [string, (dev: string) => { got: ArrayLike<number>; want: number[]; S: number[] }][] = [
    ['matmul 64x1024 @ 1024x64 (err / S)', (dev) => {
      const a = rand(64 * 1024, 11), b = rand(1024 * 64, 12);
      const got = raw.matmul(fromArray(a, [64, 1024], { device: dev }), fromArray(b, [1024, 64], { device: dev })).toTypedArray();
      const want: number[] = [], S: number[] = [];
      for (let i = 0; i < 64; i++) for (let j = 0; j < 64; j++) {
        let s = 0, m = 0;
        for (let k = 0; k < 1024; k++) { s += a[i * 1024 + k] * b[k * 64 + j]; m += Math.abs(a[i * 1024 + k] * b[k * 64 + j]); }
        want.push(s); S.push(m);
      }
      return { got, want, S };
    }],
    ['sum of 1M (err / S)', (dev) => {
      const a = rand(1 << 20, 13);
      const got = raw.reduce('sum', fromArray(a, [1 << 20], { device: dev })).toTypedArray();
      let s = 0, m = 0;
      for (const v of a) { s += v; m += Math.abs(v); }
      return { got, want: [s], S: [m] };
    }],
  ];
  for (const [name, f] of accum) {
    const cells = columns.map((c) => {
      const { got, want, S } = f(c.device);
      let worst = 0;
      for (let i = 0; i < want.length; i++) worst = Math.max(worst, Math.abs(got[i] - want[i]) / S[i]);
      return worst.toExponential(1);
    });
    out.push(`| ${name} | ${cells.join(' | ')} |`);
  }
  console.log(`\nprecision (inputs are float32; reference computed in float64)\n${out.join('\n')}`);
}
