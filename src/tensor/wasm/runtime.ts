/**
 * The JavaScript half of the wasm gemm: configuration, the instance and its shared memory, the
 * packed workspace an operation fills, and the dispatch of a packed product over threads.
 *
 * A product goes through a Workspace: `gemmWorkspace` lays out packed A, packed B and C in wasm
 * memory; the caller packs its operands there (packPanelsF32 / packPanelsI16 for plain strided
 * matrices, or its own packer, as conv does to fuse im2col into packing); `runWorkspace` computes
 * C = A·B; the caller reads C (row pitch `ldc`) out. One workspace is live at a time: the memory
 * is reused by the next call.
 *
 * Configuration: QGRAD_THREADS=n sets the number of threads (default min(2, available cores));
 * setWasmKernelConfig changes it at run time (the benchmark compares them in one process). Whether
 * these kernels run at all is the choice of device ('wasm' or the reference 'cpu'), made in
 * src/tensor/devices.ts.
 */
import type { MatOperand } from '../cpu/gemm.js';
import type { WorkerConstructor } from './threads.js';
import { WorkerPool } from './threads.js';
import type { GemmExports } from './kernels.js';
import { gemmModuleBytes, INITIAL_PAGES, MAXIMUM_PAGES, MR, NR } from './kernels.js';

export interface WasmKernelConfig {
  /** Threads a large product is split across, the calling one included. */
  threads: number;
}

/** Threads per product unless QGRAD_THREADS or setWasmKernelConfig says otherwise. */
const DEFAULT_MAX_THREADS = 2;

function envConfig(): { threads: number | null } {
  const n = Number.parseInt(env().QGRAD_THREADS ?? '', 10);
  return { threads: Number.isFinite(n) && n >= 1 ? n : null };
}

function env(): Record<string, string | undefined> {
  return typeof process !== 'undefined' ? process.env : {};
}

/**
 * Whether the float32 micro-kernel may use relaxed SIMD's f32x4.relaxed_madd (fused multiply-add
 * on x86 with FMA and on ARM; one rounding per multiply-add instead of two, so results differ
 * from the unfused kernel in the last bits, and are as accurate or more: see docs/performance.md).
 * Engines that ship relaxed SIMD validate it as is (Node 22+, Chrome 114+). Node 20's V8 has it
 * behind --experimental-wasm-relaxed-simd, a flag that can be set at run time before the module
 * is compiled: process.getBuiltinModule (Node >= 20.16; absent in browsers) reaches node:v8
 * synchronously, so the choice is made once, before the first kernel runs, never by timing.
 * Never required: without it the kernel multiplies and adds separately. QGRAD_RELAXED_SIMD=0
 * turns it off (e.g. to reproduce results of a machine without FMA bit for bit).
 */
function relaxedSimd(): boolean {
  if (env().QGRAD_RELAXED_SIMD === '0') return false;
  const bytes = gemmModuleBytes(true);
  if (WebAssembly.validate(bytes)) return true;
  const getBuiltin = (globalThis as { process?: { getBuiltinModule?: (id: string) => unknown } }).process?.getBuiltinModule;
  if (typeof getBuiltin !== 'function') return false;
  try {
    (getBuiltin('node:v8') as { setFlagsFromString(flags: string): void }).setFlagsFromString('--experimental-wasm-relaxed-simd');
  } catch {
    return false;
  }
  return WebAssembly.validate(bytes);
}

/** threads: null means automatic, min(2, cores). */
let config = envConfig();

function resolvedThreads(): number {
  if (config.threads !== null) return config.threads;
  const nav = (globalThis as { navigator?: { hardwareConcurrency?: number } }).navigator;
  const cores = nodeThreads?.cores ?? nav?.hardwareConcurrency ?? DEFAULT_MAX_THREADS;
  return Math.max(1, Math.min(DEFAULT_MAX_THREADS, cores));
}

export function getWasmKernelConfig(): WasmKernelConfig & { wasmAvailable: boolean; relaxedSimd: boolean; sharedMemory: boolean } {
  const w = instance();
  return { threads: resolvedThreads(), wasmAvailable: w !== null, relaxedSimd: w?.relaxed ?? false, sharedMemory: w?.shared ?? false };
}

/** Changes the thread count; with no argument, restores the environment's default. */
export function setWasmKernelConfig(c?: Partial<WasmKernelConfig>): void {
  if (c?.threads !== undefined && (c.threads < 1 || !Number.isInteger(c.threads))) throw new Error(`threads must be a positive integer, got ${c.threads}`);
  config = c ? { threads: c.threads ?? config.threads } : envConfig();
}

/** True where this engine runs WebAssembly SIMD (the module compiles and instantiates). */
export function wasmSimdAvailable(): boolean {
  return instance() !== null;
}

// ---- the instance -------------------------------------------------------------------------------

interface Instance {
  module: WebAssembly.Module;
  memory: WebAssembly.Memory;
  exports: GemmExports;
  relaxed: boolean;
  /** Shared memory (threads possible); false in browsers without cross-origin isolation. */
  shared: boolean;
  pool: WorkerPool | null;
  /** The exports in pool opcode order, for the calling thread's share of a task. */
  fns?: ((...a: number[]) => void)[];
}

let inst: Instance | null | undefined;

/** Compiles and instantiates the module once; null where wasm SIMD is missing. */
function instance(): Instance | null {
  if (inst !== undefined) return inst;
  inst = null;
  if (typeof WebAssembly === 'undefined') return inst;
  const relaxed = relaxedSimd();
  for (const shared of typeof SharedArrayBuffer !== 'undefined' ? [true, false] : [false]) {
    const bytes = gemmModuleBytes(relaxed, shared);
    if (!WebAssembly.validate(bytes)) continue;
    try {
      const module = new WebAssembly.Module(bytes);
      const memory = new WebAssembly.Memory({ initial: INITIAL_PAGES, maximum: MAXIMUM_PAGES, shared });
      const exports = new WebAssembly.Instance(module, { env: { memory } }).exports as unknown as GemmExports;
      inst = { module, memory, exports, relaxed, shared, pool: null };
      return inst;
    } catch {
      // e.g. a browser page that is not cross-origin isolated refuses shared memory: try unshared.
    }
  }
  return inst;
}

/**
 * node:worker_threads and node:os, loaded on first need and asynchronously, through specifiers
 * bundlers do not follow: a browser bundle of qgrad then contains no Node import, and runs the
 * kernels on one thread. undefined: not loaded yet; null: not available here.
 */
let nodeThreads: { Worker: WorkerConstructor; cores: number } | null | undefined;
let nodeThreadsRequested = false;

function loadNodeThreads(): void {
  if (nodeThreadsRequested) return;
  nodeThreadsRequested = true;
  // Only Node has these modules: elsewhere (a browser page, a Web Worker) do not even try.
  if (typeof (globalThis as { process?: { versions?: { node?: string } } }).process?.versions?.node !== 'string') {
    nodeThreads = null;
    return;
  }
  const wt = 'node:worker_threads', os = 'node:os';
  Promise.all([import(/* @vite-ignore */ wt), import(/* @vite-ignore */ os)]).then(
    ([w, o]: [{ Worker: WorkerConstructor }, { availableParallelism?: () => number; cpus: () => unknown[] }]) => {
      nodeThreads = { Worker: w.Worker, cores: o.availableParallelism?.() ?? o.cpus().length };
    },
    () => {
      nodeThreads = null;
    },
  );
}

/** Exports the worker pool can run, by opcode. */
const OPS = [
  'gemm_f32', 'gemm_i16', 'pack_gather4', 'pack_gather8', 'col2im', 'maxpool2x2', 'bias_rows', 'maxpool2x2_grad', 'maxpool2x2_relu_grad', 'sum_channels_relu', 'maxpool2x2_bias_relu',
] as const;
type Op = (typeof OPS)[number];

/**
 * The pool with threads - 1 workers, started on first need (in the background: until it and its
 * workers are up, calls run on the calling thread); null for one thread or where there are none.
 */
function pool(w: Instance): WorkerPool | null {
  const want = resolvedThreads() - 1;
  if (want <= 0 || !w.shared) return null;
  if (w.pool && w.pool.size !== want) {
    void w.pool.terminate();
    w.pool = null;
  }
  if (!w.pool) {
    loadNodeThreads();
    if (!nodeThreads) return null;
    w.pool = new WorkerPool(nodeThreads.Worker, w.module, w.memory, want, OPS);
  }
  return w.pool;
}

/** Stops the worker threads, if any (a later threaded call starts new ones). */
export async function shutdownThreads(): Promise<void> {
  const w = inst;
  if (w?.pool) {
    const p = w.pool;
    w.pool = null;
    await p.terminate();
  }
}

/** Number of threads a product would use right now (workers still starting are not counted). */
export function readyThreads(): number {
  const w = instance();
  if (!w || resolvedThreads() <= 1) return 1;
  return 1 + (pool(w)?.readyCount() ?? 0);
}

// ---- workspaces -----------------------------------------------------------------------------

export interface Workspace {
  kind: 'f32' | 'i16';
  M: number;
  N: number;
  /** Depth in 32-bit slots: K for float32, ceil(K / 2) pairs for int16. */
  Ks: number;
  /** M and N rounded up to whole panels. */
  Mp: number;
  Np: number;
  /** Views over the whole memory (re-created when it grows). */
  f32: Float32Array;
  i32: Int32Array;
  i16: Int16Array;
  /** Word (4-byte) offsets of packed A, packed B and C, and of `extraWords` free words after C. */
  a: number;
  b: number;
  c: number;
  extra: number;
  /** C's row pitch in words (= Np). */
  ldc: number;
}

let views: { buffer: ArrayBufferLike; f32: Float32Array; i32: Int32Array; i16: Int16Array } | null = null;

/** Rounds a word count up to 16 words; plain arithmetic, so sizes past 2^31 stay exact (and are refused by reserve). */
const align16 = (words: number) => Math.ceil(words / 16) * 16;

/**
 * Lays out a product of M x K by K x N in wasm memory, growing it if needed; null where wasm SIMD is missing
 * or the operands do not fit in its address space (the caller then uses the reference).
 */
export function gemmWorkspace(kind: 'f32' | 'i16', M: number, N: number, K: number, extraWords = 0): Workspace | null {
  const w = instance();
  if (!w) return null;
  const Mp = Math.ceil(M / MR) * MR, Np = Math.ceil(N / NR) * NR;
  const Ks = kind === 'f32' ? K : (K + 1) >> 1;
  const a = 64; // the first 256 bytes stay unused
  const b = align16(a + Mp * Ks);
  const c = align16(b + Np * Ks);
  const extra = align16(c + Mp * Np);
  const v = reserve(w, (extra + extraWords) * 4);
  if (!v) return null;
  return { kind, M, N, Ks, Mp, Np, f32: v.f32, i32: v.i32, i16: v.i16, a, b, c, extra, ldc: Np };
}

/** Grows the memory to at least `bytes`; the current views, or null if that is past the maximum. */
function reserve(w: Instance, bytes: number): NonNullable<typeof views> | null {
  if (bytes > MAXIMUM_PAGES * 65536) return null;
  const have = w.memory.buffer.byteLength;
  if (bytes > have) {
    try {
      w.memory.grow(Math.ceil((bytes - have) / 65536));
    } catch {
      return null;
    }
  }
  const buffer = w.memory.buffer;
  if (!views || views.buffer.byteLength !== buffer.byteLength) {
    views = { buffer, f32: new Float32Array(buffer), i32: new Int32Array(buffer), i16: new Int16Array(buffer) };
  }
  return views;
}

/** K block and row block (in panels) of the driver; see kernels.ts. Tuned on the benchmark shapes. */
const KC = 256;
const MC_PANELS = 16;
/** Work smaller than this (multiply-adds, or moves) stays on one thread: waking a worker costs ~20-50 us. */
const THREAD_MIN_WORK = 1 << 20;

/** Calls that were split across threads, by export: what tests and the benchmark check. */
const splitCalls: Record<string, number> = {};
export function threadedCallCounts(): Readonly<Record<string, number>> {
  return { ...splitCalls, workerChunks: inst?.pool?.workerChunks() ?? 0 };
}

/**
 * Runs export `op` over `units` independent units: `args` with args[lo], args[hi] set to a
 * range [u0, u1) of units times `scale`. When `work` (multiply-adds, or moves) is worth it, the
 * units are cut into chunks that the ready threads claim dynamically (see threads/pool.ts).
 */
function dispatch(op: Op, work: number, units: number, args: number[], lo: number, hi: number, scale = 1): void {
  if (kernelObserver) {
    const t0 = performance.now();
    dispatchNow(op, work, units, args, lo, hi, scale);
    kernelObserver(op, performance.now() - t0);
  } else dispatchNow(op, work, units, args, lo, hi, scale);
}

/**
 * A profiling hook: called after every kernel dispatch with the export's name and its wall time
 * in ms (scripts/op-times.ts attributes GEMM time to ops with it). null (the default) costs one
 * test per dispatch.
 */
let kernelObserver: ((op: string, ms: number) => void) | null = null;
export function observeKernels(f: ((op: string, ms: number) => void) | null): void {
  kernelObserver = f;
}

function dispatchNow(op: Op, work: number, units: number, args: number[], lo: number, hi: number, scale: number): void {
  const w = instance();
  if (!w) throw new Error(`${op}: wasm kernels unavailable`);
  const p = work >= THREAD_MIN_WORK && units > 1 ? pool(w) : null;
  const helpers = p ? p.readyCount() : 0;
  if (!p || helpers === 0) {
    args[lo] = 0;
    args[hi] = units * scale;
    (w.exports[op] as (...a: number[]) => void)(...args);
    return;
  }
  // A few chunks per thread: enough to balance, few enough that per-chunk overhead stays small.
  const chunk = Math.max(1, Math.ceil(units / (4 * (helpers + 1))));
  w.fns ??= OPS.map((name) => w.exports[name] as (...a: number[]) => void);
  p.run({ op: OPS.indexOf(op), args, lo, hi, units, chunk, scale }, w.fns);
  splitCalls[op] = (splitCalls[op] ?? 0) + 1;
}

/** Computes C = A·B for a packed workspace, splitting the panels across ready threads. */
export function runWorkspace(ws: Workspace): void {
  const mP = ws.Mp / MR, nP = ws.Np / NR;
  if (mP === 0 || nP === 0) return;
  if (ws.Ks === 0) {
    ws.f32.fill(0, ws.c, ws.c + ws.Mp * ws.Np);
    return;
  }
  const rest = [ws.Ks, ws.a * 4, ws.b * 4, ws.c * 4, ws.ldc * 4, KC, MC_PANELS];
  const op = ws.kind === 'f32' ? 'gemm_f32' : 'gemm_i16';
  // Split the dimension with more panels: B panels (columns of C) or A panels (rows).
  if (nP >= mP) dispatch(op, ws.M * ws.N * ws.Ks, nP, [0, mP, 0, 0, ...rest], 2, 3);
  else dispatch(op, ws.M * ws.N * ws.Ks, mP, [0, 0, 0, nP, ...rest], 0, 1);
}

/**
 * The wasm gather-packer (kernels.ts pack_gather): packs the P x K matrix
 * X(p, k) = mem[src + pOff[p] + kOff[k]] into panels of R (= MR or NR), where pOff and kOff are
 * Int32 tables of byte offsets in wasm memory. All locations are word offsets into memory a
 * workspace has reserved. The kernel packs every panel, a partial last one included (rows past
 * P as zeros).
 */
export function packGatherWasm(src: number, pOff: number, P: number, kOff: number, K: number, R: number, dst: number): void {
  if (K === 0 || P === 0) return;
  const panels = Math.ceil(P / R); // a partial last panel included: the kernel zeroes its missing rows
  dispatch(R === NR ? 'pack_gather8' : 'pack_gather4', panels * R * K, panels, [src * 4, pOff * 4, kOff * 4, K, dst * 4, 0, 0, P], 5, 6);
}

/**
 * col2im in wasm: gx[pos[j] + tap[k]] += C[k, j] for k < K, j < images * L (tables of byte
 * offsets; word locations). Threads take whole images, which write disjoint parts of gx.
 */
export function col2imWasm(ws: Workspace, pos: number, tap: number, K: number, images: number, L: number, gx: number): void {
  if (K === 0 || images === 0 || L === 0) return;
  dispatch('col2im', K * images * L, images, [ws.c * 4, ws.ldc * 4, pos * 4, tap * 4, K, 0, 0, gx * 4], 5, 6, L);
}

/**
 * The convolution's epilogue on a workspace's result (kernels.ts bias_rows): C[r, j] += bias[r]
 * for the first `rows` rows, every column of the row pitch (padding columns included: they are
 * never read), then relu if asked. `bias` is a word location in wasm memory.
 */
export function biasRowsWasm(ws: Workspace, rows: number, bias: number, relu: boolean): void {
  if (rows === 0) return;
  dispatch('bias_rows', rows * ws.ldc, rows, [ws.c * 4, ws.ldc * 4, bias * 4, ws.ldc, 0, 0, relu ? -1 : 0], 4, 5);
}

/**
 * 2 x 2, stride 2 max pooling of planes [H, W] in wasm SIMD (kernels.ts maxpool2x2): the pooled
 * values and, per output, the flat index h * W + w of the winner in its plane. With `relu`, the
 * pooling of relu(x) (kernels.ts maxpool2x2_bias_relu, relu as the elementwise op computes it),
 * never writing relu(x) out. Null where wasm SIMD is missing or OW < 4 (the caller's loop handles
 * those).
 */
export function maxPool2x2Wasm(
  x: Float32Array, planes: number, H: number, W: number, OH: number, OW: number,
  alloc: { f32: (n: number) => Float32Array; i32: (n: number) => Int32Array } = { f32: (n) => new Float32Array(n), i32: (n) => new Int32Array(n) },
  relu = false,
): { out: Float32Array; indices: Int32Array } | null {
  const w = instance();
  if (!w || OW < 4) return null;
  const n = planes * OH * OW;
  const xw = 64, ow = align16(xw + x.length), iw = align16(ow + n), bw = align16(iw + n);
  const v = reserve(w, (bw + 1) * 4);
  if (!v) return null;
  v.f32.set(x, xw);
  // With relu: the pooling of relu(x + (-0)), and x + (-0) is x for every x, -0 included.
  if (relu) v.f32[bw] = -0;
  maxPool2x2Words(xw, planes, H, W, OH, OW, ow, iw, { pn: planes, xs: H * W, os: OH * OW, xq: 0, oq: 0 }, relu ? bw : null);
  // Into arrays from `alloc` (the backend's buffer pool: no page faults on a recycled array).
  const out = alloc.f32(n), indices = alloc.i32(n);
  out.set(v.f32.subarray(ow, ow + n));
  indices.set(v.i32.subarray(iw, iw + n));
  return { out, indices };
}

/**
 * The backward of maxPool2x2Wasm in wasm SIMD (kernels.ts maxpool2x2_grad): gx [planes, H, W]
 * from gy and the winner indices [planes, OH, OW], every element written (no zeroed array, no
 * scatter). Bit-identical to the reference scatter into a zeroed array. Null where wasm SIMD is
 * missing or OW < 4, or the indices are not those of 2 x 2, stride-2 windows (OH, OW must be
 * floor(H / 2), floor(W / 2)). With `pooled` (the forward's pooled values of relu(x)), the
 * backward of relu then pooling: gy masked by relu in pooled space as it is unpooled
 * (maxpool2x2_relu_grad; see src/autograd/ops/conv-pool.ts for why that is relu's mask).
 */
export function maxPool2x2GradWasm(
  gy: Float32Array, indices: Int32Array, planes: number, H: number, W: number, OH: number, OW: number,
  alloc: (n: number) => Float32Array = (n) => new Float32Array(n), pooled: Float32Array | null = null,
): Float32Array | null {
  const w = instance();
  if (!w || OW < 4 || OH !== H >> 1 || OW !== W >> 1 || (pooled && pooled.length !== gy.length)) return null;
  const n = planes * OH * OW, nx = planes * H * W;
  const gw = 64, iw = align16(gw + n), pw = align16(iw + n), xw = align16(pw + (pooled ? n : 0));
  const v = reserve(w, (xw + nx) * 4);
  if (!v) return null;
  v.f32.set(gy, gw);
  v.i32.set(indices, iw);
  if (pooled) v.f32.set(pooled, pw);
  // Rows and columns past the last window are no window's: zero (all of it, when there are any).
  if ((H & 1) | (W & 1)) v.f32.fill(0, xw, xw + nx);
  // With the pooled values, relu's backward in pooled space first (maxpool2x2_relu_grad).
  maxPool2x2GradWords(gw, iw, xw, planes, H, W, OH, OW, pooled ? pw : null);
  const gx = alloc(nx);
  gx.set(v.f32.subarray(xw, xw + nx));
  return gx;
}

/**
 * maxpool2x2 on planes already in wasm memory (word locations): `planes` planes [H, W], plane
 * p = q * pn + m (q = p / pn) at x + q * xq + m * xs, its pooled values and winner indices at
 * out + q * oq + m * os and idx + q * oq + m * os (rows of OW). A fused convolution pools its
 * product in place with it, one group per channel row, writing each plane where the result's
 * layout wants it (conv.ts); with `bias` (the word location of one float per group), it pools
 * relu(x + bias[q]) (kernels.ts maxpool2x2_bias_relu). Requires OW >= 4.
 */
export function maxPool2x2Words(
  x: number, planes: number, H: number, W: number, OH: number, OW: number, out: number, idx: number,
  strides: { pn: number; xs: number; os: number; xq: number; oq: number }, bias: number | null = null,
): void {
  if (planes === 0 || OH === 0) return;
  const op = bias === null ? 'maxpool2x2' : 'maxpool2x2_bias_relu';
  const { pn, xs, os, xq, oq } = strides;
  dispatch(op, planes * OH * OW * 4, planes * OH, [x * 4, out * 4, idx * 4, H, W, OH, OW, 0, 0, xs, os, (bias ?? 0) * 4, pn, xq, oq], 7, 8);
}

/**
 * maxpool2x2_grad on operands already in wasm memory (word locations): gx [planes, H, W] from gy
 * and idx [planes, OH, OW]; with `pv` (the pooled values of relu(x)), gy masked by relu in pooled
 * space first, gy & ~(pv <= 0) (maxpool2x2_relu_grad). Rows and columns no window covers are not
 * written (the caller zeroes them). Requires OW >= 4.
 */
export function maxPool2x2GradWords(gy: number, idx: number, gx: number, planes: number, H: number, W: number, OH: number, OW: number, pv: number | null = null): void {
  if (planes === 0 || OH === 0) return;
  dispatch(pv === null ? 'maxpool2x2_grad' : 'maxpool2x2_relu_grad', planes * H * W, planes * OH, [gy * 4, idx * 4, gx * 4, H, W, OH, OW, 0, 0, (pv ?? 0) * 4], 7, 8);
}

/**
 * Per channel o < O of [N, O, PL] arrays g and pv in wasm memory (word locations), the float64
 * sum of g & ~(pv <= 0) (kernels.ts sum_channels_relu), rounded once to float32 into out[o].
 * `scratch` is a word location with room for 8 O + 4 words, 16-word aligned; g and pv must be
 * followed by at least 3 readable words.
 */
export function sumChannelsReluWords(g: number, pv: number, O: number, N: number, PL: number, scratch: number, out: Float32Array): void {
  const w = instance();
  if (!w) throw new Error('sum_channels_relu: wasm kernels unavailable');
  const v = reserve(w, (scratch + 8 * O + 4) * 4)!;
  const rem = PL & 3, tail = scratch + 8 * O;
  if (rem) v.i32.set([-1, rem > 1 ? -1 : 0, rem > 2 ? -1 : 0, 0], tail);
  dispatch('sum_channels_relu', N * O * PL, O, [g * 4, pv * 4, scratch * 4, O, N, PL, PL >> 2, rem ? tail * 4 : 0, 0, 0], 8, 9);
  const f64 = new Float64Array(v.buffer, scratch * 4, 4 * O);
  for (let o = 0; o < O; o++) out[o] = (f64[4 * o] + f64[4 * o + 1]) + (f64[4 * o + 2] + f64[4 * o + 3]);
}

// ---- packing --------------------------------------------------------------------------------

/**
 * Packs a P x K matrix X (element (p, k) at X.offset + p * pStride + k * kStride) into panels of
 * R rows, k-major: dst[d0 + (pp * K + k) * R + r] = X(pp * R + r, k), zero past row P.
 * A packs with p = rows of A (R = MR); B packs as B^T, with p = columns of B (R = NR).
 */
export function packPanelsF32(
  X: MatOperand, pStride: number, kStride: number, P: number, K: number, R: number, dst: Float32Array, d0: number,
): void {
  const x = X.data, off = X.offset;
  const panels = Math.ceil(P / R);
  for (let pp = 0; pp < panels; pp++) {
    const base = d0 + pp * K * R;
    const rows = Math.min(R, P - pp * R);
    if (kStride === 1 || pStride !== 1) {
      // One source row at a time: sequential reads when kStride is 1, writes strided by R.
      for (let r = 0; r < rows; r++) {
        let s = off + (pp * R + r) * pStride, d = base + r;
        for (let k = 0; k < K; k++, s += kStride, d += R) dst[d] = x[s];
      }
    } else {
      // Rows are adjacent in memory: copy R of them per k.
      for (let k = 0; k < K; k++) {
        const s = off + pp * R + k * kStride, d = base + k * R;
        for (let r = 0; r < rows; r++) dst[d + r] = x[s + r];
      }
    }
    for (let r = rows; r < R; r++) for (let k = 0, d = base + r; k < K; k++, d += R) dst[d] = 0;
  }
}

/**
 * The int16 version: k is split into pairs, each 32-bit slot holding (X(p, 2k'), X(p, 2k'+1)) as
 * two int16 (the operand layout of i32x4.dot_i16x8_s). Values must fit in int16; K is padded
 * with a zero to even. dst is an Int16Array; d0 is a word offset.
 */
export function packPanelsI16(
  X: { data: ArrayLike<number>; offset: number }, pStride: number, kStride: number, P: number, K: number, R: number, dst: Int16Array, d0: number,
): void {
  const x = X.data, off = X.offset;
  const K2 = (K + 1) >> 1;
  const panels = Math.ceil(P / R);
  for (let pp = 0; pp < panels; pp++) {
    const base = 2 * (d0 + pp * K2 * R);
    const rows = Math.min(R, P - pp * R);
    for (let r = 0; r < rows; r++) {
      let s = off + (pp * R + r) * pStride;
      const d = base + 2 * r;
      for (let k = 0; k < K; k++, s += kStride) {
        const v = x[s];
        if (v !== (v << 16) >> 16) throw new RangeError(`gemmInt8: operand value ${v} does not fit in int16`);
        dst[d + (k >> 1) * 2 * R + (k & 1)] = v;
      }
      if (K & 1) dst[d + (K >> 1) * 2 * R + 1] = 0;
    }
    for (let r = rows; r < R; r++) for (let k2 = 0, d = base + 2 * r; k2 < K2; k2++, d += 2 * R) dst[d] = dst[d + 1] = 0;
  }
}
