/**
 * Test fixtures: build Int8ModelSpecs from small float models the way a post-training
 * quantization would (min/max calibration on float activations, per-channel weights), keeping
 * every scale so tests can simulate each layer in float. Float forward passes use the naive
 * reference of test/helpers, never the engine.
 */
import type { JsonObject } from '../../../src/io/container.js';
import type { Int8Layer, Int8ModelSpec } from '../../../src/quant/int8/index.js';
import { computeQParams, quantize, quantizeMultiplier, type Rounding } from '../../../src/quant/numerics/index.js';
import * as R from '../../helpers/reference.js';
import type { NDArray } from '../../helpers/reference.js';
import { mulberry32 } from '../../helpers/rng.js';

export type FloatLayer =
  | { kind: 'conv2d'; weight: number[]; weightShape: [number, number, number, number]; bias: number[] | null;
      stride?: [number, number]; padding?: [number, number]; dilation?: [number, number]; groups?: number; relu?: boolean }
  | { kind: 'linear'; weight: number[]; weightShape: [number, number]; bias: number[] | null; relu?: boolean }
  | { kind: 'maxpool2d'; kernel: [number, number]; stride?: [number, number]; padding?: [number, number]; dilation?: [number, number] }
  | { kind: 'relu' }
  | { kind: 'flatten' };

export interface BuildOptions {
  /** Activation levels: uint8 0..255 (affine) or int8 -128..127 (affine). Default 'uint8'. */
  activations?: 'uint8' | 'int8';
  /** Weights per output channel: symmetric narrow int8 (-127..127, zp 0) or affine int8 (-128..127). */
  weights?: 'symmetric' | 'affine';
  rounding?: Rounding;
  meta?: JsonObject;
}

/** Scales of one spec layer, for float simulation. */
export interface LayerScales {
  inScale?: number;
  outScale?: number;
  weightScale?: number[];
}

export interface BuiltModel {
  spec: Int8ModelSpec;
  /** Parallel to spec.layers. */
  scales: LayerScales[];
}

/** Run one float layer with the naive reference (x is [N, ...]). */
export function floatLayer(layer: FloatLayer, x: NDArray): NDArray {
  const relu = (a: NDArray) => R.map(a, (v) => Math.max(v, 0));
  switch (layer.kind) {
    case 'conv2d': {
      const y = R.conv2d(x, R.nd(layer.weightShape, layer.weight), layer.bias ? R.nd([layer.weightShape[0]], layer.bias) : null, {
        stride: layer.stride ?? [1, 1], padding: layer.padding ?? [0, 0], dilation: layer.dilation ?? [1, 1], groups: layer.groups ?? 1,
      });
      return layer.relu ? relu(y) : y;
    }
    case 'linear': {
      const [O, I] = layer.weightShape;
      const N = x.shape[0]!;
      const y = R.build([N, O], ([n, o]) => {
        let s = layer.bias ? layer.bias[o!]! : 0;
        for (let i = 0; i < I; i++) s += x.data[n! * I + i]! * layer.weight[o! * I + i]!;
        return s;
      });
      return layer.relu ? relu(y) : y;
    }
    case 'maxpool2d':
      return R.maxPool2d(x, { kernel: layer.kernel, stride: layer.stride ?? layer.kernel, padding: layer.padding ?? [0, 0], dilation: layer.dilation ?? [1, 1] });
    case 'relu':
      return relu(x);
    case 'flatten':
      return R.reshape(x, [x.shape[0]!, x.data.length / x.shape[0]!]);
  }
}

/** Post-training quantization of a float model, calibrated on `calib` ([batch, ...inputShape]). */
export function buildInt8Model(layers: FloatLayer[], inputShape: number[], calib: ArrayLike<number>, batch: number, options: BuildOptions = {}): BuiltModel {
  const [aqmin, aqmax] = options.activations === 'int8' ? [-128, 127] : [0, 255];
  const actParams = (a: NDArray) => {
    let min = Infinity, max = -Infinity;
    for (const v of a.data) {
      min = Math.min(min, v);
      max = Math.max(max, v);
    }
    return computeQParams(min, max, { qmin: aqmin, qmax: aqmax, scheme: 'affine' });
  };

  let x = R.nd([batch, ...inputShape], calib);
  let act = actParams(x);
  const spec: Int8Layer[] = [
    { kind: 'quantize', scale: act.scale, zeroPoint: act.zeroPoint, qmin: aqmin, qmax: aqmax, ...(options.rounding ? { rounding: options.rounding } : {}) },
  ];
  const scales: LayerScales[] = [{ outScale: act.scale }];

  for (const layer of layers) {
    const y = floatLayer(layer, x);
    if (layer.kind === 'conv2d' || layer.kind === 'linear') {
      const out = actParams(y);
      const O = layer.weightShape[0];
      const K = layer.weight.length / O;
      const weight = new Int8Array(O * K);
      const weightZeroPoint = new Int32Array(O);
      const weightScale: number[] = [];
      const [wqmin, wqmax] = options.weights === 'affine' ? [-128, 127] : [-127, 127];
      const bias = layer.bias ? new Int32Array(O) : null;
      const multiplier = new Int32Array(O);
      const shift = new Int32Array(O);
      for (let o = 0; o < O; o++) {
        const row = layer.weight.slice(o * K, (o + 1) * K);
        const wp = computeQParams(Math.min(...row), Math.max(...row), {
          qmin: wqmin, qmax: wqmax, scheme: options.weights === 'affine' ? 'affine' : 'symmetric',
        });
        weight.set(quantize(row, { scale: wp.scale, zeroPoint: wp.zeroPoint, qmin: wqmin, qmax: wqmax }), o * K);
        weightZeroPoint[o] = wp.zeroPoint;
        weightScale.push(wp.scale);
        if (bias) bias[o] = Math.round(layer.bias![o]! / (act.scale * wp.scale));
        const qm = quantizeMultiplier((act.scale * wp.scale) / out.scale);
        multiplier[o] = qm.multiplier;
        shift[o] = qm.shift;
      }
      const fields = {
        weight, weightQmin: wqmin, weightQmax: wqmax, weightZeroPoint, bias,
        inZeroPoint: act.zeroPoint, outZeroPoint: out.zeroPoint, multiplier, shift,
        qmin: layer.relu ? Math.max(aqmin, out.zeroPoint) : aqmin, qmax: aqmax, outScale: out.scale,
      };
      spec.push(
        layer.kind === 'conv2d'
          ? { kind: 'conv2d', weightShape: layer.weightShape, ...fields, stride: layer.stride ?? [1, 1], padding: layer.padding ?? [0, 0], dilation: layer.dilation ?? [1, 1], groups: layer.groups ?? 1 }
          : { kind: 'linear', weightShape: layer.weightShape, ...fields },
      );
      scales.push({ inScale: act.scale, outScale: out.scale, weightScale });
      act = out;
    } else if (layer.kind === 'maxpool2d') {
      spec.push({ kind: 'maxpool2d', kernel: layer.kernel, stride: layer.stride ?? layer.kernel, padding: layer.padding ?? [0, 0], ...(layer.dilation ? { dilation: layer.dilation } : {}) });
      scales.push({ inScale: act.scale, outScale: act.scale });
    } else if (layer.kind === 'relu') {
      spec.push({ kind: 'relu', zeroPoint: act.zeroPoint });
      scales.push({ inScale: act.scale, outScale: act.scale });
    } else {
      spec.push({ kind: 'flatten' });
      scales.push({ inScale: act.scale, outScale: act.scale });
    }
    x = y;
  }
  spec.push({ kind: 'dequantize', scale: act.scale, zeroPoint: act.zeroPoint });
  scales.push({ inScale: act.scale });
  return { spec: { inputShape, layers: spec, ...(options.meta ? { meta: options.meta } : {}) }, scales };
}

/** mulberry32 (test/helpers/rng.ts imports no test runner, so bench.ts can use this file). */
export const prng = mulberry32;

/** n uniform values in [lo, hi) from a seed. */
export function uniform(seed: number, n: number, lo = -1, hi = 1): number[] {
  const rnd = prng(seed);
  return Array.from({ length: n }, () => lo + (hi - lo) * rnd());
}

/** A float conv layer with uniform random weights scaled by 1/sqrt(fan-in). */
export function randomConv(
  seed: number, O: number, Cg: number, KH: number, KW: number,
  rest: { stride?: [number, number]; padding?: [number, number]; dilation?: [number, number]; groups?: number; relu?: boolean; bias?: boolean } = {},
): FloatLayer {
  const fan = Cg * KH * KW;
  const { bias, ...options } = rest;
  return {
    kind: 'conv2d',
    weight: uniform(seed, O * fan, -1 / Math.sqrt(fan), 1 / Math.sqrt(fan)),
    weightShape: [O, Cg, KH, KW],
    bias: bias === false ? null : uniform(seed + 1, O, -0.2, 0.2),
    ...options,
  };
}

export function randomLinear(seed: number, O: number, I: number, rest: { relu?: boolean; bias?: boolean } = {}): FloatLayer {
  return {
    kind: 'linear',
    weight: uniform(seed, O * I, -1 / Math.sqrt(I), 1 / Math.sqrt(I)),
    weightShape: [O, I],
    bias: rest.bias === false ? null : uniform(seed + 1, O, -0.2, 0.2),
    ...(rest.relu !== undefined ? { relu: rest.relu } : {}),
  };
}

/** The reference MNIST CNN (conv 1→c k3, relu, maxpool2, conv c→c k3, relu, maxpool2, flatten, linear 25c→10). */
export function mnistCnnLayers(seed: number, c = 40): FloatLayer[] {
  return [
    randomConv(seed, c, 1, 3, 3, { relu: true }),
    { kind: 'maxpool2d', kernel: [2, 2] },
    randomConv(seed + 10, c, c, 3, 3, { relu: true }),
    { kind: 'maxpool2d', kernel: [2, 2] },
    { kind: 'flatten' },
    randomLinear(seed + 20, 10, 25 * c),
  ];
}
