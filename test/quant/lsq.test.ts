/**
 * LearnableFakeQuantizeFunction (LSQ, Esser et al. 2019; PyTorch's _LearnableFakeQuantize).
 *
 * Forward: the reference fakeQuantize of src/quant/numerics with the learned zero point rounded
 * (with the named rounding mode) and clamped to [qmin, qmax], bit for bit, ties included
 * (PyTorch's learnable forward calls fake_quantize_per_tensor_affine).
 *
 * Backward: LSQ's gradients are the exact derivatives of the surrogate in which round() has
 * derivative 1 (the STE) and the zero point is continuous:
 *     S(x, s, z) = (clamp(x/s + z + δ, qmin, qmax) − z) · s,   δ = round(u₀) − u₀ frozen at the point
 * which equals the forward at the point itself. The oracle takes central finite differences of S
 * in float64, in plain JavaScript (no tensors), at points whose u = x/s + z is far from every
 * k + 0.5 and from the clamp edges, below, inside and above the range; the scale gradient is
 * expected scaled by gradFactor, the zero point's not (as documented in lsq.ts).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { fromArray, type Tensor } from '../../src/index.js';
import { fakeQuantize, LearnableFakeQuantizeFunction, roundWith, type Rounding } from '../../src/quant/index.js';
import { arbInput, arbQParams } from './numerics/helpers.js';
import { expectSameBits, prng } from './helpers.js';
import { runs } from '../helpers/assert.js';

const fround = Math.fround;

function lsq(x: Tensor, s: Tensor, z: Tensor, qmin: number, qmax: number, gradFactor: number, rounding: Rounding = 'halfEven'): Tensor {
  return LearnableFakeQuantizeFunction.apply(x, s, z, qmin, qmax, gradFactor, rounding);
}

describe('LSQ forward equals the reference fakeQuantize with the rounded, clamped zero point', () => {
  it('bit for bit over bit widths 1..16, both roundings, ties, edges and values beyond the range', () => {
    const arbCase = arbQParams.chain((p) =>
      fc.record({
        p: fc.constant(p),
        xs: fc.array(arbInput(p), { minLength: 1, maxLength: 40 }),
        // the learned (float) zero point: near the integer one, exactly half-way, or outside the range
        zLearned: fc.oneof(
          fc.double({ min: -0.49, max: 0.49, noNaN: true }).map((d) => p.zeroPoint + d),
          fc.constantFrom(p.zeroPoint + 0.5, p.zeroPoint - 0.5, p.qmin - 3.7, p.qmax + 2.2),
        ),
      }),
    );
    fc.assert(
      fc.property(arbCase, ({ p, xs, zLearned }) => {
        const xf = Float32Array.from(xs.filter((v) => Number.isFinite(v)));
        if (xf.length === 0) return;
        const zLearned32 = fround(zLearned);
        const zp = Math.min(p.qmax, Math.max(p.qmin, roundWith(zLearned32, p.rounding)));
        const y = lsq(fromArray(xf, [xf.length]), fromArray([p.scale], [1]), fromArray([zLearned32], [1]), p.qmin, p.qmax, 1, p.rounding);
        // the function floors the learned scale at 1e-8 (a step that trained to 0 or below would divide by 0)
        const scale = Math.max(fround(p.scale), fround(1e-8));
        expectSameBits(y.toTypedArray(), fakeQuantize(xf, { ...p, scale, zeroPoint: zp }).y, `scale ${p.scale}, z ${zLearned32} -> ${zp}`);
      }),
      runs(200),
    );
  });

  it('rounds a learned zero point that is exactly half-way with the named rounding (2.5 -> 2 halfEven, 3 away from zero)', () => {
    // x = -2.6, s = 1, qmin = 0: the output is the lower edge (qmin - zp) * s = -zp.
    for (const [rounding, want] of [['halfEven', -2], ['halfAwayFromZero', -3]] as [Rounding, number][]) {
      const y = lsq(fromArray([-2.6], [1]), fromArray([1], [1]), fromArray([2.5], [1]), 0, 255, 1, rounding);
      expect(y.item(), rounding).toBe(want);
    }
  });
});

interface GradCase {
  qmin: number;
  qmax: number;
  s: number;
  z: number;
  gradFactor: number;
  x: number[];
  g: number[];
}

/** Points whose u = x/s + z sits at k + f with |f| <= 0.3, k inside (away from the edges), below or above the range. */
function makeCase(seed: number, qmin: number, qmax: number, s: number, z: number, gradFactor: number, n = 24): GradCase {
  const rand = prng(seed);
  const x: number[] = [], g: number[] = [];
  for (let i = 0; i < n; i++) {
    const where = i % 3; // 0 inside, 1 below, 2 above
    let k: number;
    if (where === 0) k = qmin + 1 + Math.floor(rand() * (qmax - qmin - 1));
    else if (where === 1) k = qmin - 1 - Math.floor(rand() * 5);
    else k = qmax + 1 + Math.floor(rand() * 5);
    const f = (rand() - 0.5) * 0.6;
    x.push((k + f - z) * s);
    g.push(rand() * 2 - 1);
  }
  return { qmin, qmax, s, z, gradFactor, x, g };
}

/** The surrogate Σ g_i S(x_i, s, z), δ frozen at the base point. */
function surrogate(c: GradCase, delta: number[], x: number[], s: number, z: number): number {
  let total = 0;
  for (let i = 0; i < x.length; i++) {
    const level = Math.min(c.qmax, Math.max(c.qmin, x[i] / s + z + delta[i]));
    total += c.g[i] * (level - z) * s;
  }
  return total;
}

function finiteDifferences(c: GradCase) {
  const h = 1e-6;
  const delta = c.x.map((xi) => {
    const u = xi / c.s + c.z;
    return Math.round(u) - u; // |u - k| <= 0.3: no tie, any rounding gives k
  });
  const at = (x: number[], s: number, z: number) => surrogate(c, delta, x, s, z);
  const gx = c.x.map((_, i) => {
    const up = c.x.slice(), dn = c.x.slice();
    up[i] += h;
    dn[i] -= h;
    return (at(up, c.s, c.z) - at(dn, c.s, c.z)) / (2 * h);
  });
  const gs = (at(c.x, c.s + h, c.z) - at(c.x, c.s - h, c.z)) / (2 * h);
  const gz = (at(c.x, c.s, c.z + h) - at(c.x, c.s, c.z - h)) / (2 * h);
  const value = c.x.map((xi) => (Math.min(c.qmax, Math.max(c.qmin, Math.round(xi / c.s + c.z))) - c.z) * c.s);
  return { gx, gs, gz, value };
}

function analytic(c: GradCase) {
  const x = fromArray(Float64Array.from(c.x), [c.x.length], { requiresGrad: true });
  const s = fromArray(Float64Array.of(c.s), [1], { requiresGrad: true });
  const z = fromArray(Float64Array.of(c.z), [1], { requiresGrad: true });
  const y = lsq(x, s, z, c.qmin, c.qmax, c.gradFactor);
  y.mul(fromArray(Float64Array.from(c.g), [c.g.length])).sum().backward();
  return {
    y: Array.from(y.toTypedArray()),
    gx: Array.from((x.grad as Tensor).toTypedArray()),
    gs: (s.grad as Tensor).item(),
    gz: (z.grad as Tensor).item(),
    shapes: [(s.grad as Tensor).shape, (z.grad as Tensor).shape],
  };
}

describe('LSQ gradients against central finite differences of the STE surrogate (float64)', () => {
  const cases: [string, GradCase][] = [
    ['unsigned 4-bit, z = 4, gradFactor 1', makeCase(1, 0, 15, 0.3, 4, 1)],
    ['unsigned 8-bit, z = 37, LSQ gradFactor 1/sqrt(N qmax)', makeCase(2, 0, 255, 0.05, 37, 1 / Math.sqrt(24 * 255))],
    ['signed 4-bit, z = 0, gradFactor 0.01', makeCase(3, -8, 7, 1.7, 0, 0.01)],
    ['signed 8-bit, z = -3, gradFactor 0.5', makeCase(4, -128, 127, 0.0123, -3, 0.5)],
    ['2-bit, z = 1', makeCase(5, 0, 3, 0.9, 1, 1)],
  ];
  for (const [name, c] of cases) {
    it(name, () => {
      const fd = finiteDifferences(c);
      const an = analytic(c);
      // the forward is the surrogate at the point
      an.y.forEach((v, i) => expect(v, `y[${i}]`).toBeCloseTo(fd.value[i], 10));
      an.gx.forEach((v, i) => expect(v, `dL/dx[${i}]`).toBeCloseTo(fd.gx[i], 6));
      expect(an.gs, 'dL/ds = gradFactor * dS/ds').toBeCloseTo(c.gradFactor * fd.gs, 6);
      expect(an.gz, 'dL/dz = gradFactor * dS/dz').toBeCloseTo(c.gradFactor * fd.gz, 6);
      expect(an.shapes).toEqual([[1], [1]]);
      // the three regions all occur, and the clamped ones pass no gradient to x
      expect(an.gx.filter((v) => v === 0).length).toBe(16);
    });
  }

  it('inside the range: dL/ds = gradFactor * Σ g (round(u) - u), dL/dz = 0; below/above: Σ g (q_edge - z) and -s Σ g, both scaled by gradFactor', () => {
    const inside: GradCase = { qmin: 0, qmax: 15, s: 0.5, z: 2, gradFactor: 0.25, x: [0.6, 1.9], g: [1, 1] };
    // u = 3.2, 5.8: round(u) - u = -0.2, +0.2
    const a = analytic(inside);
    expect(a.gs).toBeCloseTo(0.25 * (-0.2 + 0.2), 12);
    expect(a.gz).toBe(0);
    expect(a.gx).toEqual([1, 1]);
    const clamped: GradCase = { qmin: 0, qmax: 15, s: 0.5, z: 2, gradFactor: 0.25, x: [-5, 20], g: [2, 3] };
    // u = -8 (below: qmin - z = -2), u = 42 (above: qmax - z = 13)
    const b = analytic(clamped);
    expect(b.gs).toBeCloseTo(0.25 * (2 * -2 + 3 * 13), 12);
    expect(b.gz).toBeCloseTo(0.25 * -0.5 * (2 + 3), 12);
    expect(b.gx).toEqual([0, 0]);
  });

  it('rejects per-channel (non-scalar) scale or zero point', () => {
    const x = fromArray([0.1, 0.2], [2]);
    expect(() => lsq(x, fromArray([0.1, 0.2], [2]), fromArray([0], [1]), 0, 255, 1)).toThrow(/one element/);
  });
});

describe('LSQ robustness', () => {
  it('an input whose x/s overflows float32 is clamped and still gives a finite scale gradient', () => {
    const x = fromArray([3e38, 0.05, -3e38], [3], { requiresGrad: true });
    const s = fromArray([1e-3], [1], { requiresGrad: true });
    const z = fromArray([0], [1], { requiresGrad: true });
    const y = lsq(x, s, z, -128, 127, 1);
    expect(Array.from(y.toTypedArray())).toEqual([0.127, 0.05, -0.128].map(fround));
    y.sum().backward();
    // above, inside (u = 50 exactly: round(u) - u = 0), below
    expect((s.grad as Tensor).item()).toBe(127 + 0 - 128);
    expect((z.grad as Tensor).item()).toBeCloseTo(-2e-3, 9);
    expect(Array.from((x.grad as Tensor).toTypedArray())).toEqual([0, 1, 0]);
  });
});
