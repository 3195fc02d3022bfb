/**
 * The conformance kit finds each deliberately wrong kernel (examples/conformance/wrong-kernels.ts)
 * with a shrunk counterexample whose kind names the broken rule, and every counterexample is checked
 * against oracles written here from the formulas (not the kit's reference); qgrad's own kernels
 * (reference numerics, the int8 engine's fast fixed point, the cpu backend's tensor ops, gpu.js in
 * webasm and cpu modes) pass; a kernel written here for TFLite's convention passes under 'tflite'.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { float64DivisionKernel, floatRangeMaskKernel, mathRoundKernel } from '../../examples/conformance/wrong-kernels.js';
import { gpuKernels } from '../../examples/conformance/kernels.js';
import { headlessglStatus } from '../../src/tensor/gpu/index.js';
import {
  arbInput,
  arbQParams,
  fastInt8Kernels,
  formatSuiteResult,
  referenceKernels,
  registerConformance,
  runConformance,
  tensorKernels,
  tieInput,
  type ConformanceReport,
  type KernelsUnderTest,
  type SuiteResult,
} from '../../src/testing/index.js';

const fround = Math.fround;
const NUM_RUNS = 150;

/** Ties to even, written out: the nearest integer, and at an exact half the even one. */
function halfEven(t: number): number {
  const f = Math.floor(t);
  const d = t - f;
  if (d < 0.5) return f;
  if (d > 0.5) return f + 1;
  return f % 2 === 0 ? f : f + 1;
}

function suite(r: ConformanceReport, name: string): SuiteResult {
  const s = r.suites.find((x) => x.suite === name);
  if (!s) throw new Error(`no suite ${name} in ${r.suites.map((x) => x.suite).join(', ')}`);
  return s;
}

/** The counterexample's x through the kernel, once more, at its own qparams. */
function levelOf(k: KernelsUnderTest, x: number, p: { scale: number; zeroPoint: number; qmin: number; qmax: number }): number {
  return k.quantize!(Float32Array.of(x), { ...p, rounding: 'halfEven' })[0];
}

describe('the kit finds the three wrong kernels', () => {
  it('Math.round instead of ties-to-even: kind "tie rounding", at an exact tie', () => {
    const r = runConformance(mathRoundKernel, { numRuns: NUM_RUNS });
    expect(r.passed).toBe(false);
    for (const name of ['quantize', 'fakeQuantize']) {
      const s = suite(r, name);
      expect(s.passed, formatSuiteResult(s)).toBe(false);
      const cx = s.counterexample!;
      expect(cx.kind, formatSuiteResult(s)).toBe('tie rounding');
      expect(cx.batchLength).toBe(1); // shrunk to the failing element
      const x = cx.input.x as number, scale = cx.input.scale as number, zp = cx.input.zeroPoint as number;
      const t = fround(fround(x) * fround(1 / fround(scale)));
      expect(Math.abs(t - Math.trunc(t))).toBe(0.5); // an exact tie of PyTorch's product
      expect(cx.expected.level).toBe(Math.min(cx.input.qmax as number, Math.max(cx.input.qmin as number, zp + halfEven(t))));
    }
    // quantize's counterexample reproduces: the kernel returns the reported level, which is Math.round's.
    const cx = suite(r, 'quantize').counterexample!;
    const p = { scale: cx.input.scale as number, zeroPoint: cx.input.zeroPoint as number, qmin: cx.input.qmin as number, qmax: cx.input.qmax as number };
    expect(levelOf(mathRoundKernel, cx.input.x as number, p)).toBe(cx.got.level);
    expect(cx.got.level).toBe(p.zeroPoint + Math.round(fround(fround(cx.input.x as number) * fround(1 / p.scale))));
  });

  it('STE mask on the float range instead of the rounded level: kind "STE mask"; quantize passes', () => {
    const r = runConformance(floatRangeMaskKernel, { numRuns: NUM_RUNS });
    expect(suite(r, 'quantize').passed).toBe(true);
    const s = suite(r, 'fakeQuantize');
    expect(s.passed).toBe(false);
    const cx = s.counterexample!;
    expect(cx.kind, formatSuiteResult(s)).toBe('STE mask');
    expect(cx.batchLength).toBe(1);
    // Oracle: PyTorch's mask is qmin <= zp + round(x * inv) <= qmax; the float-range test differs here.
    const x = cx.input.x as number, scale = fround(cx.input.scale as number), zp = cx.input.zeroPoint as number;
    const qmin = cx.input.qmin as number, qmax = cx.input.qmax as number;
    const level = zp + halfEven(fround(fround(x) * fround(1 / scale)));
    const torchMask = level >= qmin && level <= qmax ? 1 : 0;
    const floatMask = x >= fround((qmin - zp) * scale) && x <= fround((qmax - zp) * scale) ? 1 : 0;
    expect(cx.expected.mask).toBe(torchMask);
    expect(cx.got.mask).toBe(floatMask);
    expect(torchMask).not.toBe(floatMask);
    expect(cx.expected.y).toBe(cx.got.y); // y is right: only the mask broke
  });

  it('float64 x / scale instead of x * float32(1/scale): kind "scale reciprocal"', () => {
    const r = runConformance(float64DivisionKernel, { numRuns: NUM_RUNS });
    for (const name of ['quantize', 'fakeQuantize']) {
      const s = suite(r, name);
      expect(s.passed).toBe(false);
      const cx = s.counterexample!;
      expect(cx.kind, formatSuiteResult(s)).toBe('scale reciprocal');
      const x = fround(cx.input.x as number), scale = fround(cx.input.scale as number), zp = cx.input.zeroPoint as number;
      // The two products round to different levels here.
      expect(zp + halfEven(x / scale)).toBe(cx.got.level);
      expect(zp + halfEven(fround(x * fround(1 / scale)))).toBe(cx.expected.level);
    }
  });

  it('is deterministic: the same seed gives the same counterexample', () => {
    const a = runConformance(mathRoundKernel, { numRuns: 50, seed: 7, only: ['quantize'] });
    const b = runConformance(mathRoundKernel, { numRuns: 50, seed: 7, only: ['quantize'] });
    expect(a).toEqual(b);
  });
});

describe("qgrad's own kernels conform", () => {
  const cases: [string, () => KernelsUnderTest, number][] = [
    ['reference numerics, int8 arithmetic in fixed point', () => referenceKernels('fixedPoint'), 10],
    ['reference numerics, int8 arithmetic in float', () => referenceKernels('float'), 10],
    ["the int8 engine's fast multiplyByQuantizedMultiplier", () => fastInt8Kernels(), 2],
    ["the cpu backend's tensor quantize ops", () => tensorKernels('cpu'), 6],
    ['gpu.js kernels, webasm mode', () => gpuKernels('webasm'), 6],
    ['gpu.js kernels, cpu mode', () => gpuKernels('cpu'), 6],
    // WebGL through `gl` needs a display: `xvfb-run -a npx vitest run test/testing` adds it.
    ...(process.env.DISPLAY && headlessglStatus().ok ? [['gpu.js kernels, headlessgl mode', () => gpuKernels('headlessgl'), 6] as [string, () => KernelsUnderTest, number]] : []),
  ];
  it.each(cases)('%s', (_name, make, suites) => {
    const r = runConformance(make(), { numRuns: 100 });
    const failures = r.suites.filter((s) => !s.passed).map(formatSuiteResult);
    expect(failures).toEqual([]);
    expect(r.suites.length).toBe(suites);
  });

  it('a TFLite-convention kernel written here passes under tflite and fails under pytorch', () => {
    // TFLite's AffineQuantize: zp + TfLiteRound(x / scale), with std::round (ties away from zero).
    const tflite: KernelsUnderTest = {
      name: 'TFLite AffineQuantize',
      convention: 'tflite',
      quantize: (x, p) => {
        if (typeof p.scale !== 'number') throw new Error('per tensor');
        const { scale, zeroPoint, qmin, qmax } = p as { scale: number; zeroPoint: number; qmin: number; qmax: number };
        return Int32Array.from(x, (v) => {
          const t = fround(v / fround(scale));
          const r = Math.sign(t) * Math.floor(Math.abs(t) + 0.5);
          return Math.min(qmax, Math.max(qmin, zeroPoint + r));
        });
      },
    };
    expect(runConformance(tflite, { numRuns: NUM_RUNS }).passed).toBe(true);
    const asTorch = runConformance({ ...tflite, convention: 'pytorch', rounding: 'halfEven' }, { numRuns: NUM_RUNS });
    expect(asTorch.passed).toBe(false);
    expect(['tie rounding', 'scale reciprocal']).toContain(suite(asTorch, 'quantize').counterexample!.kind);
  });
});

describe('arbitraries', () => {
  it('draw exact ties of the convention\'s product often enough to matter', () => {
    let ties = 0, total = 0;
    fc.assert(
      fc.property(arbQParams({ bits: [8, 4] }).chain((p) => fc.tuple(fc.constant(p), arbInput(p))), ([p, x]) => {
        total++;
        const t = fround(fround(x) * fround(1 / fround(p.scale)));
        if (Number.isFinite(t) && Math.abs(t - Math.trunc(t)) === 0.5) ties++;
      }),
      { seed: 11, numRuns: 2000 },
    );
    expect(ties / total).toBeGreaterThan(0.1);
  });

  it('tieInput finds the tie for each convention\'s way of forming x / scale', () => {
    const s = fround(0.00214854861);
    for (let k = -130; k < 130; k += 7) {
      const a = tieInput(s, k, 'pytorch');
      const b = tieInput(s, k, 'tflite');
      if (a !== undefined) expect(fround(a * fround(1 / s))).toBe(k + 0.5);
      if (b !== undefined) expect(fround(b / s)).toBe(k + 0.5);
    }
  });
});

// The vitest form: one test per suite, registered by the kit.
registerConformance(referenceKernels(), { describe, it }, { numRuns: 50 });
