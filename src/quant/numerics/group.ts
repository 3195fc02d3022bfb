/**
 * Per-group weight quantization, as weight-only int4 schemes use it (GPTQ, Frantar et al. 2022
 * §"Additional details"; AWQ, Lin et al. 2023): a weight matrix [O, K] (K = the flattened input
 * dimension, in*kh*kw for a convolution) is cut along K into groups of `groupSize` consecutive
 * inputs, and every (row, group) pair gets its own scale and zero point. groupSize = K is plain
 * per-channel quantization. When groupSize does not divide K the last group of each row is
 * shorter (AWQ pads instead; a short last group quantizes the same values without padding).
 *
 * Each group is quantized with the library's one affine definition (affine.ts quantize /
 * dequantize, Jacob et al. 2018 eq. 1) and its parameters come from the observer formula
 * (qparams.ts computeQParams, PyTorch's MinMaxObserver) over the group's min and max:
 *   q = clamp(zeroPoint + round(w · float32(1 / scale)), qmin, qmax),   w' = (q - zeroPoint) · scale
 * so everything proved for those (levels in range, error <= scale / 2 inside the range) holds per group.
 */
import { dequantize, quantize } from './affine.js';
import { computeQParams, type QScheme } from './qparams.js';

/** Scales and zero points of a grouped [O, K] weight, row-major [O, groups(K, groupSize)]. */
export interface GroupQParams {
  groupSize: number;
  scale: Float32Array;
  zeroPoint: Int32Array;
  qmin: number;
  qmax: number;
}

/** Groups per row: ceil(K / groupSize). */
export function groupCount(K: number, groupSize: number): number {
  if (!Number.isSafeInteger(groupSize) || groupSize < 1 || groupSize > K) {
    throw new Error(`groupSize must be an integer in [1, K = ${K}] (K itself means per-channel), got ${groupSize}`);
  }
  return Math.ceil(K / groupSize);
}

function checkWeight(w: ArrayLike<number>, O: number, K: number, who: string): void {
  if (!Number.isSafeInteger(O) || !Number.isSafeInteger(K) || O < 1 || K < 1) throw new Error(`${who}: O and K must be positive integers, got ${O}, ${K}`);
  if (w.length !== O * K) throw new Error(`${who}: the weight has ${w.length} elements, but [O, K] = [${O}, ${K}] needs ${O * K}`);
}

/** Each group's scale and zero point from its min and max (computeQParams, scheme 'symmetric' or 'affine'). */
export function computeGroupQParams(
  w: ArrayLike<number>, O: number, K: number, groupSize: number, opts: { qmin: number; qmax: number; scheme: QScheme },
): GroupQParams {
  checkWeight(w, O, K, 'computeGroupQParams');
  const G = groupCount(K, groupSize);
  const scale = new Float32Array(O * G);
  const zeroPoint = new Int32Array(O * G);
  for (let o = 0; o < O; o++) {
    for (let g = 0; g < G; g++) {
      let min = Infinity, max = -Infinity;
      for (let k = g * groupSize; k < Math.min(K, (g + 1) * groupSize); k++) {
        const v = w[o * K + k];
        if (v < min) min = v;
        if (v > max) max = v;
      }
      const p = computeQParams(min, max, opts);
      scale[o * G + g] = p.scale;
      zeroPoint[o * G + g] = p.zeroPoint;
    }
  }
  return { groupSize, scale, zeroPoint, qmin: opts.qmin, qmax: opts.qmax };
}

/** Calls `f(group index, start, end)` for every group of every row, in memory order. */
function forEachGroup(O: number, K: number, groupSize: number, f: (at: number, start: number, end: number) => void): void {
  const G = groupCount(K, groupSize);
  for (let o = 0; o < O; o++) {
    for (let g = 0; g < G; g++) f(o * G + g, o * K + g * groupSize, o * K + Math.min(K, (g + 1) * groupSize));
  }
}

function checkParams(p: GroupQParams, O: number, K: number, who: string): void {
  const G = groupCount(K, p.groupSize);
  if (p.scale.length !== O * G || p.zeroPoint.length !== O * G) {
    throw new Error(`${who}: scale and zeroPoint need O·groups = ${O}·${G} = ${O * G} entries, got ${p.scale.length} and ${p.zeroPoint.length}`);
  }
}

/** Levels of a grouped weight [O, K]. */
export function quantizeGroups(w: ArrayLike<number>, O: number, K: number, p: GroupQParams): Int32Array {
  checkWeight(w, O, K, 'quantizeGroups');
  checkParams(p, O, K, 'quantizeGroups');
  const out = new Int32Array(O * K);
  const x = ArrayBuffer.isView(w) ? (w as unknown as Float32Array) : Float64Array.from(w);
  forEachGroup(O, K, p.groupSize, (at, start, end) => {
    out.set(quantize(x.subarray(start, end), { scale: p.scale[at], zeroPoint: p.zeroPoint[at], qmin: p.qmin, qmax: p.qmax }), start);
  });
  return out;
}

/** float32 weights (q - zeroPoint[group]) · scale[group] of a grouped weight [O, K]. */
export function dequantizeGroups(q: ArrayLike<number>, O: number, K: number, p: GroupQParams): Float32Array {
  checkWeight(q, O, K, 'dequantizeGroups');
  checkParams(p, O, K, 'dequantizeGroups');
  const out = new Float32Array(O * K);
  const levels = ArrayBuffer.isView(q) ? (q as unknown as Int32Array) : Int32Array.from(q);
  forEachGroup(O, K, p.groupSize, (at, start, end) => {
    out.set(dequantize(levels.subarray(start, end), { scale: p.scale[at], zeroPoint: p.zeroPoint[at], qmin: p.qmin, qmax: p.qmax }), start);
  });
  return out;
}
