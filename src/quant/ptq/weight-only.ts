/**
 * quantizeWeightOnly: a float Sequential -> an Int8ModelSpec whose conv2d / linear layers are
 * weight-only layers (src/quant/int8/weight-only.ts): weights as int8 or int4 levels with a scale
 * and zero point per output channel or per group of `groupSize` inputs (GPTQ / AWQ style), float
 * activations throughout. Nothing is calibrated: weight-only PTQ needs no data.
 *
 *   symmetric (default)  levels [-(2^(b-1) - 1), 2^(b-1) - 1] (TFLite's narrow int8 range, -7..7 at
 *                        4 bits), scale = max|w| / (2^(b-1) - 1), zero point 0
 *   asymmetric           levels [-2^(b-1), 2^(b-1) - 1], scale = (max - min) / (2^b - 1) over the
 *                        group's range widened to include 0, zero point = qmin - round(min / scale)
 * (computeQParams: PyTorch's MinMaxObserver formulas, per group: numerics/group.ts).
 *
 * BatchNorm2d after a Conv2d is folded into it first (fuseConvBn), as for static PTQ.
 */
import type { JsonObject } from '../../io/container.js';
import { BatchNorm2d, Conv2d, Dropout, Flatten, Identity, Linear, MaxPool2d, ReLU, type Sequential } from '../../nn/layers.js';
import { computeGroupQParams, quantizeGroups } from '../numerics/index.js';
import type { Int8Layer, Int8ModelSpec } from '../int8/model.js';
import type { WeightOnlyConv2dLayer, WeightOnlyLinearLayer } from '../int8/weight-only.js';
import { fuseConvBn } from '../qat/fold.js';

export interface WeightOnlyOptions {
  /** Shape of one example, e.g. [1, 28, 28]. */
  inputShape: number[];
  /** Weight bits: 8 or 4. */
  bits: 8 | 4;
  /** Inputs per quantization group along the flattened input dimension; capped at each layer's K. Omit for per-channel. */
  groupSize?: number;
  /** One scale per output channel (the default when groupSize is omitted); true together with groupSize is an error. */
  perChannel?: boolean;
  /** Symmetric levels, zero point 0 (default true), or asymmetric with a zero point per group. */
  symmetric?: boolean;
  meta?: JsonObject;
}

/** The level range and scheme of `bits`-bit weights. */
export function weightRange(bits: number, symmetric: boolean): { qmin: number; qmax: number; scheme: 'symmetric' | 'affine' } {
  const half = 2 ** (bits - 1);
  return symmetric ? { qmin: -(half - 1), qmax: half - 1, scheme: 'symmetric' } : { qmin: -half, qmax: half - 1, scheme: 'affine' };
}

function checkOptions(opts: WeightOnlyOptions): { groupSize: number | null; symmetric: boolean } {
  if (opts.bits !== 8 && opts.bits !== 4) throw new Error(`quantizeWeightOnly: bits must be 8 or 4, got ${String(opts.bits)}`);
  const { groupSize } = opts;
  if (groupSize !== undefined && (!Number.isSafeInteger(groupSize) || groupSize < 1)) {
    throw new Error(`quantizeWeightOnly: groupSize must be a positive integer (e.g. 32, 64, 128), got ${String(groupSize)}`);
  }
  if (groupSize !== undefined && opts.perChannel === true) throw new Error('quantizeWeightOnly: perChannel: true and a groupSize exclude each other (per-channel is one group per output channel)');
  if (groupSize === undefined && opts.perChannel === false) throw new Error('quantizeWeightOnly: perChannel: false needs a groupSize');
  return { groupSize: groupSize ?? null, symmetric: opts.symmetric ?? true };
}

/** Weight-only levels and group parameters of one [O, K] weight. */
export function weightOnlyFields(weight: ArrayLike<number>, O: number, K: number, bits: 8 | 4, groupSize: number | null, symmetric: boolean) {
  const range = weightRange(bits, symmetric);
  const g = Math.min(groupSize ?? K, K);
  const p = computeGroupQParams(weight, O, K, g, range);
  return {
    weight: Int8Array.from(quantizeGroups(weight, O, K, p)),
    weightQmin: range.qmin,
    weightQmax: range.qmax,
    groupSize: g,
    weightScale: p.scale,
    weightZeroPoint: p.zeroPoint,
  };
}

const pair = (v: number | readonly [number, number] | undefined, d: [number, number]): [number, number] =>
  v === undefined ? d : typeof v === 'number' ? [v, v] : [v[0], v[1]];

/** A float Conv2d as a weightOnlyConv2d layer. */
export function weightOnlyConv(m: Conv2d, bits: 8 | 4, groupSize: number | null, symmetric: boolean): WeightOnlyConv2dLayer {
  const shape = m.weight.shape as [number, number, number, number];
  const O = shape[0], K = shape[1] * shape[2] * shape[3];
  return {
    kind: 'weightOnlyConv2d',
    weightShape: [...shape],
    ...weightOnlyFields(m.weight.toTypedArray(), O, K, bits, groupSize, symmetric),
    bias: m.bias ? Float32Array.from(m.bias.toTypedArray()) : null,
    stride: pair(m.opts.stride, [1, 1]),
    padding: pair(m.opts.padding as number | [number, number] | undefined, [0, 0]),
    dilation: pair(m.opts.dilation, [1, 1]),
    groups: m.opts.groups ?? 1,
  };
}

/** A float Linear as a weightOnlyLinear layer. */
export function weightOnlyLinear(m: Linear, bits: 8 | 4, groupSize: number | null, symmetric: boolean): WeightOnlyLinearLayer {
  const [O, K] = m.weight.shape as [number, number];
  return {
    kind: 'weightOnlyLinear',
    weightShape: [O, K],
    ...weightOnlyFields(m.weight.toTypedArray(), O, K, bits, groupSize, symmetric),
    bias: m.bias ? Float32Array.from(m.bias.toTypedArray()) : null,
  };
}

/**
 * The float-valued layers that carry through unchanged (relu with zero point 0, max pooling,
 * flatten), or null for a layer that is not one of them. Dropout and Identity vanish.
 */
export function floatPassThrough(m: unknown): Int8Layer | 'skip' | null {
  if (m instanceof ReLU) return { kind: 'relu', zeroPoint: 0 };
  if (m instanceof Flatten) return { kind: 'flatten' };
  if (m instanceof Dropout || m instanceof Identity) return 'skip';
  if (m instanceof MaxPool2d) {
    const k = pair(m.kernelSize, [1, 1]);
    return { kind: 'maxpool2d', kernel: k, stride: pair(m.opts.stride, k), padding: pair(m.opts.padding, [0, 0]), dilation: pair(m.opts.dilation, [1, 1]) };
  }
  return null;
}

export function quantizeWeightOnly(model: Sequential, opts: WeightOnlyOptions): Int8ModelSpec {
  const { groupSize, symmetric } = checkOptions(opts);
  const layers: Int8Layer[] = [];
  for (const [name, m] of fuseConvBn(model).namedChildren()) {
    if (m instanceof Conv2d) layers.push(weightOnlyConv(m, opts.bits, groupSize, symmetric));
    else if (m instanceof Linear) layers.push(weightOnlyLinear(m, opts.bits, groupSize, symmetric));
    else {
      const carried = floatPassThrough(m);
      if (carried === null) {
        const why = m instanceof BatchNorm2d ? ' (a BatchNorm2d is folded only directly after a Conv2d)' : '';
        throw new Error(`quantizeWeightOnly: layer '${name}' (${m.constructor.name}) has no weight-only counterpart${why}`);
      }
      if (carried !== 'skip') layers.push(carried);
    }
  }
  return {
    inputShape: [...opts.inputShape],
    layers,
    meta: { scheme: 'weight-only', bits: opts.bits, groupSize: groupSize ?? 'per-channel', symmetric, ...(opts.meta ?? {}) },
  };
}
