/**
 * A 3x3 conv2d + 2x2 max pool as Winograd F(2x2, 3x3) in exact integers (Lavin & Gray, "Fast
 * Algorithms for Convolutional Neural Networks", 2016): the transformed weights and the op.
 */
import { INT16_MAX } from '../../numerics/int-limits.js';
import type { LayerPlan } from '../validate.js';
import { TILE_BYTES } from './kernels.js';
import type { Layout, Value, WinoOp } from './layout.js';
import { requantSpec, STAGE_HALF_BYTES, stageConstants } from './stage.js';
import { clampRange } from './tiles.js';

/** G' = 2G of Winograd's F(2x2, 3x3) (Lavin & Gray 2016), so that the filter transform is integral. */
const WINO_G = [[2, 0, 0], [1, 1, 1], [1, -1, 1], [0, 0, 2]];

/**
 * The transformed weights U[ξ][o][c] = (G' g G'ᵀ)[ξ] (= 4 · Lavin's U), [16][O][C], if this conv2d
 * + max pool can run as Winograd F(2x2, 3x3): a 3x3 kernel with unit stride and dilation, one group,
 * at least 8 input channels (below that the transforms cost more than they save), a 2x2 pool of
 * stride 2, the transformed input (|V| <= 4·max|x|) and weights in int16, and 4× the accumulators
 * (what Y = Aᵀ M A holds) in int32. Otherwise null.
 */
export function winogradWeights(plan: Extract<LayerPlan, { kind: 'conv2d' }>, pool: Extract<LayerPlan, { kind: 'maxpool2d' }>, a: Value): Int32Array | null {
  const g = plan.geometry, pg = pool.geometry, w = plan.weighted;
  const unit = (t: readonly [number, number]) => t[0] === 1 && t[1] === 1;
  if (g.KH !== 3 || g.KW !== 3 || !unit(g.stride) || !unit(g.dilation) || g.groups !== 1 || g.C < 8 || a.colPairs !== 0) return null;
  if (pg.kernel[0] !== 2 || pg.kernel[1] !== 2 || pg.stride[0] !== 2 || pg.stride[1] !== 2 || !unit(pg.dilation)) return null;
  if (4 * w.maxAbsInput > INT16_MAX || 4 * w.accBound >= 2 ** 31) return null;
  const { O, C } = g, cw = w.centeredWeight;
  const U = new Int32Array(16 * O * C);
  const Gg = new Int32Array(12); // G' g, 4x3
  for (let o = 0; o < O; o++) {
    for (let c = 0; c < C; c++) {
      const k = (o * C + c) * 9;
      for (let r = 0; r < 4; r++) {
        for (let j = 0; j < 3; j++) Gg[3 * r + j] = WINO_G[r][0] * cw[k + j] + WINO_G[r][1] * cw[k + 3 + j] + WINO_G[r][2] * cw[k + 6 + j];
      }
      for (let r = 0; r < 4; r++) {
        for (let q = 0; q < 4; q++) {
          const sum = Gg[3 * r] * WINO_G[q][0] + Gg[3 * r + 1] * WINO_G[q][1] + Gg[3 * r + 2] * WINO_G[q][2];
          if (sum > INT16_MAX || sum < -INT16_MAX) return null;
          U[((4 * r + q) * O + o) * C + c] = sum;
        }
      }
    }
  }
  return U;
}

export function winoOp(
  fn: number, plan: Extract<LayerPlan, { kind: 'conv2d' }>, U: Int32Array, reluLo: boolean,
  a: Value, b: Value, inIndex: number, outIndex: number, chunk: number, layout: Layout,
): WinoOp {
  const g = plan.geometry, { layer, weighted } = plan;
  const { O, C } = g;
  const PH = Math.floor(g.OH / 2), PW = Math.floor(g.OW / 2), tilesPerImage = PH * PW;
  const groups = (a.pairs + 3) >> 2, tileBytes = 16 * groups;
  const maxTiles = chunk * tilesPerImage + 4; // the last quad may run past the chunk's tiles
  const xiBytes = maxTiles * tileBytes;
  const stage = { bias: weighted.bias, multiplier: layer.multiplier, shift: layer.shift, accBound: weighted.accBound, ...clampRange(layer, reluLo) };
  const requant = requantSpec(stage);

  // Per tile of 8 output channels: weights [ξ][channel pair][channel][slot], and the output stage.
  const nTiles = (O + 7) >> 3;
  const desc = new Int32Array(nTiles * (TILE_BYTES >> 2));
  for (let t = 0; t < nTiles; t++) {
    const w = new Int32Array(16 * a.pairs * 8);
    for (let xi = 0; xi < 16; xi++) {
      for (let cp = 0; cp < a.pairs; cp++) {
        for (let i = 0; i < 8; i++) {
          const o = 8 * t + i;
          if (o >= O) continue;
          const at = (xi * O + o) * C + 2 * cp;
          const u0 = U[at], u1 = 2 * cp + 1 < C ? U[at + 1] : 0;
          w[(xi * a.pairs + cp) * 8 + i] = (u0 & 0xffff) | (u1 << 16);
        }
      }
    }
    const st = new Int32Array(2 * (STAGE_HALF_BYTES >> 2));
    stageConstants(8 * t, O, stage, requant, st, 0);
    const at = t * (TILE_BYTES >> 2);
    desc[at] = layout.put(w);
    desc[at + 2] = a.pairs;
    desc[at + 3] = layout.put(st);
    desc[at + 4] = 16 * t;
    desc[at + 5] = Math.min(4, b.pairs - 4 * t);
  }

  // Output offset of every tile of the chunk (pooled pixel (i, j) of image n); tiles past the
  // chunk are written to the output's spare image slot.
  const outOffs = new Int32Array(maxTiles);
  for (let tile = 0; tile < maxTiles; tile++) {
    const n = Math.min(Math.floor(tile / tilesPerImage), chunk), r = tile % tilesPerImage;
    outOffs[tile] = n * b.imageBytes + ((Math.floor(r / PW) + b.padH) * b.Ws + (r % PW) + b.padW) * b.pixBytes;
  }
  b.slack = Math.max(b.slack, b.imageBytes + 16);
  a.slack = Math.max(a.slack, tileBytes + 16);
  return {
    kind: 'wino', fn, in: inIndex, out: outIndex,
    spec: { tileBytes, xiBytes, requant, rowBytes: a.Ws * a.pixBytes, pixBytes: a.pixBytes },
    PH, PW, groups, origin: ((a.padH - g.padding[0]) * a.Ws + (a.padW - g.padding[1])) * a.pixBytes,
    v: layout.reserve(16 * xiBytes), scratch: layout.reserve(2048), outOffs: layout.put(outOffs),
    tiles: layout.put(desc), nTiles,
  };
}
