/**
 * The WebAssembly fast path of float32 elementwise ops and sums (kernels in
 * ./elementwise-kernels.ts).
 *
 * Wasm code reads only its own memory, and the backend's tensors are ordinary typed arrays,
 * so operands are staged: for each block of BLOCK output elements, every operand's elements
 * for that block are copied into the module's memory (RunReader: `set` for unit-stride runs,
 * `fill` for broadcast ones, both native copies), the kernel runs over the block, and the
 * result is copied out. A block fits in L1/L2, so the staging copies are cheap next to the
 * trip through main memory that the operands and the result make anyway; the op costs little
 * more than a copy of its data (about 1.5 ms for ReLU over 1.7 M floats, against 4 ms for the
 * best branch-free JavaScript loop and 15 ms for `x < 0 ? 0 : x`).
 *
 * The path is taken only where it pays: float32 operands and result, enough elements, and each
 * operand read in runs of unit or zero stride long enough that the per-run copy calls amortise.
 * Otherwise the wasm backend (./backend.ts) falls back to the reference JavaScript kernels of
 * src/tensor/cpu/elementwise.ts, whose expressions stay the definition.
 */
import type { BinaryOp, UnaryOp } from '../backend.js';
import type { TypedArray } from '../dtype.js';
import { RunReader } from '../cpu/layout.js';
import type { BinaryKernel, BnKernels, SumKernel, UnaryKernel, WhereKernel } from './elementwise-kernels.js';
import { elementwiseModuleBytes, ELEMENTWISE_PAGES, WASM_BINARY, WASM_UNARY } from './elementwise-kernels.js';

/** Floats per staging block (64 KiB): four blocks and the sum lanes fit in the module's memory. */
const BLOCK = 16384;
/**
 * Word offsets of the staging areas: operands a, b, the result, 8 float64 sum lanes (the block at
 * ACC also holds batch norm's other sum lanes and constants), a condition, two more blocks.
 */
const A = 0, B = BLOCK, OUT = 2 * BLOCK, ACC = 3 * BLOCK, COND = 4 * BLOCK, E = 5 * BLOCK, F = 6 * BLOCK;
/** Below this many elements the JavaScript loop is as fast as the setup here. */
export const WASM_MIN_ELEMENTS = 1024;
/** Shortest run worth a native copy call (else the per-run overhead exceeds a JS loop). */
const MIN_RUN = 32;

interface Instance {
  f32: Float32Array;
  f64: Float64Array;
  unary: Partial<Record<UnaryOp, UnaryKernel>>;
  binary: Partial<Record<BinaryOp, BinaryKernel>>;
  sum: SumKernel;
  where: WhereKernel;
  bn: BnKernels;
}

let inst: Instance | null | undefined;

/** The instance, built on first use; null where wasm SIMD is missing. */
function instance(): Instance | null {
  if (inst !== undefined) return inst;
  inst = null;
  try {
    const bytes = elementwiseModuleBytes();
    if (!WebAssembly.validate(bytes)) return inst;
    const memory = new WebAssembly.Memory({ initial: ELEMENTWISE_PAGES, maximum: ELEMENTWISE_PAGES });
    const ex = new WebAssembly.Instance(new WebAssembly.Module(bytes), { env: { memory } }).exports as Record<string, unknown>;
    const pick = <K extends string, F>(ops: readonly K[], prefix: string) =>
      Object.fromEntries(ops.map((op) => [op, ex[`${prefix}_${op}`] as F])) as Partial<Record<K, F>>;
    inst = {
      f32: new Float32Array(memory.buffer),
      f64: new Float64Array(memory.buffer),
      unary: pick<UnaryOp, UnaryKernel>(Object.keys(WASM_UNARY) as UnaryOp[], 'unary'),
      binary: pick<BinaryOp, BinaryKernel>(Object.keys(WASM_BINARY) as BinaryOp[], 'binary'),
      sum: ex.sum_f32 as SumKernel,
      where: ex.where_f32 as WhereKernel,
      bn: ex as unknown as BnKernels,
    };
  } catch {
    inst = null;
  }
  return inst;
}

/** A strided float32 operand, read in the order of the output shape. */
export interface Operand {
  data: Float32Array;
  strides: readonly number[];
  offset: number;
}

/** A reader of x in runs of unit or zero stride, or null where its runs are short or strided. */
function reader(shape: readonly number[], x: Operand): RunReader | null {
  const r = new RunReader(x.data, shape, x.strides, x.offset);
  return (r.runStride === 1 || r.runStride === 0) && r.runLength >= MIN_RUN ? r : null;
}

/** Bytes of n floats rounded up to whole vectors (the kernels run past n into scratch). */
const bytes16 = (n: number) => ((n + 3) & ~3) * 4;

/** out = op(x) over `shape`; false if this path does not apply (the caller runs JavaScript). */
export function wasmUnary(op: UnaryOp, result: Float32Array, shape: readonly number[], x: Operand): boolean {
  const w = result.length >= WASM_MIN_ELEMENTS ? instance() : null;
  const kernel = w?.unary[op];
  if (!w || !kernel) return false;
  const rx = reader(shape, x);
  if (!rx) return false;
  const total = result.length, f32 = w.f32;
  for (let o = 0; o < total; o += BLOCK) {
    const m = Math.min(BLOCK, total - o);
    rx.read(f32, A, m);
    kernel(A * 4, OUT * 4, bytes16(m));
    result.set(f32.subarray(OUT, OUT + m), o);
  }
  return true;
}

/** out = op(a, b), both already broadcast to `shape`; false if this path does not apply. */
export function wasmBinary(op: BinaryOp, result: Float32Array, shape: readonly number[], a: Operand, b: Operand): boolean {
  const w = result.length >= WASM_MIN_ELEMENTS ? instance() : null;
  const kernel = w?.binary[op];
  if (!w || !kernel) return false;
  const ra = reader(shape, a), rb = ra && reader(shape, b);
  if (!ra || !rb) return false;
  const total = result.length, f32 = w.f32;
  for (let o = 0; o < total; o += BLOCK) {
    const m = Math.min(BLOCK, total - o);
    ra.read(f32, A, m);
    rb.read(f32, B, m);
    kernel(A * 4, B * 4, OUT * 4, bytes16(m));
    result.set(f32.subarray(OUT, OUT + m), o);
  }
  return true;
}

/**
 * out = op(a, b) for two contiguous operands of equal length, written into dst[d0, d0 + a.length)
 * (the convolution backward stages relu's masked gradient straight into the gemm module's memory
 * this way, ./conv.ts): wasmBinary itself over the flat shape, so the same kernel over the same
 * blocks and the same bits, without a result array. False (nothing written) where it declines.
 */
export function wasmBinaryInto(op: BinaryOp, dst: Float32Array, d0: number, a: Float32Array, b: Float32Array): boolean {
  if (b.length !== a.length) return false;
  const flat = (data: Float32Array): Operand => ({ data, strides: [1], offset: 0 });
  return wasmBinary(op, dst.subarray(d0, d0 + a.length), [a.length], flat(a), flat(b));
}

/**
 * wasmBinaryInto (op = null: a plain copy of a) and, while each block of the result is still in
 * the module's memory, result[m] = its sum over outer and inner as a contiguous [outer, mid, inner]
 * array, bit for bit what wasmSumOuterInner gives on the written copy, without reading it again
 * (a convolution's bias gradient from its staged output gradient, ./conv.ts).
 *
 * Why the bits match: wasmSumOuterInner stages channel m's rows back to back and flushes them
 * through sum_f32, which adds the element at staged position q into float64 lane q mod 8 (the
 * zeros padding a flush to a step of 8 add +0, which changes no lane: lanes start at +0 and
 * never become -0). So each lane of channel m receives a fixed sequence of elements: here each
 * row piece in a block is summed into channel m's own 8 lanes (kept in block F), shifted so that
 * every element lands in the lane its staged position gives (the few words around the piece are
 * zeroed for the call and restored), in the same row order. Rows must fit in one block (inner
 * <= BLOCK) and the lanes in block F (mid <= BLOCK / 16); false (nothing written) where this or
 * wasmSumOuterInner's own conditions fail: the caller then writes and sums separately.
 */
export function wasmBinarySumInto(
  op: BinaryOp | null, dst: Float32Array, d0: number, a: Float32Array, b: Float32Array | null, outer: number, mid: number, inner: number, result: Float32Array,
): boolean {
  const total = a.length;
  if (total !== outer * mid * inner || (b && b.length !== total) || result.length !== mid) return false;
  if (!(inner >= MIN_RUN && outer * inner >= SUM_MIN_INNER && inner <= BLOCK && mid <= BLOCK / 16)) return false;
  const w = instance();
  const kernel = op ? w?.binary[op] : null;
  if (!w || (op && (!kernel || total < WASM_MIN_ELEMENTS))) return false;
  const { f32, f64, sum } = w;
  const lanes = F / 2; // float64 index of channel 0's 8 lanes
  f64.fill(0, lanes, lanes + 8 * mid);
  // wasmSumOuterInner's staging position of each channel's current row, and its fill level.
  const staged = new Int32Array(mid), rowStart = new Int32Array(mid);
  const save = new Float32Array(16);
  for (let o = 0; o < total; o += BLOCK) {
    const m = Math.min(BLOCK, total - o);
    if (kernel) {
      f32.set(a.subarray(o, o + m), A);
      f32.set(b!.subarray(o, o + m), B);
      kernel(A * 4, B * 4, OUT * 4, bytes16(m));
    } else f32.set(a.subarray(o, o + m), OUT);
    dst.set(f32.subarray(OUT, OUT + m), d0 + o);
    for (let e = o; e < o + m;) {
      const row = Math.floor(e / inner), i0 = e - row * inner, ch = row % mid;
      const len = Math.min((row + 1) * inner, o + m) - e;
      if (i0 === 0) {
        if (staged[ch] + inner > BLOCK) staged[ch] = 0; // a flush
        rowStart[ch] = staged[ch];
        staged[ch] += inner;
      }
      const shift = (rowStart[ch] + i0) & 7, padded = (shift + len + 7) & ~7;
      const p = OUT + (e - o) - shift, tail = p + shift + len, tailEnd = p + padded;
      for (let k = 0; k < shift; k++) { save[k] = f32[p + k]; f32[p + k] = 0; }
      for (let k = tail; k < tailEnd; k++) { save[8 + k - tail] = f32[k]; f32[k] = 0; }
      sum(p * 4, padded * 4, (lanes + 8 * ch) * 8);
      for (let k = 0; k < shift; k++) f32[p + k] = save[k];
      for (let k = tail; k < tailEnd; k++) f32[k] = save[8 + k - tail];
      e += len;
    }
  }
  for (let ch = 0; ch < mid; ch++) {
    const l = lanes + 8 * ch;
    result[ch] = ((f64[l] + f64[l + 1]) + (f64[l + 2] + f64[l + 3])) + ((f64[l + 4] + f64[l + 5]) + (f64[l + 6] + f64[l + 7]));
  }
  return true;
}

/**
 * out = c !== 0 ? a : b, all three float32 and already broadcast to `shape` (the straight-through
 * estimator's backward selects the gradient with a float mask); false if this path does not apply.
 */
export function wasmWhere(result: Float32Array, shape: readonly number[], c: Operand, a: Operand, b: Operand): boolean {
  const w = result.length >= WASM_MIN_ELEMENTS ? instance() : null;
  if (!w) return false;
  const rc = reader(shape, c), ra = rc && reader(shape, a), rb = ra && reader(shape, b);
  if (!rc || !ra || !rb) return false;
  const total = result.length, f32 = w.f32;
  for (let o = 0; o < total; o += BLOCK) {
    const m = Math.min(BLOCK, total - o);
    rc.read(f32, COND, m);
    ra.read(f32, A, m);
    rb.read(f32, B, m);
    w.where(COND * 4, A * 4, B * 4, OUT * 4, bytes16(m));
    result.set(f32.subarray(OUT, OUT + m), o);
  }
  return true;
}

/**
 * result[m] = sum of x[(o * mid + m) * inner + i] over o < outer and i < inner (x contiguous
 * [outer, mid, inner]): the sum over N, H, W of a [N, C, H, W] gradient, a convolution's bias
 * gradient, read in place. For each m the outer rows of `inner` values are staged back to back
 * into the module's memory and summed with the float64 kernel of wasmSum, rounded once at the
 * end; false if this path does not apply (short rows: the caller's loop is as fast).
 */
export function wasmSumOuterInner(x: Float32Array, outer: number, mid: number, inner: number, result: Float32Array): boolean {
  const w = inner >= MIN_RUN && outer * inner >= SUM_MIN_INNER ? instance() : null;
  if (!w) return false;
  const { f32, f64, sum } = w;
  const l = ACC / 2;
  for (let m = 0; m < mid; m++) {
    f64.fill(0, l, l + 8);
    let staged = 0;
    for (let o = 0; o < outer; o++) {
      // Rows longer than a block go through in pieces; a row never straddles a flush.
      for (let i = 0; i < inner; i += BLOCK) {
        const n = Math.min(BLOCK, inner - i);
        if (staged + n > BLOCK) staged = flushSum(f32, sum, staged);
        const s = (o * mid + m) * inner + i;
        f32.set(x.subarray(s, s + n), A + staged);
        staged += n;
      }
    }
    flushSum(f32, sum, staged);
    result[m] = ((f64[l] + f64[l + 1]) + (f64[l + 2] + f64[l + 3])) + ((f64[l + 4] + f64[l + 5]) + (f64[l + 6] + f64[l + 7]));
  }
  return true;
}

/**
 * The wasm backend's conv bias gradient, one definition for both callers (WasmBackend's
 * sumOuterInner and the fused convolution backward of ./conv.ts, which sums a view of the gemm
 * module's memory): wasmSumOuterInner where it applies, else a loop in the reference's order
 * (its permute + copy + sum adds x[o, m, i] for o, then i, into one float64 sum), without the copy.
 */
export function sumOuterInnerInto(x: TypedArray, outer: number, mid: number, inner: number, out: TypedArray): void {
  if (x instanceof Float32Array && out instanceof Float32Array && wasmSumOuterInner(x, outer, mid, inner, out)) return;
  for (let m = 0; m < mid; m++) {
    let s = 0;
    for (let o = 0; o < outer; o++) {
      const base = (o * mid + m) * inner;
      for (let i = 0; i < inner; i++) s += x[base + i];
    }
    out[m] = s;
  }
}

/** Sums the `staged` floats at A into the float64 lanes (zero-padded to a step of 8); returns 0. */
function flushSum(f32: Float32Array, sum: SumKernel, staged: number): number {
  if (staged === 0) return 0;
  const padded = (staged + 7) & ~7;
  f32.fill(0, A + staged, A + padded);
  sum(A * 4, padded * 4, ACC * 4);
  return 0;
}

/** Shortest row a sum hands to wasm. */
const SUM_MIN_INNER = 256;

/**
 * result[o] = sum of x[o * inner + i] over i < inner, accumulated in float64 (8 interleaved
 * partial sums) and rounded once; false if this path does not apply.
 */
export function wasmSum(x: Float32Array, outer: number, inner: number, result: TypedArray): boolean {
  const w = inner >= SUM_MIN_INNER ? instance() : null;
  if (!w) return false;
  const { f32, f64, sum } = w;
  for (let o = 0; o < outer; o++) {
    f64.fill(0, ACC / 2, ACC / 2 + 8);
    const base = o * inner;
    for (let i = 0; i < inner; i += BLOCK) {
      const m = Math.min(BLOCK, inner - i);
      f32.set(x.subarray(base + i, base + i + m), A);
      // Zeros up to a whole step of 8: adding +0 changes no sum (the sums start at +0).
      const padded = (m + 7) & ~7;
      f32.fill(0, A + m, A + padded);
      sum(A * 4, padded * 4, ACC * 4);
    }
    const l = ACC / 2;
    result[o] = ((f64[l] + f64[l + 1]) + (f64[l + 2] + f64[l + 3])) + ((f64[l + 4] + f64[l + 5]) + (f64[l + 6] + f64[l + 7]));
  }
  return true;
}

/** The module's instance and staging layout, for batch normalisation's driver (./batchnorm.ts). */
export function stagingInstance(): (Instance & { layout: typeof LAYOUT }) | null {
  const w = instance();
  return w ? { ...w, layout: LAYOUT } : null;
}
const LAYOUT = { BLOCK, A, B, OUT, ACC, COND, E, F, MIN_RUN, SUM_MIN_INNER };
