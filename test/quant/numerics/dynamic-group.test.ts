/**
 * The numerics of dynamic and weight-only quantization:
 *   - DynamicQuantizeLinear (numerics/dynamic-range.ts) against the ONNX backend test cases
 *     (onnx/backend/test/case/node/dynamicquantizelinear.py: levels, scale 0.0196078438 and zero
 *     point 153 for the first, values checked with numpy's float32 reference as well), and as
 *     properties: 0 is exact, levels in range, error <= scale / 2 for every input;
 *   - per-group quantization (numerics/group.ts): levels in range, idempotence, error <= scale / 2
 *     inside each group's range, and per-group scales computed from each group's own extremes.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  computeGroupQParams, dequantizeGroups, dynamicQParams, dynamicQuantizeLinear, groupCount, quantizeGroups, quantizeLinearValue,
  DYNAMIC_ACTIVATION_RANGES,
} from '../../../src/quant/numerics/index.js';
import { runs } from '../../helpers/assert.js';

describe('DynamicQuantizeLinear (ONNX opset 11)', () => {
  const cases: [string, number[], number[], number, number][] = [
    ['mixed signs', [0, 2, -3, -2.5, 1.34, 0.5], [153, 255, 0, 26, 221, 179], 0.0196078438, 153],
    ['all negative (max adjusted to 0)', [-1.0, -2.1, -1.3, -2.5, -3.34, -4.0], [191, 121, 172, 96, 42, 0], 0.0156862754, 255],
    ['all positive (min adjusted to 0)', [1, 2.1, 1.3, 2.5, 3.34, 4.0, 1.5, 2.6, 3.9, 4.0, 3.0, 2.345], [64, 134, 83, 159, 213, 255, 96, 166, 249, 255, 191, 149], 0.0156862754, 0],
  ];
  for (const [name, x, levels, scale, zeroPoint] of cases) {
    it(`matches the ONNX backend test: ${name}`, () => {
      const r = dynamicQuantizeLinear(Float32Array.from(x));
      expect(Array.from(r.levels)).toEqual(levels);
      expect(r.scale).toBe(Math.fround(scale));
      expect(r.zeroPoint).toBe(zeroPoint);
    });
  }

  it('takes x / scale as a float32 division (ties at -127.49999 in float32 round to -127, the 26 above)', () => {
    const s = Math.fround(Math.fround(5) / 255);
    expect(Math.fround(-2.5 / s)).toBe(-127.49999237060547);
    expect(quantizeLinearValue(-2.5, s, 153, 0, 255)).toBe(26);
    expect(quantizeLinearValue(0.5, s, 153, 0, 255)).toBe(179); // 25.4999999 rounds to 25.5 in float32, ties to even: 26
  });

  it('degenerate inputs: all zeros -> scale 1, zero point qmin; NaN or infinite ranges are refused', () => {
    expect(dynamicQParams(0, 0, 0, 255)).toEqual({ scale: 1, zeroPoint: 0 });
    expect(dynamicQParams(0, 0, -128, 127)).toEqual({ scale: 1, zeroPoint: -128 });
    expect(Array.from(dynamicQuantizeLinear([0, 0, 0]).levels)).toEqual([0, 0, 0]);
    expect(() => dynamicQParams(NaN, 1, 0, 255)).toThrow(/finite min <= max/);
    expect(() => dynamicQuantizeLinear([1, NaN])).toThrow(/NaN or infinite/);
    expect(() => dynamicQParams(0, Infinity, 0, 255)).toThrow(/finite/);
  });

  for (const type of ['uint8', 'int8'] as const) {
    it(`${type}: 0 is exact, levels lie in range, every value is within scale/2 of its level (property)`, () => {
      const { qmin, qmax } = DYNAMIC_ACTIVATION_RANGES[type];
      let coveredNegative = 0, coveredPositive = 0;
      fc.assert(
        fc.property(fc.array(fc.float({ min: -1e4, max: 1e4, noNaN: true, noDefaultInfinity: true }), { minLength: 1, maxLength: 40 }), (xs) => {
          const x = Float32Array.from(xs);
          const { levels, scale, zeroPoint } = dynamicQuantizeLinear(x, type);
          if (Math.min(...x) < 0) coveredNegative++;
          if (Math.max(...x) > 0) coveredPositive++;
          expect(zeroPoint).toBeGreaterThanOrEqual(qmin);
          expect(zeroPoint).toBeLessThanOrEqual(qmax);
          expect(quantizeLinearValue(0, scale, zeroPoint, qmin, qmax)).toBe(zeroPoint);
          for (let i = 0; i < x.length; i++) {
            expect(levels[i]).toBeGreaterThanOrEqual(qmin);
            expect(levels[i]).toBeLessThanOrEqual(qmax);
            const back = (levels[i] - zeroPoint) * scale;
            expect(Math.abs(back - x[i])).toBeLessThanOrEqual(scale / 2 + 1e-6 * Math.abs(x[i]));
          }
        }),
        runs(300, 14001),
      );
      expect(coveredNegative).toBeGreaterThan(30);
      expect(coveredPositive).toBeGreaterThan(30);
    });
  }
});

describe('per-group quantization (numerics/group.ts)', () => {
  const weight = fc
    .record({ O: fc.integer({ min: 1, max: 4 }), K: fc.integer({ min: 1, max: 70 }), groupSize: fc.integer({ min: 1, max: 70 }), bits: fc.constantFrom(4, 8), symmetric: fc.boolean() })
    .chain((s) => fc.record({
      ...Object.fromEntries(Object.entries(s).map(([k, v]) => [k, fc.constant(v)])) as { [K in keyof typeof s]: fc.Arbitrary<(typeof s)[K]> },
      w: fc.array(fc.float({ min: -8, max: 8, noNaN: true, noDefaultInfinity: true }), { minLength: s.O * s.K, maxLength: s.O * s.K }),
    }))
    .map((r) => ({ ...r, groupSize: Math.min(r.groupSize, r.K) }));
  const rangeOf = (bits: number, symmetric: boolean) => {
    const half = 2 ** (bits - 1);
    return symmetric ? { qmin: -(half - 1), qmax: half - 1, scheme: 'symmetric' as const } : { qmin: -half, qmax: half - 1, scheme: 'affine' as const };
  };

  it('levels in range, quantize(dequantize(q)) = q, and |w - w\'| <= scale/2 for every weight (property)', () => {
    let ragged = 0, grouped = 0;
    fc.assert(
      fc.property(weight, ({ O, K, groupSize, bits, symmetric, w }) => {
        const x = Float32Array.from(w);
        const range = rangeOf(bits, symmetric);
        const p = computeGroupQParams(x, O, K, groupSize, range);
        const G = groupCount(K, groupSize);
        if (K % groupSize !== 0) ragged++;
        if (G > 1) grouped++;
        const q = quantizeGroups(x, O, K, p);
        const back = dequantizeGroups(q, O, K, p);
        const again = quantizeGroups(back, O, K, p);
        expect(Array.from(again)).toEqual(Array.from(q));
        for (let o = 0; o < O; o++) {
          for (let k = 0; k < K; k++) {
            const i = o * K + k, g = o * G + Math.floor(k / groupSize);
            expect(q[i]).toBeGreaterThanOrEqual(range.qmin);
            expect(q[i]).toBeLessThanOrEqual(range.qmax);
            // The independent dequantization: (q - zp) * scale of this element's own group.
            expect(back[i]).toBe(Math.fround((q[i] - p.zeroPoint[g]) * p.scale[g]));
            expect(Math.abs(back[i] - x[i])).toBeLessThanOrEqual(p.scale[g] / 2 + 1e-6 * Math.abs(x[i]) + 1e-12);
          }
        }
      }),
      runs(300, 14002),
    );
    expect(ragged).toBeGreaterThan(50);
    expect(grouped).toBeGreaterThan(50);
  });

  it('each group takes its scale from its own extremes only: symmetric scale = max|w| / qmax over the group', () => {
    // Row 0: groups [1.2, -2 | 0.5, 0.3 | 8] (groupSize 2, K = 5: a short last group).
    const w = Float32Array.from([1.2, -2, 0.5, 0.3, 8]);
    const p = computeGroupQParams(w, 1, 5, 2, { qmin: -7, qmax: 7, scheme: 'symmetric' });
    expect(Array.from(p.scale)).toEqual([2 / 7, 0.5 / 7, 8 / 7].map(Math.fround));
    expect(Array.from(p.zeroPoint)).toEqual([0, 0, 0]);
    expect(Array.from(quantizeGroups(w, 1, 5, p))).toEqual([4, -7, 7, 4, 7]); // 1.2 / (2/7) = 4.2, 0.3 / (0.5/7) = 4.2
  });

  it('refuses a group size outside [1, K] and mismatched parameter arrays', () => {
    expect(() => groupCount(10, 0)).toThrow(/groupSize must be an integer in \[1, K = 10\]/);
    expect(() => groupCount(10, 11)).toThrow(/groupSize/);
    const p = computeGroupQParams(new Float32Array(8), 2, 4, 2, { qmin: -7, qmax: 7, scheme: 'symmetric' });
    expect(() => quantizeGroups(new Float32Array(8), 2, 4, { ...p, groupSize: 4 })).toThrow(/need O·groups = 2·1 = 2 entries, got 4/);
    expect(() => quantizeGroups(new Float32Array(7), 2, 4, p)).toThrow(/7 elements, but \[O, K\] = \[2, 4\] needs 8/);
  });
});
