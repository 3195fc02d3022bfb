/**
 * Elementwise kernels (unary, binary, binary with a scalar, where, copies): one expression per op,
 * turned by a small generator into a gpu.js kernel that reads any strided view. Starts from the
 * shared expressions of ../../elementwise-expr.ts, the reference; where an expression differs here
 * it is because GLSL differs from JavaScript (tanh overflow, pow of a negative base).
 *
 * A view reaches the kernel as (offset, strides) arguments; the output element's multi-index is
 * recovered from its flat index with exact integer division. Before that, dimensions are
 * coalesced: adjacent dims that every operand walks contiguously merge into one, so a contiguous
 * or a simple broadcast op becomes rank 1 or 2 and a kernel is specialised by rank only.
 */
import type { BinaryOp, UnaryOp, View } from '../../backend.js';
import { BINARY_EXPR as CPU_BINARY_EXPR, UNARY_EXPR as CPU_UNARY_EXPR } from '../../elementwise-expr.js';

/**
 * The shared expressions, with the three GLSL cannot take as they are: tanh overflows
 * (exp of a large argument), sign needs no Math.sign, and pow of a negative base is NaN in GLSL.
 */
export const UNARY_EXPR: Record<UnaryOp, string> = {
  ...CPU_UNARY_EXPR,
  tanh: 'tanhSafe(x)',
  sign: '(x > 0 ? 1 : (x < 0 ? -1 : 0))',
};

export const BINARY_EXPR: Record<BinaryOp, string> = {
  ...CPU_BINARY_EXPR,
  pow: 'powJs(a, b)',
};

export const WHERE_EXPR = '(c !== 0 ? a : b)';

/** Operands after coalescing: one shared shape, per-operand strides and offsets. */
export interface Coalesced {
  shape: number[];
  strides: number[][];
  offsets: number[];
}

/**
 * Merges the dims of `shape` that every operand walks contiguously (stride[k] = stride[k+1] *
 * shape[k+1]) and drops size-1 dims. The result has rank >= 1 (a scalar becomes shape [1]).
 */
export function coalesce(shape: readonly number[], views: readonly Pick<View, 'strides' | 'offset'>[]): Coalesced {
  const dims: number[] = [];
  const strides: number[][] = views.map(() => []);
  for (let d = 0; d < shape.length; d++) {
    if (shape[d] === 1) continue;
    const last = dims.length - 1;
    const mergeable = last >= 0 && views.every((v, i) => strides[i][last] === v.strides[d] * shape[d]);
    if (mergeable) {
      dims[last] *= shape[d];
      views.forEach((v, i) => (strides[i][last] = v.strides[d]));
    } else {
      dims.push(shape[d]);
      views.forEach((v, i) => strides[i].push(v.strides[d]));
    }
  }
  if (dims.length === 0) {
    dims.push(1);
    strides.forEach((s) => s.push(0));
  }
  return { shape: dims, strides, offsets: views.map((v) => v.offset) };
}

/**
 * Source of a kernel that evaluates `expr` over operands `names` (each a buffer argument `<name>_`
 * plus its offset and strides) at every element of a rank-`rank` output; `scalar` adds a number
 * argument `s` bound to the name `scalarName`.
 *   function map(x_, d1, xo, xs0, xs1) { i1 = i % d1; i0 = i / d1; x = x_[xo + i0*xs0 + i1*xs1]; ... }
 */
export function mapSource(names: readonly string[], expr: string, rank: number, scalarName?: string): string {
  const params: string[] = names.map((n) => `${n}_`);
  for (let d = 1; d < rank; d++) params.push(`d${d}`);
  for (const n of names) {
    params.push(`${n}o`);
    for (let d = 0; d < rank; d++) params.push(`${n}s${d}`);
  }
  if (scalarName) params.push('s');
  const body: string[] = ['let rest = this.thread.x;'];
  for (let d = rank - 1; d >= 1; d--) {
    body.push(`const q${d} = idiv(rest, d${d});`, `const i${d} = rest - q${d} * d${d};`, `rest = q${d};`);
  }
  body.push('const i0 = rest;');
  for (const n of names) {
    const terms = Array.from({ length: rank }, (_, d) => ` + i${d} * ${n}s${d}`).join('');
    body.push(`const ${n} = ${n}_[${n}o${terms}];`);
  }
  if (scalarName) body.push(`const ${scalarName} = s;`);
  body.push(`return ${expr};`);
  return `function map(${params.join(', ')}) {\n  ${body.join('\n  ')}\n}`;
}

/** The arguments mapSource's kernel takes, in order (buffers are supplied by the caller). */
export function mapScalarArgs(c: Coalesced): number[] {
  const args: number[] = c.shape.slice(1);
  c.strides.forEach((s, i) => args.push(c.offsets[i], ...s));
  return args;
}
