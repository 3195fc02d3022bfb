/** The numbers quoted in docs/quantization.md, so the document cannot drift from the code. */
import { describe, expect, it } from 'vitest';
import {
  addFixedPointParams,
  computeQParams,
  fakeQuantize,
  int8Add,
  int8Mul,
  multiplyByQuantizedMultiplier,
  mulFixedPointParams,
  quantize,
  quantizeMultiplier,
  roundingDivideByPOT,
  saturatingRoundingDoublingHighMul,
} from '../../../src/quant/numerics/index.js';

const fround = Math.fround;

describe('docs/quantization.md worked examples', () => {
  it('observer qparams for [-1.0, 2.5]', () => {
    expect(computeQParams(-1, 2.5, { qmin: 0, qmax: 255, scheme: 'affine' })).toEqual({ scale: fround(3.5 / 255), zeroPoint: 73 });
    expect(computeQParams(-1, 2.5, { qmin: 0, qmax: 255, scheme: 'affine' }).scale).toBe(0.013725490309298038);
    expect(computeQParams(-1, 2.5, { qmin: -128, qmax: 127, scheme: 'affine' }).zeroPoint).toBe(-55);
    expect(computeQParams(-1, 2.5, { qmin: -127, qmax: 127, scheme: 'symmetric' })).toEqual({ scale: fround(2.5 / 127), zeroPoint: 0 });
  });

  it('the quantize table and the STE mask', () => {
    const x = [-1.0, 0.3, 2.5, 3.0];
    const u8 = { ...computeQParams(-1, 2.5, { qmin: 0, qmax: 255, scheme: 'affine' }), qmin: 0, qmax: 255 };
    expect(Array.from(quantize(x, u8))).toEqual([0, 95, 255, 255]);
    const { y, mask } = fakeQuantize(x, u8);
    expect(Array.from(y).map((v) => v.toFixed(7))).toEqual(['-1.0019608', '0.3019608', '2.4980392', '2.4980392']);
    expect(Array.from(mask)).toEqual([1, 1, 1, 0]);
    const i8 = { ...computeQParams(-1, 2.5, { qmin: -128, qmax: 127, scheme: 'affine' }), qmin: -128, qmax: 127 };
    expect(Array.from(quantize(x, i8))).toEqual([-128, -33, 127, 127]);
    expect(Array.from(fakeQuantize(x, i8).y)).toEqual(Array.from(y));
  });

  it('x * (1/scale) versus x / scale at a tie', () => {
    const s = fround(0.00214854861);
    const x = fround(0.273939937);
    expect(fround(x * fround(1 / s))).toBe(127.5);
    expect(fround(x / s)).toBeLessThan(127.5);
    expect(Array.from(quantize([x], { scale: s, zeroPoint: 0, qmin: 0, qmax: 255 }))).toEqual([128]);
  });

  it('quantizeMultiplier(0.3)', () => {
    expect(quantizeMultiplier(0.3)).toEqual({ multiplier: 1288490189, shift: -1 });
  });

  it('int8 multiply and add, both ways', () => {
    const pa = { scale: 0.02, zeroPoint: -10, qmin: -128, qmax: 127 };
    const pb = { scale: 0.05, zeroPoint: 5, qmin: -128, qmax: 127 };
    const po = { scale: 0.1, zeroPoint: 0, qmin: -128, qmax: 127 };
    const mul = mulFixedPointParams(pa.scale, pb.scale, po.scale).output;
    expect(mul).toEqual({ multiplier: 1374389504, shift: -6 });
    expect(saturatingRoundingDoublingHighMul(1122, mul.multiplier)).toBe(718);
    expect(roundingDivideByPOT(718, 6)).toBe(11);
    expect(Array.from(int8Mul([41], pa, [27], pb, po, { mode: 'float' }))).toEqual([11]);
    expect(Array.from(int8Mul([41], pa, [27], pb, po, { mode: 'fixedPoint' }))).toEqual([11]);

    const add = addFixedPointParams(pa.scale, pb.scale, po.scale);
    expect(add.input1).toEqual({ multiplier: 1717986854, shift: -2 });
    expect(add.input2).toEqual({ multiplier: 1073741824, shift: 0 });
    expect(add.output).toEqual({ multiplier: 1073741824, shift: -19 });
    const s1 = multiplyByQuantizedMultiplier(51 << 20, add.input1.multiplier, add.input1.shift);
    const s2 = multiplyByQuantizedMultiplier(22 << 20, add.input2.multiplier, add.input2.shift);
    expect([51 << 20, 22 << 20, s1, s2, s1 + s2]).toEqual([53477376, 23068672, 10695475, 11534336, 22229811]);
    expect(Array.from(int8Add([41], pa, [27], pb, po, { mode: 'float' }))).toEqual([21]);
    expect(Array.from(int8Add([41], pa, [27], pb, po, { mode: 'fixedPoint' }))).toEqual([21]);
  });
});
