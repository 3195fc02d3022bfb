/**
 * Tensor-level fake quantization on the cpu backend (FakeQuantizeFunction, fakeQuantizeTensor,
 * quantizeTensor, dequantizeTensor) against the pure reference numerics of src/quant/numerics,
 * bit for bit: per tensor and per channel (axis 0 and 1), both rounding modes, exact ties k + 0.5
 * and their float32 neighbours, values beyond the range, tiny and huge scales, bit widths 1..16.
 * The STE gradient is checked against the reference mask, and bad arguments against clear errors.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { fromArray, type Tensor } from '../../src/index.js';
import {
  dequantize,
  dequantizeTensor,
  fakeQuantize,
  fakeQuantizeTensor,
  FakeQuantizeFunction,
  quantize,
  quantizeTensor,
  type FakeQuantizeArgs,
  type QParams,
  type QParamsPerChannel,
  type Rounding,
} from '../../src/quant/index.js';
import { arbInput, arbLevel, arbQParams, arbRange, arbRounding, arbScale, tieInput } from './numerics/helpers.js';
import { expectSameBits } from './helpers.js';
import { runs } from '../helpers/assert.js';

const fround = Math.fround;
const RUNS = runs(200);

/** The tensor-level argument object for reference per-tensor qparams. */
function tensorArgs(p: QParams): FakeQuantizeArgs {
  return { scale: [p.scale], zeroPoint: [p.zeroPoint], qmin: p.qmin, qmax: p.qmax, rounding: p.rounding };
}

/** y, mask and x.grad of fakeQuantizeTensor with the upstream gradient w (L = Σ w ⊙ fq(x)). */
function runWithGrad(xs: ArrayLike<number>, shape: number[], args: FakeQuantizeArgs, w: ArrayLike<number>) {
  const x = fromArray(Float32Array.from(xs), shape, { requiresGrad: true });
  const y = fakeQuantizeTensor(x, args);
  y.mul(fromArray(Float32Array.from(w), shape)).sum().backward();
  return { y: y.toTypedArray(), grad: (x.grad as Tensor).toTypedArray() };
}

/** The STE gradient the reference mask implies: w where the mask is 1, 0 elsewhere. */
function expectMaskedGrad(grad: ArrayLike<number>, w: ArrayLike<number>, mask: Uint8Array, label: string): void {
  for (let i = 0; i < mask.length; i++) {
    const want = mask[i] ? fround(w[i]) : 0;
    if (grad[i] !== want) expect.fail(`${label}: grad[${i}] = ${grad[i]}, expected ${want} (mask ${mask[i]})`);
  }
}

const arbTensorCase = arbQParams.chain((p) =>
  fc.record({
    p: fc.constant(p),
    xs: fc.array(arbInput(p), { minLength: 1, maxLength: 48 }),
  }).chain(({ p, xs }) => fc.record({
    p: fc.constant(p),
    xs: fc.constant(xs),
    w: fc.array(fc.float({ min: -4, max: 4, noNaN: true, noDefaultInfinity: true }), { minLength: xs.length, maxLength: xs.length }),
  })),
);

/** A per-channel case: rank 2 or 3, channel axis 0 or 1, one (scale, zero point) per channel, inputs aimed at each channel's ties. */
const arbChannelCase = fc
  .record({
    range: arbRange,
    rounding: arbRounding,
    axis: fc.constantFrom(0, 1),
    shape: fc.array(fc.integer({ min: 1, max: 4 }), { minLength: 2, maxLength: 3 }),
  })
  .chain(({ range, rounding, axis, shape }) => {
    const C = shape[axis];
    const channel = fc.record({ scale: arbScale, zeroPoint: arbLevel(range) });
    return fc.array(channel, { minLength: C, maxLength: C }).chain((chans) => {
      const inner = shape.slice(axis + 1).reduce((a, b) => a * b, 1);
      const size = shape.reduce((a, b) => a * b, 1);
      const perElement = Array.from({ length: size }, (_, i) => {
        const c = Math.floor(i / inner) % C;
        return arbInput({ scale: chans[c].scale, zeroPoint: chans[c].zeroPoint, qmin: range.qmin, qmax: range.qmax });
      });
      const ref: QParamsPerChannel = {
        scale: chans.map((c) => c.scale), zeroPoint: chans.map((c) => c.zeroPoint), qmin: range.qmin, qmax: range.qmax, axis, shape, rounding,
      };
      return fc.record({
        ref: fc.constant(ref),
        xs: fc.tuple(...perElement),
        w: fc.array(fc.float({ min: -4, max: 4, noNaN: true, noDefaultInfinity: true }), { minLength: size, maxLength: size }),
        levels: fc.array(arbLevel(range), { minLength: size, maxLength: size }),
      });
    });
  });

function channelArgs(ref: QParamsPerChannel): FakeQuantizeArgs {
  return { scale: ref.scale, zeroPoint: ref.zeroPoint, qmin: ref.qmin, qmax: ref.qmax, axis: ref.axis, rounding: ref.rounding };
}

describe('fakeQuantizeTensor / quantizeTensor / dequantizeTensor agree bit for bit with the reference numerics', () => {
  it('per tensor: y, levels, dequantized levels and the STE gradient', () => {
    fc.assert(
      fc.property(arbTensorCase, ({ p, xs, w }) => {
        const ref = fakeQuantize(xs, p);
        const { y, grad } = runWithGrad(xs, [xs.length], tensorArgs(p), w);
        expectSameBits(y, ref.y, 'fakeQuantize y');
        expectMaskedGrad(grad, w, ref.mask, 'STE gradient');
        const x = fromArray(Float32Array.from(xs), [xs.length]);
        expect(Array.from(quantizeTensor(x, tensorArgs(p)).toTypedArray())).toEqual(Array.from(quantize(xs, p)));
        const levels = quantize(xs, p);
        expectSameBits(dequantizeTensor(fromArray(levels, [levels.length]), tensorArgs(p)).toTypedArray(), dequantize(levels, p), 'dequantize');
      }),
      RUNS,
    );
  });

  it('per channel (axis 0 and 1, rank 2 and 3): y, levels, dequantized levels and the STE gradient', () => {
    fc.assert(
      fc.property(arbChannelCase, ({ ref, xs, w, levels }) => {
        const shape = [...ref.shape];
        const expected = fakeQuantize(xs, ref);
        const { y, grad } = runWithGrad(xs, shape, channelArgs(ref), w);
        expectSameBits(y, expected.y, `per-channel y (axis ${ref.axis}, shape [${shape}])`);
        expectMaskedGrad(grad, w, expected.mask, 'per-channel STE gradient');
        const x = fromArray(Float32Array.from(xs), shape);
        expect(Array.from(quantizeTensor(x, channelArgs(ref)).toTypedArray())).toEqual(Array.from(quantize(xs, ref)));
        const q = fromArray(Int32Array.from(levels), shape);
        expectSameBits(dequantizeTensor(q, channelArgs(ref)).toTypedArray(), dequantize(levels, ref), 'per-channel dequantize');
      }),
      RUNS,
    );
  });

  it('exact ties k + 0.5 go to the even level (halfEven) or away from zero (halfAwayFromZero), as the reference', () => {
    const scale = fround(0.00214854861); // the scale at which x·(1/s) and x/s disagree near a tie
    for (const rounding of ['halfEven', 'halfAwayFromZero'] as Rounding[]) {
      const xs: number[] = [];
      for (let k = -130; k <= 129; k++) {
        const t = tieInput(scale, k);
        if (t !== undefined) xs.push(t);
      }
      expect(xs.length).toBeGreaterThan(100);
      const p: QParams = { scale, zeroPoint: 0, qmin: -128, qmax: 127, rounding };
      const q = quantizeTensor(fromArray(Float32Array.from(xs), [xs.length]), tensorArgs(p)).toTypedArray();
      expect(Array.from(q)).toEqual(Array.from(quantize(xs, p)));
      // And independently of the reference: the tie k + 0.5 lands on the named neighbour.
      xs.forEach((x, i) => {
        const t = fround(x * fround(1 / scale));
        const want = rounding === 'halfEven' ? (Math.floor(t) % 2 === 0 ? Math.floor(t) : Math.ceil(t)) : t < 0 ? Math.floor(t) : Math.ceil(t);
        expect(q[i], `tie ${t}`).toBe(Math.min(127, Math.max(-128, want)) + 0);
      });
    }
  });

  it('saturates values far beyond the range and ±Infinity to the edge levels with a zero gradient', () => {
    const p: QParams = { scale: 0.1, zeroPoint: 3, qmin: 0, qmax: 15 };
    const xs = [-1e30, -Infinity, 1e30, Infinity, fround(3.4e38), -fround(3.4e38)];
    const ref = fakeQuantize(xs, p);
    const { y, grad } = runWithGrad(xs, [xs.length], tensorArgs(p), xs.map(() => 1));
    expectSameBits(y, ref.y);
    expect(Array.from(grad)).toEqual([0, 0, 0, 0, 0, 0]);
    expect(Array.from(y)).toEqual([-0.3, -0.3, 1.2, 1.2, 1.2, -0.3].map(fround));
  });

  it('per channel on a non-contiguous (transposed) view quantizes the logical layout', () => {
    const data = Float32Array.from({ length: 12 }, (_, i) => fround((i - 5.3) * 0.37));
    const base = fromArray(data, [4, 3]);
    const view = base.transpose(0, 1); // [3, 4], channel axis 1 runs over base's rows
    const logical = Array.from({ length: 12 }, (_, i) => data[(i % 4) * 3 + Math.floor(i / 4)]);
    const ref: QParamsPerChannel = { scale: [0.1, 0.25, 0.05, 0.5], zeroPoint: [0, 2, -3, 1], qmin: -8, qmax: 7, axis: 1, shape: [3, 4] };
    expectSameBits(fakeQuantizeTensor(view, channelArgs(ref)).toTypedArray(), fakeQuantize(logical, ref).y);
    // A negative axis names the same channel dimension.
    expectSameBits(fakeQuantizeTensor(view, { ...channelArgs(ref), axis: -1 }).toTypedArray(), fakeQuantize(logical, ref).y);
  });

  it('keeps a float64 input float64, with the float32 values of the reference', () => {
    const xs = [0.123456789012, -3.3, 7.77, 1e-9];
    const p: QParams = { scale: 0.05, zeroPoint: 0, qmin: -128, qmax: 127 };
    const y = fakeQuantizeTensor(fromArray(Float64Array.from(xs), [4]), tensorArgs(p));
    expect(y.dtype).toBe('float64');
    expectSameBits(y.toTypedArray(), fakeQuantize(xs, p).y);
  });

  it('is an autograd Function: FakeQuantizeFunction.apply records the STE backward', () => {
    const x = fromArray([0.04, 0.5, 2.0, -2.0], [4], { requiresGrad: true });
    const args: FakeQuantizeArgs = { scale: [0.25], zeroPoint: [0], qmin: -4, qmax: 3 };
    const y = FakeQuantizeFunction.apply(x, args);
    expect(Array.from(y.toTypedArray())).toEqual([0, 0.5, 0.75, -1]);
    y.sum().backward();
    // levels 0, 2, 8 (> 3: clamped), -8 (< -4: clamped)
    expect(Array.from((x.grad as Tensor).toTypedArray())).toEqual([1, 1, 0, 0]);
  });
});

describe('tensor-level quantization: clear errors', () => {
  const x = fromArray([0.1, 0.2, 0.3, 0.4, 0.5, 0.6], [2, 3]);
  const base: FakeQuantizeArgs = { scale: [0.1], zeroPoint: [0], qmin: -128, qmax: 127 };
  const ops: [string, (a: FakeQuantizeArgs) => unknown][] = [
    ['fakeQuantizeTensor', (a) => fakeQuantizeTensor(x, a)],
    ['quantizeTensor', (a) => quantizeTensor(x, a)],
    ['dequantizeTensor', (a) => dequantizeTensor(fromArray(Int32Array.from([1, 2, 3, 4, 5, 6]), [2, 3]), a)],
  ];

  for (const [name, op] of ops) {
    it(`${name}: zero, negative, NaN and infinite scales`, () => {
      for (const s of [0, -0.5, NaN, Infinity]) expect(() => op({ ...base, scale: [s] }), `scale ${s}`).toThrow(/scale/);
    });

    it(`${name}: scales that are positive in float64 but unusable in float32 (reference rejects them too)`, () => {
      // 1e-46 is 0 in float32; 1e-40's float32 reciprocal overflows; 1e39 and 3.5e38 overflow float32.
      for (const s of [1e-46, 1e-40, 1e39, 3.5e38]) {
        expect(() => fakeQuantize([0.5], { scale: s, zeroPoint: 0, qmin: -128, qmax: 127 }), `reference, scale ${s}`).toThrow(/scale/);
        expect(() => op({ ...base, scale: [s] }), `scale ${s}`).toThrow(/scale/);
      }
    });

    it(`${name}: zero point outside [qmin, qmax] or not an integer`, () => {
      expect(() => op({ ...base, zeroPoint: [128] })).toThrow(/zero ?point/i);
      expect(() => op({ ...base, zeroPoint: [-129] })).toThrow(/zero ?point/i);
      expect(() => op({ ...base, zeroPoint: [1.5] })).toThrow(/zero ?point/i);
    });

    it(`${name}: wrong number of per-channel scales names both counts`, () => {
      expect(() => op({ ...base, scale: [0.1, 0.2], zeroPoint: [0, 0], axis: 1 })).toThrow(/3.*got 2|2.*expected 3/);
      expect(() => op({ ...base, scale: [0.1, 0.2, 0.3], zeroPoint: [0, 0, 0], axis: 0 })).toThrow(/2.*got 3|3.*expected 2/);
    });
  }

  it('a bad channel is named', () => {
    expect(() => fakeQuantizeTensor(x, { ...base, scale: [0.1, 0, 0.3], zeroPoint: [0, 0, 0], axis: 1 })).toThrow(/channel 1/);
  });

  it('int32 input to fakeQuantize / quantize is refused, naming the dtype', () => {
    const xi = fromArray(Int32Array.from([1, 2, 3]), [3]);
    expect(() => fakeQuantizeTensor(xi, base)).toThrow(/int32/);
    expect(() => quantizeTensor(xi, base)).toThrow(/int32/);
  });

  it('qmin >= qmax or non-integer bounds are refused', () => {
    expect(() => fakeQuantizeTensor(x, { ...base, qmin: 5, qmax: 5, zeroPoint: [5] })).toThrow(/qmin/);
    expect(() => fakeQuantizeTensor(x, { ...base, qmin: 0.5, qmax: 5 })).toThrow(/qmin/);
  });
});
