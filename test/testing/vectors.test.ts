/**
 * Golden vectors: those written for PyTorch's convention agree with the PyTorch 1.13 fixtures in
 * test/fixtures/quant (bit for bit, masks included); generated vectors satisfy the formulas written
 * out here; the binary form round-trips; checkOutputs reports mismatches by case and flag.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  buildQuantVectors,
  checkOutputs,
  decodeVectors,
  encodeVectors,
  formatCheck,
  generateVectors,
  validateOutputs,
  type GroupInputs,
  type VectorOutputs,
} from '../../src/testing/index.js';
import { mathRoundKernel } from '../../examples/conformance/wrong-kernels.js';

const fround = Math.fround;

function fixture<T>(name: string): T {
  return JSON.parse(readFileSync(new URL(`../fixtures/quant/${name}`, import.meta.url), 'utf8')) as T;
}
const fromBits = (bits: readonly number[]) => Array.from(new Float32Array(Uint32Array.from(bits).buffer));
const f32 = (bits: number) => fromBits([bits])[0];

interface Group { bits: number; scale: number; zeroPoint: number; qmin: number; qmax: number; x: number[]; y: number[]; mask: string; torchQuantize?: number[]; torchDequantize?: number[] }
interface Channel { shape: number[]; axis: number; bits: number; qmin: number; qmax: number; scale: number[]; zeroPoint: number[]; x: number[]; y: number[]; mask: string; torchQuantize?: number[]; torchDequantize?: number[] }

/** The PyTorch fixtures as vector inputs (per-channel cases split into one group per channel) and torch's outputs. */
function torchFixtures(): { inputs: GroupInputs[]; outputs: { level?: number; deq?: number; fq: number; mask: number }[] } {
  const inputs: GroupInputs[] = [];
  const outputs: { level?: number; deq?: number; fq: number; mask: number }[] = [];
  for (const g of fixture<{ groups: Group[] }>('fake_quant_per_tensor.json').groups) {
    inputs.push({ bits: g.bits, p: { scale: f32(g.scale), zeroPoint: g.zeroPoint, qmin: g.qmin, qmax: g.qmax }, xs: fromBits(g.x) });
    const y = fromBits(g.y), deq = g.torchDequantize ? fromBits(g.torchDequantize) : undefined;
    g.x.forEach((_, i) => outputs.push({ fq: y[i], mask: Number(g.mask[i]), level: g.torchQuantize?.[i], deq: deq?.[i] }));
  }
  for (const c of fixture<{ cases: Channel[] }>('fake_quant_per_channel.json').cases) {
    const inner = c.shape.slice(c.axis + 1).reduce((a, b) => a * b, 1);
    const channels = c.shape[c.axis];
    const x = fromBits(c.x), y = fromBits(c.y), scale = fromBits(c.scale), deq = c.torchDequantize ? fromBits(c.torchDequantize) : undefined;
    for (let ch = 0; ch < channels; ch++) {
      const idx = x.map((_, i) => i).filter((i) => Math.floor(i / inner) % channels === ch);
      inputs.push({ bits: c.bits, p: { scale: scale[ch], zeroPoint: c.zeroPoint[ch], qmin: c.qmin, qmax: c.qmax }, xs: idx.map((i) => x[i]) });
      for (const i of idx) outputs.push({ fq: y[i], mask: Number(c.mask[i]), level: c.torchQuantize?.[i], deq: deq?.[i] });
    }
  }
  return { inputs, outputs };
}

describe('vectors for PyTorch\'s convention = the PyTorch fixtures', () => {
  const { inputs, outputs } = torchFixtures();

  it('agree value for value (fakeQuantize y and mask; quantize and dequantize where torch recorded them)', () => {
    const v = { ...buildQuantVectors('pytorch', 'halfEven', inputs) };
    expect(v.quant.length).toBe(outputs.length);
    const set = { format: 'qgrad-conformance-vectors' as const, version: 1, convention: 'pytorch' as const, rounding: 'halfEven' as const, bits: [], seed: 0, requantize: [], ...v };
    const out: VectorOutputs = { quant: outputs.map((o, id) => ({ id, ...o })) };
    const r = checkOutputs(set, out);
    expect(r.mismatches, formatCheck(r)).toEqual([]);
    expect(r.checked).toBeGreaterThan(2 * outputs.length);
    expect(outputs.some((o) => o.level !== undefined)).toBe(true);
    // The fixtures' exact ties are flagged as such.
    expect(set.quant.filter((q) => q.flags.includes('tie')).length).toBeGreaterThan(200);
  });

  it("TFLite's convention disagrees with torch's levels, by one level at ties only", () => {
    const v = buildQuantVectors('tflite', 'halfAwayFromZero', inputs);
    const set = { format: 'qgrad-conformance-vectors' as const, version: 1, convention: 'tflite' as const, rounding: 'halfAwayFromZero' as const, bits: [], seed: 0, requantize: [], ...v };
    const r = checkOutputs(set, { quant: outputs.map((o, id) => ({ id, level: o.level })) });
    expect(r.mismatches.length).toBeGreaterThan(10);
    // Every disagreement sits at a (near-)tie: the tie rule or the quotient-vs-product decides it.
    for (const m of r.mismatches) {
      const t = fround(m.input.x * fround(1 / m.input.scale));
      expect(Math.abs(Math.abs(t - Math.trunc(t)) - 0.5), JSON.stringify(m)).toBeLessThan(1e-4);
      expect(Math.abs(m.got - m.expected)).toBe(1);
    }
  });
});

describe('generated vectors', () => {
  const halfEven = (t: number) => { const f = Math.floor(t); const d = t - f; return d < 0.5 ? f : d > 0.5 ? f + 1 : f % 2 === 0 ? f : f + 1; };
  const away = (t: number) => Math.sign(t) * Math.floor(Math.abs(t) + 0.5);

  it.each([['pytorch'], ['tflite']] as const)('%s: every record satisfies the convention\'s formulas, written out here', (convention) => {
    const v = generateVectors({ convention, bits: [8, 4], seed: 3 });
    expect(v.rounding).toBe(convention === 'pytorch' ? 'halfEven' : 'halfAwayFromZero');
    for (const q of v.quant) {
      const g = v.groups[q.group];
      const s = g.scale;
      const t = convention === 'pytorch' ? fround(q.x * fround(1 / s)) : fround(q.x / s);
      const level = Math.min(g.qmax, Math.max(g.qmin, g.zeroPoint + (convention === 'pytorch' ? halfEven(t) : away(t))));
      expect(q.level).toBe(level);
      expect(q.deq).toBe(fround((level - g.zeroPoint) * s));
      if (convention === 'pytorch') {
        const unclamped = g.zeroPoint + halfEven(t);
        expect(q.mask).toBe(unclamped >= g.qmin && unclamped <= g.qmax ? 1 : 0);
        expect(q.fq).toBe(q.deq);
      } else {
        const lo = fround((g.qmin - g.zeroPoint) * s), hi = fround((g.qmax - g.zeroPoint) * s);
        expect(q.mask).toBe(q.x >= lo && q.x <= hi ? 1 : 0);
      }
    }
    // Coverage of the cases that break kernels.
    const count = (f: string) => v.quant.filter((q) => q.flags.includes(f as never)).length;
    for (const f of ['tie', 'tieNeighbour', 'qmin', 'qmax', 'beyond', 'maskEdge', 'zero']) expect(count(f), f).toBeGreaterThan(10);
    expect(new Set(v.groups.map((g) => g.bits))).toEqual(new Set([8, 4]));
    expect(v.requantize.filter((r) => r.flags.includes('tie')).length).toBeGreaterThan(10);
    expect(v.requantize.filter((r) => r.flags.includes('clamp')).length).toBeGreaterThan(10);
  });

  it('are deterministic and round-trip through the binary form', () => {
    const a = generateVectors({ convention: 'pytorch', bits: [8, 4], seed: 5 });
    const bytes = encodeVectors(a);
    expect(encodeVectors(generateVectors({ convention: 'pytorch', bits: [8, 4], seed: 5 }))).toEqual(bytes);
    expect(encodeVectors(generateVectors({ convention: 'pytorch', bits: [8, 4], seed: 6 }))).not.toEqual(bytes);
    expect(decodeVectors(bytes)).toEqual(a);
    expect(bytes.length).toBe(32 + 16 * a.groups.length + 24 * a.quant.length + 32 * a.requantize.length);
  });

  it('refuse bad options and bad binary files with a message naming the problem', () => {
    expect(() => generateVectors({ convention: 'torch' as never, bits: [8] })).toThrow(/convention must be 'pytorch' or 'tflite'/);
    expect(() => generateVectors({ convention: 'pytorch', bits: [0] })).toThrow(/bits must be .* 1\.\.16/);
    const bytes = encodeVectors(generateVectors({ convention: 'pytorch', bits: [2] }));
    expect(() => decodeVectors(bytes.slice(0, bytes.length - 1), 'v.bin')).toThrow(/^v.bin: header announces .* file has/);
    const bad = bytes.slice();
    bad[0] = 0x58;
    expect(() => decodeVectors(bad, 'v.bin')).toThrow(/^v.bin: magic must be QGCV/);
    expect(() => validateOutputs({ quant: [{ id: 0, lvl: 3 }] }, 'out.json')).toThrow(/out.json: quant\[0\].lvl is not a field/);
    expect(() => validateOutputs({ quant: [{ id: 0, level: '3' }] }, 'out.json')).toThrow(/quant\[0\].level must be a number/);
  });

  it('checkOutputs reports a Math.round kernel\'s mismatches by case, all at flagged ties', () => {
    const v = generateVectors({ convention: 'pytorch', bits: [8, 4] });
    const quant = v.quant.map((q) => {
      const g = v.groups[q.group];
      return { id: q.id, level: mathRoundKernel.quantize!(Float32Array.of(q.x), { scale: g.scale, zeroPoint: g.zeroPoint, qmin: g.qmin, qmax: g.qmax })[0] };
    });
    const r = checkOutputs(v, { quant });
    expect(r.mismatches.length).toBeGreaterThan(0);
    expect(r.mismatches.every((m) => m.flags.includes('tie'))).toBe(true);
    expect(r.missing).toBe(v.requantize.length);
    expect(formatCheck(r)).toMatch(/quant\[\d+\] level: expected -?\d+, got -?\d+ \(x .*scale .*zeroPoint .*\) \[tie/);
  });
});
