/**
 * Elementwise kernels for the cpu backend. Each op is a one-line expression; a small code
 * generator turns it into a loop specialised for that op (one function per op, so V8 inlines
 * the expression instead of calling through a table), with a fast path for contiguous inputs
 * and a strided path that walks any view (permuted, sliced, broadcast with stride 0).
 * This is the same idea gpu.js applies to produce GPU kernels from JavaScript functions.
 */
import type { BinaryOp, UnaryOp, View } from '../backend.js';
import type { TypedArray } from '../dtype.js';
import { isContiguous } from '../shape.js';

/** Expressions over `x` (unary) or `a`, `b` (binary). NaN behaviour follows PyTorch where cheap. */
export const UNARY_EXPR: Record<UnaryOp, string> = {
  neg: '-x',
  exp: 'Math.exp(x)',
  log: 'Math.log(x)',
  sqrt: 'Math.sqrt(x)',
  abs: 'Math.abs(x)',
  relu: '(x < 0 ? 0 : x)',
  sigmoid: '1 / (1 + Math.exp(-x))',
  tanh: 'Math.tanh(x)',
  sign: 'Math.sign(x)',
  floor: 'Math.floor(x)',
  ceil: 'Math.ceil(x)',
  reciprocal: '1 / x',
  square: 'x * x',
  step: '(x > 0 ? 1 : 0)',
  identity: 'x',
};

export const BINARY_EXPR: Record<BinaryOp, string> = {
  add: 'a + b',
  sub: 'a - b',
  mul: 'a * b',
  div: 'a / b',
  pow: 'Math.pow(a, b)',
  maximum: 'Math.max(a, b)',
  minimum: 'Math.min(a, b)',
  eq: '(a === b ? 1 : 0)',
  ne: '(a !== b ? 1 : 0)',
  lt: '(a < b ? 1 : 0)',
  le: '(a <= b ? 1 : 0)',
  gt: '(a > b ? 1 : 0)',
  ge: '(a >= b ? 1 : 0)',
};

type Kernel = (out: TypedArray, ins: TypedArray[], shape: readonly number[], strides: (readonly number[])[], offsets: number[]) => void;

const cache = new Map<string, Kernel>();

/**
 * Builds a kernel for an expression over named inputs. The strided path iterates the last
 * dimension in an inner loop and advances the outer dimensions with an odometer.
 */
function makeKernel(names: string[], expr: string): Kernel {
  const key = `${names.join(',')}:${expr}`;
  const hit = cache.get(key);
  if (hit) return hit;
  const n = names.length;
  const decl = names.map((v, i) => `const ${v}_ = ins[${i}];`).join('\n');
  const contigLoads = names.map((v, i) => `const ${v} = ${v}_[o${i} + i];`).join(' ');
  const stridedInit = names.map((v, i) => `let p${i} = offsets[${i}]; const s${i} = strides[${i}];`).join('\n');
  const innerInit = names.map((_, i) => `let q${i} = p${i}; const l${i} = s${i}[nd - 1];`).join(' ');
  const innerLoads = names.map((v, i) => `const ${v} = ${v}_[q${i}]; q${i} += l${i};`).join(' ');
  const advance = names.map((_, i) => `p${i} += s${i}[d];`).join(' ');
  const rewind = names.map((_, i) => `p${i} -= s${i}[d] * shape[d];`).join(' ');
  const offs = Array.from({ length: n }, (_, i) => `const o${i} = offsets[${i}];`).join(' ');
  const src = `
${decl}
const total = out.length;
const nd = shape.length;
if (total === 0) return;
if (contiguous) {
  ${offs}
  for (let i = 0; i < total; i++) { ${contigLoads} out[i] = ${expr}; }
  return;
}
${stridedInit}
const last = shape[nd - 1];
const rows = total / last;
const idx = new Int32Array(nd);
let o = 0;
for (let r = 0; r < rows; r++) {
  ${innerInit}
  for (let j = 0; j < last; j++) { ${innerLoads} out[o++] = ${expr}; }
  for (let d = nd - 2; d >= 0; d--) {
    idx[d]++; ${advance}
    if (idx[d] < shape[d]) break;
    idx[d] = 0; ${rewind}
  }
}`;
  // eslint-disable-next-line @typescript-eslint/no-implied-eval
  const body = new Function('out', 'ins', 'shape', 'strides', 'offsets', 'contiguous', src) as (
    out: TypedArray, ins: TypedArray[], shape: readonly number[], strides: (readonly number[])[], offsets: number[], contiguous: boolean,
  ) => void;
  const kernel: Kernel = (out, ins, shape, strides, offsets) => {
    let contiguous = true;
    for (const s of strides) if (!isContiguous(shape, s)) contiguous = false;
    if (shape.length === 0) contiguous = true;
    body(out, ins, shape, strides, offsets, contiguous);
  };
  cache.set(key, kernel);
  return kernel;
}

export function runUnary(op: UnaryOp, out: TypedArray, a: View, data: TypedArray): void {
  makeKernel(['x'], UNARY_EXPR[op])(out, [data], a.shape, [a.strides], [a.offset]);
}

export function runBinary(op: BinaryOp, out: TypedArray, a: View, ad: TypedArray, b: View, bd: TypedArray, shape: readonly number[]): void {
  makeKernel(['a', 'b'], BINARY_EXPR[op])(out, [ad, bd], shape, [a.strides, b.strides], [a.offset, b.offset]);
}

export function runBinaryScalar(op: BinaryOp, out: TypedArray, a: View, ad: TypedArray, s: number, scalarFirst: boolean): void {
  const expr = BINARY_EXPR[op];
  // The scalar is bound as a second "input" with stride 0: one element, read every time.
  const sArr = new Float64Array([s]);
  const zero = a.shape.map(() => 0);
  const names = scalarFirst ? ['b', 'a'] : ['a', 'b'];
  makeKernel(names, expr)(out, [ad, sArr], a.shape, [a.strides, zero], [a.offset, 0]);
}

export function runWhere(out: TypedArray, c: View, cd: TypedArray, a: View, ad: TypedArray, b: View, bd: TypedArray, shape: readonly number[]): void {
  makeKernel(['c', 'a', 'b'], '(c !== 0 ? a : b)')(out, [cd, ad, bd], shape, [c.strides, a.strides, b.strides], [c.offset, a.offset, b.offset]);
}
