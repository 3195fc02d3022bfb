/**
 * A naive reference implementation of the tensor ops over plain JS arrays, written without
 * looking at src/: every op is the textbook definition with explicit index arithmetic (no strides,
 * no views, no im2col), so a bug in the engine's layout or lowering cannot be reproduced here.
 * Values are row-major flat `number[]` with a shape: an `NDArray`. All arithmetic is float64.
 *
 * Semantics follow PyTorch (broadcasting, torch.matmul's 1-D promotion, conv2d as
 * cross-correlation, pooling with implicit -inf / zero padding, count_include_pad=True).
 */

export interface NDArray {
  shape: number[];
  data: number[];
}

export function nd(shape: readonly number[], data: ArrayLike<number>): NDArray {
  const n = size(shape);
  if (data.length !== n) throw new Error(`reference: ${data.length} values for shape [${shape.join(', ')}]`);
  return { shape: [...shape], data: Array.from(data) };
}

export function size(shape: readonly number[]): number {
  return shape.reduce((p, d) => p * d, 1);
}

/** The multi-index of flat position `flat` in a row-major array of `shape`. */
export function unravel(flat: number, shape: readonly number[]): number[] {
  const idx = new Array<number>(shape.length).fill(0);
  for (let k = shape.length - 1; k >= 0; k--) {
    idx[k] = flat % shape[k];
    flat = Math.floor(flat / shape[k]);
  }
  return idx;
}

/** The flat row-major position of a multi-index. */
export function ravel(idx: readonly number[], shape: readonly number[]): number {
  let flat = 0;
  for (let k = 0; k < shape.length; k++) flat = flat * shape[k] + idx[k];
  return flat;
}

export function get(a: NDArray, idx: readonly number[]): number {
  return a.data[ravel(idx, a.shape)];
}

/** Builds an array of `shape` by evaluating f at every multi-index. */
export function build(shape: readonly number[], f: (idx: number[]) => number): NDArray {
  const n = size(shape);
  const data = new Array<number>(n);
  for (let i = 0; i < n; i++) data[i] = f(unravel(i, shape));
  return { shape: [...shape], data };
}

// ---- broadcasting and elementwise ---------------------------------------------------------------

/** NumPy broadcasting of any number of shapes; throws when incompatible. */
export function broadcastShape(...shapes: (readonly number[])[]): number[] {
  const rank = Math.max(0, ...shapes.map((s) => s.length));
  const out: number[] = [];
  for (let k = 0; k < rank; k++) {
    let d = 1;
    for (const s of shapes) {
      const sd = s[s.length - rank + k] ?? 1;
      if (sd === 1) continue;
      if (d !== 1 && d !== sd) throw new Error(`reference: cannot broadcast [${shapes.map((x) => x.join(',')).join('] [')}]`);
      d = sd;
    }
    out.push(d);
  }
  return out;
}

/** Reads `a` at an index of a larger broadcast shape (leading dims dropped, size-1 dims pinned). */
export function getBroadcast(a: NDArray, outIdx: readonly number[]): number {
  const lead = outIdx.length - a.shape.length;
  const idx = a.shape.map((d, k) => (d === 1 ? 0 : outIdx[lead + k]));
  return get(a, idx);
}

export function map(a: NDArray, f: (x: number) => number): NDArray {
  return { shape: [...a.shape], data: a.data.map(f) };
}

export function zip(a: NDArray, b: NDArray, f: (x: number, y: number) => number): NDArray {
  const shape = broadcastShape(a.shape, b.shape);
  return build(shape, (i) => f(getBroadcast(a, i), getBroadcast(b, i)));
}

export function where(c: NDArray, a: NDArray, b: NDArray): NDArray {
  const shape = broadcastShape(c.shape, a.shape, b.shape);
  return build(shape, (i) => (getBroadcast(c, i) !== 0 ? getBroadcast(a, i) : getBroadcast(b, i)));
}

export function expand(a: NDArray, shape: readonly number[]): NDArray {
  return build(shape, (i) => getBroadcast(a, i));
}

/** Scalar functions with PyTorch's definitions (sigmoid, relu). */
export const scalar = {
  neg: (x: number) => -x,
  exp: Math.exp,
  log: Math.log,
  sqrt: Math.sqrt,
  abs: Math.abs,
  relu: (x: number) => (x > 0 ? x : 0),
  sigmoid: (x: number) => 1 / (1 + Math.exp(-x)),
  tanh: Math.tanh,
  add: (x: number, y: number) => x + y,
  sub: (x: number, y: number) => x - y,
  mul: (x: number, y: number) => x * y,
  div: (x: number, y: number) => x / y,
  pow: Math.pow,
  maximum: (x: number, y: number) => (Number.isNaN(x) || Number.isNaN(y) ? NaN : x > y ? x : y),
  minimum: (x: number, y: number) => (Number.isNaN(x) || Number.isNaN(y) ? NaN : x < y ? x : y),
  clamp: (lo: number, hi: number) => (x: number) => (x < lo ? lo : x > hi ? hi : x),
};

// ---- reductions -----------------------------------------------------------------------------------

export type ReduceKind = 'sum' | 'mean' | 'max' | 'min' | 'argmax' | 'argmin';

function normAxis(axis: number, rank: number): number {
  const a = axis < 0 ? axis + rank : axis;
  if (a < 0 || a >= rank) throw new Error(`reference: axis ${axis} out of range for rank ${rank}`);
  return a;
}

/**
 * Reduces over `axes` (all when undefined). argmax/argmin over several axes index the row-major
 * flattening of the reduced block, first occurrence on ties.
 */
export function reduce(a: NDArray, kind: ReduceKind, axes?: number | readonly number[], keepdim = false): NDArray {
  const rank = a.shape.length;
  const list = axes === undefined ? a.shape.map((_, i) => i) : typeof axes === 'number' ? [axes] : [...axes];
  const red = new Set(list.map((x) => normAxis(x, rank)));
  const keptShape = a.shape.map((d, k) => (red.has(k) ? 1 : d));
  const groups = new Map<number, number[]>();
  for (let i = 0; i < a.data.length; i++) {
    const idx = unravel(i, a.shape);
    const key = ravel(idx.map((x, k) => (red.has(k) ? 0 : x)), keptShape);
    let g = groups.get(key);
    if (!g) groups.set(key, (g = []));
    g.push(a.data[i]); // visited in row-major order, so g is the reduced block flattened
  }
  const out = new Array<number>(size(keptShape));
  for (let key = 0; key < out.length; key++) {
    const g = groups.get(key) ?? [];
    out[key] = reduceList(g, kind);
  }
  const shape = keepdim ? keptShape : a.shape.filter((_, k) => !red.has(k));
  return { shape, data: out };
}

function reduceList(g: number[], kind: ReduceKind): number {
  switch (kind) {
    case 'sum':
      return g.reduce((s, x) => s + x, 0);
    case 'mean':
      return g.reduce((s, x) => s + x, 0) / g.length;
    case 'max':
      return g.some(Number.isNaN) ? NaN : Math.max(...g);
    case 'min':
      return g.some(Number.isNaN) ? NaN : Math.min(...g);
    case 'argmax':
    case 'argmin': {
      let best = 0;
      for (let i = 1; i < g.length; i++) {
        if (kind === 'argmax' ? g[i] > g[best] : g[i] < g[best]) best = i;
      }
      return best;
    }
  }
}

// ---- shape movement -----------------------------------------------------------------------------

export function reshape(a: NDArray, shape: readonly number[]): NDArray {
  return nd(shape, a.data);
}

export function permute(a: NDArray, dims: readonly number[]): NDArray {
  const shape = dims.map((d) => a.shape[d]);
  return build(shape, (i) => {
    const src = new Array<number>(dims.length);
    dims.forEach((d, k) => (src[d] = i[k]));
    return get(a, src);
  });
}

export function transpose(a: NDArray, d0: number, d1: number): NDArray {
  const r = a.shape.length;
  const dims = a.shape.map((_, i) => i);
  const i0 = normAxis(d0, r), i1 = normAxis(d1, r);
  [dims[i0], dims[i1]] = [dims[i1], dims[i0]];
  return permute(a, dims);
}

/** The indices Python's a[start:end:step] selects from a dim of size n (step > 0). */
export function sliceIndices(n: number, start?: number, end?: number, step = 1): number[] {
  const fix = (v: number | undefined, dflt: number) => {
    if (v === undefined) return dflt;
    const w = v < 0 ? v + n : v;
    return Math.min(Math.max(w, 0), n);
  };
  const s = fix(start, 0), e = fix(end, n);
  const out: number[] = [];
  for (let i = s; i < e; i += step) out.push(i);
  return out;
}

export function slice(a: NDArray, axis: number, start?: number, end?: number, step = 1): NDArray {
  const ax = normAxis(axis, a.shape.length);
  const picks = sliceIndices(a.shape[ax], start, end, step);
  const shape = [...a.shape];
  shape[ax] = picks.length;
  return build(shape, (i) => {
    const src = [...i];
    src[ax] = picks[i[ax]];
    return get(a, src);
  });
}

export function select(a: NDArray, axis: number, index: number): NDArray {
  const ax = normAxis(axis, a.shape.length);
  const n = a.shape[ax];
  const at = index < 0 ? index + n : index;
  const shape = a.shape.filter((_, k) => k !== ax);
  return build(shape, (i) => get(a, [...i.slice(0, ax), at, ...i.slice(ax)]));
}

export function concat(parts: readonly NDArray[], axis: number): NDArray {
  const ax = normAxis(axis, parts[0].shape.length);
  const shape = [...parts[0].shape];
  shape[ax] = parts.reduce((s, p) => s + p.shape[ax], 0);
  return build(shape, (i) => {
    let j = i[ax];
    for (const p of parts) {
      if (j < p.shape[ax]) {
        const src = [...i];
        src[ax] = j;
        return get(p, src);
      }
      j -= p.shape[ax];
    }
    throw new Error('unreachable');
  });
}

export function stack(parts: readonly NDArray[], axis: number): NDArray {
  const ax = normAxis(axis, parts[0].shape.length + 1);
  const shape = [...parts[0].shape];
  shape.splice(ax, 0, parts.length);
  return build(shape, (i) => {
    const src = [...i];
    src.splice(ax, 1);
    return get(parts[i[ax]], src);
  });
}

// ---- matmul -------------------------------------------------------------------------------------

/** torch.matmul: 1-D operands become a row (left) / column (right) vector, that dim is dropped after. */
export function matmul(a: NDArray, b: NDArray): NDArray {
  const a2 = a.shape.length === 1 ? reshape(a, [1, a.shape[0]]) : a;
  const b2 = b.shape.length === 1 ? reshape(b, [b.shape[0], 1]) : b;
  const M = a2.shape[a2.shape.length - 2], K = a2.shape[a2.shape.length - 1];
  const K2 = b2.shape[b2.shape.length - 2], N = b2.shape[b2.shape.length - 1];
  if (K !== K2) throw new Error(`reference matmul: ${K} vs ${K2}`);
  const batchA = a2.shape.slice(0, -2), batchB = b2.shape.slice(0, -2);
  const batch = broadcastShape(batchA, batchB);
  const out = build([...batch, M, N], (i) => {
    const bi = i.slice(0, batch.length);
    const m = i[batch.length], n = i[batch.length + 1];
    const ai = batchA.map((d, k) => (d === 1 ? 0 : bi[bi.length - batchA.length + k]));
    const bj = batchB.map((d, k) => (d === 1 ? 0 : bi[bi.length - batchB.length + k]));
    let s = 0;
    for (let k = 0; k < K; k++) s += get(a2, [...ai, m, k]) * get(b2, [...bj, k, n]);
    return s;
  });
  let shape = out.shape;
  if (a.shape.length === 1) shape = [...shape.slice(0, -2), shape[shape.length - 1]];
  if (b.shape.length === 1) shape = shape.slice(0, -1);
  return reshape(out, shape);
}

// ---- convolution and pooling --------------------------------------------------------------------

export interface ConvOptions {
  stride?: [number, number];
  padding?: [number, number];
  dilation?: [number, number];
  groups?: number;
}

export function convOutSize(n: number, k: number, stride: number, pad: number, dil: number): number {
  return Math.floor((n + 2 * pad - dil * (k - 1) - 1) / stride) + 1;
}

/**
 * y[n, o, i, j] = bias[o] + Σ_c Σ_p Σ_q x[n, g*Cg + c, i*sh - ph + p*dh, j*sw - pw + q*dw] · w[o, c, p, q]
 * with g = floor(o / (O / groups)) and out-of-range input positions reading 0: the direct
 * seven-loop definition (n, o, i, j, c, p, q).
 */
export function conv2d(x: NDArray, w: NDArray, bias: NDArray | null, opts: ConvOptions = {}): NDArray {
  const [sh, sw] = opts.stride ?? [1, 1];
  const [ph, pw] = opts.padding ?? [0, 0];
  const [dh, dw] = opts.dilation ?? [1, 1];
  const groups = opts.groups ?? 1;
  const [N, C, H, W] = x.shape;
  const [O, Cg, KH, KW] = w.shape;
  if (Cg * groups !== C) throw new Error('reference conv2d: channel mismatch');
  const OH = convOutSize(H, KH, sh, ph, dh), OW = convOutSize(W, KW, sw, pw, dw);
  const Og = O / groups;
  const y = new Array<number>(N * O * OH * OW).fill(0);
  for (let n = 0; n < N; n++) {
    for (let o = 0; o < O; o++) {
      const g = Math.floor(o / Og);
      for (let i = 0; i < OH; i++) {
        for (let j = 0; j < OW; j++) {
          let s = bias ? bias.data[o] : 0;
          for (let c = 0; c < Cg; c++) {
            for (let p = 0; p < KH; p++) {
              for (let q = 0; q < KW; q++) {
                const hi = i * sh - ph + p * dh, wi = j * sw - pw + q * dw;
                if (hi < 0 || hi >= H || wi < 0 || wi >= W) continue;
                s += get(x, [n, g * Cg + c, hi, wi]) * get(w, [o, c, p, q]);
              }
            }
          }
          y[((n * O + o) * OH + i) * OW + j] = s;
        }
      }
    }
  }
  return { shape: [N, O, OH, OW], data: y };
}

export interface PoolOptions {
  kernel: [number, number];
  stride?: [number, number];
  padding?: [number, number];
  dilation?: [number, number];
}

function pool2d(x: NDArray, opts: PoolOptions, kind: 'max' | 'avg'): NDArray {
  const [kh, kw] = opts.kernel;
  const [sh, sw] = opts.stride ?? opts.kernel;
  const [ph, pw] = opts.padding ?? [0, 0];
  const [dh, dw] = opts.dilation ?? [1, 1];
  const [N, C, H, W] = x.shape;
  const OH = convOutSize(H, kh, sh, ph, dh), OW = convOutSize(W, kw, sw, pw, dw);
  return build([N, C, OH, OW], ([n, c, i, j]) => {
    let best = -Infinity, sum = 0;
    for (let p = 0; p < kh; p++) {
      for (let q = 0; q < kw; q++) {
        const hi = i * sh - ph + p * dh, wi = j * sw - pw + q * dw;
        // Padding: -inf for max (never wins), 0 for average (but counted in the divisor).
        if (hi < 0 || hi >= H || wi < 0 || wi >= W) continue;
        const v = get(x, [n, c, hi, wi]);
        best = Math.max(best, v);
        sum += v;
      }
    }
    return kind === 'max' ? best : sum / (kh * kw);
  });
}

export const maxPool2d = (x: NDArray, opts: PoolOptions): NDArray => pool2d(x, opts, 'max');
export const avgPool2d = (x: NDArray, opts: PoolOptions): NDArray => pool2d(x, opts, 'avg');

// ---- softmax and losses -------------------------------------------------------------------------

/** softmax along one axis, directly from the definition e^{x_i} / Σ_j e^{x_j} (shifted by the max). */
export function softmax(x: NDArray, axis = -1): NDArray {
  const ax = normAxis(axis, x.shape.length);
  return build(x.shape, (i) => {
    const row = lineAlong(x, ax, i);
    const m = Math.max(...row);
    const denom = row.reduce((s, v) => s + Math.exp(v - m), 0);
    return Math.exp(get(x, i) - m) / denom;
  });
}

export function logSoftmax(x: NDArray, axis = -1): NDArray {
  const ax = normAxis(axis, x.shape.length);
  return build(x.shape, (i) => {
    const row = lineAlong(x, ax, i);
    const m = Math.max(...row);
    const lse = m + Math.log(row.reduce((s, v) => s + Math.exp(v - m), 0));
    return get(x, i) - lse;
  });
}

/** The values along `axis` through the point `at`. */
function lineAlong(x: NDArray, axis: number, at: readonly number[]): number[] {
  const out: number[] = [];
  for (let k = 0; k < x.shape[axis]; k++) {
    const idx = [...at];
    idx[axis] = k;
    out.push(get(x, idx));
  }
  return out;
}

/** Cross-entropy of logits [N, C] at integer labels: -log softmax(x)[n, y_n], then reduced. */
export function crossEntropy(logits: NDArray, labels: readonly number[], reduction: 'mean' | 'sum' | 'none' = 'mean'): NDArray {
  const [N, C] = logits.shape;
  const losses: number[] = [];
  for (let n = 0; n < N; n++) {
    const row = Array.from({ length: C }, (_, c) => get(logits, [n, c]));
    const m = Math.max(...row);
    const lse = m + Math.log(row.reduce((s, v) => s + Math.exp(v - m), 0));
    losses.push(lse - row[labels[n]]);
  }
  if (reduction === 'none') return { shape: [N], data: losses };
  const total = losses.reduce((s, v) => s + v, 0);
  return { shape: [], data: [reduction === 'sum' ? total : total / N] };
}
