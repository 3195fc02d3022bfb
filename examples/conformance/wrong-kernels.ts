/**
 * Three quantization kernels that are wrong on purpose, each in one rule, for docs/conformance.md
 * and the kit's own tests. Each claims PyTorch's convention (ties to even, x * float32(1/scale),
 * STE mask on the rounded level) and breaks exactly one part of it.
 */
import type { AnyQParams, QParams } from '../../src/quant/numerics/index.js';
import type { KernelsUnderTest } from '../../src/testing/index.js';

const fround = Math.fround;

/** Per-tensor only: the three kernels differ from PyTorch's in the level or the mask, not the layout. */
function perTensor(p: AnyQParams): QParams {
  if (typeof p.scale !== 'number') throw new Error('per-tensor qparams only');
  return p as QParams;
}

function fakeQuantizeWith(
  level: (x: number, p: QParams) => number,
  mask: (x: number, level: number, p: QParams) => boolean,
): NonNullable<KernelsUnderTest['fakeQuantize']> {
  return (x, params) => {
    const p = perTensor(params);
    const s = fround(p.scale);
    const y = new Float32Array(x.length);
    const m = new Uint8Array(x.length);
    x.forEach((xi, i) => {
      const l = level(xi, p);
      y[i] = (Math.min(p.qmax, Math.max(p.qmin, l)) - p.zeroPoint) * s;
      m[i] = mask(xi, l, p) ? 1 : 0;
    });
    return { y, mask: m };
  };
}

const rightLevel = (x: number, p: QParams) => {
  const t = fround(fround(x) * fround(1 / fround(p.scale)));
  const r = Math.round(t);
  return p.zeroPoint + (r - t === 0.5 && r % 2 !== 0 ? r - 1 : r);
};
const rightMask = (_x: number, l: number, p: QParams) => l >= p.qmin && l <= p.qmax;

function kernel(name: string, level: (x: number, p: QParams) => number, mask = rightMask): KernelsUnderTest {
  return {
    name,
    convention: 'pytorch',
    rounding: 'halfEven',
    quantize: (x, params) => {
      const p = perTensor(params);
      return Int32Array.from(x, (xi) => Math.min(p.qmax, Math.max(p.qmin, level(xi, p))));
    },
    fakeQuantize: fakeQuantizeWith(level, mask),
  };
}

/** Bug 1: JavaScript's Math.round, which rounds ties towards +Infinity, instead of ties to even. */
export const mathRoundKernel = kernel('Math.round kernel', (x, p) => p.zeroPoint + Math.round(fround(fround(x) * fround(1 / fround(p.scale)))));

/** Bug 2: the STE mask tests the float input against the float range (TensorFlow's rule) instead of the rounded level. */
export const floatRangeMaskKernel = kernel('float-range STE mask kernel', rightLevel, (x, _l, p) => {
  const s = fround(p.scale);
  return x >= fround((p.qmin - p.zeroPoint) * s) && x <= fround((p.qmax - p.zeroPoint) * s);
});

/** Bug 3: x / scale in float64 instead of float32(x * float32(1 / scale)). */
export const float64DivisionKernel = kernel('float64 x/scale kernel', (x, p) => {
  const t = fround(x) / fround(p.scale);
  const r = Math.round(t);
  return p.zeroPoint + (r - t === 0.5 && r % 2 !== 0 ? r - 1 : r);
});

export const WRONG_KERNELS = [mathRoundKernel, floatRangeMaskKernel, float64DivisionKernel] as const;
