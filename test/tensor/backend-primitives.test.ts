/**
 * Every primitive of the Backend interface on every accelerated backend (the WebAssembly backend
 * 'wasm', and the gpu backend in each gpu.js mode that runs here, gpu/modes.ts) against the plain
 * cpu backend (the reference) on random shapes, strided layouts (permuted, stepped, offset,
 * broadcast) and parameters: one suite, run once per backend, instead of a copy per backend. The
 * public tensor ops have their own suites over the cpu-side devices (helpers/devices.ts).
 *
 * Tolerance. Elementwise results: |fast - cpu| <= 1e-4 max(1, |cpu|). Accumulating ops (sum,
 * matmul, convolution, pooling gradients) accumulate in float32 on the fast backends and float64
 * on the cpu: |fast - cpu| <= 1e-4 max(1, S), where S is the same op over |inputs| (the sum of the magnitudes
 * of the terms; float32 accumulation error is at most ~n 2^-24 S). Comparisons, indices, copies,
 * max/min and the quantization kernels must agree exactly (quantization: bit for bit).
 *
 * On the gpu every test also asserts the gpu.js class that actually ran its kernels (gpu.js falls
 * back silently). A few tests are about one backend only (gpu: int32 limits of float textures,
 * texture recycling, the kernel cache) and say so.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  contiguousStrides, fromArray, getBackend, raw, tidy, type Backend, type BinaryOp, type Conv2dParams, type DeviceBuffer,
  type DType, type Pool2dParams, type QuantKernelParams, type Tensor, type TypedArray, type UnaryOp,
} from '../../src/index.js';
import { INT32_EXACT_LIMIT, type GpuBackend, type GpuMode } from '../../src/tensor/gpu/index.js';
import { anyTensorCaseArb, broadcastShapesArb, tensorCaseArb, type TensorCase, type ValueSpec } from '../helpers/arbitraries.js';
import { runs } from '../helpers/assert.js';
import { deviceFor, expectRanOn, gpuBackend, MODES } from './gpu/modes.js';

const cpu = getBackend('cpu');
const uniform = (min: number, max: number): ValueSpec => ({ kind: 'uniform', min, max });
const signed = (min: number, max: number): ValueSpec => ({ kind: 'signed', min, max });
/** Values on a coarse lattice: many exact ties between elements. */
const lattice: ValueSpec = { kind: 'lattice', step: 0.5, offset: 0, min: -2, max: 2 };
const ints = (min: number, max: number): ValueSpec => ({ kind: 'int', min, max });

const TOL = 1e-4;

/** Reads a whole primitive result back and frees it. */
function take(b: Backend, buf: DeviceBuffer, shape: readonly number[]): TypedArray {
  const out = b.read({ buffer: buf, shape, strides: contiguousStrides(shape), offset: 0 });
  b.dispose(buf);
  return out;
}

/** |a - e| <= tol max(1, scale) elementwise; scale defaults to |e|. Exact when tol is 0. */
function expectNear(label: string, actual: TypedArray, expected: TypedArray, tol = TOL, scale?: ArrayLike<number>): void {
  expect(actual.length, `${label}: length`).toBe(expected.length);
  expect(actual.constructor.name, `${label}: array type`).toBe(expected.constructor.name);
  for (let i = 0; i < expected.length; i++) {
    const a = actual[i], e = expected[i];
    const bound = tol * Math.max(1, Math.abs(scale ? scale[i] : e));
    const ok = Number.isNaN(e) ? Number.isNaN(a) : !Number.isFinite(e) ? a === e : Math.abs(a - e) <= bound;
    if (!ok) {
      expect.fail(`${label}: element ${i} is ${a}, cpu says ${e} (bound ${bound})\n gpu: ${Array.from(actual.slice(0, 16))}\n cpu: ${Array.from(expected.slice(0, 16))}`);
    }
  }
}

/** Bit-for-bit equality of two float32 or int32 arrays. */
function expectBits(label: string, actual: TypedArray, expected: TypedArray): void {
  expect(actual.constructor.name, `${label}: array type`).toBe(expected.constructor.name);
  const bits = (x: TypedArray) => Array.from(new Uint32Array(x.buffer, x.byteOffset, x.length));
  const a = bits(actual), e = bits(expected);
  for (let i = 0; i < e.length; i++) {
    if (a[i] !== e[i]) expect.fail(`${label}: element ${i} is ${actual[i]} (0x${a[i].toString(16)}), cpu says ${expected[i]} (0x${e[i].toString(16)})`);
  }
}

const absOf = (c: TensorCase, dtype: DType = 'float32') => ({ make: (device?: string) => c.make({ dtype, device }).abs() });

/** One accelerated backend: its device name, and a check that its own kernels ran (gpu only). */
interface Accelerated {
  label: string;
  backend: () => Backend;
  device: string;
  gpuMode?: GpuMode;
}
const ACCELERATED: Accelerated[] = [
  { label: 'wasm', backend: () => getBackend('wasm'), device: 'wasm' },
  ...MODES.map((mode): Accelerated => ({ label: `gpu, mode ${mode}`, backend: () => gpuBackend(mode), device: deviceFor(mode), gpuMode: mode })),
];

describe.each(ACCELERATED)('backend $label', ({ backend, device, gpuMode }) => {
  const g = backend();
  const dev = device;
  const gpu = gpuMode === undefined ? null : { g: g as GpuBackend, mode: gpuMode };
  /** On the gpu: asserts gpu.js ran kernels with these cache-key prefixes on the requested mode. */
  const ranOn = (prefixes: readonly string[] = []) => { if (gpu) expectRanOn(gpu.g, gpu.mode, prefixes); };
  /** A test about the gpu backend only. */
  const itGpu = gpu ? it : it.skip;
  /** The same case on the cpu and on this gpu device. */
  const both = (c: TensorCase, dtype: DType = 'float32'): [Tensor, Tensor] => [c.make({ dtype }), c.make({ dtype, device: dev })];

  describe('memory', () => {
    it('upload/read round-trips float32 and int32, alloc gives zeros, dispose frees', () => {
      const f = Float32Array.from({ length: 1000 }, (_, i) => Math.fround(Math.sin(i) * 1e3));
      const ib = Int32Array.from([0, 1, -1, INT32_EXACT_LIMIT - 1, -(INT32_EXACT_LIMIT - 1), 123456]);
      const before = g.liveBuffers();
      const fb = g.upload(f), ibuf = g.upload(ib), z = g.alloc('int32', 7), zf = g.alloc('float32', 5);
      expect(g.liveBuffers()).toBe(before + 4);
      expectBits('float32', take(g, fb, [1000]), f);
      expectBits('int32', take(g, ibuf, [6]), ib);
      expectBits('alloc int32', take(g, z, [7]), new Int32Array(7));
      expectBits('alloc float32', take(g, zf, [5]), new Float32Array(5));
      expect(g.liveBuffers()).toBe(before);
      g.dispose(fb); // a second dispose is a no-op
      expect(g.liveBuffers()).toBe(before);
      const empty = g.upload(new Float32Array(0));
      expect(take(g, empty, [0, 3]).length).toBe(0);
      ranOn();
    });

    itGpu('refuses int32 values it cannot hold exactly, and float64 (gpu: float textures)', () => {
      expect(() => g.upload(Int32Array.from([1, INT32_EXACT_LIMIT]))).toThrow(/2\^24/);
      expect(() => g.upload(Int32Array.from([-INT32_EXACT_LIMIT]))).toThrow(/int32 value -16777216 \(index 0\)/);
      expect(() => g.upload(new Float64Array(3))).toThrow(/float64 is not supported/);
      expect(() => fromArray([1, 2], [2], { dtype: 'float64', device: dev })).toThrow(/does not support dtype float64/);
      ranOn();
    });

    it('reads any strided view (contiguous primitive)', () => {
      fc.assert(
        fc.property(anyTensorCaseArb({ maxRank: 4 }), fc.constantFrom<DType>('float32', 'int32'), (c, dtype) => tidy(() => {
          const [tc, tg] = both(c, dtype);
          expectBits(c.layout, g.read(tg), cpu.read(tc));
          expectBits(`${c.layout} contiguous`, take(g, g.contiguous(tg), tg.shape), take(cpu, cpu.contiguous(tc), tc.shape));
        })),
        runs(25),
      );
      ranOn(['map:copy']);
    });
  });

  describe('elementwise', () => {
    const UNARY: [UnaryOp, ValueSpec][] = [
      ['neg', uniform(-3, 3)], ['exp', uniform(-4, 4)], ['log', uniform(0.05, 5)], ['sqrt', uniform(0, 5)],
      ['abs', uniform(-3, 3)], ['relu', uniform(-3, 3)], ['sigmoid', uniform(-30, 30)], ['tanh', uniform(-60, 60)],
      ['sign', lattice], ['floor', uniform(-3, 3)], ['ceil', uniform(-3, 3)], ['reciprocal', signed(0.1, 3)],
      ['square', uniform(-3, 3)], ['step', lattice], ['identity', uniform(-3, 3)],
    ];
    for (const [op, values] of UNARY) {
      it(`unary ${op} (float32, strided)`, () => {
        fc.assert(
          fc.property(anyTensorCaseArb({ maxRank: 4 }, { values }), (c) => tidy(() => {
            const [tc, tg] = both(c);
            expectNear(`${op} ${c.layout}`, take(g, g.unary(op, tg, 'float32'), tg.shape), take(cpu, cpu.unary(op, tc, 'float32'), tc.shape));
          })),
          runs(12),
        );
        ranOn([`map:${op}:`]);
      });
    }

    it('casts: float32 -> int32 truncates toward zero, int32 -> float32; int32 unary ops', () => {
      fc.assert(
        fc.property(anyTensorCaseArb({ maxRank: 3 }, { values: uniform(-50, 50) }), anyTensorCaseArb({ maxRank: 3 }, { values: ints(-1000, 1000), dtype: 'int32' }), (cf, ci) => tidy(() => {
          const [fc_, fg] = both(cf);
          expectBits(`to int32 ${cf.layout}`, take(g, g.unary('identity', fg, 'int32'), fg.shape), take(cpu, cpu.unary('identity', fc_, 'int32'), fc_.shape));
          const [ic, ig] = both(ci, 'int32');
          expectBits(`to float32 ${ci.layout}`, take(g, g.unary('identity', ig, 'float32'), ig.shape), take(cpu, cpu.unary('identity', ic, 'float32'), ic.shape));
          for (const op of ['neg', 'abs', 'relu', 'sign', 'square', 'step'] as UnaryOp[]) {
            expectBits(`int32 ${op}`, take(g, g.unary(op, ig, 'int32'), ig.shape), take(cpu, cpu.unary(op, ic, 'int32'), ic.shape));
          }
        })),
        runs(15),
      );
      ranOn(['map:identity:x:', 'map:sign:']);
    });

    const BINARY: [BinaryOp, ValueSpec, ValueSpec, number][] = [
      ['add', uniform(-3, 3), uniform(-3, 3), TOL], ['sub', uniform(-3, 3), uniform(-3, 3), TOL],
      ['mul', uniform(-3, 3), uniform(-3, 3), TOL], ['div', uniform(-3, 3), signed(0.1, 3), TOL],
      ['pow', uniform(0.1, 3), uniform(-2, 2), TOL], ['maximum', lattice, lattice, 0], ['minimum', lattice, lattice, 0],
      ['eq', lattice, lattice, 0], ['ne', lattice, lattice, 0], ['lt', lattice, lattice, 0],
      ['le', lattice, lattice, 0], ['gt', lattice, lattice, 0], ['ge', lattice, lattice, 0],
    ];
    for (const [op, va, vb, tol] of BINARY) {
      it(`binary ${op} with broadcasting and strided views`, () => {
        fc.assert(
          fc.property(
            broadcastShapesArb(2, { maxRank: 4 }).chain(({ inputs }) => fc.tuple(tensorCaseArb(inputs[0], { values: va }), tensorCaseArb(inputs[1], { values: vb }))),
            ([ca, cb]) => tidy(() => {
              const [ac, ag] = both(ca), [bc, bg] = both(cb);
              expectNear(`${op} ${ca.layout} / ${cb.layout}`, raw.binary(op, ag, bg).toTypedArray(), raw.binary(op, ac, bc).toTypedArray(), tol);
            }),
          ),
          runs(12),
        );
        ranOn([`map:${op}:ab:`]);
      });
    }

    it('pow of a negative base with integer exponents, and 0^y', () => {
      const a = Float32Array.from([-2, -1.5, -3, 0, 0, 0, 2, -0.5, 1.25]);
      const b = Float32Array.from([2, 3, -1, 0, 2, -1, 0.5, 4, 0]);
      const on = (device?: string) => raw.binary('pow', fromArray(a, [9], { device }), fromArray(b, [9], { device })).toTypedArray();
      expectNear('pow', on(dev), on(), TOL);
      ranOn(['map:pow:ab:']);
    });

    it('int32 arithmetic stays int32 and exact', () => {
      fc.assert(
        fc.property(
          broadcastShapesArb(2, { maxRank: 3 }).chain(({ inputs }) => fc.tuple(
            tensorCaseArb(inputs[0], { values: ints(-2000, 2000), dtype: 'int32' }), tensorCaseArb(inputs[1], { values: ints(-2000, 2000), dtype: 'int32' }))),
          ([ca, cb]) => tidy(() => {
            const [ac, ag] = both(ca, 'int32'), [bc, bg] = both(cb, 'int32');
            for (const op of ['add', 'sub', 'mul', 'maximum', 'minimum', 'lt'] as BinaryOp[]) {
              expectBits(`int32 ${op}`, raw.binary(op, ag, bg).toTypedArray(), raw.binary(op, ac, bc).toTypedArray());
            }
            expectBits('int32 * 3', raw.binaryScalar('mul', ag, 3).toTypedArray(), raw.binaryScalar('mul', ac, 3).toTypedArray());
          }),
        ),
        runs(12),
      );
      ranOn(['map:mul:ab:', 'map:mul:a+b:']);
    });

    it('binary with a scalar, on either side', () => {
      const OPS: [BinaryOp, ValueSpec, number][] = [
        ['add', uniform(-3, 3), 2.5], ['sub', uniform(-3, 3), -1.25], ['mul', uniform(-3, 3), 0.1], ['div', signed(0.2, 3), 3],
        ['pow', uniform(0.1, 3), 2], ['pow', uniform(-3, 3), 3], ['maximum', lattice, 0.5], ['minimum', lattice, -0.5],
        ['eq', lattice, 1], ['ne', lattice, 0], ['lt', lattice, 0.5], ['le', lattice, 0.5], ['gt', lattice, -1], ['ge', lattice, -1],
      ];
      for (const [op, values, s] of OPS) {
        for (const scalarFirst of op === 'pow' ? [false] : [false, true]) {
          fc.assert(
            fc.property(anyTensorCaseArb({ maxRank: 3 }, { values }), (c) => tidy(() => {
              const [tc, tg] = both(c);
              expectNear(`${op} ${s} first=${scalarFirst} ${c.layout}`, (scalarFirst ? raw.scalarBinary(op, s, tg) : raw.binaryScalar(op, tg, s)).toTypedArray(), (scalarFirst ? raw.scalarBinary(op, s, tc) : raw.binaryScalar(op, tc, s)).toTypedArray());
            })),
            runs(3),
          );
        }
      }
      ranOn(['map:add:a+b:', 'map:sub:b+a:', 'map:pow:a+b:']);
    });

    it('where with broadcasting', () => {
      fc.assert(
        fc.property(
          broadcastShapesArb(3, { maxRank: 4 }).chain(({ inputs }) => fc.tuple(
            tensorCaseArb(inputs[0], { values: ints(0, 1) }), tensorCaseArb(inputs[1]), tensorCaseArb(inputs[2]))),
          ([cc, ca, cb]) => tidy(() => {
            const [c1, c2] = both(cc), [a1, a2] = both(ca), [b1, b2] = both(cb);
            expectBits(`where ${cc.layout}`, raw.where(c2, a2, b2).toTypedArray(), raw.where(c1, a1, b1).toTypedArray());
          }),
        ),
        runs(15),
      );
      ranOn(['map:where:cab:']);
    });
  });

  describe('reductions', () => {
    it('sum/max/min/argmax/argmin over random axes of strided views', () => {
      fc.assert(
        fc.property(
          anyTensorCaseArb({ minRank: 1, maxRank: 4 }, { values: lattice }),
          fc.constantFrom('sum', 'max', 'min', 'argmax', 'argmin' as const),
          fc.boolean(), fc.integer({ min: 0, max: 1000 }),
          (c, op, keepdim, pick) => tidy(() => {
            const [tc, tg] = both(c);
            const axis = pick % c.shape.length;
            const axes = op.startsWith('arg') ? axis : c.shape.map((_, i) => i).filter((i) => (pick >> i) & 1 || i === axis);
            const r = raw.reduce(op, tg, axes, keepdim), e = raw.reduce(op, tc, axes, keepdim);
            expect(r.shape).toEqual(e.shape);
            const scale = op === 'sum' ? raw.reduce('sum', tc.abs(), axes, keepdim).toTypedArray() : undefined;
            expectNear(`${op} axes ${axes} ${c.layout}`, r.toTypedArray(), e.toTypedArray(), op === 'sum' ? TOL : 0, scale);
          }),
        ),
        runs(40),
      );
      ranOn(['reduce:sum', 'reduce:argmax']);
    });

    it('long rows: two-pass sum/max/min are not truncated (loopMaxIterations) and stay accurate', () => {
      for (const [outer, inner] of [[1, 100_000], [3, 1025], [2, 4099], [5, 999]]) {
        const x = Float32Array.from({ length: outer * inner }, (_, i) => Math.fround(Math.sin(i * 0.37) + 0.25));
        const bg = g.upload(x), bc = cpu.upload(x);
        for (const op of ['sum', 'max', 'min', 'argmax'] as const) {
          const got = take(g, g.reduce(op, bg, outer, inner), [outer]);
          const want = take(cpu, cpu.reduce(op, bc, outer, inner), [outer]);
          const scale = op === 'sum' ? new Float64Array(outer).fill(inner * 1.25) : undefined;
          expectNear(`${op} [${outer}, ${inner}]`, got, want, op === 'sum' ? TOL : 0, scale);
        }
        g.dispose(bg);
        cpu.dispose(bc);
      }
      const ones = g.upload(new Float32Array(3000).fill(1));
      expect(Array.from(take(g, g.reduce('sum', ones, 1, 3000), [1]))).toEqual([3000]);
      g.dispose(ones);
      ranOn(['reduce:sum', 'reduce:max']);
    });
  });

  describe('matmul', () => {
    it('batched, broadcast and transposed views', () => {
      const dims = fc.record({ m: fc.integer({ min: 1, max: 6 }), k: fc.integer({ min: 1, max: 40 }), n: fc.integer({ min: 1, max: 6 }), batch: fc.array(fc.integer({ min: 1, max: 3 }), { maxLength: 2 }), ta: fc.boolean(), tb: fc.boolean(), bcast: fc.boolean() });
      fc.assert(
        fc.property(
          dims.chain((d) => fc.record({
            d: fc.constant(d),
            a: tensorCaseArb(d.ta ? [...d.batch, d.k, d.m] : [...d.batch, d.m, d.k]),
            b: tensorCaseArb(d.tb ? [d.n, d.k] : [...(d.bcast ? [] : d.batch), d.k, d.n]),
          })),
          ({ d, a, b }) => tidy(() => {
            const t = (x: Tensor, yes: boolean) => (yes ? x.transpose(-1, -2) : x);
            const [ac, ag] = both(a), [bc, bg] = both(b);
            const got = raw.matmul(t(ag, d.ta), t(bg, d.tb)), want = raw.matmul(t(ac, d.ta), t(bc, d.tb));
            expect(got.shape).toEqual(want.shape);
            const scale = raw.matmul(t(ac.abs(), d.ta), t(bc.abs(), d.tb)).toTypedArray();
            expectNear(`matmul ${JSON.stringify(d)} ${a.layout} / ${b.layout}`, got.toTypedArray(), want.toTypedArray(), TOL, scale);
          }),
        ),
        runs(30),
      );
      ranOn(['matmul']);
    });

    it('a long inner dimension is not truncated', () => {
      const K = 5000;
      const a = fromArray(new Float32Array(K).fill(1), [1, K], { device: dev });
      const b = fromArray(new Float32Array(K * 2).fill(0.5), [K, 2], { device: dev });
      expect(Array.from(raw.matmul(a, b).toTypedArray())).toEqual([2500, 2500]);
      ranOn(['matmul']);
    });
  });

  describe('convolution and pooling', () => {
    const pair = (min: number, max: number) => fc.tuple(fc.integer({ min, max }), fc.integer({ min, max }));
    const minInput = (k: number, pad: number, dil: number) => Math.max(1, dil * (k - 1) + 1 - 2 * pad);
    const convArb = fc
      .record({
        n: fc.integer({ min: 1, max: 2 }), groups: fc.integer({ min: 1, max: 3 }), cg: fc.integer({ min: 1, max: 3 }), og: fc.integer({ min: 1, max: 2 }),
        k: pair(1, 3), stride: pair(1, 3), padding: pair(0, 2), dilation: pair(1, 2), extra: pair(0, 4),
      })
      .map((s) => {
        const h = minInput(s.k[0], s.padding[0], s.dilation[0]) + s.extra[0];
        const w = minInput(s.k[1], s.padding[1], s.dilation[1]) + s.extra[1];
        const p: Conv2dParams = { stride: s.stride, padding: s.padding, dilation: s.dilation, groups: s.groups };
        return { xShape: [s.n, s.groups * s.cg, h, w], wShape: [s.groups * s.og, s.cg, s.k[0], s.k[1]], p };
      });

    it('conv2d forward, grad input and grad weight (stride, padding, dilation, groups)', () => {
      fc.assert(
        fc.property(convArb, fc.integer({ min: 0, max: 1 << 30 }), ({ xShape, wShape, p }, seed) => tidy(() => {
          const [x, w] = fc.sample(fc.tuple(tensorCaseArb(xShape), tensorCaseArb(wShape)), { numRuns: 1, seed })[0];
          const yShape = raw.conv2dOutShape(xShape, wShape, p);
          const gy = fc.sample(tensorCaseArb(yShape), { numRuns: 1, seed: seed + 1 })[0];
          const label = `x${JSON.stringify(xShape)} w${JSON.stringify(wShape)} ${JSON.stringify(p)}`;
          const on = (b: Backend, device: string | undefined, abs: boolean) => {
            const mk = (c: TensorCase) => { const t = raw.contiguous(c.make({ dtype: 'float32', device })); return abs ? raw.unary('abs', t) : t; };
            const xt = mk(x), wt = mk(w), gt = mk(gy);
            return {
              y: take(b, b.conv2d(xt.buffer, xShape, wt.buffer, wShape, p), yShape),
              gx: take(b, b.conv2dGradInput(gt.buffer, yShape, wt.buffer, wShape, xShape, p), xShape),
              gw: take(b, b.conv2dGradWeight(xt.buffer, xShape, gt.buffer, yShape, wShape, p), wShape),
            };
          };
          const got = on(g, dev, false), want = on(cpu, undefined, false), scale = on(cpu, undefined, true);
          expectNear(`conv2d ${label}`, got.y, want.y, TOL, scale.y);
          expectNear(`conv2dGradInput ${label}`, got.gx, want.gx, TOL, scale.gx);
          expectNear(`conv2dGradWeight ${label}`, got.gw, want.gw, TOL, scale.gw);
        })),
        runs(30),
      );
      ranOn(['conv2d', 'conv2dGradInput', 'conv2dGradWeight']);
    });

    const poolArb = fc
      .record({ n: fc.integer({ min: 1, max: 2 }), c: fc.integer({ min: 1, max: 3 }), kernel: pair(1, 3), stride: pair(1, 3), padFrac: pair(0, 1), dilation: pair(1, 2), extra: pair(0, 4) })
      .map((s) => {
        const padding: [number, number] = [s.padFrac[0] * Math.floor(s.kernel[0] / 2), s.padFrac[1] * Math.floor(s.kernel[1] / 2)];
        const p: Pool2dParams = { kernel: s.kernel, stride: s.stride, padding, dilation: s.dilation };
        const xShape = [s.n, s.c, minInput(s.kernel[0], padding[0], s.dilation[0]) + s.extra[0], minInput(s.kernel[1], padding[1], s.dilation[1]) + s.extra[1]];
        return { xShape, p };
      });

    it('max pooling (values, first-max indices with ties, -1 for all-padding windows) and its gradient', () => {
      fc.assert(
        fc.property(poolArb, fc.integer({ min: 0, max: 1 << 30 }), ({ xShape, p }, seed) => tidy(() => {
          const x = fc.sample(tensorCaseArb(xShape, { values: lattice }), { numRuns: 1, seed })[0];
          const [xc, xg] = both(x).map((t) => raw.contiguous(t));
          const label = `x${JSON.stringify(xShape)} ${JSON.stringify(p)}`;
          const rc = cpu.maxPool2d(xc.buffer, xShape, p), rg = g.maxPool2d(xg.buffer, xShape, p);
          const yShape = raw.checkPool('maxPool2d', xc, p);
          const gy = fc.sample(tensorCaseArb(yShape), { numRuns: 1, seed: seed + 1 })[0];
          const [gc, gg] = both(gy).map((t) => raw.contiguous(t));
          const gradC = take(cpu, cpu.maxPool2dGrad(gc.buffer, rc.indices, yShape, xShape, p), xShape);
          const gradG = take(g, g.maxPool2dGrad(gg.buffer, rg.indices, yShape, xShape, p), xShape);
          expectBits(`maxPool2d values ${label}`, take(g, rg.out, yShape), take(cpu, rc.out, yShape));
          expectBits(`maxPool2d indices ${label}`, take(g, rg.indices, yShape), take(cpu, rc.indices, yShape));
          const [ac] = both(gy).map((t) => raw.contiguous(raw.unary('abs', t)));
          expectNear(`maxPool2dGrad ${label}`, gradG, gradC, TOL, take(cpu, cpu.avgPool2dGrad(ac.buffer, yShape, xShape, p), xShape).map((v) => v * p.kernel[0] * p.kernel[1]));
        })),
        runs(30),
      );
      ranOn(['maxPool2dIndex', 'maxPool2dValue', 'maxPool2dGrad']);
    });

    it('average pooling (padding counts toward the divisor) and its gradient', () => {
      fc.assert(
        fc.property(poolArb, fc.integer({ min: 0, max: 1 << 30 }), ({ xShape, p }, seed) => tidy(() => {
          const x = fc.sample(tensorCaseArb(xShape), { numRuns: 1, seed })[0];
          const [xc, xg] = both(x).map((t) => raw.contiguous(t));
          const yShape = raw.checkPool('avgPool2d', xc, p);
          const gy = fc.sample(tensorCaseArb(yShape), { numRuns: 1, seed: seed + 1 })[0];
          const [gc, gg] = both(gy).map((t) => raw.contiguous(t));
          const label = `x${JSON.stringify(xShape)} ${JSON.stringify(p)}`;
          expectNear(`avgPool2d ${label}`, take(g, g.avgPool2d(xg.buffer, xShape, p), yShape), take(cpu, cpu.avgPool2d(xc.buffer, xShape, p), yShape));
          expectNear(`avgPool2dGrad ${label}`, take(g, g.avgPool2dGrad(gg.buffer, yShape, xShape, p), xShape), take(cpu, cpu.avgPool2dGrad(gc.buffer, yShape, xShape, p), xShape));
        })),
        runs(30),
      );
      ranOn(['avgPool2d', 'avgPool2dGrad']);
    });
  });

  describe('data movement', () => {
    it('pad writes a strided view into zeros (the backward of slicing)', () => {
      fc.assert(
        fc.property(
          anyTensorCaseArb({ maxRank: 4 }).chain((c) => fc.record({
            c: fc.constant(c),
            begin: fc.tuple(...c.shape.map(() => fc.integer({ min: 0, max: 2 }))),
            step: fc.tuple(...c.shape.map(() => fc.integer({ min: 1, max: 3 }))),
            extra: fc.tuple(...c.shape.map(() => fc.integer({ min: 0, max: 2 }))),
          })),
          ({ c, begin, step, extra }) => tidy(() => {
            const outShape = c.shape.map((d, i) => begin[i] + step[i] * (d - 1) + 1 + extra[i]);
            const [tc, tg] = both(c);
            expectBits(`pad ${c.layout} begin ${begin} step ${step}`, raw.pad(tg, outShape, begin, step).toTypedArray(), raw.pad(tc, outShape, begin, step).toTypedArray());
          }),
        ),
        runs(25),
      );
      ranOn(['pad:r']);
    });

    it('concat of 1 to 19 strided parts along any axis (several kernel rounds past 8 parts)', () => {
      fc.assert(
        fc.property(
          fc.record({ shape: fc.array(fc.integer({ min: 1, max: 3 }), { minLength: 1, maxLength: 3 }), count: fc.integer({ min: 1, max: 19 }), pick: fc.nat() })
            .chain(({ shape, count, pick }) => {
              const axis = pick % shape.length;
              return fc.record({
                axis: fc.constant(axis),
                parts: fc.tuple(...Array.from({ length: count }, () => fc.integer({ min: 0, max: 3 }).chain((len) => tensorCaseArb(shape.map((d, i) => (i === axis ? len : d)), len === 0 ? { layouts: ['contiguous'] } : {})))),
              });
            }),
          ({ axis, parts }) => tidy(() => {
            const pc = parts.map((p) => p.make({ dtype: 'float32' })), pg = parts.map((p) => p.make({ dtype: 'float32', device: dev }));
            expectBits(`concat axis ${axis} of ${parts.length}`, raw.concat(pg, axis).toTypedArray(), raw.concat(pc, axis).toTypedArray());
          }),
        ),
        runs(20),
      );
      ranOn(['concat:']);
    });
  });

  describe('quantization kernels agree bit for bit', () => {
    /** Values with exact ties at x / scale = k + 0.5, near-ties, and out-of-range values. */
    function quantCase(seed: number, n: number, scale: number): Float32Array {
      let s = seed | 0;
      const rnd = () => ((s = (Math.imul(s, 1664525) + 1013904223) | 0) >>> 0) / 2 ** 32;
      return Float32Array.from({ length: n }, () => {
        const k = Math.floor(rnd() * 300) - 150;
        const r = rnd();
        if (r < 0.4) return (k + 0.5) * scale; // a tie (exact when scale is a power of two)
        if (r < 0.6) return Math.fround((k + 0.5) * scale) + (rnd() < 0.5 ? -1 : 1) * 1e-7 * scale; // near a tie
        return (rnd() * 2 - 1) * 200 * scale;
      });
    }

    const paramsArb = fc.record({
      seed: fc.integer(),
      outer: fc.integer({ min: 1, max: 3 }), channels: fc.integer({ min: 1, max: 4 }), inner: fc.integer({ min: 1, max: 20 }),
      perChannel: fc.boolean(), rounding: fc.constantFrom('halfEven' as const, 'halfAwayFromZero' as const),
      range: fc.constantFrom<[number, number]>([-128, 127], [0, 255], [-8, 7], [0, 15]),
      pow2: fc.boolean(),
    });

    it('fakeQuantize (y and mask), quantize and dequantize, per tensor and per channel, both roundings', () => {
      fc.assert(
        fc.property(paramsArb, (a) => tidy(() => {
          const channels = a.perChannel ? a.channels : 1;
          const rnd = (i: number) => Math.abs(Math.sin(a.seed + i * 7.1));
          const scale = Float32Array.from({ length: channels }, (_, i) => (a.pow2 ? 2 ** -(1 + (Math.abs(a.seed + i) % 6)) : Math.fround(0.001 + rnd(i) * 0.2)));
          const [qmin, qmax] = a.range;
          const zeroPoint = Int32Array.from({ length: channels }, (_, i) => qmin + Math.floor(rnd(i + 9) * (qmax - qmin + 1)));
          const q: QuantKernelParams = {
            scale, zeroPoint, qmin, qmax, rounding: a.rounding,
            outer: a.perChannel ? a.outer : 1, channels, inner: a.perChannel ? a.inner : a.outer * a.channels * a.inner,
          };
          const n = a.outer * a.channels * a.inner;
          const x = quantCase(a.seed, n, scale[0]);
          const xc = cpu.upload(x), xg = g.upload(x);
          const label = `${a.rounding} per${a.perChannel ? 'Channel' : 'Tensor'} [${qmin}, ${qmax}] scale ${Array.from(scale)}`;
          const fqc = cpu.fakeQuantize(xc, q), fqg = g.fakeQuantize(xg, q);
          expectBits(`fakeQuantize y ${label}`, take(g, fqg.y, [n]), take(cpu, fqc.y, [n]));
          expectBits(`fakeQuantize mask ${label}`, take(g, fqg.mask, [n]), take(cpu, fqc.mask, [n]));
          const lc = cpu.quantize(xc, q), lg = g.quantize(xg, q);
          const levels = cpu.read({ buffer: lc, shape: [n], strides: [1], offset: 0 });
          expectBits(`quantize ${label}`, take(g, lg, [n]), take(cpu, lc, [n]));
          const lg2 = g.upload(levels), lc2 = cpu.upload(levels);
          expectBits(`dequantize ${label}`, take(g, g.dequantize(lg2, q), [n]), take(cpu, cpu.dequantize(lc2, q), [n]));
          for (const [b, buf] of [[g, xg], [cpu, xc], [g, lg2], [cpu, lc2]] as const) b.dispose(buf);
        })),
        runs(60),
      );
      ranOn(['quantLevel', 'fakeQuantValue', 'fakeQuantMask', 'quantize', 'dequantize']);
    });

    it('ties round to even or away from zero, and 0.49999997 rounds to 0 (not Math.round)', () => {
      const x = Float32Array.from([-2.5, -1.5, -0.5, 0.5, 1.5, 2.5, 0.49999997, -0.49999997, 127.5, -128.5, 3.5000002]);
      const q = (rounding: QuantKernelParams['rounding']): QuantKernelParams => ({
        scale: Float32Array.from([1]), zeroPoint: Int32Array.from([0]), qmin: -128, qmax: 127, outer: 1, channels: 1, inner: x.length, rounding,
      });
      const xg = g.upload(x);
      expect(Array.from(take(g, g.quantize(xg, q('halfEven')), [x.length]))).toEqual([-2, -2, 0, 0, 2, 2, 0, 0, 127, -128, 4]);
      expect(Array.from(take(g, g.quantize(xg, q('halfAwayFromZero')), [x.length]))).toEqual([-3, -2, -1, 1, 2, 3, 0, 0, 127, -128, 4]);
      const { y, mask } = g.fakeQuantize(xg, q('halfEven'));
      expect(Array.from(take(g, y, [x.length]))).toEqual([-2, -2, 0, 0, 2, 2, 0, 0, 127, -128, 4]);
      expect(Array.from(take(g, mask, [x.length]))).toEqual([1, 1, 1, 1, 1, 1, 1, 1, 0, 1, 1]);
      g.dispose(xg);
      ranOn(['quantize', 'quantLevel']);
    });
  });

  describe('device memory semantics', () => {
    it('a kernel fed its own output keeps correct results across size changes (gpu.js texture recycling)', () => {
      for (const n of [30, 50, 20, 50, 7, 50, 64]) {
        const x = Float32Array.from({ length: n }, (_, i) => i + 1);
        const t = fromArray(x, [n], { device: dev });
        const a = raw.binary('add', t, t);
        const b = raw.binary('add', a, a); // add's input is add's own latest output
        const c = raw.binary('add', b, t);
        expect(Array.from(c.toTypedArray()), `n = ${n}`).toEqual(Array.from(x, (v) => 5 * v));
        for (const u of [t, a, b, c]) u.dispose();
      }
      ranOn(['map:add:ab:r1']);
    });
  });

  describe('kernel cache', () => {
    itGpu('keys name the structure, not the shape: new sizes reuse the compiled kernel', () => {
      const run = (n: number, m: number) => tidy(() => {
        const a = fromArray(Float32Array.from({ length: n * m }, (_, i) => i), [n, m], { device: dev });
        return raw.reduce('sum', raw.binary('mul', a, a), 1).toTypedArray();
      });
      run(3, 4);
      const before = gpu!.g.kernelCache();
      for (const [n, m] of [[5, 7], [64, 10], [1, 1], [33, 3]]) {
        expect(Array.from(run(n, m))).toEqual(Array.from({ length: n }, (_, r) => Array.from({ length: m }, (_, c) => (r * m + c) ** 2).reduce((s, v) => s + v, 0)));
      }
      const after = gpu!.g.kernelCache();
      expect(after.count).toBe(before.count);
      expect(after.misses).toBe(before.misses);
      expect(after.hits).toBeGreaterThan(before.hits);
      for (const k of after.keys) expect(k).toMatch(new RegExp(`\\|${gpu!.mode}$`));
      ranOn(['map:mul:ab:', 'reduce:sum']);
    });
  });
});
