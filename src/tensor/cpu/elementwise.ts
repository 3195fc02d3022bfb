/**
 * Elementwise kernels for the cpu backend. Each op is a one-line expression; a small code
 * generator turns it into a loop specialised for that op (one function per op, so V8 inlines
 * the expression instead of calling through a table), that walks any view (permuted, sliced,
 * broadcast with stride 0).
 *
 * Three things keep these loops fast:
 * - the iteration space is collapsed first (./layout.ts): a contiguous tensor is one run, and a
 *   broadcast bias is constant along rows of H*W, so little time goes to the odometer;
 * - each generated loop is specialised on the element types and on how each operand moves in
 *   the inner loop (unit stride, stride 0: read once per row, or any stride), so every typed
 *   array access in it is monomorphic;
 * The expressions themselves are the ground floor's (../elementwise-expr.ts), shared with the gpu
 * backend; a faster backend's kernels are tested bit for bit against these loops.
 * This is the same idea gpu.js applies to produce GPU kernels from JavaScript functions.
 */
import type { BinaryOp, ScalarOrder, UnaryOp, View } from '../backend.js';
import type { TypedArray } from '../dtype.js';
import { dtypeOf } from '../dtype.js';
import { BINARY_EXPR, UNARY_EXPR } from '../elementwise-expr.js';
import { collapse, RunReader } from './layout.js';

/** A generated loop: operands `ins` read at `offsets` + index · `strides` over a collapsed shape. */
type Kernel = (out: TypedArray, ins: TypedArray[], shape: readonly number[], strides: (readonly number[])[], offsets: number[]) => void;

/** How an operand moves along the inner loop: unit stride, not at all (broadcast), or by any stride. */
type Step = '1' | '0' | 's';

const cache = new Map<string, Kernel>();

/**
 * The loop for `expr` over inputs `names` with these element types and inner steps. It runs the
 * last dim in an inner loop and advances the outer dims with an odometer.
 */
function makeKernel(names: string[], expr: string, types: string, steps: Step[]): Kernel {
  const key = `${names.join(',')}:${expr}:${types}:${steps.join('')}`;
  const hit = cache.get(key);
  if (hit) return hit;
  const each = (f: (v: string, i: number) => string, sep = ' ') => names.map(f).join(sep);
  const src = `
${each((v, i) => `const ${v}_ = ins[${i}], s${i} = strides[${i}]; let p${i} = offsets[${i}];`, '\n')}
${each((_, i) => (steps[i] === 's' ? `const l${i} = s${i}[nd - 1];` : ''))}
const rows = out.length / last;
const idx = new Int32Array(nd);
let o = 0;
for (let r = 0; r < rows; r++) {
  ${each((v, i) => (steps[i] === '0' ? `const ${v} = ${v}_[p${i}];` : steps[i] === 's' ? `let q${i} = p${i};` : ''))}
  for (let j = 0; j < last; j++) {
    ${each((v, i) => (steps[i] === '1' ? `const ${v} = ${v}_[p${i} + j];` : steps[i] === 's' ? `const ${v} = ${v}_[q${i}]; q${i} += l${i};` : ''))}
    out[o + j] = ${expr};
  }
  o += last;
  for (let d = nd - 2; d >= 0; d--) {
    idx[d]++; ${each((_, i) => `p${i} += s${i}[d];`)}
    if (idx[d] < shape[d]) break;
    idx[d] = 0; ${each((_, i) => `p${i} -= s${i}[d] * shape[d];`)}
  }
}`;
  // eslint-disable-next-line @typescript-eslint/no-implied-eval
  const body = new Function('out', 'ins', 'shape', 'strides', 'offsets', 'nd', 'last', src) as (
    out: TypedArray, ins: TypedArray[], shape: readonly number[], strides: (readonly number[])[], offsets: number[], nd: number, last: number,
  ) => void;
  const kernel: Kernel = (out, ins, shape, strides, offsets) => body(out, ins, shape, strides, offsets, shape.length, shape[shape.length - 1]);
  cache.set(key, kernel);
  return kernel;
}

/** Runs `expr` over operands already broadcast to `shape`, in JavaScript. */
function runJs(names: string[], expr: string, out: TypedArray, ins: TypedArray[], shape: readonly number[], strides: (readonly number[])[], offsets: number[]): void {
  if (out.length === 0) return;
  const l = collapse(shape, strides);
  const nd = l.shape.length;
  const steps = l.strides.map((s): Step => (s[nd - 1] === 1 ? '1' : s[nd - 1] === 0 ? '0' : 's'));
  const types = [out, ...ins].map(dtypeOf).join(',');
  makeKernel(names, expr, types, steps)(out, ins, l.shape, l.strides, offsets);
}

/** Shortest run a strided copy does with `set`/`fill` rather than an element loop. */
const MIN_COPY_RUN = 16;

export function runUnary(op: UnaryOp, out: TypedArray, a: View, data: TypedArray): void {
  if (out.length === 0) return;
  if (op === 'identity') {
    // A copy or cast: native copies (set, fill) of whole runs where the view has long ones.
    const r = new RunReader(data, a.shape, a.strides, a.offset);
    if ((r.runStride === 1 || r.runStride === 0) && (r.runLength >= MIN_COPY_RUN || r.runLength === out.length)) {
      r.read(out, 0, out.length);
      return;
    }
  }
  runJs(['x'], UNARY_EXPR[op], out, [data], a.shape, [a.strides], [a.offset]);
}

export function runBinary(op: BinaryOp, out: TypedArray, a: View, ad: TypedArray, b: View, bd: TypedArray, shape: readonly number[]): void {
  if (out.length === 0) return;
  runJs(['a', 'b'], BINARY_EXPR[op], out, [ad, bd], shape, [a.strides, b.strides], [a.offset, b.offset]);
}

export function runBinaryScalar(op: BinaryOp, out: TypedArray, a: View, ad: TypedArray, s: number, order: ScalarOrder): void {
  if (out.length === 0) return;
  const expr = BINARY_EXPR[op];
  const zero = a.shape.map(() => 0);
  const names = order === 's op a' ? ['b', 'a'] : ['a', 'b'];
  // The scalar is bound as a second "input" with stride 0: one element, read once.
  runJs(names, expr, out, [ad, Float64Array.of(s)], a.shape, [a.strides, zero], [a.offset, 0]);
}

export function runWhere(out: TypedArray, c: View, cd: TypedArray, a: View, ad: TypedArray, b: View, bd: TypedArray, shape: readonly number[]): void {
  runJs(['c', 'a', 'b'], '(c !== 0 ? a : b)', out, [cd, ad, bd], shape, [c.strides, a.strides, b.strides], [c.offset, a.offset, b.offset]);
}
