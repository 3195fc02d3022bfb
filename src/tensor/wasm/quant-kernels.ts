/**
 * The fake-quantize primitive (Backend.fakeQuantize) as a WebAssembly SIMD kernel, four float32
 * lanes at a time, for the wasm backend (issue 17: in a QAT step of the MNIST CNN the JavaScript
 * loop of src/tensor/cpu/quant.ts, with its NaN scan and two fresh result arrays, cost as much as
 * a convolution).
 *
 * The reference (fakeQuantizeKernel) computes, per element, in float64 over float32 values:
 *
 *   level = zp + round(float32(x · inv)),  inv = float32(1 / scale)
 *   y     = float32((clamp(level, qmin, qmax) − zp) · scale),   mask = [qmin ≤ level ≤ qmax]
 *
 * The kernel works with r = round(t), t = float32(x · inv), relative to the zero point:
 *
 *   t     = f32x4.mul(x, inv)           the float32 product, as float32(x · inv) is
 *   r     = nearest(t) (ties to even) or trunc(t) + [|t − trunc(t)| ≥ ½]·sign(t) (ties away);
 *           t − trunc(t) is exact in float32; + 0 turns a −0 into +0, as the reference's zp + r
 *           and its subtraction of zp give +0 wherever level = zp
 *   mask  = lo ≤ r ≤ hi,  lo = qmin − zp, hi = qmax − zp      (level ≥ qmin ⇔ r ≥ qmin − zp)
 *   y     = f32x4.mul(max(min(r, hi), lo), scale)
 *
 * Exact equality needs lo and hi to be float32 integers (|qmin − zp|, |qmax − zp| ≤ 2^24): then
 * the clamped difference is exact in float32, its product with the float32 scale is exact in
 * float64 (48 bits), and both sides round it once to float32. The backend takes this kernel only
 * then (int32-range biases keep the reference) and only without NaN inputs: the kernel flags a
 * NaN and the backend then runs the reference, which throws its error. Tested bit for bit against
 * the reference in test/tensor/wasm/fake-quantize.test.ts (ties both ways, infinities, clamps,
 * per-channel layouts, lengths that are not a multiple of 4).
 *
 * Staging as ./elementwise.ts: blocks of BLOCK floats are copied into the module's memory, the
 * kernel writes y and the mask there, both are copied out (into arrays from the buffer pool).
 */
import type { QuantKernelParams } from '../backend.js';
import type { Code } from './emit.js';
import { defineFunction, forLoop, i32, instantiatePrivate, local, uleb, v128 } from './emit.js';

const simd = (op: number, ...operands: Code[]): Code => [...operands.flat(), 0xfd, ...uleb(op)];
const f32x4 = {
  ne: (a: Code, b: Code) => simd(0x42, a, b),
  le: (a: Code, b: Code) => simd(0x45, a, b),
  ge: (a: Code, b: Code) => simd(0x46, a, b),
  trunc: (a: Code) => simd(0x69, a),
  nearest: (a: Code) => simd(0x6a, a),
  abs: (a: Code) => simd(0xe0, a),
  add: (a: Code, b: Code) => simd(0xe4, a, b),
  sub: (a: Code, b: Code) => simd(0xe5, a, b),
  mul: (a: Code, b: Code) => simd(0xe6, a, b),
  min: (a: Code, b: Code) => simd(0xe8, a, b),
  max: (a: Code, b: Code) => simd(0xe9, a, b),
};
const anyTrue = (a: Code) => simd(0x53, a);
const load32Splat = (addr: Code): Code => [...addr, 0xfd, ...uleb(0x09), 2, 0];
const store32Lane0 = (addr: Code, value: Code): Code => [...addr, ...value, 0xfd, ...uleb(0x5a), 2, 0, 0];
const i32Load = (addr: Code): Code => [...addr, 0x28, 2, 0];
const i32Store = (addr: Code, value: Code): Code => [...addr, ...value, 0x36, 2, 0];
const i32Or = (a: Code, b: Code): Code => [...a, ...b, 0x72];

const f32Bits = (x: number) => new Int32Array(Float32Array.of(x).buffer)[0];
const splat = (x: number): Code => v128.i32Const([f32Bits(x), f32Bits(x), f32Bits(x), f32Bits(x)]);
const ONE = splat(1);
const HALF = splat(0.5);
const ZERO = v128.zero();
const SIGN = v128.i32Const([-0x80000000, -0x80000000, -0x80000000, -0x80000000]);

/** Byte layout: the NaN flag, the per-channel constants (inv, scale, lo, hi as f32x4), the blocks. */
const FLAG = 0;
const CONSTS = 16;
const CHANNEL_BYTES = 64;
/** Channels whose constants fit at once (more: the backend runs the reference). */
export const FQ_MAX_CHANNELS = 4096;
const BLOCK = 16384;
const X = CONSTS + FQ_MAX_CHANNELS * CHANNEL_BYTES;
const Y = X + 4 * BLOCK;
const M = Y + 4 * BLOCK;
const PAGES = Math.ceil((M + 4 * BLOCK) / 65536);
/** Below this many elements the reference loop is as fast as the staging here. */
export const FQ_MIN_ELEMENTS = 256;

/** fq_<mode>(x, count, cst, y, mask): count elements of one channel (constants at cst). */
function kernel(mode: 'halfEven' | 'halfAwayFromZero') {
  return defineFunction(`fq_${mode}`, { x: 'i32', count: 'i32', cst: 'i32', y: 'i32', m: 'i32' }, {
    i: 'i32', end4: 'i32', off: 'i32', nan: 'v128', v: 'v128', t: 'v128', r: 'v128', inv: 'v128', scale: 'v128', lo: 'v128', hi: 'v128',
  }, (p) => {
    const g = local.get, set = local.set;
    const round = (t: Code): Code[] => mode === 'halfEven'
      ? [set(p.r, f32x4.nearest(t))]
      : [
        set(p.t, t),
        set(p.r, f32x4.trunc(g(p.t))),
        set(p.r, f32x4.add(g(p.r), v128.and(f32x4.ge(f32x4.abs(f32x4.sub(g(p.t), g(p.r))), HALF), v128.or(v128.and(g(p.t), SIGN), ONE)))),
      ];
    /** From the input lanes in local v: leaves y in local t and the mask (1.0 / 0.0) in local r. */
    const body = (): Code[] => [
      set(p.nan, v128.or(g(p.nan), f32x4.ne(g(p.v), g(p.v)))),
      ...round(f32x4.mul(g(p.v), g(p.inv))),
      set(p.r, f32x4.add(g(p.r), ZERO)),
      set(p.t, f32x4.mul(f32x4.max(f32x4.min(g(p.r), g(p.hi)), g(p.lo)), g(p.scale))),
      set(p.r, v128.and(v128.and(f32x4.ge(g(p.r), g(p.lo)), f32x4.le(g(p.r), g(p.hi))), ONE)),
    ];
    const at = (base: number) => i32.add(g(base), g(p.off));
    return [
      set(p.inv, v128.load(g(p.cst), 0)),
      set(p.scale, v128.load(g(p.cst), 16)),
      set(p.lo, v128.load(g(p.cst), 32)),
      set(p.hi, v128.load(g(p.cst), 48)),
      set(p.nan, v128.zero()),
      set(p.end4, i32.and(g(p.count), i32.const(-4))),
      forLoop(p.i, i32.const(0), g(p.end4), 4, [
        set(p.off, i32.shl(g(p.i), i32.const(2))),
        set(p.v, v128.load(at(p.x))),
        ...body(),
        v128.store(at(p.y), g(p.t)),
        v128.store(at(p.m), g(p.r)),
      ]),
      forLoop(p.i, g(p.end4), g(p.count), 1, [
        set(p.off, i32.shl(g(p.i), i32.const(2))),
        set(p.v, load32Splat(at(p.x))),
        ...body(),
        store32Lane0(at(p.y), g(p.t)),
        store32Lane0(at(p.m), g(p.r)),
      ]),
      i32Store(i32.const(FLAG), i32Or(i32Load(i32.const(FLAG)), anyTrue(g(p.nan)))),
    ];
  }, true);
}

type Kernel = (x: number, count: number, cst: number, y: number, m: number) => void;
interface Instance {
  kernels: Record<'halfEven' | 'halfAwayFromZero', Kernel>;
  f32: Float32Array;
  i32: Int32Array;
}
let inst: Instance | null | undefined;

function instance(): Instance | null {
  if (inst !== undefined) return inst;
  const m = instantiatePrivate([kernel('halfEven'), kernel('halfAwayFromZero')], PAGES);
  inst = m && {
    kernels: { halfEven: m.exports.fq_halfEven as Kernel, halfAwayFromZero: m.exports.fq_halfAwayFromZero as Kernel },
    f32: new Float32Array(m.memory.buffer), i32: new Int32Array(m.memory.buffer),
  };
  return inst;
}

const LIMIT = 2 ** 24;

/**
 * Whether the kernel takes these parameters for n elements: SIMD present, enough elements, not
 * too many channels, and every level offset from the zero point a float32 integer.
 */
export function fakeQuantizeWasmApplies(n: number, q: QuantKernelParams): boolean {
  const { outer, channels, inner, qmin, qmax } = q;
  if (n < FQ_MIN_ELEMENTS || channels > FQ_MAX_CHANNELS || outer * channels * inner !== n) return false;
  for (let c = 0; c < channels; c++) {
    const zp = q.zeroPoint[c];
    if (!(Math.abs(qmin - zp) <= LIMIT && Math.abs(qmax - zp) <= LIMIT)) return false;
  }
  return (q.rounding === 'halfEven' || q.rounding === 'halfAwayFromZero') && instance() !== null;
}

/**
 * y, mask = fakeQuantize(x) with the reference's bits, or false where x holds a NaN (the caller
 * then runs the reference, which reports it) or the kernel does not apply (fakeQuantizeWasmApplies).
 * y and mask may hold garbage after a false.
 */
export function fakeQuantizeWasm(x: Float32Array, q: QuantKernelParams, y: Float32Array, mask: Float32Array): boolean {
  if (!fakeQuantizeWasmApplies(x.length, q)) return false;
  const { channels, inner, qmin, qmax } = q;
  const w = instance();
  if (!w) return false;
  const { f32, i32: words } = w;
  const kernel = w.kernels[q.rounding];
  for (let c = 0; c < channels; c++) {
    const base = (CONSTS + c * CHANNEL_BYTES) / 4, zp = q.zeroPoint[c];
    f32.fill(Math.fround(1 / q.scale[c]), base, base + 4);
    f32.fill(q.scale[c], base + 4, base + 8);
    f32.fill(qmin - zp, base + 8, base + 12);
    f32.fill(qmax - zp, base + 12, base + 16);
  }
  words[FLAG / 4] = 0;
  const total = x.length;
  for (let start = 0; start < total; start += BLOCK) {
    const n = Math.min(BLOCK, total - start);
    f32.set(x.subarray(start, start + n), X / 4);
    for (let i = start; i < start + n;) {
      const seg = Math.floor(i / inner);
      const end = Math.min((seg + 1) * inner, start + n);
      const o = 4 * (i - start);
      kernel(X + o, end - i, CONSTS + (seg % channels) * CHANNEL_BYTES, Y + o, M + o);
      i = end;
    }
    y.set(f32.subarray(Y / 4, Y / 4 + n), start);
    mask.set(f32.subarray(M / 4, M / 4 + n), start);
  }
  return words[FLAG / 4] === 0;
}
