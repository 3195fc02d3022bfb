import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  binCenter,
  buildAbsHistogram,
  buildHistogram,
  computeQParams,
  klDivergences,
  klRange,
  mergeHistograms,
  minMaxRange,
  mseErrors,
  mseRange,
  percentileRange,
  type Histogram,
  type QScheme,
} from '../../../src/quant/numerics/index.js';
import { fromBits, loadFixture } from './helpers.js';
import { runs } from '../../helpers/assert.js';

interface CalibrationFixture {
  data: number[];
  percentiles: { pct: number; min: number; max: number }[];
  kl: { counts: number[]; max: number; numQuantBins: number; divergences: (number | 'inf')[] }[];
  mse: { signed: boolean; scheme: QScheme; qmin: number; qmax: number; steps: number; errors: number[] }[];
}

const fx = loadFixture<CalibrationFixture>('calibration.json');
const data = fromBits(fx.data);
const arbData = fc.array(fc.float({ noNaN: true, noDefaultInfinity: true, min: -1e4, max: 1e4 }), { minLength: 1, maxLength: 200 });
const relClose = (a: number, b: number, rel: number) => Math.abs(a - b) <= rel * Math.max(Math.abs(a), Math.abs(b), 1e-300);

describe('input rules (every calibration function)', () => {
  const fns: [string, (d: ArrayLike<number>) => unknown][] = [
    ['minMaxRange', minMaxRange],
    ['percentileRange', (d) => percentileRange(d, 99)],
    ['buildHistogram', (d) => buildHistogram(d, 16)],
    ['buildAbsHistogram', (d) => buildAbsHistogram(d, 16)],
    ['mseRange', (d) => mseRange(d, -128, 127, 'affine')],
  ];
  it.each(fns)('%s: empty input throws; NaN / Infinity throw with their counts', (name, f) => {
    expect(() => f([])).toThrow(`${name}: data is empty`);
    expect(() => f([1, NaN, 2, NaN, Infinity])).toThrow(`${name}: data contains 2 NaN and 1 infinite value(s) out of 5`);
  });

  it('constant input gives a range containing it and valid qparams (scale floored at eps)', () => {
    for (const v of [0, 3.5, -2]) {
      const d = new Float32Array(10).fill(v);
      const r = minMaxRange(d);
      expect(r).toEqual({ min: v, max: v });
      const p = computeQParams(r.min, r.max, { qmin: -128, qmax: 127, scheme: 'affine' });
      expect(p.scale).toBeGreaterThanOrEqual(2 ** -23);
      const h = buildHistogram(d, 8);
      expect(h.min).toBe(v);
      expect(h.max).toBeGreaterThan(v);
      expect(h.counts[0]).toBe(10);
      const m = mseRange(d, -128, 127, 'affine');
      expect(m.min <= Math.min(v, 0) || m.max >= Math.max(v, 0)).toBe(true);
      expect(klRange(buildAbsHistogram(d, 256)).threshold).toBeGreaterThanOrEqual(Math.abs(v));
    }
  });
});

describe('minMaxRange and percentileRange', () => {
  it('minMaxRange is the extreme values', () => {
    fc.assert(fc.property(arbData, (d) => {
      const r = minMaxRange(d);
      return r.min === Math.min(...d) && r.max === Math.max(...d);
    }), runs(100));
  });

  it('percentileRange matches numpy.percentile (linear) on the fixture data', () => {
    for (const c of fx.percentiles) {
      const r = percentileRange(data, c.pct);
      expect(relClose(r.min, c.min, 1e-12), `pct ${c.pct} min`).toBe(true);
      expect(relClose(r.max, c.max, 1e-12), `pct ${c.pct} max`).toBe(true);
    }
  });

  it('percentile ranges are nested, pct 100 is the min/max range, pct 50 the median', () => {
    fc.assert(fc.property(arbData, fc.double({ min: 50, max: 100, noNaN: true }), fc.double({ min: 50, max: 100, noNaN: true }), (d, p1, p2) => {
      const [lo, hi] = p1 <= p2 ? [p1, p2] : [p2, p1];
      const a = percentileRange(d, lo);
      const b = percentileRange(d, hi);
      const full = minMaxRange(d);
      const all = percentileRange(d, 100);
      const med = percentileRange(d, 50);
      return b.min <= a.min && a.max <= b.max && all.min === full.min && all.max === full.max && med.min === med.max;
    }), runs(100));
    expect(() => percentileRange([1], 40)).toThrow(/pct must be a number in \[50, 100\], got 40/);
  });
});

describe('histograms', () => {
  it('count every value once, in the bin whose edges hold it', () => {
    fc.assert(fc.property(arbData, fc.integer({ min: 1, max: 64 }), (d, bins) => {
      const h = buildHistogram(d, bins);
      const w = (h.max - h.min) / bins;
      const tol = 1e-9 * Math.max(Math.abs(h.min), Math.abs(h.max), w);
      // Oracle from the edges: bin i holds [min + i w, min + (i + 1) w), the last bin also max.
      // Values within rounding distance of an interior edge may fall on either side.
      const expected = new Float64Array(bins);
      let nearEdge = 0;
      for (const v of d) {
        let b = bins - 1;
        for (let i = 0; i < bins; i++) {
          if (v < h.min + (i + 1) * w) {
            b = i;
            break;
          }
        }
        expected[b] += 1;
        const frac = (v - h.min) / w;
        if (Math.abs(frac - Math.round(frac)) * w < tol) nearEdge++;
      }
      const total = h.counts.reduce((a, b) => a + b, 0);
      const moved = h.counts.reduce((acc, c, i) => acc + Math.abs(c - expected[i]), 0);
      return total === d.length && moved <= 2 * nearEdge;
    }), runs(100));
  });

  it('clamp values outside a fixed range into the edge bins', () => {
    const h = buildHistogram([-5, 0.1, 0.9, 7], 4, 0, 1);
    expect(Array.from(h.counts)).toEqual([2, 0, 0, 2]);
  });

  it('merge exactly on a shared grid: streaming batches = one pass over the concatenation', () => {
    fc.assert(fc.property(arbData, arbData, fc.integer({ min: 1, max: 64 }), (a, b, bins) => {
      const all = [...a, ...b];
      const { min, max } = minMaxRange(all);
      const merged = mergeHistograms(buildHistogram(a, bins, min, max), buildHistogram(b, bins, min, max));
      const direct = buildHistogram(all, bins, min, max);
      return merged.min === direct.min && merged.max === direct.max && merged.counts.every((c, i) => c === direct.counts[i]);
    }), runs(100));
  });

  it('re-bin different grids onto the union range, preserving the total, commutatively', () => {
    fc.assert(fc.property(arbData, arbData, fc.integer({ min: 1, max: 64 }), fc.integer({ min: 1, max: 64 }), (a, b, n1, n2) => {
      const ha = buildHistogram(a, n1);
      const hb = buildHistogram(b, n2);
      const m1 = mergeHistograms(ha, hb);
      const m2 = mergeHistograms(hb, ha);
      const total = m1.counts.reduce((s, c) => s + c, 0);
      return (
        Math.abs(total - a.length - b.length) < 1e-9 * (a.length + b.length) &&
        m1.min === Math.min(ha.min, hb.min) && m1.max === Math.max(ha.max, hb.max) &&
        m1.counts.length === Math.max(n1, n2) &&
        m1.counts.every((c, i) => Math.abs(c - m2.counts[i]) < 1e-9 * (a.length + b.length))
      );
    }), runs(100));
  });

  it('re-binning a histogram onto a grid twice as fine halves each count', () => {
    const coarse: Histogram = { min: 0, max: 4, counts: Float64Array.from([4, 8]) };
    const fine: Histogram = { min: 0, max: 4, counts: new Float64Array(4) };
    expect(Array.from(mergeHistograms(coarse, fine).counts)).toEqual([2, 2, 4, 4]);
  });
});

describe('mseRange', () => {
  it.each(fx.mse.map((c) => [c.scheme, c.signed ? 'signed' : 'unsigned', c] as const))(
    '%s %s: candidate errors match torch fake_quantize, and the minimum is chosen',
    (_s, _g, c) => {
      const { errors } = mseErrors(data, c.qmin, c.qmax, c.scheme, { steps: c.steps });
      errors.forEach((e, k) => expect(relClose(e, c.errors[k], 1e-12), `k=${k + 1}: ${e} vs ${c.errors[k]}`).toBe(true));
      const best = mseRange(data, c.qmin, c.qmax, c.scheme, { steps: c.steps });
      expect(best.error).toBe(Math.min(...errors));
    },
  );

  it('never does worse than the full range, and symmetric ranges are symmetric', () => {
    fc.assert(fc.property(arbData, fc.constantFrom<QScheme>('affine', 'symmetric'), (d, scheme) => {
      const { errors, ranges } = mseErrors(d, -8, 7, scheme, { steps: 20 });
      const best = mseRange(d, -8, 7, scheme, { steps: 20 });
      return best.error <= errors[errors.length - 1] && (scheme === 'affine' || ranges.every((r) => r.min === -r.max));
    }), runs(100));
  });

  it('clips a lone outlier, and keeps the full range for uniform data', () => {
    // At 4 bits the full range [-30, 30] has a step of 4, so the whole body rounds to 0 (error ~ sum x^2
    // ~ 2500); clipping near the body costs the outlier ~29^2 but saves far more.
    const body = Float32Array.from({ length: 5000 }, (_, i) => Math.sin(i * 12.9898));
    const withOutlier = Float32Array.from([...body, 30]);
    const clipped = mseRange(withOutlier, -8, 7, 'symmetric');
    expect(clipped.max).toBeLessThan(10);
    expect(clipped.error).toBeLessThan(mseErrors(withOutlier, -8, 7, 'symmetric').errors[99] / 2);
    const uniform = Float32Array.from({ length: 2001 }, (_, i) => -1 + i / 1000);
    expect(mseRange(uniform, -128, 127, 'affine').max).toBeGreaterThan(0.9);
  });

  it('from a fine histogram agrees with the exact data search within one step', () => {
    const d = Float32Array.from({ length: 4000 }, (_, i) => Math.tan((i / 4000 - 0.5) * 2.8));
    const exact = mseRange(d, -8, 7, 'symmetric', { steps: 50 });
    const viaHist = mseRange(buildHistogram(d, 4096), -8, 7, 'symmetric', { steps: 50 });
    const step = Math.max(Math.abs(minMaxRange(d).min), minMaxRange(d).max) / 50;
    expect(Math.abs(viaHist.max - exact.max)).toBeLessThanOrEqual(step * 1.0001);
  });
});

describe('klRange (entropy calibration)', () => {
  it.each(fx.kl.map((c, i) => [i, c] as const))('fixture %i: divergences match an independent numpy version', (_i, c) => {
    const hist: Histogram = { min: 0, max: c.max, counts: Float64Array.from(c.counts) };
    const d = klDivergences(hist, c.numQuantBins);
    expect(d.length).toBe(c.divergences.length);
    c.divergences.forEach((want, j) => {
      if (want === 'inf') expect(d[j]).toBe(Infinity);
      else expect(relClose(d[j], want, 1e-9) || Math.abs(d[j] - want) < 1e-15, `i=${j + c.numQuantBins}: ${d[j]} vs ${want}`).toBe(true);
    });
    const r = klRange(hist, c.numQuantBins);
    // The chosen candidate is the last minimum of the divergences.
    let best = 0;
    d.forEach((v, j) => { if (v <= d[best]) best = j; });
    expect(r.keptBins).toBe(best + c.numQuantBins);
    expect(r.threshold).toBe((c.max * r.keptBins) / c.counts.length);
    expect(r.min).toBe(-r.threshold);
  });

  it('clips a heavy tail but keeps almost everything of a compact distribution', () => {
    const heavy = fx.kl[0];
    const r = klRange({ min: 0, max: heavy.max, counts: Float64Array.from(heavy.counts) });
    expect(r.threshold).toBeLessThan(heavy.max / 2);
    const uniform = Float32Array.from({ length: 20000 }, (_, i) => (i / 20000) * 2 - 1);
    const u = klRange(buildAbsHistogram(uniform, 1024));
    expect(u.threshold).toBeGreaterThan(0.9);
    expect(u.threshold).toBeLessThanOrEqual(1);
  });

  it('rejects histograms it cannot use', () => {
    expect(() => klRange(buildHistogram([-1, 1], 256))).toThrow(/expects a histogram of \|x\| over \[0, max\]/);
    expect(() => klRange(buildAbsHistogram([1, 2], 64))).toThrow(/64 bins, fewer than numQuantBins = 128/);
  });

  it('bin centres lie inside their bins', () => {
    const h = buildHistogram([0, 10], 5);
    expect([0, 1, 2, 3, 4].map((i) => binCenter(h, i))).toEqual([1, 3, 5, 7, 9]);
  });
});
