/**
 * Row reductions of a contiguous [outer, inner] buffer: sum, max, min, argmax, argmin.
 * One thread reduces one range [start, end) of a row; the loop bound is a run-time argument, which
 * is why the runtime raises gpu.js's loopMaxIterations (by default it would silently stop at 1000).
 *
 * Long rows are reduced in two passes: each row is cut into ~sqrt(inner) chunks reduced in
 * parallel, then the partial results are reduced. That keeps a GPU busy when outer is small (the
 * mean of a whole tensor) and bounds float32 rounding error by ~2 sqrt(inner) ulps instead of
 * inner ulps (the cpu backend accumulates in float64). arg* reduce in one pass (they carry an
 * index that a second pass over partial maxima would need too).
 */
import type { ReduceOp } from '../../backend.js';

/** Rows longer than this are reduced in two passes. */
export const TWO_PASS_MIN = 1024;

const STEP: Record<ReduceOp, { init: string; step: string; result: string }> = {
  sum: { init: 'let acc = 0;', step: 'acc += v;', result: 'acc' },
  max: { init: 'let acc = a[base + start];', step: 'acc = Math.max(acc, v);', result: 'acc' },
  min: { init: 'let acc = a[base + start];', step: 'acc = Math.min(acc, v);', result: 'acc' },
  // The first extreme wins ties (PyTorch/NumPy): only a strictly better value moves the index.
  argmax: { init: 'let acc = a[base + start]; let at = start;', step: 'if (v > acc) { acc = v; at = k; }', result: 'at' },
  argmin: { init: 'let acc = a[base + start]; let at = start;', step: 'if (v < acc) { acc = v; at = k; }', result: 'at' },
};

/**
 * Source of a kernel over [outer, chunks] outputs: output (o, c) reduces elements
 * [c * chunk, min(inner, (c + 1) * chunk)) of row o.
 */
export function reduceSource(op: ReduceOp): string {
  const s = STEP[op];
  return `function reduce_${op}(a, inner, chunk, chunks) {
  const o = idiv(this.thread.x, chunks);
  const c = this.thread.x - o * chunks;
  const base = o * inner;
  const start = c * chunk;
  const len = Math.min(inner, start + chunk) - start;
  ${s.init}
  for (let j = 0; j < len; j++) {
    const k = start + j;
    const v = a[base + k];
    ${s.step}
  }
  return ${s.result};
}`;
}

/** How many chunks a row of `inner` elements is cut into for the first pass (1: a single pass). */
export function chunksFor(op: ReduceOp, inner: number): number {
  if (op === 'argmax' || op === 'argmin' || inner <= TWO_PASS_MIN) return 1;
  return Math.ceil(inner / Math.ceil(Math.sqrt(inner)));
}
