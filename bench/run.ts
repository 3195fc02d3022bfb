/**
 * `npm run bench`: the cpu kernels of qgrad against their own TypeScript reference, measured in
 * the same process, with TensorFlow.js (cpu, wasm) and PyTorch (1 thread) as peers where they
 * are installed, and int8 inference against onnxruntime-node (1 thread) on the same exported
 * model. Prints a table of medians and writes every statistic to runs/bench.json.
 *
 *   npm run bench                     all cases, peers included
 *   npm run bench -- --quick          fewer samples, smaller budgets (a smoke run)
 *   npm run bench -- --only matmul,cnn --reps 15 --no-peers
 *   npm run bench -- --slow-peers     also the tfjs-cpu cases that take minutes
 *
 * Columns: `js` is the plain TypeScript reference (device 'cpu') and the baseline of
 * every ratio; `wasm` the WebAssembly SIMD kernels on one thread; `wasm+Nt` the same on N
 * threads (QGRAD_THREADS, default min(2, cores)). The qgrad columns are sampled round-robin,
 * one sample each per round, so that load from other processes hits them alike. Then qgrad's
 * default configuration (`wasm+Nt`, or `wasm` on one thread) and PyTorch (a long-lived Python
 * process, bench/peers/torch.ts) are sampled alternately, A B A B (with threads: wasm, torch,
 * wasm+Nt per round, so both qgrad configurations are paired with PyTorch); the comparison is the
 * median of the per-pair ratios qgrad / peer, with their range (one noisy pair cannot move it). onnxruntime is
 * interleaved the same way inside its own case; tfjs still runs after the qgrad columns, so
 * its figures are not paired. Every table names the CPU model it was measured on.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus, loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setDefaultDevice } from '../src/index.js';
import { getWasmKernelConfig, readyThreads, setWasmKernelConfig, shutdownThreads, threadedCallCounts } from '../src/tensor/wasm/index.js';
import type { BenchCase } from './cases.js';
import { qgradCases } from './cases.js';
import type { Stats, Variant } from './harness.js';
import { fmtMs, measure, pairedRatios, table } from './harness.js';
import { startTorchPeer, type TorchPeer } from './peers/torch.js';
import { loadTfjs, tfjsCases, useBackend } from './peers/tfjs.js';
import { benchOnnxInt8 } from './peers/onnxruntime.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
const flag = (name: string) => args.includes(`--${name}`);
const option = (name: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : undefined;
};
const quick = flag('quick');
const reps = Number(option('reps') ?? (quick ? 3 : 9));
const budgetMs = Number(option('budget') ?? (quick ? 2000 : 10000));
const only = option('only')?.split(',');
const peers = !flag('no-peers');
const slowPeers = flag('slow-peers');

/** Everything measured: case -> column -> stats. */
const results = new Map<string, Map<string, Stats>>();
const meta = new Map<string, BenchCase>();
const notes: string[] = [];
/** Interleaved comparisons: qgrad column / peer column, per-round ratios. */
const ratios: { name: string; qgrad: string; peer: string; ratio: Stats }[] = [];
const cpuModel = `${cpus()[0]?.model?.trim() ?? 'unknown CPU'} x${cpus().length}`;

function record(caseName: string, column: string, s: Stats): void {
  if (!results.has(caseName)) results.set(caseName, new Map());
  results.get(caseName)!.set(column, s);
}

async function waitForThreads(n: number): Promise<number> {
  const deadline = Date.now() + 30_000;
  while (readyThreads() < n && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
  return readyThreads();
}

async function benchQgrad(torch: TorchPeer | null): Promise<string[]> {
  const envThreads = Number.parseInt(process.env.QGRAD_THREADS ?? '', 10);
  const threads = Number.isFinite(envThreads) && envThreads >= 1 ? envThreads : Math.min(2, availableParallelism());
  const columns = ['js', 'wasm'];
  const threadCol = `wasm+${threads}t`;
  if (threads > 1) {
    setWasmKernelConfig({ threads });
    const got = await waitForThreads(threads);
    if (got < threads) notes.push(`only ${got} of ${threads} threads started; ${threadCol} ran with fewer`);
    columns.push(threadCol);
  }
  const defaultCol = threads > 1 ? threadCol : 'wasm';
  const enter: Record<string, () => void> = {
    // A column is a device: 'js' the cpu reference backend, the others the wasm backend.
    js: () => { setDefaultDevice('cpu'); setWasmKernelConfig({ threads: 1 }); },
    wasm: () => { setDefaultDevice('wasm'); setWasmKernelConfig({ threads: 1 }); },
    [threadCol]: () => { setDefaultDevice('wasm'); setWasmKernelConfig({ threads }); },
  };
  for (const c of qgradCases()) {
    if (only && !only.includes(c.group)) continue;
    meta.set(c.name, c);
    const run = c.setup();
    const variants: Variant[] = columns.map((name) => ({ name, enter: enter[name], run }));
    const s = await measure(variants, { reps, warmup: 2, budgetMs });
    for (const [col, st] of s) record(c.name, col, st);
    // Against PyTorch: a second round-robin of just qgrad's default column and torch (A B A B),
    // so that a slow neighbour (the js reference's second-long samples and their garbage) sits
    // in neither side of a pair.
    let r: Stats | null = null;
    if (torch?.cases.has(c.name)) {
      const peer = torch;
      // With threads, one thread is paired too (wasm, torch, wasm+Nt per round): on a loaded
      // machine a 2-thread process also gets a larger share of the CPU than a 1-thread one.
      const qcols = defaultCol === 'wasm' ? ['wasm'] : ['wasm', defaultCol];
      const sp = await measure([
        { name: 'wasm', enter: enter.wasm, run },
        { name: 'torch-1t', run: async () => ({ selfTimedMs: await peer.sample(c.name) }) },
        ...qcols.slice(1).map((q) => ({ name: q, enter: enter[q], run })),
      ], { reps, warmup: 2, budgetMs });
      record(c.name, 'torch-1t', sp.get('torch-1t')!);
      for (const q of qcols.reverse()) {
        const rq = pairedRatios(sp.get(q)!.samples, sp.get('torch-1t')!.samples);
        if (rq) ratios.push({ name: c.name, qgrad: q, peer: 'torch-1t', ratio: rq });
        if (q === defaultCol) r = rq;
      }
    }
    process.stderr.write(`  ${c.name}: ${[...s.keys()].map((col) => `${col} ${fmtMs(s.get(col)!.median)} ms`).join(', ')}${r ? `; ${defaultCol}/torch-1t ${r.median.toFixed(2)}x (paired run)` : ''}\n`);
  }
  const counts = threadedCallCounts();
  const split = Object.entries(counts).filter(([k]) => k !== 'workerChunks').map(([k, v]) => `${k} ${v}`).join(', ');
  if (threads > 1) notes.push(`${threadCol}: calls split across threads: ${split || 'none'}; chunks run by workers: ${counts.workerChunks ?? 0}`);
  setWasmKernelConfig();
  setDefaultDevice('wasm');
  return columns;
}

async function benchTfjs(): Promise<string[]> {
  const loaded = loadTfjs(root);
  if ('error' in loaded) {
    notes.push(`tfjs not loaded (${loaded.error}); see bench/peers/tfjs.ts to install it`);
    return [];
  }
  const { tf } = loaded;
  notes.push(`tfjs ${tf.version_core} (cpu, wasm backends)`);
  const columns: string[] = [];
  for (const backend of ['cpu', 'wasm'] as const) {
    try {
      await useBackend(tf, backend);
    } catch (e) {
      notes.push(`tfjs-${backend} failed to start: ${(e as Error).message}`);
      continue;
    }
    const col = `tfjs-${backend}`;
    columns.push(col);
    for (const c of tfjsCases(tf)) {
      if (only && !only.includes(c.group)) continue;
      // tfjs-backend-cpu needs tens of seconds for one 1024 product, minutes for a CNN step.
      if (backend === 'cpu' && !slowPeers && ((c.group === 'matmul' && (c.flops ?? 0) > 2 * 256 ** 3) || c.group === 'cnn')) continue;
      try {
        const run = c.setup();
        const s = await measure([{ name: col, run }], { reps, warmup: 1, budgetMs });
        record(c.name, col, s.get(col)!);
        process.stderr.write(`  ${col} ${c.name}: ${fmtMs(s.get(col)!.median)} ms\n`);
      } catch (e) {
        notes.push(`${col} ${c.name} failed: ${(e as Error).message.split('\n')[0]}`);
      }
      tf.disposeVariables();
    }
  }
  if (columns.includes('tfjs-cpu') && !slowPeers) {
    notes.push('tfjs-cpu: matmul 512/1024 and the CNN cases skipped (a 1024 product takes > 20 s, a train step ~2 min here); --slow-peers runs them');
  }
  return columns;
}

/** qgrad's integer engine vs onnxruntime-node on the same exported int8 model (bench/peers/onnxruntime.ts). */
async function benchOnnxruntime(): Promise<string[]> {
  // One sample is a few ms, so many pairs fit in the budget; the median of 100+ ratios is stable under load.
  const r = await benchOnnxInt8({ reps: Math.max(reps * 20, 101), budgetMs, root });
  if ('error' in r) {
    notes.push(r.error);
    return [];
  }
  record(r.name, 'wasm', r.qgrad);
  record(r.name, 'onnxruntime-1t', r.onnxruntime);
  // r.ratio is onnxruntime / qgrad per pair; report qgrad / onnxruntime like the other peers.
  ratios.push({ name: r.name, qgrad: 'wasm', peer: 'onnxruntime-1t', ratio: { median: 1 / r.ratio.median, min: 1 / r.ratio.max, max: 1 / r.ratio.min, n: r.ratio.n } });
  ratios.push({ name: `${r.name} (CPU time)`, qgrad: 'wasm', peer: 'onnxruntime-1t', ratio: { median: 1 / r.cpuRatio.median, min: 1 / r.cpuRatio.max, max: 1 / r.cpuRatio.min, n: r.cpuRatio.n } });
  notes.push(...r.notes);
  process.stderr.write(`  ${r.name}: qgrad ${fmtMs(r.qgrad.median)} ms, onnxruntime-1t ${fmtMs(r.onnxruntime.median)} ms\n`);
  return ['onnxruntime-1t'];
}

async function main(): Promise<void> {
  const load0 = loadavg();
  const cfg = getWasmKernelConfig();
  process.stderr.write(`qgrad cpu benchmark: ${cpuModel}, node ${process.version}, wasm ${cfg.wasmAvailable}, relaxed SIMD ${cfg.relaxedSimd}\n`);
  process.stderr.write(`reps ${reps}, budget ${budgetMs} ms per cell, load average ${load0.map((l) => l.toFixed(2)).join(' ')}\n`);
  let torch: TorchPeer | null = null;
  if (peers) {
    const t = await startTorchPeer(root, 1);
    if ('error' in t) notes.push(t.error);
    else {
      torch = t;
      notes.push(`torch ${t.version}, ${t.threads} thread, sampled alternately with qgrad's wasm and default columns (its conv backward times the backward pass alone)`);
    }
  }
  const columns = await benchQgrad(torch);
  torch?.close();
  if (torch && results.size > 0) columns.push('torch-1t');
  await shutdownThreads();
  if (peers) {
    columns.push(...(await benchTfjs()));
    if (!only || only.includes('int8')) columns.push(...(await benchOnnxruntime()));
  }
  const load1 = loadavg();

  // ---- report ---------------------------------------------------------------------------------
  const cell = (name: string, col: string): string => {
    const s = results.get(name)?.get(col);
    if (!s) return '-';
    const base = results.get(name)?.get('js');
    const ratio = base && col !== 'js' ? ` (${(base.median / s.median).toFixed(1)}x)` : '';
    return `${fmtMs(s.median)}${ratio}`;
  };
  const names = [...results.keys()];
  console.log(`\nmedian ms per run on ${cpuModel} (speed-up over qgrad js in parentheses); ${reps} samples max, ${budgetMs} ms budget per cell`);
  console.log(table(['case', ...columns], names.map((n) => [n, ...columns.map((c) => cell(n, c))])));
  const flopsRows = names.filter((n) => meta.get(n)?.flops);
  if (flopsRows.length > 0) {
    console.log(`\nGFLOP/s on ${cpuModel} (from the median; integer operations for gemmInt8)`);
    console.log(table(['case', ...columns], flopsRows.map((n) => [n, ...columns.map((c) => {
      const s = results.get(n)?.get(c);
      return s ? (meta.get(n)!.flops! / s.median / 1e6).toFixed(2) : '-';
    })])));
  }
  if (ratios.length > 0) {
    console.log(`\ninterleaved comparisons: median of per-round ratios qgrad / peer (< 1: qgrad faster), range over the pairs`);
    console.log(table(['case', 'qgrad', 'peer', 'median ratio', 'range', 'pairs', 'cpu'], ratios.map((r) => [
      r.name, r.qgrad, r.peer, `${r.ratio.median.toFixed(2)}x`, `${r.ratio.min.toFixed(2)}-${r.ratio.max.toFixed(2)}x`, String(r.ratio.n), cpuModel,
    ])));
  }
  for (const n of notes) console.log(`note: ${n}`);
  console.log(`load average before ${load0.map((l) => l.toFixed(2)).join(' ')}, after ${load1.map((l) => l.toFixed(2)).join(' ')} (on ${cpus().length} cores)`);

  const json = {
    date: new Date().toISOString(),
    machine: { cpu: cpus()[0]?.model, cores: cpus().length, node: process.version, v8: process.versions.v8, loadBefore: load0, loadAfter: load1 },
    kernels: { ...cfg, relaxedSimd: cfg.relaxedSimd },
    options: { reps, budgetMs, quick, only: only ?? null, peers },
    notes,
    columns,
    ratios,
    cases: Object.fromEntries(names.map((n) => [n, {
      group: meta.get(n)?.group ?? null,
      flops: meta.get(n)?.flops ?? null,
      results: Object.fromEntries(results.get(n)!),
    }])),
  };
  const out = join(root, 'runs/bench.json');
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(out, JSON.stringify(json, null, 2) + '\n');
  console.log(`wrote ${out}`);
}

await main();
