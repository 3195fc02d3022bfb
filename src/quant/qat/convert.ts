/**
 * convert: a prepared (QAT- or PTQ-calibrated) model → an integer-only model spec that Int8Model
 * runs (src/quant/int8). Each layer takes exactly the quantization parameters the fake-quant
 * forward uses, so the two models differ only in how the int32 accumulator is rescaled
 * (fixed-point multiplier vs float), i.e. by at most one level per output element:
 *
 *   weights   w_q = quantize(w, per-channel s_w)             (QConvBn2d: the folded w·γ/σ)
 *   bias      b_q = quantize(b, s_in·s_w[o], zp 0, int32)    (QConvBn2d: (b − μ)·γ/σ + β)
 *   requant   (multiplier, shift) = quantizeMultiplier(s_in·s_w[o] / s_out)   (Jacob et al. 2018 eq. 5-6)
 *   ReLU      fused as the output clamp qmin = max(qmin, z_out)
 *   pooling   max over levels; flatten as is
 *   ends      quantize with the input quantizer's (s, z), dequantize with the last (s, z)
 */
import { noGrad } from '../../autograd/grad-mode.js';
import { Flatten, Dropout, Identity, MaxPool2d, ReLU, Sequential } from '../../nn/layers.js';
import type { Tensor } from '../../tensor/tensor.js';
import type { JsonObject } from '../../io/container.js';
import { quantize, quantizeMultiplier, roundHalfEven, type QParamsPerChannel } from '../numerics/index.js';
import type { FakeQuantize } from '../fake-quantize-module.js';
import type { Int8Layer, Int8ModelSpec } from '../int8/model.js';
import { QConv2d, QConvBn2d, QLinear, QuantStub } from './modules.js';
import { INT32_MAX, INT32_MIN } from '../numerics/int-limits.js';
import { CodedWeightQuantize } from '../coded-weight-quantize.js';
import { pow2Exponents } from '../pow2.js';


export function computeQParamsFor(fq: FakeQuantize, who: string): { scale: number; zeroPoint: number } {
  if (!fq.fakeQuantEnabled) throw new Error(`convert: ${who} has fake quantization disabled; calibrate or train with it on first`);
  const p = fq.computeQParams();
  if (p.scale.length !== 1) throw new Error(`convert: ${who} has per-channel activation parameters, which the integer engine does not support`);
  return { scale: p.scale[0], zeroPoint: p.zeroPoint[0] };
}

/**
 * int32 bias levels round(b · float32(1/scale)), computed as the fake-quant kernel does (so the
 * fake-quant model saw exactly these values). The reference quantize() stops at 2^24 because
 * float32 levels beyond it are not all exact; here that is the point: an integer that large is
 * what the float product rounds to, and the integer model uses it as is.
 */
function quantizeBias(b: ArrayLike<number>, scale: Float32Array): Int32Array {
  const out = new Int32Array(b.length);
  for (let o = 0; o < b.length; o++) {
    const level = roundHalfEven(Math.fround(Math.fround(b[o]) * Math.fround(1 / scale[o])));
    out[o] = Math.min(Math.max(level, INT32_MIN), INT32_MAX);
  }
  return out;
}

export interface WeightedParts {
  weight: Tensor;
  bias: Tensor | null;
  layer: QConv2d | QLinear | QConvBn2d;
}

export function weighted(parts: WeightedParts, sIn: number, zIn: number, name: string) {
  const { layer } = parts;
  // What the fake-quant forward would use now: observe the current weights if the observer is on.
  noGrad(() => layer.weightFq.call(parts.weight));
  const wp = layer.weightFq.computeQParams();
  const O = parts.weight.shape[0];
  const per = (a: ArrayLike<number>, o: number) => a[a.length === 1 ? 0 : o];
  const wScale = Float32Array.from({ length: O }, (_, o) => per(wp.scale, o));
  const wZero = Int32Array.from({ length: O }, (_, o) => per(wp.zeroPoint, o));
  const wParams: QParamsPerChannel = {
    scale: wScale, zeroPoint: wZero, qmin: layer.weightFq.qmin, qmax: layer.weightFq.qmax, axis: 0, shape: parts.weight.shape, rounding: layer.weightFq.range.rounding,
  };
  // binary / ternary weights: the code's own levels (rounding w/α would send small weights to 0)
  const wq = layer.weightFq instanceof CodedWeightQuantize ? layer.weightFq.levels(parts.weight) : quantize(parts.weight.toTypedArray(), wParams);
  const fitsInt8 = layer.weightFq.qmin >= -128 && layer.weightFq.qmax <= 127;
  // power-of-two weights: declare the code (the engine then multiplies by shifts, pow2-shift.ts)
  // and its own range ±2^(K−1), which also sets the width the file packs them in.
  const pow2 = layer.weightFq instanceof CodedWeightQuantize && layer.weightFq.code === 'pow2' ? 2 ** (pow2Exponents(layer.weightFq.codeBits) - 1) : 0;
  const out = computeQParamsFor(layer.activationFq, `${name} output quantizer`);
  const biasScale = Float32Array.from(wScale, (s) => Math.fround(sIn * s));
  const bias = parts.bias ? quantizeBias(parts.bias.toTypedArray(), biasScale) : null;
  const multiplier = new Int32Array(O), shift = new Int32Array(O);
  for (let o = 0; o < O; o++) {
    const m = quantizeMultiplier((sIn * wScale[o]) / out.scale);
    multiplier[o] = m.multiplier;
    shift[o] = m.shift;
  }
  const { qmin, qmax } = layer.activationFq;
  return {
    fields: {
      weight: fitsInt8 ? Int8Array.from(wq) : wq,
      weightQmin: pow2 ? -pow2 : layer.weightFq.qmin,
      weightQmax: pow2 ? pow2 : layer.weightFq.qmax,
      ...(pow2 ? { weightCode: 'pow2' as const } : {}),
      weightZeroPoint: wZero,
      bias,
      inZeroPoint: zIn,
      outZeroPoint: out.zeroPoint,
      multiplier,
      shift,
      qmin: layer.relu ? Math.max(qmin, out.zeroPoint) : qmin,
      qmax,
      outScale: out.scale,
    },
    out,
  };
}

export function convert(model: Sequential, opts: { inputShape: number[]; meta?: JsonObject }): Int8ModelSpec {
  const layers: Int8Layer[] = [];
  let cur: { scale: number; zeroPoint: number } | null = null;
  const need = (name: string) => {
    if (!cur) throw new Error(`convert: layer '${name}' comes before the QuantStub; prepare the model with prepareQAT`);
    return cur;
  };
  for (const [name, m] of model.namedChildren()) {
    if (m instanceof QuantStub) {
      cur = computeQParamsFor(m.activationFq, 'the input quantizer');
      const { qmin, qmax } = m.activationFq;
      layers.push({ kind: 'quantize', scale: cur.scale, zeroPoint: cur.zeroPoint, qmin, qmax, rounding: m.activationFq.range.rounding });
    } else if (m instanceof QConv2d || m instanceof QConvBn2d) {
      const c = need(name);
      const parts = m instanceof QConvBn2d ? { ...noGrad(() => m.folded()), layer: m } : { weight: m.conv.weight, bias: m.conv.bias, layer: m };
      const { fields, out } = weighted(parts, c.scale, c.zeroPoint, `layer '${name}'`);
      const pair = (v: number | [number, number] | undefined, d: number): [number, number] => (v === undefined ? [d, d] : typeof v === 'number' ? [v, v] : v);
      const o = m.conv.opts;
      layers.push({
        kind: 'conv2d', ...fields,
        weightShape: m.conv.weight.shape as [number, number, number, number],
        stride: pair(o.stride, 1), padding: pair(o.padding, 0), dilation: pair(o.dilation, 1), groups: o.groups ?? 1,
      });
      cur = out;
    } else if (m instanceof QLinear) {
      const c = need(name);
      const { fields, out } = weighted({ weight: m.linear.weight, bias: m.linear.bias, layer: m }, c.scale, c.zeroPoint, `layer '${name}'`);
      layers.push({ kind: 'linear', ...fields, weightShape: m.linear.weight.shape as [number, number] });
      cur = out;
    } else if (m instanceof MaxPool2d) {
      need(name);
      const pair = (v: number | [number, number] | undefined, d: [number, number]): [number, number] => (v === undefined ? d : typeof v === 'number' ? [v, v] : v);
      const k = pair(m.kernelSize, [1, 1]);
      layers.push({ kind: 'maxpool2d', kernel: k, stride: pair(m.opts.stride, k), padding: pair(m.opts.padding, [0, 0]), dilation: pair(m.opts.dilation, [1, 1]) });
    } else if (m instanceof Flatten) {
      need(name);
      layers.push({ kind: 'flatten' });
    } else if (m instanceof ReLU) {
      layers.push({ kind: 'relu', zeroPoint: need(name).zeroPoint });
    } else if (m instanceof Dropout || m instanceof Identity) {
      continue;
    } else {
      throw new Error(`convert: layer '${name}' (${m.constructor.name}) has no integer counterpart; prepare the model with prepareQAT first`);
    }
  }
  const last = need('dequantize');
  layers.push({ kind: 'dequantize', scale: last.scale, zeroPoint: last.zeroPoint });
  return { inputShape: opts.inputShape, layers, meta: opts.meta };
}
