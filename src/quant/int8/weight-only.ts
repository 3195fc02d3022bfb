/**
 * Weight-only quantization (the int8 / int4 weight formats of GPTQ, Frantar et al. 2022, and AWQ,
 * Lin et al. 2023, and PyTorch's weight-only int8): the weights are stored as low-bit levels with a
 * scale and zero point per output channel or per group of `groupSize` consecutive inputs
 * (numerics/group.ts), and the activations stay float. The layer computes
 *
 *   y[n, o] = bias[o] + Σ_g Σ_{k in g} x[n, k] · (w_q[o, k] - zeroPoint[o, g]) · scale[o, g]
 *
 * by dequantizing the weights once, when the model is built, with the library's one definition
 * (dequantizeGroups: float32((q - zeroPoint) · scale)), and then running a plain float layer
 * (float64 sums, one float32 rounding per output). What weight-only buys is the size of the
 * model (a file holds 1 byte per weight, half a byte once sub-byte packing lands, instead of 4),
 * not integer arithmetic: the activations never become levels.
 *
 * Two layer kinds: weightOnlyLinear ([O, I] weights, input rank 1 per example) and
 * weightOnlyConv2d ([O, C/groups, KH, KW] weights, PyTorch's conv semantics with zero padding;
 * the quantization groups run along the flattened (C/groups)·KH·KW of each output channel).
 */
import { dequantizeGroups, groupCount } from '../numerics/index.js';
import { checkFloatArray, typeName } from './dynamic.js';
import { convOutSize, type Conv2dGeometry } from './kernels.js';

interface WeightOnlyFields {
  /** Weight levels, row-major in weightShape (output channel first). */
  weight: Int8Array;
  /** The declared level range, within [-128, 127] (e.g. -8..7 or the narrow -7..7 for int4). */
  weightQmin: number;
  weightQmax: number;
  /** Inputs per quantization group along the flattened input dimension K; K means per-channel. */
  groupSize: number;
  /** Per (output channel, group), row-major [O, ceil(K / groupSize)]: float32 > 0. */
  weightScale: Float32Array;
  /** Per (output channel, group), in [weightQmin, weightQmax]; all 0 for symmetric weights. */
  weightZeroPoint: Int32Array;
  /** float32 bias per output channel, or null. */
  bias: Float32Array | null;
}

export interface WeightOnlyLinearLayer extends WeightOnlyFields {
  kind: 'weightOnlyLinear';
  weightShape: [number, number];
}

export interface WeightOnlyConv2dLayer extends WeightOnlyFields {
  kind: 'weightOnlyConv2d';
  weightShape: [number, number, number, number];
  stride: [number, number];
  padding: [number, number];
  dilation: [number, number];
  /** Channel groups of the convolution (not the quantization groups: those are groupSize). */
  groups: number;
}

const FIELD_KEYS = ['kind', 'weightShape', 'weight', 'weightQmin', 'weightQmax', 'groupSize', 'weightScale', 'weightZeroPoint', 'bias'];
export const WEIGHT_ONLY_LINEAR_KEYS = FIELD_KEYS;
export const WEIGHT_ONLY_CONV2D_KEYS = [...FIELD_KEYS, 'stride', 'padding', 'dilation', 'groups'];
/** The typed-array fields, stored as arrays in a file (format.ts). */
export const WEIGHT_ONLY_ARRAYS = ['weight', 'weightScale', 'weightZeroPoint', 'bias'] as const;

/** A validated weight-only layer: its dequantized float32 weights [O, K]. */
export interface WeightOnlyPrepared {
  O: number;
  K: number;
  weight: Float32Array;
  parameters: number;
  geometry: Conv2dGeometry | null;
}

type Fail = (problem: string) => never;

function checkTuple(value: unknown, name: string, length: number, min: number, fail: Fail): number[] {
  if (!Array.isArray(value) || value.length !== length || !value.every((d) => Number.isSafeInteger(d) && d >= min)) {
    fail(`${name} must be ${length} integers >= ${min}, got ${JSON.stringify(value)}`);
  }
  return value as number[];
}

/** Check the layer against its per-example input shape; returns its output shape and prepared form. */
export function planWeightOnly(
  layer: WeightOnlyLinearLayer | WeightOnlyConv2dLayer, inShape: readonly number[], fail: Fail,
): { outShape: number[]; prepared: WeightOnlyPrepared } {
  let O: number, K: number, outShape: number[], geometry: Conv2dGeometry | null = null;
  if (layer.kind === 'weightOnlyLinear') {
    if (inShape.length !== 1) fail(`input must be rank 1 per example (put a flatten before it), got [${inShape.join(', ')}]`);
    [O, K] = checkTuple(layer.weightShape, 'weightShape', 2, 1, fail);
    if (K !== inShape[0]) fail(`weightShape [${O}, ${K}] expects ${K} input features, but the input has ${inShape[0]}`);
    outShape = [O];
  } else {
    if (inShape.length !== 3) fail(`input must be [C, H, W] per example, got [${inShape.join(', ')}]`);
    const [C, H, W] = inShape;
    const [o, Cg, KH, KW] = checkTuple(layer.weightShape, 'weightShape', 4, 1, fail);
    const stride = checkTuple(layer.stride, 'stride', 2, 1, fail) as [number, number];
    const padding = checkTuple(layer.padding, 'padding', 2, 0, fail) as [number, number];
    const dilation = checkTuple(layer.dilation, 'dilation', 2, 1, fail) as [number, number];
    const groups = layer.groups;
    if (!Number.isSafeInteger(groups) || groups < 1) fail(`groups must be a positive integer, got ${JSON.stringify(groups)}`);
    if (o % groups !== 0) fail(`weightShape[0] = ${o} output channels is not divisible by groups = ${groups}`);
    if (Cg * groups !== C) fail(`weightShape [${o}, ${Cg}, ${KH}, ${KW}] with groups = ${groups} expects ${Cg * groups} input channels, but the input has ${C}`);
    const OH = convOutSize(H, KH, stride[0], padding[0], dilation[0]);
    const OW = convOutSize(W, KW, stride[1], padding[1], dilation[1]);
    if (OH < 1 || OW < 1) fail(`a ${KH}x${KW} kernel (dilation ${dilation.join('x')}, padding ${padding.join('x')}) does not fit the ${H}x${W} input`);
    O = o;
    K = Cg * KH * KW;
    outShape = [O, OH, OW];
    geometry = { C, H, W, O, KH, KW, OH, OW, stride, padding, dilation, groups };
  }
  if (!(layer.weight instanceof Int8Array)) fail(`weight must be an Int8Array (int8 storage of the levels), got ${typeName(layer.weight)}`);
  if (layer.weight.length !== O * K) fail(`weight has ${layer.weight.length} elements but weightShape [${(layer.weightShape as number[]).join(', ')}] needs ${O * K}`);
  const { weightQmin: qmin, weightQmax: qmax } = layer;
  if (!Number.isInteger(qmin) || !Number.isInteger(qmax) || qmin < -128 || qmax > 127 || !(qmin < qmax)) {
    fail(`weightQmin and weightQmax must be integers with -128 <= weightQmin < weightQmax <= 127, got ${JSON.stringify(qmin)}, ${JSON.stringify(qmax)}`);
  }
  if (!Number.isSafeInteger(layer.groupSize) || layer.groupSize < 1 || layer.groupSize > K) {
    fail(`groupSize must be an integer in [1, ${K}] (the flattened input size K = ${K} means per-channel), got ${JSON.stringify(layer.groupSize)}`);
  }
  const G = groupCount(K, layer.groupSize);
  checkFloatArray(layer.weightScale, 'weightScale', O * G, true, fail);
  if (!(layer.weightZeroPoint instanceof Int32Array)) fail(`weightZeroPoint must be an Int32Array, got ${typeName(layer.weightZeroPoint)}`);
  if (layer.weightZeroPoint.length !== O * G) fail(`weightZeroPoint has ${layer.weightZeroPoint.length} elements, expected ${O * G} (O = ${O} × ${G} groups of ${layer.groupSize})`);
  for (let i = 0; i < O * G; i++) {
    const z = layer.weightZeroPoint[i];
    if (z < qmin || z > qmax) fail(`weightZeroPoint[${i}] = ${z} is outside the weight range [${qmin}, ${qmax}]`);
  }
  for (let i = 0; i < O * K; i++) {
    const w = layer.weight[i];
    if (w < qmin || w > qmax) fail(`weight level ${w} at index ${i} (output channel ${Math.floor(i / K)}) is outside the declared range [${qmin}, ${qmax}]`);
  }
  if (layer.bias !== null) checkFloatArray(layer.bias, 'bias', O, false, fail);
  const weight = dequantizeGroups(layer.weight, O, K, {
    groupSize: layer.groupSize, scale: layer.weightScale, zeroPoint: layer.weightZeroPoint, qmin, qmax,
  });
  return { outShape, prepared: { O, K, weight, parameters: O * K + (layer.bias ? O : 0), geometry } };
}

/** weightOnlyLinear on `count` examples: x [count, K] -> out [count, O], float64 sums. */
export function weightOnlyLinearForward(layer: WeightOnlyLinearLayer, p: WeightOnlyPrepared, x: Float32Array, count: number, out: Float32Array): void {
  const { O, K, weight } = p;
  const bias = layer.bias;
  for (let n = 0; n < count; n++) {
    const xb = n * K;
    for (let o = 0; o < O; o++) {
      const wb = o * K;
      let s = bias ? bias[o] : 0;
      for (let k = 0; k < K; k++) s += x[xb + k] * weight[wb + k];
      out[n * O + o] = s;
    }
  }
}

/**
 * weightOnlyConv2d on `count` images: x [count, C, H, W] -> out [count, O, OH, OW]. Per image and
 * channel group, the patches are gathered once (im2col, padding = 0) into `scratch.cols`
 * [OH·OW, K], then every output channel is a dot product with each patch.
 */
export function weightOnlyConv2dForward(
  layer: WeightOnlyConv2dLayer, p: WeightOnlyPrepared, x: Float32Array, count: number, out: Float32Array, scratch: { cols: Float32Array },
): void {
  const g = p.geometry!;
  const { C, H, W, O, KH, KW, OH, OW, groups } = g;
  const [sh, sw] = g.stride, [ph, pw] = g.padding, [dh, dw] = g.dilation;
  const Cg = C / groups, Og = O / groups, K = p.K, P = OH * OW;
  if (scratch.cols.length < P * K) scratch.cols = new Float32Array(P * K);
  const cols = scratch.cols;
  const bias = layer.bias;
  for (let n = 0; n < count; n++) {
    for (let grp = 0; grp < groups; grp++) {
      // im2col: cols[pixel, (c, i, j)] in the weight's (Cg, KH, KW) order.
      let at = 0;
      for (let oh = 0; oh < OH; oh++) {
        for (let ow = 0; ow < OW; ow++) {
          for (let c = 0; c < Cg; c++) {
            const plane = ((n * C) + grp * Cg + c) * H * W;
            for (let i = 0; i < KH; i++) {
              const ih = oh * sh - ph + i * dh;
              for (let j = 0; j < KW; j++, at++) {
                const iw = ow * sw - pw + j * dw;
                cols[at] = ih >= 0 && ih < H && iw >= 0 && iw < W ? x[plane + ih * W + iw] : 0;
              }
            }
          }
        }
      }
      // Four output channels per pass over a patch: each loaded patch element feeds four sums.
      const w = p.weight;
      let oc = 0;
      for (; oc + 4 <= Og; oc += 4) {
        const o = grp * Og + oc, w0 = o * K, w1 = w0 + K, w2 = w1 + K, w3 = w2 + K, ob = (n * O + o) * P;
        const b0 = bias ? bias[o] : 0, b1 = bias ? bias[o + 1] : 0, b2 = bias ? bias[o + 2] : 0, b3 = bias ? bias[o + 3] : 0;
        for (let q = 0; q < P; q++) {
          const cb = q * K;
          let s0 = b0, s1 = b1, s2 = b2, s3 = b3;
          for (let k = 0; k < K; k++) {
            const v = cols[cb + k];
            s0 += v * w[w0 + k]; s1 += v * w[w1 + k]; s2 += v * w[w2 + k]; s3 += v * w[w3 + k];
          }
          out[ob + q] = s0; out[ob + P + q] = s1; out[ob + 2 * P + q] = s2; out[ob + 3 * P + q] = s3;
        }
      }
      for (; oc < Og; oc++) {
        const o = grp * Og + oc, wb = o * K, ob = (n * O + o) * P;
        const b = bias ? bias[o] : 0;
        for (let q = 0; q < P; q++) {
          const cb = q * K;
          let s = b;
          for (let k = 0; k < K; k++) s += cols[cb + k] * w[wb + k];
          out[ob + q] = s;
        }
      }
    }
  }
}

export function describeWeightOnly(layer: WeightOnlyLinearLayer | WeightOnlyConv2dLayer, p: WeightOnlyPrepared): string {
  const symmetric = layer.weightZeroPoint.every((z) => z === 0) ? 'symmetric' : 'asymmetric';
  const grouping = layer.groupSize === p.K ? 'per channel' : `groups of ${layer.groupSize} along K = ${p.K}`;
  const geometry = layer.kind === 'weightOnlyConv2d'
    ? ` stride ${layer.stride.join('x')} pad ${layer.padding.join('x')} dil ${layer.dilation.join('x')}${layer.groups > 1 ? ` groups ${layer.groups}` : ''}`
    : '';
  return `w [${layer.weightShape.join(', ')}] levels [${layer.weightQmin}, ${layer.weightQmax}] ${symmetric}, ${grouping}, bias ${layer.bias ? 'float32' : 'none'}${geometry}; float activations`;
}
