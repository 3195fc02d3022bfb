/**
 * The requantization simulation of requant-sim.ts as a WebAssembly SIMD kernel (issue 17: the
 * fake-quant evaluation of the MNIST job spent a quarter of its time in that loop, and as much
 * again copying its input and output through fresh arrays).
 *
 * The kernel does the float64 arithmetic of the reference loop (simulateRequantInto), operation
 * for operation, two elements per f64x2 vector, so its results are the same bits by construction:
 *
 *   x     = v · inv                                    (float32 v widened: exact)
 *   acc   = Math.round(x)  = fl + [x − fl ≥ ½],  fl = floor(x)     (x − fl is exact in float64;
 *           ties go up as Math.round's do; the sign of a zero acc does not matter below)
 *   high  = floor((acc·m + 2^30) · 2^-31)              SaturatingRoundingDoublingHighMul
 *   r     = high ≥ 0 ? floor((high + half)·2^-e) : −floor((half − high)·2^-e)   RoundingDivideByPOT
 *   level = clamp(r + zOut, qmin, qmax)                 (the same two comparisons)
 *   out   = float32((level − zOut) · sOut)              (f32x4.demote rounds to nearest even,
 *                                                         as a Float32Array store does)
 *
 * The reference takes another road (the exact primitive multiplyByQuantizedMultiplier) where an
 * accumulator is not below 2^21 in magnitude (or NaN) and where a channel's shift is positive;
 * the kernel covers only the first road: it flags any element off it, and the caller then runs
 * the reference loop on the whole tensor. Tested bit for bit against that loop
 * (test/quant/qat/requant-kernel.test.ts).
 *
 * Staging: wasm reads only its own memory, so the input goes through it in blocks of BLOCK floats
 * (a native copy in, the kernel in place, a native copy out), which stay in cache.
 */
import { emit } from '../../tensor/wasm/index.js';

type Code = emit.Code;
const { defineFunction, forLoop, i32, local, uleb, v128 } = emit;

const simd = (op: number, ...operands: Code[]): Code => [...operands.flat(), 0xfd, ...uleb(op)];
const f64x2 = {
  promoteLow: (a: Code) => simd(0x5f, a),
  lt: (a: Code, b: Code) => simd(0x49, a, b),
  gt: (a: Code, b: Code) => simd(0x4a, a, b),
  ge: (a: Code, b: Code) => simd(0x4c, a, b),
  floor: (a: Code) => simd(0x75, a),
  neg: (a: Code) => simd(0xed, a),
  add: (a: Code, b: Code) => simd(0xf0, a, b),
  sub: (a: Code, b: Code) => simd(0xf1, a, b),
  mul: (a: Code, b: Code) => simd(0xf2, a, b),
};
const demote = (a: Code) => simd(0x5e, a); // f32x4.demote_f64x2_zero
const not = (a: Code) => simd(0x4d, a);
const anyTrue = (a: Code) => simd(0x53, a);
/** i8x16.shuffle of 16 byte indices into a ++ b. */
const shuffle = (a: Code, b: Code, bytes: number[]): Code => [...a, ...b, 0xfd, ...uleb(0x0d), ...bytes];
const range = (from: number, n: number) => Array.from({ length: n }, (_, i) => from + i);
/** Lanes 2, 3 of four floats into lanes 0, 1 (for promote_low). */
const highHalf = (a: Code) => shuffle(a, a, [...range(8, 8), ...range(8, 8)]);
/** The low 8 bytes of a, then the low 8 bytes of b. */
const lowHalves = (a: Code, b: Code) => shuffle(a, b, [...range(0, 8), ...range(16, 8)]);
const load32Splat = (addr: Code) => [...addr, 0xfd, ...uleb(0x09), 2, 0];
const store32Lane0 = (addr: Code, value: Code) => [...addr, ...value, 0xfd, ...uleb(0x5a), 2, 0, 0];
const i32Load = (addr: Code) => [...addr, 0x28, 2, 0];
const i32Store = (addr: Code, value: Code) => [...addr, ...value, 0x36, 2, 0];
const i32Or = (a: Code, b: Code): Code => [...a, ...b, 0x72];

/**
 * Byte layout of the module's memory: the global constants (ten f64x2 pairs), the per-channel
 * constants (four f64x2 pairs per channel: inv, m, half, 2^-e), the flag word and the block.
 */
const GLOBALS = 0;
const G = { half: 0, one: 1, limit: 2, negLimit: 3, two30: 4, inv31: 5, zOut: 6, qmin: 7, qmax: 8, sOut: 9, zero: 10 } as const;
const GLOBAL_SLOTS = 11;
const FLAG = GLOBALS + 16 * GLOBAL_SLOTS;
const CHANNELS = 256;
const CHANNEL_BYTES = 64;
/** Channels whose constants fit at once (more are staged in groups). */
export const MAX_CHANNELS = 4096;
const BLOCK = 16384;
const DATA = CHANNELS + MAX_CHANNELS * CHANNEL_BYTES;
const PAGES = Math.ceil((DATA + BLOCK * 4) / 65536);

/** rq(ptr, count, cst): requantizes `count` floats at ptr in place with the channel constants at cst. */
function kernel() {
  return defineFunction('rq', { ptr: 'i32', count: 'i32', cst: 'i32' }, {
    i: 'i32', end4: 'i32', bad: 'v128', x: 'v128', lo: 'v128', hi: 'v128', fl: 'v128', acc: 'v128', high: 'v128', t: 'v128',
    inv: 'v128', m: 'v128', half: 'v128', pot: 'v128',
    ...Object.fromEntries(Object.keys(G).map((k) => [`g_${k}`, 'v128'])) as Record<`g_${keyof typeof G}`, 'v128'>,
  }, (v) => {
    const g = local.get, set = local.set;
    const slots = Object.entries(G) as [keyof typeof G, number][];
    const c = (slot: number) => g(v[`g_${slots.find(([, s]) => s === slot)![0]}`]);
    /** The element pipeline on the f64x2 in local x; leaves float64 results in local t. */
    const pipeline = (): Code[] => [
      set(v.x, f64x2.mul(g(v.x), g(v.inv))),
      set(v.fl, f64x2.floor(g(v.x))),
      set(v.acc, f64x2.add(g(v.fl), v128.and(f64x2.ge(f64x2.sub(g(v.x), g(v.fl)), c(G.half)), c(G.one)))),
      set(v.bad, v128.or(g(v.bad), not(v128.and(f64x2.lt(g(v.acc), c(G.limit)), f64x2.gt(g(v.acc), c(G.negLimit)))))),
      set(v.high, f64x2.floor(f64x2.mul(f64x2.add(f64x2.mul(g(v.acc), g(v.m)), c(G.two30)), c(G.inv31)))),
      set(v.t, v128.bitselect(
        f64x2.floor(f64x2.mul(f64x2.add(g(v.high), g(v.half)), g(v.pot))),
        f64x2.neg(f64x2.floor(f64x2.mul(f64x2.sub(g(v.half), g(v.high)), g(v.pot)))),
        f64x2.ge(g(v.high), c(G.zero)),
      )),
      set(v.t, f64x2.add(g(v.t), c(G.zOut))),
      set(v.t, v128.bitselect(c(G.qmin), v128.bitselect(c(G.qmax), g(v.t), f64x2.gt(g(v.t), c(G.qmax))), f64x2.lt(g(v.t), c(G.qmin)))),
      set(v.t, f64x2.mul(f64x2.sub(g(v.t), c(G.zOut)), c(G.sOut))),
    ];
    const addr = i32.add(g(v.ptr), i32.shl(g(v.i), i32.const(2)));
    return [
      ...slots.map(([k, slot]) => set(v[`g_${k}`], v128.load(i32.const(GLOBALS), 16 * slot))),
      set(v.inv, v128.load(g(v.cst), 0)),
      set(v.m, v128.load(g(v.cst), 16)),
      set(v.half, v128.load(g(v.cst), 32)),
      set(v.pot, v128.load(g(v.cst), 48)),
      set(v.bad, v128.zero()),
      set(v.end4, i32.and(g(v.count), i32.const(-4))),
      forLoop(v.i, i32.const(0), g(v.end4), 4, [
        set(v.lo, v128.load(addr)),
        set(v.x, f64x2.promoteLow(highHalf(g(v.lo)))),
        ...pipeline(),
        set(v.hi, demote(g(v.t))),
        set(v.x, f64x2.promoteLow(g(v.lo))),
        ...pipeline(),
        v128.store(addr, lowHalves(demote(g(v.t)), g(v.hi))),
      ]),
      forLoop(v.i, g(v.end4), g(v.count), 1, [
        set(v.x, f64x2.promoteLow(load32Splat(addr))),
        ...pipeline(),
        store32Lane0(addr, demote(g(v.t))),
      ]),
      i32Store(i32.const(FLAG), i32Or(i32Load(i32.const(FLAG)), anyTrue(g(v.bad)))),
    ];
  }, true);
}

interface Instance {
  rq: (ptr: number, count: number, cst: number) => void;
  f32: Float32Array;
  f64: Float64Array;
  i32: Int32Array;
}
let inst: Instance | null | undefined;

/** The instance, built on first use; null where WebAssembly SIMD is missing. */
function instance(): Instance | null {
  if (inst !== undefined) return inst;
  const m = emit.instantiatePrivate([kernel()], PAGES);
  inst = m && { rq: m.exports.rq as Instance['rq'], f32: new Float32Array(m.memory.buffer), f64: new Float64Array(m.memory.buffer), i32: new Int32Array(m.memory.buffer) };
  return inst;
}

/** Per-channel constants of the inline road (requant-sim.ts): 1/(s_in·s_w), multiplier, 2^e/2, 2^-e. */
export interface RequantChannels {
  inv: Float64Array;
  multiplier: Int32Array;
  /** The engine's shift per channel; the kernel takes channels with shift ≤ 0 only. */
  shift: Int32Array;
}

export interface RequantOutput {
  sOut: number;
  zOut: number;
  qmin: number;
  qmax: number;
}

/**
 * out = the requantized v ([N, O, inner] contiguous, channel o's constants at index o), or false
 * where the kernel does not apply (no SIMD, too many channels, a positive shift, or an
 * accumulator off the inline road): then out holds garbage and the caller runs the reference.
 */
export function requantWasm(v: Float32Array, out: Float32Array, O: number, inner: number, ch: RequantChannels, p: RequantOutput): boolean {
  if (O > MAX_CHANNELS || O === 0 || inner === 0) return false;
  for (let o = 0; o < O; o++) if (ch.shift[o] > 0) return false;
  const w = instance();
  if (!w) return false;
  const { f32, f64, i32: words, rq } = w;
  const globals: Record<keyof typeof G, number> = {
    half: 0.5, one: 1, limit: 2 ** 21, negLimit: -(2 ** 21), two30: 2 ** 30, inv31: 2 ** -31,
    zOut: p.zOut, qmin: p.qmin, qmax: p.qmax, sOut: Math.fround(p.sOut), zero: 0,
  };
  for (const [k, val] of Object.entries(globals)) f64.fill(val, (GLOBALS + 16 * G[k as keyof typeof G]) / 8, (GLOBALS + 16 * G[k as keyof typeof G]) / 8 + 2);
  for (let o = 0; o < O; o++) {
    const e = Math.max(-ch.shift[o], 0);
    const base = (CHANNELS + o * CHANNEL_BYTES) / 8;
    f64.fill(ch.inv[o], base, base + 2);
    f64.fill(ch.multiplier[o], base + 2, base + 4);
    f64.fill(2 ** e / 2, base + 4, base + 6);
    f64.fill(1 / 2 ** e, base + 6, base + 8);
  }
  words[FLAG / 4] = 0;
  const total = v.length, D = DATA / 4;
  for (let start = 0; start < total; start += BLOCK) {
    const n = Math.min(BLOCK, total - start);
    f32.set(v.subarray(start, start + n), D);
    for (let i = start; i < start + n;) {
      const row = Math.floor(i / inner);
      const end = Math.min((row + 1) * inner, start + n);
      rq(DATA + (i - start) * 4, end - i, CHANNELS + (row % O) * CHANNEL_BYTES);
      i = end;
    }
    out.set(f32.subarray(D, D + n), start);
  }
  return words[FLAG / 4] === 0;
}
