/**
 * The wasm backend's float32 convolution: the same products as the reference im2col + gemm of
 * src/tensor/cpu/conv.ts, computed for the whole minibatch at once, cols[CKK, N * L], without ever
 * materialising cols: im2col is fused into the packing of the gemm operand. Every entry of cols
 * is x[pos[j] + tap[k]], where pos[j] is the input offset of output position j = (n, oh, ow) and
 * tap[k] the offset of kernel tap k = (c, kh, kw) within a window (after zero-padding x once),
 * so packing is a gather through two small index tables, in either orientation (cols for the
 * forward pass, cols^T for the weight gradient). Float32 accumulation in the SIMD gemm of
 * ./kernels.ts; each function returns null when the problem does not fit the module's memory, and
 * the backend then runs the reference. Results go into arrays from `alloc` (the backend passes its
 * buffer pool: a recycled array costs no page faults, a fresh 7 MB one about 3 ms); every element
 * of the result is written, so the array need not be zeroed.
 */
import type { Conv2dParams } from '../backend.js';
import { geometry, type Geometry } from '../cpu/conv.js';
import { MR, NR } from './kernels.js';
import { biasRowsWasm, col2imWasm, gemmWorkspace, packGatherWasm, packPanelsF32, runWorkspace } from './runtime.js';

/** Where a result array comes from: any Float32Array of exactly n elements (contents ignored). */
export type AllocF32 = (n: number) => Float32Array;
const fresh: AllocF32 = (n) => new Float32Array(n);

/**
 * Byte offsets that turn im2col into a gather, cols[k, j] = xPadded[pos[j] + tap[k]] (for group
 * 0; group gi adds gi * Cg planes), and the matching offsets into y / gy.
 */
interface Tables {
  Hp: number; Wp: number;
  /** Per output position j = (n * OH + oh) * OW + ow: its window's corner in padded x. */
  pos: Int32Array;
  /** Per kernel tap k = (c * KH + kh) * KW + kw: its offset within a window. */
  tap: Int32Array;
  /** Per output position: (n, channel 0, oh, ow) in y. */
  posY: Int32Array;
  /** Per output channel o of a group: its plane in y (o * L). */
  rowsY: Int32Array;
}

const tableCache = new Map<string, Tables>();

function tables(g: Geometry, p: Conv2dParams): Tables {
  const key = `${g.N},${g.C},${g.H},${g.W},${g.O},${g.KH},${g.KW},${p.stride},${p.padding},${p.dilation},${g.G}`;
  const hit = tableCache.get(key);
  if (hit) return hit;
  const { N, C, H, W, O, KH, KW, OH, OW, Cg, Og, CKK, L } = g;
  const Hp = H + 2 * p.padding[0], Wp = W + 2 * p.padding[1];
  const [sh, sw] = p.stride, [dh, dw] = p.dilation;
  const pos = new Int32Array(N * L), posY = new Int32Array(N * L);
  for (let n = 0, j = 0; n < N; n++) {
    for (let oh = 0; oh < OH; oh++) {
      for (let ow = 0; ow < OW; ow++, j++) {
        pos[j] = 4 * (n * C * Hp * Wp + oh * sh * Wp + ow * sw);
        posY[j] = 4 * (n * O * L + oh * OW + ow);
      }
    }
  }
  const tap = new Int32Array(CKK);
  for (let c = 0, k = 0; c < Cg; c++) for (let kh = 0; kh < KH; kh++) for (let kw = 0; kw < KW; kw++, k++) tap[k] = 4 * (c * Hp * Wp + kh * dh * Wp + kw * dw);
  const rowsY = new Int32Array(Og);
  for (let o = 0; o < Og; o++) rowsY[o] = 4 * o * L;
  const t = { Hp, Wp, pos, tap, posY, rowsY };
  if (tableCache.size >= 32) tableCache.delete(tableCache.keys().next().value as string);
  tableCache.set(key, t);
  return t;
}

/**
 * Places regions one after another (16-word aligned) in a workspace's free space: the word
 * offsets of each, from sizes in words.
 */
function regions(start: number, sizes: number[]): { at: number[]; words: number } {
  const at: number[] = [];
  let o = start;
  for (const s of sizes) {
    at.push(o);
    o = Math.ceil((o + s) / 16) * 16; // plain arithmetic: exact past 2^31 words, where the workspace refuses
  }
  return { at, words: o - start };
}

/** Copies x into wasm memory at word d0, zero-padded to [N, C, Hp, Wp]. */
function copyPadded(x: Float32Array, g: Geometry, p: Conv2dParams, t: Tables, dst: Float32Array, d0: number): void {
  const [ph, pw] = p.padding;
  if (ph === 0 && pw === 0) {
    dst.set(x, d0);
    return;
  }
  const { H, W } = g, { Hp, Wp } = t;
  dst.fill(0, d0, d0 + g.N * g.C * Hp * Wp);
  for (let plane = 0; plane < g.N * g.C; plane++) {
    for (let h = 0; h < H; h++) {
      const s = (plane * H + h) * W;
      dst.set(x.subarray(s, s + W), d0 + (plane * Hp + h + ph) * Wp + pw);
    }
  }
}

/**
 * y = conv(x, w) with one gemm per group: W_g[Og, CKK] · cols[CKK, N*L]. Null if it does not fit.
 * With `bias` ([O]), the epilogue adds bias[o] to every output of channel o while the product is
 * still in wasm memory, and then applies relu if `relu` is set (kernels.ts bias_rows): the same
 * float32 operations as the separate add and relu, so the same bits, without their two passes
 * over the activations, their staging copies and their result arrays. relu is fused only
 * together with a bias (asking for it alone is an error).
 */
export function conv2dForwardF32(
  x: Float32Array, xShape: readonly number[], w: Float32Array, wShape: readonly number[], p: Conv2dParams, alloc: AllocF32 = fresh,
  bias: Float32Array | null = null, relu = false,
): Float32Array | null {
  if (relu && !bias) throw new Error('conv2dForwardF32: relu is fused only after a bias');
  const g = geometry(xShape, wShape, p);
  const NL = g.N * g.L;
  if (NL === 0 || g.Og === 0) return new Float32Array(g.N * g.O * g.L);
  const t = tables(g, p);
  const planeWords = t.Hp * t.Wp;
  const sizes = [g.N * g.C * planeWords, NL, g.CKK, g.O];
  const ws = gemmWorkspace('f32', g.Og, NL, g.CKK, regions(0, sizes).words);
  if (!ws) return null;
  const y = alloc(g.N * g.O * g.L);
  const [xw, posw, tapw, biasw] = regions(ws.extra, sizes).at;
  copyPadded(x, g, p, t, ws.f32, xw);
  ws.i32.set(t.pos, posw);
  ws.i32.set(t.tap, tapw);
  if (bias) ws.f32.set(bias, biasw);
  for (let gi = 0; gi < g.G; gi++) {
    packPanelsF32({ data: w, offset: gi * g.Og * g.CKK, rowStride: g.CKK, colStride: 1 }, g.CKK, 1, g.Og, g.CKK, MR, ws.f32, ws.a);
    packGatherWasm(ws, xw + gi * g.Cg * planeWords, posw, NL, tapw, g.CKK, NR, ws.b);
    runWorkspace(ws);
    if (bias) biasRowsWasm(ws, g.Og, biasw + gi * g.Og, relu);
    // C[o, n * L + l] is y[n, gi * Og + o, l].
    const c = ws.f32;
    for (let n = 0; n < g.N; n++) {
      for (let o = 0; o < g.Og; o++) {
        const s = ws.c + o * ws.ldc + n * g.L;
        y.set(c.subarray(s, s + g.L), (n * g.O + gi * g.Og + o) * g.L);
      }
    }
  }
  return y;
}

/** gW_g[Og, CKK] = gy_g[Og, N*L] · cols^T[N*L, CKK], the whole batch in one product. */
export function conv2dGradWeightF32(x: Float32Array, xShape: readonly number[], gy: Float32Array, wShape: readonly number[], p: Conv2dParams, alloc: AllocF32 = fresh): Float32Array | null {
  const g = geometry(xShape, wShape, p);
  const NL = g.N * g.L;
  if (NL === 0 || g.CKK === 0) return new Float32Array(g.O * g.CKK);
  const t = tables(g, p);
  const planeWords = t.Hp * t.Wp;
  const sizes = [g.N * g.C * planeWords, gy.length, NL, g.CKK, NL, g.Og];
  const ws = gemmWorkspace('f32', g.Og, g.CKK, NL, regions(0, sizes).words);
  if (!ws) return null;
  const gw = alloc(g.O * g.CKK);
  const [xw, gyw, posw, tapw, posYw, rowsYw] = regions(ws.extra, sizes).at;
  copyPadded(x, g, p, t, ws.f32, xw);
  ws.f32.set(gy, gyw);
  ws.i32.set(t.pos, posw);
  ws.i32.set(t.tap, tapw);
  ws.i32.set(t.posY, posYw);
  ws.i32.set(t.rowsY, rowsYw);
  for (let gi = 0; gi < g.G; gi++) {
    packGatherWasm(ws, gyw + gi * g.Og * g.L, rowsYw, g.Og, posYw, NL, MR, ws.a);
    packGatherWasm(ws, xw + gi * g.Cg * planeWords, tapw, g.CKK, posw, NL, NR, ws.b);
    runWorkspace(ws);
    for (let o = 0; o < g.Og; o++) {
      const s = ws.c + o * ws.ldc;
      gw.set(ws.f32.subarray(s, s + g.CKK), (gi * g.Og + o) * g.CKK);
    }
  }
  return gw;
}

/** gx = col2im(W_g^T[CKK, Og] · gy_g[Og, N*L]), the whole batch in one product per group. */
export function conv2dGradInputF32(gy: Float32Array, wShape: readonly number[], w: Float32Array, xShape: readonly number[], p: Conv2dParams, alloc: AllocF32 = fresh): Float32Array | null {
  const g = geometry(xShape, wShape, p);
  const NL = g.N * g.L;
  const { H, W } = g, [ph, pw] = p.padding;
  if (NL === 0 || g.Og === 0 || g.CKK === 0) return new Float32Array(g.N * g.C * H * W);
  const t = tables(g, p);
  const planeWords = t.Hp * t.Wp;
  const sizes = [gy.length, NL, g.Og, NL, g.CKK, g.N * g.C * planeWords];
  const ws = gemmWorkspace('f32', g.CKK, NL, g.Og, regions(0, sizes).words);
  if (!ws) return null;
  const gx = alloc(g.N * g.C * H * W);
  const [gyw, posYw, rowsYw, posw, tapw, gxw] = regions(ws.extra, sizes).at;
  ws.f32.set(gy, gyw);
  ws.i32.set(t.posY, posYw);
  ws.i32.set(t.rowsY, rowsYw);
  ws.i32.set(t.pos, posw);
  ws.i32.set(t.tap, tapw);
  ws.f32.fill(0, gxw, gxw + g.N * g.C * planeWords);
  for (let gi = 0; gi < g.G; gi++) {
    packPanelsF32({ data: w, offset: gi * g.Og * g.CKK, rowStride: 1, colStride: g.CKK }, 1, g.CKK, g.CKK, g.Og, MR, ws.f32, ws.a);
    packGatherWasm(ws, gyw + gi * g.Og * g.L, posYw, NL, rowsYw, g.Og, NR, ws.b);
    runWorkspace(ws);
    col2imWasm(ws, posw, tapw, g.CKK, g.N, g.L, gxw + gi * g.Cg * planeWords);
  }
  if (ph === 0 && pw === 0) {
    gx.set(ws.f32.subarray(gxw, gxw + gx.length));
    return gx;
  }
  for (let plane = 0; plane < g.N * g.C; plane++) {
    for (let h = 0; h < H; h++) {
      const s = gxw + (plane * t.Hp + h + ph) * t.Wp + pw;
      gx.set(ws.f32.subarray(s, s + W), (plane * H + h) * W);
    }
  }
  return gx;
}
