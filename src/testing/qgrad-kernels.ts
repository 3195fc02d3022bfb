/**
 * qgrad's own kernels wrapped as implementations under test: the reference numerics (which the kit
 * is built on, so they pass by construction and serve as a template), the int8 engine's fast
 * multiplyByQuantizedMultiplier, and the tensor ops quantizeTensor / dequantizeTensor /
 * fakeQuantizeTensor on any registered backend ('cpu', or a gpu.js backend registered under a
 * name), with the STE mask read back through autograd (the gradient of sum(y) is the mask).
 */
import { backward, fromArray, tidy, type Device } from '../index.js';
import { multiplyByQuantizedMultiplierFast } from '../quant/int8/kernels.js';
import { dequantizeTensor, fakeQuantizeTensor, quantizeTensor, type FakeQuantizeArgs } from '../quant/fake-quantize.js';
import {
  dequantize,
  fakeQuantize,
  int8Add,
  int8Mul,
  isPerChannel,
  multiplyByQuantizedMultiplier,
  quantize,
  requantize,
  type AnyQParams,
  type Int8ArithMode,
} from '../quant/numerics/index.js';
import type { KernelsUnderTest } from './kernels.js';

/** src/quant/numerics as a PyTorch-convention implementation, with int8 add / mul in the given mode. */
export function referenceKernels(arithMode: Int8ArithMode = 'fixedPoint'): KernelsUnderTest {
  return {
    name: `qgrad reference numerics (int8 arithmetic: ${arithMode})`,
    convention: 'pytorch',
    perChannel: true,
    quantize,
    dequantize,
    fakeQuantize,
    multiplyByQuantizedMultiplier: (acc, m, s) => acc.map((v) => multiplyByQuantizedMultiplier(v, m, s)),
    requantize: (acc, m, s, zp, qmin, qmax) => requantize(acc, m, s, zp, qmin, qmax),
    int8Add: { mode: arithMode, run: (qa, a, qb, b, out) => int8Add(qa, a, qb, b, out, { mode: arithMode, ...(arithMode === 'float' ? { rounding: a.rounding } : {}) }) },
    int8Mul: { mode: arithMode, run: (qa, a, qb, b, out) => int8Mul(qa, a, qb, b, out, { mode: arithMode, ...(arithMode === 'float' ? { rounding: a.rounding } : {}) }) },
  };
}

/** The int8 engine's multiplyByQuantizedMultiplierFast (src/quant/int8/kernels.ts). */
export function fastInt8Kernels(): KernelsUnderTest {
  return {
    name: 'qgrad int8 engine (multiplyByQuantizedMultiplierFast)',
    convention: 'tflite',
    multiplyByQuantizedMultiplier: (acc, m, s) => acc.map((v) => multiplyByQuantizedMultiplierFast(v, m, s)),
    requantize: (acc, m, s, zp, qmin, qmax) => acc.map((v) => Math.min(qmax, Math.max(qmin, multiplyByQuantizedMultiplierFast(v, m, s) + zp))),
  };
}

function tensorArgs(p: AnyQParams): { args: FakeQuantizeArgs; shape: number[] | null } {
  if (isPerChannel(p)) {
    return { args: { scale: p.scale, zeroPoint: p.zeroPoint, qmin: p.qmin, qmax: p.qmax, axis: p.axis, rounding: p.rounding }, shape: [...p.shape] };
  }
  return { args: { scale: [p.scale], zeroPoint: [p.zeroPoint], qmin: p.qmin, qmax: p.qmax, axis: null, rounding: p.rounding }, shape: null };
}

/** quantizeTensor / dequantizeTensor / fakeQuantizeTensor on a backend, per tensor and per channel. */
export function tensorKernels(device: Device, name = `qgrad tensor ops on '${device}'`): KernelsUnderTest {
  return {
    name,
    convention: 'pytorch',
    perChannel: true,
    quantize: (x, p) => tidy(() => {
      const { args, shape } = tensorArgs(p);
      return quantizeTensor(fromArray(x, shape ?? [x.length], { dtype: 'float32', device }), args).toTypedArray().slice();
    }),
    dequantize: (q, p) => tidy(() => {
      const { args, shape } = tensorArgs(p);
      return dequantizeTensor(fromArray(q, shape ?? [q.length], { dtype: 'int32', device }), args).toTypedArray().slice();
    }),
    fakeQuantize: (x, p) => tidy(() => {
      const { args, shape } = tensorArgs(p);
      const t = fromArray(x, shape ?? [x.length], { dtype: 'float32', device, requiresGrad: true });
      const y = fakeQuantizeTensor(t, args);
      backward(y, fromArray(new Float32Array(x.length).fill(1), shape ?? [x.length], { dtype: 'float32', device }));
      return { y: y.toTypedArray().slice(), mask: t.grad!.toTypedArray().slice() };
    }),
  };
}
