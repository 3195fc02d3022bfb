/**
 * Packing a weighted layer (conv2d, linear) for the int8 kernels: tiles of 8 output channels, each
 * with its int16 weight pairs, its tap table and its output-stage constants (see ./kernels.ts for
 * the layouts the kernels read).
 */
import { INT16_MAX, TWO_30 } from '../../numerics/int-limits.js';
import type { LayerPlan, WeightedPlan } from '../validate.js';
import { KK_WEIGHT_BYTES, TILE_BYTES } from './kernels.js';
import type { Layout, Value } from './layout.js';
import { requantSpec, STAGE_HALF_BYTES, stageConstants, type RequantSpec, type StageInput } from './stage.js';

/** Why a conv2d / linear layer cannot take the fast path, or null. */
export function weightedProblem(w: WeightedPlan, shift: Int32Array): string | null {
  if (w.maxAbsWeight > INT16_MAX) return 'weight levels minus their zero points leave int16';
  let maxLeft = 0;
  for (let o = 0; o < shift.length; o++) maxLeft = Math.max(maxLeft, shift[o]);
  if (w.accBound * 2 ** maxLeft >= TWO_30) return `accumulators up to ${w.accBound} (times 2^${maxLeft}) reach 2^30, outside the vectorised requantization's range`;
  return null;
}

/** A max pool the conv kernel can take over: non-overlapping windows of at most 4 positions inside the input. */
export function poolFusable(p: Extract<LayerPlan, { kind: 'maxpool2d' }>): boolean {
  const g = p.geometry;
  return g.kernel[0] * g.kernel[1] <= 4 && g.padding[0] === 0 && g.padding[1] === 0 && g.stride[0] >= g.kernel[0] && g.stride[1] >= g.kernel[1];
}

/** One tile's k-pairs: byte offsets from the quad base + `first`, and the weight of channel o at (kk, slot). */
export interface TileTaps {
  first: number;
  taps: Int32Array;
  weight: (kk: number, o: number, slot: number) => number;
}

/**
 * Tiles of 8 output channels for a weighted layer: packs the weights ([kk][channel][slot] int16),
 * the tap tables (shared when equal; none when every tile's taps are kk·d, the kernel's stride
 * mode) and the output-stage constants. Returns the descriptors and the stride (0: tables).
 */
export function buildTiles(
  O: number, layout: Layout, out: Value,
  stage: StageInput,
  tile: (t: number) => TileTaps,
): { tiles: number; nTiles: number; stride: number; maxTap: number; requant: RequantSpec } {
  const requant = requantSpec(stage);
  const nTiles = (O + 7) >> 3;
  const all = Array.from({ length: nTiles }, (_, t) => tile(t));
  const d = all[0].taps.length > 1 ? all[0].taps[1] : 4;
  const stride = d > 0 && all.every(({ taps }) => taps.every((v, kk) => v === kk * d)) ? d : 0;
  const tables = new Map<string, number>();
  const desc = new Int32Array(nTiles * (TILE_BYTES >> 2));
  let maxTap = 0;
  all.forEach(({ first, taps, weight }, t) => {
    const K2 = taps.length;
    const w = new Int32Array(K2 * (KK_WEIGHT_BYTES >> 2));
    for (let kk = 0; kk < K2; kk++) {
      for (let c = 0; c < 8; c++) {
        const o = 8 * t + c;
        // Little-endian int16 pair: slot 0 in the low half.
        if (o < O) w[kk * 8 + c] = (weight(kk, o, 0) & 0xffff) | (weight(kk, o, 1) << 16);
      }
    }
    const st = new Int32Array(2 * (STAGE_HALF_BYTES >> 2));
    stageConstants(8 * t, O, stage, requant, st, 0);
    let table = 0;
    if (stride === 0) {
      const key = taps.join(',');
      table = tables.get(key) ?? layout.put(taps);
      tables.set(key, table);
    }
    for (const v of taps) maxTap = Math.max(maxTap, first + v);
    const at = t * (TILE_BYTES >> 2);
    desc[at] = layout.put(w);
    desc[at + 1] = first;
    desc[at + 2] = K2;
    desc[at + 3] = layout.put(st);
    desc[at + 4] = 16 * t; // the tile's first channel pair, 4t, in the output pixel
    desc[at + 5] = Math.min(4, out.pairs - 4 * t);
    desc[at + 7] = table;
  });
  return { tiles: layout.put(desc), nTiles, stride, maxTap, requant };
}

export function clampRange(layer: { qmin: number; qmax: number; outZeroPoint: number }, reluLo: boolean): { lo: number; hi: number } {
  const qmin = reluLo ? Math.max(layer.qmin, layer.outZeroPoint) : layer.qmin;
  return { lo: qmin - layer.outZeroPoint, hi: layer.qmax - layer.outZeroPoint };
}
