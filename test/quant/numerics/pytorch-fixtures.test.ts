/**
 * Bit-for-bit agreement with PyTorch 1.13 (CPU), read from fixtures made by
 * scripts/fixtures/make_quant_fixtures.py (no Python needed here). Floats are compared as float32
 * bit patterns.
 */
import { describe, expect, it } from 'vitest';
import {
  computeQParams,
  computeQParamsPerChannel,
  dequantize,
  fakeQuantize,
  quantize,
  type QScheme,
} from '../../../src/quant/numerics/index.js';
import { f32FromBits, fromBits, loadFixture, toBits } from './helpers.js';

interface ObserverFixture {
  fields: string[];
  cases: [number, number, QScheme, boolean, number, number, number, number][];
  perChannel: {
    signed: boolean;
    scheme: QScheme;
    qmin: number;
    qmax: number;
    min: number[];
    max: number[];
    scale: number[];
    zeroPoint: number[];
  }[];
}

interface PerTensorGroup {
  bits: number;
  kind: string;
  scale: number;
  zeroPoint: number;
  qmin: number;
  qmax: number;
  x: number[];
  y: number[];
  mask: string;
  torchQuantize?: number[];
  torchDequantize?: number[];
}

interface PerChannelCase {
  shape: number[];
  axis: number;
  bits: number;
  qmin: number;
  qmax: number;
  scale: number[];
  zeroPoint: number[];
  x: number[];
  y: number[];
  mask: string;
  torchQuantize?: number[];
  torchDequantize?: number[];
}

const maskOf = (s: string) => Uint8Array.from(s, (c) => Number(c));

describe('observer qparams = torch MinMaxObserver._calculate_qparams', () => {
  const fx = loadFixture<ObserverFixture>('observer.json');

  it('has the expected columns and covers bits 1..8, both schemes, default and custom ranges', () => {
    expect(fx.fields).toEqual(['qmin', 'qmax', 'scheme', 'customRange', 'min', 'max', 'scale', 'zeroPoint']);
    expect(fx.cases.length).toBeGreaterThan(500);
    expect(new Set(fx.cases.map((c) => c[1] - c[0])).size).toBeGreaterThanOrEqual(9);
  });

  it('reproduces scale (float32 bits) and zero point for every case', () => {
    const mismatches: string[] = [];
    for (const [qmin, qmax, scheme, custom, minBits, maxBits, scaleBits, zp] of fx.cases) {
      const min = f32FromBits(minBits);
      const max = f32FromBits(maxBits);
      const got = computeQParams(min, max, {
        qmin,
        qmax,
        scheme,
        // PyTorch's default quint8 observer (no custom range) uses 128 = ceil(255 / 2).
        unsignedSymmetricZeroPoint: custom ? 'floorMidpoint' : 'ceilMidpoint',
      });
      if (toBits(new Float32Array([got.scale]))[0] !== scaleBits || got.zeroPoint !== zp) {
        mismatches.push(`${scheme} ${qmin}..${qmax} [${min}, ${max}]: got ${got.scale}/${got.zeroPoint}, torch ${f32FromBits(scaleBits)}/${zp}`);
      }
    }
    expect(mismatches).toEqual([]);
  });

  it('decides exact ties in min/scale by rounding half to even (torch.round)', () => {
    // Range built so that min/scale = -2.5 exactly on 0..255: zp = 0 - round(-2.5) = 2 (half-away would give 3).
    const s = 2 ** -4;
    const got = computeQParams(-2.5 * s, -2.5 * s + 255 * s, { qmin: 0, qmax: 255, scheme: 'affine' });
    expect(got).toEqual({ scale: s, zeroPoint: 2 });
    const away = computeQParams(-2.5 * s, -2.5 * s + 255 * s, { qmin: 0, qmax: 255, scheme: 'affine', rounding: 'halfAwayFromZero' });
    expect(away.zeroPoint).toBe(3);
  });

  it('matches PerChannelMinMaxObserver channel by channel', () => {
    for (const c of fx.perChannel) {
      const got = computeQParamsPerChannel(fromBits(c.min), fromBits(c.max), { qmin: c.qmin, qmax: c.qmax, scheme: c.scheme });
      expect(toBits(got.scale)).toEqual(c.scale);
      expect(Array.from(got.zeroPoint)).toEqual(c.zeroPoint);
    }
  });
});

describe('fakeQuantize per tensor = torch.fake_quantize_per_tensor_affine', () => {
  const fx = loadFixture<{ groups: PerTensorGroup[] }>('fake_quant_per_tensor.json');

  it('covers bits 1..8, signed, unsigned and narrow ranges, with exact ties', () => {
    expect(new Set(fx.groups.map((g) => g.bits))).toEqual(new Set([1, 2, 3, 4, 5, 6, 7, 8]));
    expect(new Set(fx.groups.map((g) => g.kind))).toEqual(new Set(['signed', 'unsigned', 'narrow', 'observer']));
  });

  it.each(fx.groups.map((g, i) => [i, g] as const))('group %i: y bit for bit and the backward mask', (_i, g) => {
    const x = fromBits(g.x);
    const p = { scale: f32FromBits(g.scale), zeroPoint: g.zeroPoint, qmin: g.qmin, qmax: g.qmax };
    const { y, mask } = fakeQuantize(x, p);
    expect(toBits(y)).toEqual(g.y);
    expect(Array.from(mask)).toEqual(Array.from(maskOf(g.mask)));
    // quantize/dequantize compose to the same values.
    expect(toBits(dequantize(quantize(x, p), p))).toEqual(g.y);
    if (g.torchQuantize && g.torchDequantize) {
      // torch.quantize_per_tensor uses the same x * float32(1/scale) expression.
      expect(Array.from(quantize(x, p))).toEqual(g.torchQuantize);
      expect(toBits(dequantize(g.torchQuantize, p))).toEqual(g.torchDequantize);
    }
  });

  it('includes inputs where x * float32(1/scale) is an exact tie, and they round to even', () => {
    let ties = 0;
    for (const g of fx.groups) {
      const scale = Math.fround(f32FromBits(g.scale));
      const inv = Math.fround(1 / scale);
      const x = fromBits(g.x);
      const q = quantize(x, { scale, zeroPoint: g.zeroPoint, qmin: g.qmin, qmax: g.qmax });
      x.forEach((xi, i) => {
        const t = Math.fround(xi * inv);
        if (Number.isFinite(t) && t - Math.floor(t) === 0.5) {
          ties++;
          const level = g.zeroPoint + (Math.floor(t) % 2 === 0 ? Math.floor(t) : Math.floor(t) + 1);
          expect(q[i]).toBe(Math.min(g.qmax, Math.max(g.qmin, level)));
        }
      });
    }
    expect(ties).toBeGreaterThan(200);
  });
});

describe('fakeQuantize per channel = torch.fake_quantize_per_channel_affine', () => {
  const fx = loadFixture<{ cases: PerChannelCase[] }>('fake_quant_per_channel.json');

  it.each(fx.cases.map((c) => [JSON.stringify(c.shape), c.axis, c] as const))('shape %s axis %i', (_s, _a, c) => {
    const x = fromBits(c.x);
    const p = { scale: fromBits(c.scale), zeroPoint: c.zeroPoint, qmin: c.qmin, qmax: c.qmax, axis: c.axis, shape: c.shape };
    const { y, mask } = fakeQuantize(x, p);
    expect(toBits(y)).toEqual(c.y);
    expect(Array.from(mask)).toEqual(Array.from(maskOf(c.mask)));
    if (c.torchQuantize && c.torchDequantize) {
      expect(Array.from(quantize(x, p))).toEqual(c.torchQuantize);
      expect(toBits(dequantize(c.torchQuantize, p))).toEqual(c.torchDequantize);
    }
  });
});
