/**
 * Batch normalisation in training mode (src/autograd/ops/batchnorm.ts) in three passes over the
 * activations instead of a dozen ops (issue 17: in a train step of the MNIST CNN with batch norm,
 * the composed ops were 40% of the step, nearly all of it memory traffic: each op reads and
 * writes 7 MB at the first layer).
 *
 * Bit for bit the composed ops on this backend, by construction:
 *   - every elementwise value is the same float32 operations in the same order (kernels bn_* in
 *     ./elementwise-kernels.ts, which list them);
 *   - every sum over N·H·W is summed exactly as raw.reduce sums it here (WasmBackend.sumOuterInner
 *     → wasmSumOuterInner): the same rows staged into the same blocks, flushed at the same
 *     points, zero-padded the same way and added into the same 8 float64 lanes by the same kernel,
 *     combined in the same order and rounded once to float32. Only the values staged are computed
 *     on the fly instead of read from an intermediate tensor;
 *   - the per-channel steps (mean = Σx / n, 1/√(σ² + ε), invstd / n) are the JavaScript
 *     expressions of the small ops (float64, rounded to float32), as the reference loops that run
 *     those [1, C, 1, 1] tensors compute them.
 * The path applies where raw.reduce would take wasmSumOuterInner (a float32 tensor owning its
 * contiguous buffer, rows of H·W ≥ 32 floats, at most one staging block) and where n is a float32
 * integer; otherwise the caller composes the ops. Tested against the composed ops in
 * test/tensor/wasm/batchnorm.test.ts.
 */
import { stagingInstance, wasmSumOuterInner } from './elementwise.js';

const fround = Math.fround;
/** Float32 words of constants at ACC + CST (splatted, 4 words each) and the extra sum lanes. */
const LANES = 16;
const CST = 64;

type Staging = NonNullable<ReturnType<typeof stagingInstance>>;

function staging(N: number, HW: number): Staging | null {
  const w = stagingInstance();
  if (!w) return null;
  const { BLOCK, MIN_RUN, SUM_MIN_INNER } = w.layout;
  // the conditions under which wasmSumOuterInner sums whole rows (else the composed path's sum differs)
  return HW >= MIN_RUN && N * HW >= SUM_MIN_INNER && HW <= BLOCK && HW > 0 ? w : null;
}

function setConstants(w: Staging, values: number[]): void {
  const at = w.layout.ACC + CST;
  for (let i = 0; i < values.length; i++) w.f32.fill(values[i], at + 4 * i, at + 4 * i + 4);
}

/** The 8 float64 lanes at word `l` (of f64) combined as wasmSumOuterInner combines them. */
function lanesTotal(f64: Float64Array, l: number): number {
  return ((f64[l] + f64[l + 1]) + (f64[l + 2] + f64[l + 3])) + ((f64[l + 4] + f64[l + 5]) + (f64[l + 6] + f64[l + 7]));
}

const bytes16 = (n: number) => ((n + 3) & ~3) * 4;

/**
 * For each channel m: stage its N rows of `rows` floats (from each source) as wasmSumOuterInner
 * stages them; at each flush `transform(staged)` fills the staged areas to be summed, which are
 * zero-padded to a step of 8 and added into one set of lanes each. Returns the sums per area.
 */
function channelSums(
  w: Staging, sources: Float32Array[], N: number, C: number, HW: number, areas: number[],
  transform: (m: number, staged: number) => void,
): Float32Array[] {
  const { f32, f64, sum } = w;
  const { BLOCK, ACC } = w.layout;
  const stage = [w.layout.A, w.layout.B];
  const out = areas.map(() => new Float32Array(C));
  const lane = (k: number) => (ACC + LANES * k) / 2;
  const flush = (m: number, staged: number) => {
    if (staged === 0) return;
    transform(m, staged);
    const padded = (staged + 7) & ~7;
    areas.forEach((area, k) => {
      f32.fill(0, area + staged, area + padded);
      sum(area * 4, padded * 4, ACC * 4 + LANES * 4 * k);
    });
  };
  for (let m = 0; m < C; m++) {
    areas.forEach((_, k) => f64.fill(0, lane(k), lane(k) + 8));
    let staged = 0;
    for (let o = 0; o < N; o++) {
      if (staged + HW > BLOCK) {
        flush(m, staged);
        staged = 0;
      }
      const s = (o * C + m) * HW;
      sources.forEach((src, k) => f32.set(src.subarray(s, s + HW), stage[k] + staged));
      staged += HW;
    }
    flush(m, staged);
    areas.forEach((_, k) => (out[k][m] = lanesTotal(f64, lane(k))));
  }
  return out;
}

/**
 * Runs `kernel(x, y, z, bytes, cst)` row by row over [N, C, HW] (constants of the row's channel
 * set first), staging inputs through A (and B) and copying results out of OUT (and COND): rows
 * are packed into a block with 4 words of slack, since a row's last vector may run past it
 * (rows are computed in order, so the next row overwrites that tail with its own values).
 */
function rowPass(
  w: Staging, inputs: Float32Array[], outputs: Float32Array[], N: number, C: number, HW: number,
  constants: (c: number) => number[], run: (a: number, b: number, o1: number, o2: number, bytes: number, cst: number) => void,
): void {
  const { f32 } = w;
  const { BLOCK, A, B, OUT, COND, ACC } = w.layout;
  const ins = [A, B], outs = [OUT, COND];
  const rowsPerBlock = Math.max(1, Math.floor((BLOCK - 4) / HW));
  const rows = N * C;
  for (let r0 = 0; r0 < rows; r0 += rowsPerBlock) {
    const r1 = Math.min(rows, r0 + rowsPerBlock);
    const from = r0 * HW, to = r1 * HW;
    inputs.forEach((x, k) => f32.set(x.subarray(from, to), ins[k]));
    for (let r = r0; r < r1; r++) {
      setConstants(w, constants(r % C));
      const off = (r - r0) * HW * 4;
      run(A * 4 + off, B * 4 + off, OUT * 4 + off, COND * 4 + off, bytes16(HW), (ACC + CST) * 4);
    }
    outputs.forEach((y, k) => y.set(f32.subarray(outs[k], outs[k] + (to - from)), from));
  }
}

export interface BatchNormForward {
  y: Float32Array;
  xhat: Float32Array;
  /** Per channel: the batch mean and biased variance, and 1/√(σ² + ε). */
  mean: Float32Array;
  variance: Float32Array;
  invstd: Float32Array;
}

/**
 * x [N, C, HW] contiguous: the composed forward's y, x̂, mean, variance and invstd, or null where
 * this path does not apply. `alloc` gives the result arrays (the buffer pool).
 */
export function batchNormForwardWasm(
  x: Float32Array, N: number, C: number, HW: number, weight: Float32Array, bias: Float32Array, eps: number, alloc: (n: number) => Float32Array,
): BatchNormForward | null {
  const w = staging(N, HW);
  const n = N * HW;
  if (!w || x.length !== N * C * HW || weight.length !== C || bias.length !== C) return null;
  const s1 = new Float32Array(C);
  if (!wasmSumOuterInner(x, N, C, HW, s1)) return null;
  const mean = Float32Array.from(s1, (s) => s / n);
  const { A } = w.layout;
  // Σ (x − mean)², each square rounded as the composed sub and square round it
  const [s2] = channelSums(w, [x], N, C, HW, [A], (m, staged) => {
    setConstants(w, [mean[m]]);
    w.bn.bn_sqdev(A * 4, bytes16(staged), (w.layout.ACC + CST) * 4);
  });
  const variance = Float32Array.from(s2, (s) => s / n);
  const invstd = Float32Array.from(variance, (v) => 1 / fround(Math.sqrt(fround(v + eps))));
  const y = alloc(x.length), xhat = alloc(x.length);
  rowPass(w, [x], [xhat, y], N, C, HW, (c) => [mean[c], invstd[c], weight[c], bias[c]], (a, _b, o1, o2, bytes, cst) => w.bn.bn_out(a, o1, o2, bytes, cst));
  return { y, xhat, mean, variance, invstd };
}

export interface BatchNormBackward {
  gx: Float32Array;
  /** Σ g·x̂ and Σ g per channel. */
  gw: Float32Array;
  gb: Float32Array;
}

/** The composed backward's three gradients for g, x̂ [N, C, HW] contiguous, or null. */
export function batchNormBackwardWasm(
  g: Float32Array, xhat: Float32Array, invstd: Float32Array, weight: Float32Array, N: number, C: number, HW: number, alloc: (n: number) => Float32Array,
): BatchNormBackward | null {
  const w = staging(N, HW);
  const n = N * HW;
  if (!w || fround(n) !== n || g.length !== N * C * HW || xhat.length !== g.length || weight.length !== C || invstd.length !== C) return null;
  const { A, B, COND, E, F, ACC } = w.layout;
  // Σ g, Σ g·x̂, Σ g·w, Σ (g·w)·x̂ with the composed ops' roundings and summation order
  const [gb, gw, sumGh, sumGhXh] = channelSums(w, [g, xhat], N, C, HW, [A, E, F, COND], (m, staged) => {
    setConstants(w, [weight[m]]);
    w.bn.bn_gsums(A * 4, B * 4, E * 4, F * 4, COND * 4, bytes16(staged), (ACC + CST) * 4);
  });
  const k = Float32Array.from(invstd, (v) => v / n);
  const gx = alloc(g.length);
  rowPass(w, [g, xhat], [gx], N, C, HW, (c) => [weight[c], n, sumGh[c], sumGhXh[c], k[c]], (a, b, o1, _o2, bytes, cst) => w.bn.bn_gx(a, b, o1, bytes, cst));
  return { gx, gw, gb };
}
