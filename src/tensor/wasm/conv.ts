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
import { sumOuterInnerInto, WASM_MIN_ELEMENTS, wasmBinaryInto, wasmBinarySumInto } from './elementwise.js';
import { biasRowsWasm, col2imWasm, gemmWorkspace, maxPool2x2GradWords, maxPool2x2Words, packGatherWasm, packPanelsF32, runWorkspace, sumChannelsReluWords, type Workspace } from './runtime.js';

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
  if (g.N * g.L === 0 || g.Og === 0) return new Float32Array(g.N * g.O * g.L);
  let y: Float32Array | null = null;
  const ok = forwardProducts(x, g, w, p, bias, relu, 0, (ws, gi) => {
    y ??= alloc(g.N * g.O * g.L);
    // C[o, n * L + l] is y[n, gi * Og + o, l].
    const c = ws.f32;
    for (let n = 0; n < g.N; n++) {
      for (let o = 0; o < g.Og; o++) {
        const s = ws.c + o * ws.ldc + n * g.L;
        y.set(c.subarray(s, s + g.L), (n * g.O + gi * g.Og + o) * g.L);
      }
    }
  });
  return ok ? y : null;
}

/**
 * maxPool2d(relu(conv(x, w) + bias), 2) with the 2 x 2, stride-2 pooling run on the product while
 * it is still in wasm memory (kernels.ts maxpool2x2_bias_relu over the rows of C, whose N planes
 * per channel lie back to back, adding the bias and applying relu as it reads them): the
 * convolution's activations, four times the pooled size, are read once, never rewritten, never
 * copied out. The pooling sees the values bias_rows would have stored (the same float32 add and
 * relu) and runs the comparisons of the separate ops (conv2dForwardF32 with relu, then
 * maxPool2x2Wasm), so the pooled values and the winners' indices (h * OW + w in the conv output
 * plane) are the same bits.
 * Null where this path does not apply (pooled width < 4, an empty problem, past the memory).
 */
export function conv2dReluPoolF32(
  x: Float32Array, xShape: readonly number[], w: Float32Array, wShape: readonly number[], p: Conv2dParams, bias: Float32Array,
  alloc: AllocF32 = fresh, allocI32: (n: number) => Int32Array = (n) => new Int32Array(n),
): { out: Float32Array; indices: Int32Array } | null {
  const g = geometry(xShape, wShape, p);
  const PH = g.OH >> 1, PW = g.OW >> 1, PL = PH * PW;
  if (PW < 4 || PH === 0 || g.N * g.L === 0 || g.Og === 0) return null;
  const n = g.N * g.O * PL;
  let out: Float32Array | null = null, indices: Int32Array | null = null;
  const ok = forwardProducts(x, g, w, p, bias, true, regions(0, [n, n]).words, (ws, gi, free, biasw) => {
    const [outw, idxw] = regions(free, [n, n]).at;
    // Plane (o, n) of the product starts at c + o * ldc + n * L; its pooled plane goes where
    // the result [N, O, OH/2, OW/2] has it, (n * O + gi * Og + o) * PL: one group of N planes
    // per channel row o, whose bias the pooling adds, with relu, as it reads (no bias_rows pass).
    const at = gi * g.Og * PL, strides = { pn: g.N, xs: g.L, os: g.O * PL, xq: ws.ldc, oq: PL };
    maxPool2x2Words(ws.c, g.Og * g.N, g.OH, g.OW, PH, PW, outw + at, idxw + at, strides, biasw + gi * g.Og);
    if (gi === g.G - 1) {
      out = alloc(n);
      indices = allocI32(n);
      out.set(ws.f32.subarray(outw, outw + n));
      indices.set(ws.i32.subarray(idxw, idxw + n));
    }
  }, false);
  return ok && out && indices ? { out, indices } : null;
}

/**
 * The forward products, one per group, each followed by `epilogue` while C (and `extraWords`
 * free words, at word `free`) are in wasm memory. False (before any product) if it does not fit.
 */
function forwardProducts(
  x: Float32Array, g: Geometry, w: Float32Array, p: Conv2dParams, bias: Float32Array | null, relu: boolean, extraWords: number,
  epilogue: (ws: Workspace, gi: number, free: number, biasw: number) => void, biasRows = true,
): boolean {
  const NL = g.N * g.L;
  const t = tables(g, p);
  const planeWords = t.Hp * t.Wp;
  const sizes = [g.N * g.C * planeWords, NL, g.CKK, g.O, extraWords];
  const ws = gemmWorkspace('f32', g.Og, NL, g.CKK, regions(0, sizes).words);
  if (!ws) return false;
  const [xw, posw, tapw, biasw, free] = regions(ws.extra, sizes).at;
  copyPadded(x, g, p, t, ws.f32, xw);
  ws.i32.set(t.pos, posw);
  ws.i32.set(t.tap, tapw);
  if (bias) ws.f32.set(bias, biasw);
  for (let gi = 0; gi < g.G; gi++) {
    packPanelsF32({ data: w, offset: gi * g.Og * g.CKK, rowStride: g.CKK, colStride: 1 }, g.CKK, 1, g.Og, g.CKK, MR, ws.f32, ws.a);
    packGatherWasm(xw + gi * g.Cg * planeWords, posw, NL, tapw, g.CKK, NR, ws.b);
    runWorkspace(ws);
    if (bias && biasRows) biasRowsWasm(ws, g.Og, biasw + gi * g.Og, relu);
    epilogue(ws, gi, free, biasw);
  }
  return true;
}

/** gW_g[Og, CKK] = gy_g[Og, N*L] · cols^T[N*L, CKK], the whole batch in one product. */
export function conv2dGradWeightF32(x: Float32Array, xShape: readonly number[], gy: Float32Array, wShape: readonly number[], p: Conv2dParams, alloc: AllocF32 = fresh): Float32Array | null {
  const g = geometry(xShape, wShape, p);
  const NL = g.N * g.L;
  if (NL === 0 || g.CKK === 0) return new Float32Array(g.O * g.CKK);
  const t = tables(g, p);
  const planeWords = t.Hp * t.Wp;
  const sizes = [g.N * g.C * planeWords, gy.length, NL, g.CKK, NL, g.Og];
  const ws = weightGradWorkspace(g, regions(0, sizes).words);
  if (!ws) return null;
  const gw = alloc(g.O * g.CKK);
  const [xw, gyw, posw, tapw, posYw, rowsYw] = regions(ws.extra, sizes).at;
  copyPadded(x, g, p, t, ws.f32, xw);
  ws.f32.set(gy, gyw);
  stageTables(ws, t, { posw, tapw, posYw, rowsYw });
  weightGradProducts(ws, g, t, { xw, gyw, posw, tapw, posYw, rowsYw }, gw);
  return gw;
}

/** Word locations in wasm memory of the index tables of the gradient products. */
interface At { posw: number; tapw: number; posYw: number; rowsYw: number }

function stageTables(ws: Workspace, t: Tables, at: At): void {
  ws.i32.set(t.pos, at.posw);
  ws.i32.set(t.tap, at.tapw);
  ws.i32.set(t.posY, at.posYw);
  ws.i32.set(t.rowsY, at.rowsYw);
}

/**
 * The weight gradient's product computes gW_g[Og, CKK] or, where that pads less, its transpose
 * gW_g^T[CKK, Og] = cols[CKK, N*L] · gy_g^T[N*L, Og]: the gemm pads rows to MR = 4 and columns
 * to NR = 8, so conv1 of the tutorial (Og 40, CKK 9) computes 12 x 40 instead of 40 x 16. Each
 * entry is the same products in the same k order either way (a*b = b*a, also fused), so the
 * same bits.
 */
function weightGradTransposed(g: Geometry): boolean {
  if (orientation !== 'auto') return orientation === 'transposed';
  const pad = (v: number, r: number) => Math.ceil(v / r) * r;
  return pad(g.CKK, MR) * pad(g.Og, NR) < pad(g.Og, MR) * pad(g.CKK, NR);
}

let orientation: 'auto' | 'normal' | 'transposed' = 'auto';
/** Forces the weight gradient's orientation (tests check that both give the same bits); 'auto' restores the choice by padding. */
export function setWeightGradOrientation(o: 'auto' | 'normal' | 'transposed'): void {
  orientation = o;
}

function weightGradWorkspace(g: Geometry, extraWords: number): Workspace | null {
  const NL = g.N * g.L;
  return weightGradTransposed(g) ? gemmWorkspace('f32', g.CKK, g.Og, NL, extraWords) : gemmWorkspace('f32', g.Og, g.CKK, NL, extraWords);
}

/** The weight gradient's products, one per group, from padded x and gy already in wasm memory. */
function weightGradProducts(ws: Workspace, g: Geometry, t: Tables, at: At & { xw: number; gyw: number }, gw: Float32Array): void {
  const NL = g.N * g.L, planeWords = t.Hp * t.Wp;
  const transposed = weightGradTransposed(g);
  // C[o, k], or C[k, o] when transposed, is gW[gi * Og + o, k].
  const [so, sk] = transposed ? [1, ws.ldc] : [ws.ldc, 1];
  for (let gi = 0; gi < g.G; gi++) {
    // The two operands as (source, row offsets, rows, column offsets): gy's rows are output
    // channels, x's are taps; the columns of both are the output positions.
    const gy = [at.gyw + gi * g.Og * g.L, at.rowsYw, g.Og, at.posYw] as const;
    const x = [at.xw + gi * g.Cg * planeWords, at.tapw, g.CKK, at.posw] as const;
    const [a, b] = transposed ? [x, gy] : [gy, x];
    packGatherWasm(a[0], a[1], a[2], a[3], NL, MR, ws.a);
    packGatherWasm(b[0], b[1], b[2], b[3], NL, NR, ws.b);
    runWorkspace(ws);
    const c = ws.f32;
    for (let o = 0; o < g.Og; o++) {
      const d = (gi * g.Og + o) * g.CKK, s = ws.c + o * so;
      for (let k = 0; k < g.CKK; k++) gw[d + k] = c[s + k * sk];
    }
  }
}

/** gx = col2im(W_g^T[CKK, Og] · gy_g[Og, N*L]), the whole batch in one product per group. */
export function conv2dGradInputF32(gy: Float32Array, wShape: readonly number[], w: Float32Array, xShape: readonly number[], p: Conv2dParams, alloc: AllocF32 = fresh): Float32Array | null {
  const g = geometry(xShape, wShape, p);
  const NL = g.N * g.L;
  if (NL === 0 || g.Og === 0 || g.CKK === 0) return new Float32Array(g.N * g.C * g.H * g.W);
  const t = tables(g, p);
  const planeWords = t.Hp * t.Wp;
  const sizes = [gy.length, NL, g.Og, NL, g.CKK, g.N * g.C * planeWords];
  const ws = gemmWorkspace('f32', g.CKK, NL, g.Og, regions(0, sizes).words);
  if (!ws) return null;
  const gx = alloc(g.N * g.C * g.H * g.W);
  const [gyw, posYw, rowsYw, posw, tapw, gxw] = regions(ws.extra, sizes).at;
  ws.f32.set(gy, gyw);
  stageTables(ws, t, { posw, tapw, posYw, rowsYw });
  inputGradProducts(ws, g, p, t, w, { gyw, posYw, rowsYw, posw, tapw, gxw }, gx);
  return gx;
}

/** The input gradient's products and col2im, one per group, from gy already in wasm memory; then unpads into gx. */
function inputGradProducts(ws: Workspace, g: Geometry, p: Conv2dParams, t: Tables, w: Float32Array, at: At & { gyw: number; gxw: number }, gx: Float32Array): void {
  const NL = g.N * g.L, planeWords = t.Hp * t.Wp;
  const { H, W } = g, [ph, pw] = p.padding, gxw = at.gxw;
  ws.f32.fill(0, gxw, gxw + g.N * g.C * planeWords);
  for (let gi = 0; gi < g.G; gi++) {
    packPanelsF32({ data: w, offset: gi * g.Og * g.CKK, rowStride: 1, colStride: g.CKK }, 1, g.CKK, g.CKK, g.Og, MR, ws.f32, ws.a);
    packGatherWasm(at.gyw + gi * g.Og * g.L, at.posYw, NL, at.rowsYw, g.Og, NR, ws.b);
    runWorkspace(ws);
    col2imWasm(ws, at.posw, at.tapw, g.CKK, g.N, g.L, gxw + gi * g.Cg * planeWords);
  }
  if (ph === 0 && pw === 0) {
    gx.set(ws.f32.subarray(gxw, gxw + gx.length));
    return;
  }
  for (let plane = 0; plane < g.N * g.C; plane++) {
    for (let h = 0; h < H; h++) {
      const s = gxw + (plane * t.Hp + h + ph) * t.Wp + pw;
      gx.set(ws.f32.subarray(s, s + W), (plane * H + h) * W);
    }
  }
}

/** Which gradients a convolution's backward needs: of its input x, its weight, its bias. */
export interface ConvGradNeeds { input: boolean; weight: boolean; bias: boolean }

/**
 * The whole backward of a convolution with bias (and relu) from one staged copy of its output
 * gradient (issue 17): g, masked by relu where `y` (relu's saved output) is given, is written
 * once into the gemm module's memory, and the bias gradient, the weight gradient's product and
 * the input gradient's product all read it there. The unfused sequence (reluBackward into a new
 * array, then conv2dGradInputF32, conv2dGradWeightF32 and the backend's sumOuterInner, each
 * staging that array again) computes the same operations on the same values: the mask is the
 * same SIMD kernel over the same blocks (wasmBinaryInto), the bias sum is the same function
 * (sumOuterInnerInto, run on a view of the staged copy), and the two products are the same
 * packs and gemms (weightGradProducts, inputGradProducts), so every bit matches; what goes is
 * the masked array, its pool allocation, and the staging passes of gy (one per consumer).
 * g and y are contiguous [N, O, OH, OW]. Null (before any product runs) where this path does
 * not apply: an empty problem, a mask too small for the SIMD kernel, operands past the memory.
 */
export function conv2dBackwardF32(
  gOut: Float32Array, y: Float32Array | null, x: Float32Array, xShape: readonly number[], w: Float32Array, wShape: readonly number[], p: Conv2dParams,
  needs: ConvGradNeeds, alloc: AllocF32 = fresh,
): { gx: Float32Array | null; gw: Float32Array | null; gb: Float32Array | null } | null {
  const g = geometry(xShape, wShape, p);
  if (gOut.length !== g.N * g.O * g.L || (y && y.length !== gOut.length)) return null;
  if (y && gOut.length < WASM_MIN_ELEMENTS) return null; // the unfused mask would run the JavaScript loop
  return backwardProducts(g, x, w, p, needs, alloc, 0, (mem, _i32, gyw, gb) => {
    const op = y ? 'reluBackward' : null;
    // Mask and bias sum in one pass where the block kernels allow it; else mask (or copy), then sum the staged copy.
    if (gb && wasmBinarySumInto(op, mem, gyw, gOut, y, g.N, g.O, g.L, gb)) return true;
    if (y) {
      if (!wasmBinaryInto('reluBackward', mem, gyw, gOut, y)) return false;
    } else mem.set(gOut, gyw);
    if (gb) sumOuterInnerInto(mem.subarray(gyw, gyw + gOut.length), g.N, g.O, g.L, gb);
    return true;
  });
}

/**
 * The backward of conv2dReluPoolF32 from the gradient of its pooled output gP [N, O, OH/2, OW/2],
 * the pooled values and the winners' indices. With gm = reluBackward(gP, pooled) and
 * g = maxPool2dGrad(gm, indices) (see src/autograd/ops/conv-pool.ts for why masking in pooled
 * space is relu's mask), gx and gw are exactly conv2dBackwardF32(g, null, ...)'s, and gb is the
 * float64 sum of gm over N and the pooled plane (kernels.ts sum_channels_relu, rounded once):
 * the same terms as the sum of g, without the zeros the unpooling adds, a quarter of the
 * reading. Neither gm nor g is ever an array: the unpooling kernel masks as it goes
 * (maxpool2x2_relu_grad) and writes g straight into the gemm module's memory, where both
 * products read it. Null where this path does not apply.
 */
export function conv2dReluPoolBackwardF32(
  gP: Float32Array, pooled: Float32Array, indices: Int32Array, x: Float32Array, xShape: readonly number[], w: Float32Array, wShape: readonly number[],
  p: Conv2dParams, needs: ConvGradNeeds, alloc: AllocF32 = fresh,
): { gx: Float32Array | null; gw: Float32Array | null; gb: Float32Array | null } | null {
  const g = geometry(xShape, wShape, p);
  const PH = g.OH >> 1, PW = g.OW >> 1, n = g.N * g.O * PH * PW;
  if (PW < 4 || PH === 0 || gP.length !== n || pooled.length !== n || indices.length !== n) return null;
  // Staged: the pooled gradient and values (each followed by the 3 words the sum's last vector
  // may read), the indices, and the sum's scratch.
  const sizes = [n + 4, n + 4, n, 8 * g.O + 4];
  return backwardProducts(g, x, w, p, needs, alloc, regions(0, sizes).words, (mem, i32, gyw, gb, free) => {
    const [gpw, pvw, idxw, sumw] = regions(free, sizes).at;
    mem.set(gP, gpw);
    mem.set(pooled, pvw);
    i32.set(indices, idxw);
    // Rows and columns past the last window (odd OH or OW) are no window's: zero (all of it, when there are any).
    if ((g.OH & 1) | (g.OW & 1)) mem.fill(0, gyw, gyw + g.N * g.O * g.L);
    maxPool2x2GradWords(gpw, idxw, gyw, g.N * g.O, g.OH, g.OW, PH, PW, pvw);
    // The bias gradient from the masked pooled gradient: the same terms without the zeros the unpooling adds.
    if (gb) sumChannelsReluWords(gpw, pvw, g.O, g.N, PH * PW, sumw, gb);
    return true;
  });
}

/**
 * The products of a convolution's backward from its output gradient g [N, O, OH, OW], which
 * `stage` writes into wasm memory at word gyw (and sums into gb, the bias gradient, when asked),
 * with `extraWords` free words at word `free` for its own use; false from it means "not here".
 * Every consumer reads that one copy (see conv2dBackwardF32).
 */
function backwardProducts(
  g: Geometry, x: Float32Array, w: Float32Array, p: Conv2dParams, needs: ConvGradNeeds, alloc: AllocF32, extraWords: number,
  stage: (mem: Float32Array, i32: Int32Array, gyw: number, gb: Float32Array | null, free: number) => boolean,
): { gx: Float32Array | null; gw: Float32Array | null; gb: Float32Array | null } | null {
  const NL = g.N * g.L;
  if (NL === 0 || g.Og === 0 || g.CKK === 0) return null;
  const t = tables(g, p);
  const planeWords = t.Hp * t.Wp, paddedX = g.N * g.C * planeWords;
  const sizes = [g.N * g.O * g.L, NL, g.CKK, NL, g.Og, needs.weight ? paddedX : 0, needs.input ? paddedX : 0, extraWords];
  const words = regions(0, sizes).words;
  // Both products' workspaces, with their free space (where gy is staged) at one word offset.
  const probeW = needs.weight ? weightGradWorkspace(g, 0) : null;
  const probeX = needs.input ? gemmWorkspace('f32', g.CKK, NL, g.Og, 0) : null;
  if ((needs.weight && !probeW) || (needs.input && !probeX)) return null;
  // An empty product's free space starts right after the 64 reserved words: staging alone (the bias gradient) needs no more.
  const base = Math.max(probeW?.extra ?? 64, probeX?.extra ?? 64);
  const wsW = probeW && weightGradWorkspace(g, base - probeW.extra + words);
  const wsX = probeX && gemmWorkspace('f32', g.CKK, NL, g.Og, base - probeX.extra + words);
  const wsS = gemmWorkspace('f32', 0, 0, 0, base - 64 + words);
  if ((needs.weight && !wsW) || (needs.input && !wsX) || !wsS) return null;
  // All three reserved the same bytes, so only the first call could grow the memory: the last
  // call's views are current, and serve all three.
  for (const ws of [wsW, wsX]) if (ws) Object.assign(ws, { f32: wsS.f32, i32: wsS.i32, i16: wsS.i16 });
  const [gyw, posw, tapw, posYw, rowsYw, xw, gxw, free] = regions(base, sizes).at;
  const mem = wsS.f32;
  const gb = needs.bias ? alloc(g.O) : null;
  if (!stage(mem, wsS.i32, gyw, gb, free)) return null;
  let gw: Float32Array | null = null, gx: Float32Array | null = null;
  if (wsW || wsX) stageTables(wsS, t, { posw, tapw, posYw, rowsYw });
  if (wsW) {
    gw = alloc(g.O * g.CKK);
    copyPadded(x, g, p, t, mem, xw);
    weightGradProducts(wsW, g, t, { xw, gyw, posw, tapw, posYw, rowsYw }, gw);
  }
  if (wsX) {
    gx = alloc(g.N * g.C * g.H * g.W);
    inputGradProducts(wsX, g, p, t, w, { gyw, posYw, rowsYw, posw, tapw, gxw }, gx);
  }
  return { gx, gw, gb };
}
