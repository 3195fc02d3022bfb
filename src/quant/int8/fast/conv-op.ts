/**
 * The ops of a conv2d (implicit GEMM, optionally with a fused max pool) and of a linear layer: their
 * weight tiles, and the tables of quads (4 output pixels, or one pooling window, per kernel step)
 * and of output offsets.
 */
import type { LayerPlan } from '../validate.js';
import type { ConvKernelSpec } from './kernels.js';
import type { ConvOp, Im2colOp, Layout, LinearOp, Value } from './layout.js';
import { buildTiles, clampRange, type TileTaps } from './tiles.js';

type ConvPlan = Extract<LayerPlan, { kind: 'conv2d' }>;
type PoolPlan = Extract<LayerPlan, { kind: 'maxpool2d' }>;

/** The weight tile t of a conv2d: its k-pairs' tap offsets and the weight at (k-pair, channel, slot). */
function convTile(plan: ConvPlan, a: Value, t: number): TileTaps {
  const g = plan.geometry, K = plan.weighted.K, cw = plan.weighted.centeredWeight;
  const { C, O, KH, KW, groups } = g;
  const Cg = C / groups, Og = O / groups;
  const [dh, dw] = g.dilation;
  const px = a.pixBytes, KK = KH * KW;
  if (a.planes > 0) {
    // The tap pairs' planes (tapPairPlan): k-pair kk is plane kk, weights channels 2kk, 2kk + 1.
    return {
      first: 0,
      taps: Int32Array.from({ length: a.planes }, (_, kk) => kk * a.planeBytes),
      weight: (kk, o, slot) => cw[o * K + 2 * kk + slot],
    };
  }
  if (a.colPairs > 0) {
    // One channel, words (x[h, w], x[h, w + dw]): k-pair (kh, kw pair) holds the taps 2j, 2j + 1.
    const KWP = Math.ceil(KW / 2);
    const taps = new Int32Array(KH * KWP);
    for (let kh = 0, i = 0; kh < KH; kh++) for (let j = 0; j < KWP; j++) taps[i++] = (kh * dh * a.Ws + 2 * j * dw) * px;
    return {
      first: 0,
      taps,
      weight: (kk, o, slot) => {
        const kh = Math.floor(kk / KWP), kw = 2 * (kk % KWP) + slot;
        return kw < KW ? cw[o * K + kh * KW + kw] : 0;
      },
    };
  }
  // k-pairs (kh, kw, channel pair), the pair innermost (adjacent in memory), over the channel
  // pairs of the groups this tile's channels belong to.
  const oLast = Math.min(8 * t + 8, O) - 1;
  const c0 = Math.floor((8 * t) / Og) * Cg, c1 = (Math.floor(oLast / Og) + 1) * Cg;
  const cp0 = Math.floor(c0 / 2), np = Math.ceil(c1 / 2) - cp0;
  const taps = new Int32Array(KK * np);
  for (let kh = 0, i = 0; kh < KH; kh++) {
    for (let kw = 0; kw < KW; kw++) for (let cp = 0; cp < np; cp++) taps[i++] = (kh * dh * a.Ws + kw * dw) * px + 4 * cp;
  }
  return {
    first: 4 * cp0,
    taps,
    weight: (kk, o, slot) => {
      const c = 2 * (cp0 + (kk % np)) + slot, gi = Math.floor(o / Og);
      if (c >= C || Math.floor(c / Cg) !== gi) return 0;
      return cw[o * K + (c - gi * Cg) * KK + Math.floor(kk / np)];
    },
  };
}

/**
 * The quads of a conv2d (the byte offset of each kernel step's first input pixel) and the output
 * offset of each of its 4 results, with the kernel's pixel pattern: one pooling window per quad
 * when a pool is fused, else 4 consecutive pixels of a row.
 */
function convQuads(plan: ConvPlan, pool: PoolPlan | null, a: Value, b: Value): { quads: Int32Array; outOffs: Int32Array; pixels: [number, number, number, number] } {
  const g = plan.geometry, px = a.pixBytes;
  const [sh, sw] = g.stride, [ph, pw] = g.padding;
  // The corner of output pixel (oh, ow)'s receptive field, relative to its image.
  const pixel = (oh: number, ow: number) => ((oh * sh + a.padH - ph) * a.Ws + ow * sw + a.padW - pw) * px;
  const outAt = (oh: number, ow: number) => ((oh + b.padH) * b.Ws + b.padW + ow) * b.pixBytes;
  if (pool) {
    // A quad is one pooling window (its first position repeated if it has fewer than 4).
    const pg = pool.geometry;
    const window: number[] = [];
    for (let i = 0; i < pg.kernel[0]; i++) for (let j = 0; j < pg.kernel[1]; j++) window.push(pixel(i * pg.dilation[0], j * pg.dilation[1]) - pixel(0, 0));
    while (window.length < 4) window.push(window[0]);
    const quads = new Int32Array(pg.OH * pg.OW), outOffs = new Int32Array(pg.OH * pg.OW);
    for (let oh = 0, q = 0; oh < pg.OH; oh++) {
      for (let ow = 0; ow < pg.OW; ow++, q++) {
        quads[q] = pixel(oh * pg.stride[0], ow * pg.stride[1]);
        outOffs[q] = outAt(oh, ow);
      }
    }
    return { quads, outOffs, pixels: window as [number, number, number, number] };
  }
  // A quad is 4 consecutive pixels of a row; those past its end are written to pixel 0's place first.
  const perRow = Math.ceil(g.OW / 4);
  const quads = new Int32Array(g.OH * perRow), outOffs = new Int32Array(4 * g.OH * perRow);
  for (let oh = 0, q = 0; oh < g.OH; oh++) {
    for (let ow = 0; ow < g.OW; ow += 4, q++) {
      quads[q] = pixel(oh, ow);
      for (let j = 0; j < 4; j++) outOffs[4 * q + j] = outAt(oh, ow + j < g.OW ? ow + j : ow);
    }
  }
  return { quads, outOffs, pixels: [0, sw * px, 2 * sw * px, 3 * sw * px] };
}

/** The largest element (a loop: spreading a large array into Math.max overflows the call stack). */
function maxOf(xs: ArrayLike<number>): number {
  let m = -Infinity;
  for (let i = 0; i < xs.length; i++) if (xs[i] > m) m = xs[i];
  return m;
}

export function convOp(
  fn: number, plan: ConvPlan, pool: PoolPlan | null, reluLo: boolean,
  a: Value, b: Value, inIndex: number, outIndex: number, layout: Layout,
): ConvOp {
  const { layer, weighted } = plan;
  const { tiles, nTiles, stride, maxTap, requant } = buildTiles(
    plan.geometry.O, layout, b,
    { bias: weighted.bias, multiplier: layer.multiplier, shift: layer.shift, accBound: weighted.accBound, ...clampRange(layer, reluLo) },
    (t) => convTile(plan, a, t),
  );
  const { quads, outOffs, pixels } = convQuads(plan, pool, a, b);
  const spec: ConvKernelSpec = { pixels, stride, mode: pool ? 'pool' : 'each', requant };
  // Pixels past a row's end read past the image: the input value keeps that much slack.
  const maxRead = maxOf(quads) + maxTap + maxOf(spec.pixels) + 4;
  a.slack = Math.max(a.slack, maxRead - a.imageBytes + 16);
  return {
    kind: 'conv', fn, spec, in: inIndex, out: outIndex,
    quads: layout.put(quads), nQuads: quads.length, outOffs: layout.put(outOffs),
    tiles, nTiles,
  };
}

export function linearOp(
  fn: number, plan: Extract<LayerPlan, { kind: 'linear' }>, reluLo: boolean, a: Value, b: Value, inIndex: number, outIndex: number, chunk: number, layout: Layout,
): LinearOp {
  const { layer, weighted } = plan;
  const { O, K } = weighted, cw = weighted.centeredWeight;
  if (a.padH !== 0 || a.padW !== 0 || a.colPairs !== 0) throw new Error('unreachable: a linear input is plain');
  // The input words are contiguous, pixel-major: k-pair kk = (h·W + w)·pairs + cp holds the
  // features (c·H·W + h·W + w) of channels c = 2cp, 2cp + 1 of the flattened [C, H, W] input.
  const HW = a.H * a.W, K2 = a.pairs * HW;
  const { tiles, nTiles, stride, requant } = buildTiles(
    O, layout, b, { bias: weighted.bias, multiplier: layer.multiplier, shift: layer.shift, accBound: weighted.accBound, ...clampRange(layer, reluLo) },
    () => ({
      first: 0,
      taps: Int32Array.from({ length: K2 }, (_, kk) => 4 * kk),
      weight: (kk, o, slot) => {
        const c = 2 * (kk % a.pairs) + slot, hw = Math.floor(kk / a.pairs);
        return c < a.C ? cw[o * K + c * HW + hw] : 0;
      },
    }),
  );
  const ib = a.imageBytes, ob = b.imageBytes;
  const nQuads = (chunk + 3) >> 2;
  return {
    kind: 'linear', fn, in: inIndex, out: outIndex, tiles, nTiles,
    spec: { pixels: [0, ib, 2 * ib, 3 * ib], stride, mode: 'each', requant },
    quads: layout.put(Int32Array.from({ length: nQuads }, (_, q) => 4 * q * ib)),
    outOffs: layout.put(Int32Array.from({ length: 4 * nQuads }, (_, j) => j * ob)),
  };
}

/**
 * A conv2d over a single channel as the 1x1 conv over its input's tap pairs (im2col in
 * ./kernels.ts): channel c of the pairs' value is tap c of the kernel in row-major order, so the
 * weights are the same numbers, [O, KH·KW] padded with a zero to an even count.
 */
export function tapPairPlan(plan: ConvPlan): ConvPlan {
  const g = plan.geometry, T = g.KH * g.KW, C2 = 2 * Math.ceil(T / 2), cw = plan.weighted.centeredWeight;
  const centeredWeight = new Int32Array(g.O * C2);
  for (let o = 0; o < g.O; o++) for (let t = 0; t < T; t++) centeredWeight[o * C2 + t] = cw[o * T + t];
  return {
    ...plan,
    geometry: { ...g, C: C2, H: g.OH, W: g.OW, KH: 1, KW: 1, stride: [1, 1], padding: [0, 0], dilation: [1, 1], groups: 1 },
    weighted: { ...plan.weighted, K: C2, centeredWeight },
  };
}

/** The im2col step before such a conv: tap offsets from a receptive field's corner, and where output pixel (0, 0)'s is. */
export function im2colOp(plan: ConvPlan, a: Value, b: Value, inIndex: number, outIndex: number): Im2colOp {
  const g = plan.geometry, T = g.KH * g.KW, [dh, dw] = g.dilation, px = a.pixBytes;
  const taps: number[] = [];
  for (let t = 0; t < 2 * b.planes; t++) {
    const u = Math.min(t, T - 1); // a missing last tap reads the one before; its weight is 0
    taps.push((Math.floor(u / g.KW) * dh * a.Ws + (u % g.KW) * dw) * px);
  }
  const origin = ((a.padH - g.padding[0]) * a.Ws + (a.padW - g.padding[1])) * px;
  const srcRow = g.stride[0] * a.Ws * px;
  // The last step of a row reads up to 3 input words past it (its writes past a plane stay in planeBytes).
  const lastRead = origin + (g.OH - 1) * srcRow + 4 * (Math.ceil(g.OW / 4) * 4 - 1) + Math.max(...taps) + 4;
  a.slack = Math.max(a.slack, lastRead - a.imageBytes + 16);
  return { kind: 'im2col', spec: { taps, planeBytes: b.planeBytes }, in: inIndex, out: outIndex, origin, srcRow, OH: g.OH, OW: g.OW };
}
