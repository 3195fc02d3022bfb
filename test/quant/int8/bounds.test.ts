/**
 * Loads are bounded (issue 11 items 1 and 10): a model that asks for more elements, patch
 * memory or multiply-adds than INT8_LIMITS is refused before anything is allocated or looped
 * over, unknown fields are errors, messages print Infinity/NaN literally, deep meta is refused
 * without a stack overflow; the closed-form pooling-window check agrees with a naive loop.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { encodeContainer, decodeContainer, type ContainerArray } from '../../../src/io/container.js';
import { FileFormatError } from '../../../src/io/format-error.js';
import { Int8Model, INT8_MODEL_KIND, type Int8Layer, type Int8ModelSpec } from '../../../src/quant/int8/index.js';
import { INT8_LIMITS } from '../../../src/quant/int8/validate.js';

const quantize: Int8Layer = { kind: 'quantize', scale: 0.1, zeroPoint: 0, qmin: 0, qmax: 255 };
const dequantize: Int8Layer = { kind: 'dequantize', scale: 0.1, zeroPoint: 0 };

function poolSpec(inputShape: number[], kernel: number[], stride: number[], padding: number[], dilation = [1, 1]): Int8ModelSpec {
  return { inputShape, layers: [{ ...quantize }, { kind: 'maxpool2d', kernel, stride, padding, dilation } as Int8Layer, { ...dequantize }] };
}
function conv1x1Spec(inputShape: number[], padding: number[]): Int8ModelSpec {
  const conv = {
    kind: 'conv2d', weight: Int8Array.of(1), weightShape: [1, 1, 1, 1], weightQmin: -127, weightQmax: 127, weightZeroPoint: Int32Array.of(0),
    bias: null, inZeroPoint: 0, outZeroPoint: 0, multiplier: Int32Array.of(2 ** 30), shift: Int32Array.of(0), qmin: 0, qmax: 255,
    stride: [1, 1], padding, dilation: [1, 1], groups: 1,
  } as Int8Layer;
  return { inputShape, layers: [{ ...quantize }, conv, { ...dequantize }] };
}
/** The file bytes of a spec, written without validation (as a crafted file would be). */
function rawFile(spec: Int8ModelSpec): Uint8Array {
  const arrays: Record<string, ContainerArray> = {};
  const layers = spec.layers.map((l, i) => {
    const json: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(l)) {
      if (v instanceof Int8Array || v instanceof Int32Array) arrays[`layers.${i}.${k}`] = { dtype: v instanceof Int8Array ? 'int8' : 'int32', shape: k === 'weight' ? (l as { weightShape: number[] }).weightShape : [v.length], data: v } as ContainerArray;
      else if (k !== 'bias') json[k] = v;
    }
    if (l.kind === 'conv2d' || l.kind === 'linear') json.hasBias = l.bias !== null;
    return json;
  });
  return encodeContainer({ kind: INT8_MODEL_KIND, meta: { formatVersion: 1, inputShape: spec.inputShape, layers, meta: {} } as never, arrays });
}
function timed<T>(fn: () => T): { ms: number; error: Error | null } {
  const t0 = performance.now();
  try {
    fn();
    return { ms: performance.now() - t0, error: null };
  } catch (e) {
    return { ms: performance.now() - t0, error: e as Error };
  }
}

describe('issue 11 reproductions are refused quickly, naming the limit', () => {
  it.each([
    ['maxpool, inputShape [1, 2^40, 1]', poolSpec([1, 2 ** 40, 1], [1, 1], [1, 1], [0, 0]), /more than 67108864 \(2\^26\) elements/],
    ['maxpool, inputShape [1, 2^30, 1]', poolSpec([1, 2 ** 30, 1], [1, 1], [1, 1], [0, 0]), /more than 67108864/],
    ['conv, padding [2^40, 2^40]', conv1x1Spec([1, 1, 1], [2 ** 40, 2 ** 40]), /more than 67108864/],
    ['1x1 conv, padding [10000, 10000] on [1,1,1]', conv1x1Spec([1, 1, 1], [10_000, 10_000]), /output \[1, 20001, 20001\] has more than 67108864/],
    ['inputShape with a product beyond 2^53', poolSpec([2 ** 40, 2 ** 40, 2 ** 40], [1, 1], [1, 1], [0, 0]), /more than 67108864/],
  ])('%s: spec and file', (_, spec, re) => {
    const direct = timed(() => new Int8Model(spec));
    expect(direct.error?.message).toMatch(re);
    expect(direct.ms).toBeLessThan(500);
    const file = timed(() => Int8Model.fromBytes(rawFile(spec), 'crafted.qgrd'));
    expect(file.error).toBeInstanceOf(FileFormatError);
    expect(file.error?.message).toMatch(/^crafted\.qgrd: invalid int8 model: /);
    expect(file.error?.message).toMatch(re);
    expect(file.ms).toBeLessThan(500);
  });

  it('a conv whose patch matrix exceeds the limit (a 64x64 kernel over 2100x2100: 4096 x 2037² > 2^27)', () => {
    const spec = conv1x1Spec([1, 2100, 2100], [0, 0]);
    Object.assign(spec.layers[1], { weight: new Int8Array(4096).fill(1), weightShape: [1, 1, 64, 64] });
    const r = timed(() => new Int8Model(spec));
    expect(r.error?.message).toMatch(/patch matrix \(1·64·64 x 2037·2037\) exceeds the limit of 134217728/);
    expect(r.ms).toBeLessThan(500);
    // the same kernel over 200x200 is an ordinary model
    expect(() => new Int8Model(Object.assign(spec, { inputShape: [1, 200, 200] }))).not.toThrow();
  });
});

describe('unknown fields, literal non-finite values, deep meta', () => {
  it('a misspelt rounding is an error naming the field (spec and file)', () => {
    const spec = poolSpec([1, 4, 4], [2, 2], [2, 2], [0, 0]);
    (spec.layers[0] as unknown as Record<string, unknown>).rouding = 'halfAwayFromZero';
    expect(() => new Int8Model(spec)).toThrow(/layer 0 \(quantize\): unknown field 'rouding' \(allowed: .*rounding/);
    expect(() => Int8Model.fromBytes(rawFile(spec), 'm.qgrd')).toThrow(/^m\.qgrd: invalid int8 model: layer 0 \(quantize\): unknown field 'rouding'/);
  });
  it('an unknown top-level field of the spec or the file is an error', () => {
    const spec = { ...poolSpec([1, 4, 4], [2, 2], [2, 2], [0, 0]), extra: 1 } as Int8ModelSpec;
    expect(() => new Int8Model(spec)).toThrow(/spec: unknown field 'extra'/);
    const c = decodeContainer(rawFile(poolSpec([1, 4, 4], [2, 2], [2, 2], [0, 0])));
    const bytes = encodeContainer({ ...c, meta: { ...c.meta, formatVerison: 1 } });
    expect(() => Int8Model.fromBytes(bytes, 'm.qgrd')).toThrow(/^m\.qgrd: unknown field 'meta\.formatVerison'/);
  });
  it.each([
    [Infinity, /got Infinity$/],
    [-Infinity, /got -Infinity$/],
    [NaN, /got NaN$/],
  ])('scale %s is printed literally, not as null', (scale, re) => {
    const spec = poolSpec([1, 4, 4], [2, 2], [2, 2], [0, 0]);
    spec.layers[0] = { ...quantize, scale } as Int8Layer;
    expect(() => new Int8Model(spec)).toThrow(re);
  });
  it('meta nested 100,000 deep is refused with a clear error, not a stack overflow', () => {
    let meta: Record<string, unknown> = {};
    for (let i = 0; i < 100_000; i++) meta = { a: meta };
    const spec = { ...poolSpec([1, 4, 4], [2, 2], [2, 2], [0, 0]), meta } as Int8ModelSpec;
    expect(() => new Int8Model(spec)).toThrow(/^Int8Model: spec: spec\.meta\.a\.a.* is nested more than 100 levels deep$/);
    meta = { a: { b: [1, { c: 2 }] } };
    expect(new Int8Model({ ...spec, meta } as Int8ModelSpec).toSpec().meta).toEqual(meta);
  });
});

describe('the closed-form pooling-window check equals a naive loop over the windows', () => {
  /** Independent oracle: does some window cover only padding? (the loop the old code ran) */
  function naiveAllHit(out: number, size: number, k: number, s: number, p: number, d: number): boolean {
    for (let o = 0; o < out; o++) {
      let hit = false;
      for (let i = 0; i < k; i++) {
        const at = o * s - p + i * d;
        if (at >= 0 && at < size) hit = true;
      }
      if (!hit) return false;
    }
    return true;
  }
  it('over random small geometries (seeded)', () => {
    let accepted = 0, refused = 0;
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 9 }), fc.integer({ min: 1, max: 4 }), fc.integer({ min: 1, max: 4 }), fc.integer({ min: 0, max: 6 }), fc.integer({ min: 1, max: 4 }), (H, k, s, p, d) => {
        const out = Math.floor((H + 2 * p - d * (k - 1) - 1) / s) + 1;
        fc.pre(out >= 1 && (k === 1 || d <= H)); // d > H with k > 1 is refused outright (tested below)
        const ok = naiveAllHit(out, H, k, s, p, d);
        const r = timed(() => new Int8Model(poolSpec([1, H, 3], [k, 1], [s, 1], [p, 0], [d, 1])));
        if (ok) accepted++;
        else refused++;
        expect(r.error === null, `H ${H} k ${k} s ${s} p ${p} d ${d}: ${r.error?.message}`).toBe(ok);
        if (!ok) expect(r.error?.message).toMatch(/covers only padding/);
      }),
      { seed: 11, numRuns: 2000 },
    );
    expect(accepted).toBeGreaterThan(100);
    expect(refused).toBeGreaterThan(100);
  });
  it('dilation beyond the input with k > 1 is refused; the specific case that straddles the input', () => {
    // H = 1, k = 2, d = 3, p = 2: window 0 covers -2 and 1, neither inside [0, 0].
    expect(() => new Int8Model(poolSpec([1, 1, 3], [2, 1], [1, 1], [2, 0], [3, 1]))).toThrow(/dilation 3 over the rows exceeds the input extent 1/);
  });
});
