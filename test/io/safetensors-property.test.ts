/**
 * safetensors properties over random tensors (fast-check, seeded): decode(encode(t)) gives back
 * every name, dtype, shape and value (I64 through int32); every proper prefix of a valid file is
 * rejected with a FileFormatError (a truncated download never decodes to something).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeSafetensors, encodeSafetensors, type SafetensorsInput } from '../../src/io/safetensors.js';
import { FileFormatError } from '../../src/io/format-error.js';

const SEED = 1313;

const tensorArb = fc
  .tuple(fc.constantFrom('F32', 'F64', 'I32', 'I64' as const), fc.array(fc.integer({ min: 0, max: 4 }), { maxLength: 3 }), fc.integer())
  .map(([dtype, shape, seed]): SafetensorsInput => {
    const n = shape.reduce((a, b) => a * b, 1);
    let s = seed >>> 0;
    const next = () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0), s);
    if (dtype === 'F32') return { shape, dtype, data: Float32Array.from({ length: n }, () => Math.fround((next() / 2 ** 32 - 0.5) * 2 ** ((next() % 40) - 20))) };
    if (dtype === 'F64') return { shape, dtype, data: Float64Array.from({ length: n }, () => (next() / 2 ** 32 - 0.5) * 1e6) };
    return { shape, dtype, data: Int32Array.from({ length: n }, () => next() | 0) };
  });

const filesArb = fc.dictionary(fc.string({ minLength: 1, maxLength: 8 }).filter((k) => k !== '__metadata__'), tensorArb, { maxKeys: 5 });

describe('safetensors properties', () => {
  it('decode(encode(tensors)) = tensors', () => {
    fc.assert(
      fc.property(filesArb, fc.dictionary(fc.string(), fc.string(), { maxKeys: 3 }), (tensors, metadata) => {
        const file = decodeSafetensors(encodeSafetensors(Object.entries(tensors), metadata));
        expect([...file.tensors.keys()].sort()).toEqual(Object.keys(tensors).sort());
        expect(file.metadata).toEqual(metadata);
        for (const [name, t] of Object.entries(tensors)) {
          const got = file.tensors.get(name)!;
          expect(got.dtype).toBe(t.dtype);
          expect(got.shape).toEqual(t.shape);
          expect([...got.data]).toEqual([...t.data]);
        }
      }),
      { seed: SEED, numRuns: 200 },
    );
  });

  it('every proper prefix of a valid file is rejected with a FileFormatError', () => {
    fc.assert(
      fc.property(filesArb.filter((t) => Object.keys(t).length > 0), fc.double({ min: 0, max: 1, noNaN: true }), (tensors, cut) => {
        const bytes = encodeSafetensors(Object.entries(tensors));
        const prefix = bytes.subarray(0, Math.floor(cut * (bytes.length - 1)));
        expect(() => decodeSafetensors(prefix, 'cut')).toThrow(FileFormatError);
      }),
      { seed: SEED, numRuns: 200 },
    );
  });
});
