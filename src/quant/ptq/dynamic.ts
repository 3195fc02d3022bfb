/**
 * quantizeDynamic: a float Sequential -> an Int8ModelSpec whose Linear layers are dynamicLinear
 * layers (src/quant/int8/dynamic.ts), like PyTorch's torch.ao.quantization.quantize_dynamic and
 * onnxruntime's quantize_dynamic: weights int8, symmetric per output channel (levels -127..127,
 * scale = max|w[o]| / 127, TFLite's int8 weight rule), activation ranges measured at run time.
 *
 * What runs before the first Linear:
 *   - by default the convolutions become weight-only int8 per-channel layers on float activations
 *     (quantize_dynamic leaves convolutions float; the engine has no float conv, and int8
 *     weight-only is the nearest it runs);
 *   - with `staticSpec` (convert() of the same model after PTQ calibration), the static int8
 *     layers up to its first linear, then a dequantize of their levels (the explicit float
 *     boundary), then the dynamic head: static int8 convs + dynamic linear.
 */
import type { JsonObject } from '../../io/container.js';
import { Conv2d, Linear, type Sequential } from '../../nn/layers.js';
import { computeQParamsPerChannel, quantize, type DynamicActivationType } from '../numerics/index.js';
import type { DynamicLinearLayer } from '../int8/dynamic.js';
import type { Int8Layer, Int8ModelSpec } from '../int8/model.js';
import { fuseConvBn } from '../qat/fold.js';
import { floatPassThrough, weightOnlyConv } from './weight-only.js';

export interface DynamicOptions {
  /** Shape of one example, e.g. [1, 28, 28]. */
  inputShape: number[];
  /** Activation levels: 'uint8' (default, ONNX DynamicQuantizeLinear) or 'int8'. */
  activation?: DynamicActivationType;
  /** One activation range per example ('row', default) or per tensor ('tensor'): see int8/dynamic.ts. */
  granularity?: 'row' | 'tensor';
  /** A static int8 spec of the same model: its layers before the first linear run as they are. */
  staticSpec?: Int8ModelSpec;
  meta?: JsonObject;
}

/** A float Linear as a dynamicLinear layer. */
export function dynamicLinear(m: Linear, activation: DynamicActivationType, granularity: 'row' | 'tensor'): DynamicLinearLayer {
  const [O, K] = m.weight.shape as [number, number];
  const w = m.weight.toTypedArray();
  const mins = new Float32Array(O), maxs = new Float32Array(O);
  for (let o = 0; o < O; o++) {
    let lo = 0, hi = 0;
    for (let k = 0; k < K; k++) {
      const v = w[o * K + k];
      if (v < lo) lo = v;
      if (v > hi) hi = v;
    }
    mins[o] = lo;
    maxs[o] = hi;
  }
  const qmin = -127, qmax = 127;
  const { scale, zeroPoint } = computeQParamsPerChannel(mins, maxs, { qmin, qmax, scheme: 'symmetric' });
  const levels = quantize(w, { scale, zeroPoint, qmin, qmax, axis: 0, shape: [O, K] });
  return {
    kind: 'dynamicLinear',
    weightShape: [O, K],
    weight: Int8Array.from(levels),
    weightScale: scale,
    bias: m.bias ? Float32Array.from(m.bias.toTypedArray()) : null,
    activation,
    granularity,
  };
}

/** The scale of the levels entering layer `at` of a static spec (set by the last quantize / conv2d / linear before it). */
function levelScale(layers: readonly Int8Layer[], at: number): { scale: number; zeroPoint: number } {
  for (let i = at - 1; i >= 0; i--) {
    const l = layers[i];
    if (l.kind === 'quantize') return { scale: l.scale, zeroPoint: l.zeroPoint };
    if (l.kind === 'conv2d' || l.kind === 'linear') {
      if (l.outScale === undefined) throw new Error(`quantizeDynamic: staticSpec layer ${i} (${l.kind}) has no outScale, so its levels cannot be dequantized`);
      return { scale: l.outScale, zeroPoint: l.outZeroPoint };
    }
  }
  throw new Error('quantizeDynamic: staticSpec has no quantize layer');
}

export function quantizeDynamic(model: Sequential, opts: DynamicOptions): Int8ModelSpec {
  const activation = opts.activation ?? 'uint8';
  const granularity = opts.granularity ?? 'row';
  if (activation !== 'uint8' && activation !== 'int8') throw new Error(`quantizeDynamic: activation must be 'uint8' or 'int8', got ${String(activation)}`);
  if (granularity !== 'row' && granularity !== 'tensor') throw new Error(`quantizeDynamic: granularity must be 'row' or 'tensor', got ${String(granularity)}`);
  const children = fuseConvBn(model).namedChildren();
  const firstLinear = children.findIndex(([, m]) => m instanceof Linear);
  if (firstLinear < 0) throw new Error('quantizeDynamic: the model has no Linear layer to quantize dynamically');

  const layers: Int8Layer[] = [];
  let from = 0;
  if (opts.staticSpec) {
    const s = opts.staticSpec.layers;
    const at = s.findIndex((l) => l.kind === 'linear');
    if (at < 0) throw new Error('quantizeDynamic: staticSpec has no linear layer to hand over at');
    layers.push(...s.slice(0, at));
    const { scale, zeroPoint } = levelScale(s, at);
    layers.push({ kind: 'dequantize', scale, zeroPoint });
    from = firstLinear;
  }
  for (const [name, m] of children.slice(from)) {
    if (m instanceof Linear) layers.push(dynamicLinear(m, activation, granularity));
    else if (m instanceof Conv2d) {
      if (opts.staticSpec) throw new Error(`quantizeDynamic: layer '${name}' (Conv2d) comes after the first Linear; with a staticSpec only the layers before it run static`);
      layers.push(weightOnlyConv(m, 8, null, true));
    } else {
      const carried = floatPassThrough(m);
      if (carried === null) throw new Error(`quantizeDynamic: layer '${name}' (${m.constructor.name}) has no counterpart in the int8 engine`);
      if (carried !== 'skip') layers.push(carried);
    }
  }
  return {
    inputShape: [...opts.inputShape],
    layers,
    meta: { scheme: 'dynamic', activation, granularity, convs: opts.staticSpec ? 'static int8' : 'weight-only int8', ...(opts.meta ?? {}) },
  };
}

