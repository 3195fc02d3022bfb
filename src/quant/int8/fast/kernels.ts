/**
 * WebAssembly SIMD kernels of the int8 inference engine's fast path (./program.ts), written with
 * the emitter the wasm backend exports (src/tensor/wasm/emit.ts). A module separate from that
 * backend's gemm module:
 * it is generated per model architecture (each conv2d / linear layer gets a function with its
 * geometry folded into constant address offsets), imports an unshared memory, and each model
 * instantiates it over a memory of its own, where its packed weights stay for its lifetime.
 * Compiled modules are cached by architecture, so models of one architecture compile once.
 *
 * conv<i>: conv2d and linear as an implicit GEMM with no im2col and no packing of activations,
 * followed by the fixed-point output stage:
 *
 *   Activations are int16 values (level - zero point), pixel-major in channel pairs,
 *   [Hs, Ws, ceil(C/2), 2]: the channels 2cp and 2cp+1 of a pixel share one 32-bit word, the
 *   operand layout of i32x4.dot_i16x8_s. A "k-pair" kk of the reduction is one (kh, kw, channel
 *   pair); the input word of the output pixel at byte address p is at p + tap[kk].
 *
 *   Weights are packed per tile of 8 output channels: for every kk, the 8 channels' pairs
 *   (w[o, 2cp, kh, kw], w[o, 2cp+1, kh, kw]) as 8 int16 pairs = two v128 (zeros for channels that
 *   do not exist or belong to another group, so groups and odd channel counts need no special code).
 *
 *   The micro-kernel holds 4 pixels × 8 channels in eight i32x4 accumulators. Per kk it loads the
 *   two weight vectors, broadcasts each pixel's input word (v128.load32_splat) and does 8
 *   dot_i16x8_s + 8 adds: 64 multiply-adds per 6 loads, the 4 pixels at constant offsets from one
 *   address, in 11 of the 15 xmm registers V8 allocates. A quad is 4 pixels at constant offsets
 *   from a base taken from a table: 4 consecutive output pixels of a row, 4 images (linear), or the
 *   positions of a pooling window, whose pooled accumulator is then i32x4.max_s of the four, taken
 *   before requantizing (the output stage is non-decreasing, see src/quant/int8/kernels.ts).
 *
 *   Output stage, 4 channels per i32x4, bit-exact with multiplyByQuantizedMultiplier of
 *   src/quant/numerics (TFLite's MultiplyByQuantizedMultiplier) under the engine's preconditions
 *   (multiplier >= 0, |acc + bias| · 2^leftShift < 2^30, which fast.ts checks per layer):
 *     x = (acc + bias) · 2^leftShift                          (i32x4.mul: per-lane shifts)
 *     h = floor((x · m + 2^30) / 2^31)                        SaturatingRoundingDoublingHighMul, in i64x2
 *     r = floor((h + 2^(e-1) - [h < 0]) / 2^e)                RoundingDivideByPOT(h, e), e = rightShift
 *       = floor((h + c) · 2^(30-e) / 2^30)                    a per-lane shift as a multiply, in i64x2
 *     y = clamp(r, qmin - zp, qmax - zp)                      stored as the next layer's int16 value
 *   (for e = 0, c = 0; for e = 31, |h| < 2^30 gives r = 0, which the factor 0 produces.) The
 *   64-bit right shifts are logical: bits 31..62 (30..61) of the two's complement value are the
 *   low 32 bits of the arithmetic shift, and the result fits in int32.
 *
 * winoIn<i> / wino<i>: a 3x3 conv2d fused with its 2x2 max pool as Winograd F(2x2, 3x3), in exact
 * integer arithmetic (see fast.ts); the products use conv<i>'s micro-kernel.
 *
 * quantize: float32 input -> int16 values, with the float arithmetic of src/quant/numerics
 * quantize (float32 product with float32(1/scale), round to nearest with the named tie rule,
 * clamp); pair_columns: column pairs for a single-channel input; relu16: max(v, 0). Tested, not
 * generated: test/quant/int8/fast.test.ts checks the whole fast path, quantize included (ties,
 * both roundings, non-finite inputs), bit for bit against the reference engine, whose quantize is
 * src/quant/numerics' one definition.
 *
 * Code generation note: TurboFan schedules a block's loads ahead of its arithmetic, so the inner
 * loops do one k-pair per iteration (an unrolled block would keep every loaded vector live and
 * spill the accumulators).
 */
import { emit } from '../../../tensor/wasm/index.js';
import { STAGE_HALF_BYTES, type RequantSpec } from './stage.js';

type Code = emit.Code;
type FuncSpec = emit.FuncSpec;
const { buildModule, defineFunction, doWhile, forLoop, i32, ifElse, local, uleb, v128, whileLoop } = emit;

const simd = (op: number): Code => [0xfd, ...uleb(op)];
const bi = (op: number) => (a: Code, b: Code): Code => [...a, ...b, ...simd(op)];
const un = (op: number) => (a: Code): Code => [...a, ...simd(op)];

/** The SIMD instructions this module needs beyond emit.ts (opcodes of the final WebAssembly SIMD proposal). */
const S = {
  dot: bi(0xba), // i32x4.dot_i16x8_s
  add32: bi(0xae),
  mul32: bi(0xb5),
  max32: bi(0xb8),
  min32: bi(0xb6),
  shl32: (a: Code, n: Code): Code => [...a, ...n, ...simd(0xab)],
  shrS32: (a: Code, n: Code): Code => [...a, ...n, ...simd(0xac)],
  add64: bi(0xce),
  shrU64: (a: Code, n: Code): Code => [...a, ...n, ...simd(0xcd)],
  extmulLow: bi(0xdc), // i64x2.extmul_low_i32x4_s
  extmulHigh: bi(0xdd),
  narrow16: bi(0x85), // i16x8.narrow_i32x4_s
  max16: bi(0x98), // i16x8.max_s
  sub32: bi(0xb1),
  add16: bi(0x8e),
  sub16: bi(0x91),
  and: bi(0x4e),
  or: bi(0x50),
  anyTrue: un(0x53),
  f32Add: bi(0xe4),
  f32Sub: bi(0xe5),
  f32Mul: bi(0xe6),
  f32Min: bi(0xe8),
  f32Max: bi(0xe9),
  f32Abs: un(0xe0),
  f32Eq: bi(0x41),
  f32Ne: bi(0x42),
  f32Trunc: un(0x69),
  f32Nearest: un(0x6a),
  truncSat: un(0xf8), // i32x4.trunc_sat_f32x4_s
  /** i8x16.shuffle taking the low 32 bits of each 64-bit lane of a, then of b. */
  lowWords: (a: Code, b: Code): Code => [...a, ...b, ...simd(0x0d), 0, 1, 2, 3, 8, 9, 10, 11, 16, 17, 18, 19, 24, 25, 26, 27],
  i64x2Const: (v: number): Code => {
    // 0 <= v < 2^32, as two little-endian 64-bit lanes.
    const lane = [v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, (v >>> 24) & 0xff, 0, 0, 0, 0];
    return [...simd(0x0c), ...lane, ...lane];
  },
};
const i32store = (addr: Code, value: Code, offset = 0): Code => [...addr, ...value, 0x36, 2, ...uleb(offset)];
const gtS = (a: Code, b: Code): Code => [...a, ...b, 0x4a];
/** v128.store32_lane: stores lane `lane` of value (4 bytes) at addr + offset. */
const store32Lane = (addr: Code, value: Code, lane: number, offset = 0): Code => [...addr, ...value, ...simd(0x5a), 2, ...uleb(offset), lane];

/** Bytes of one tile descriptor (eight i32, see convFunction). */
export const TILE_BYTES = 32;
/** Bytes of the packed weights of one kk for one tile: 8 channels × an int16 pair. */
export const KK_WEIGHT_BYTES = 32;
/** Bytes of quantize's parameter block: inv, lo, hi (f32x4) and the ties-away mask (i32x4). */
export const QUANTIZE_PARAM_BYTES = 64;

/** The constants one conv<i> function is generated for (all offsets in bytes, non-negative). */
export interface ConvKernelSpec {
  /** Offsets of the quad's 4 pixels from its base (repeat one to compute fewer). */
  pixels: [number, number, number, number];
  /**
   * 0: the k-pairs' offsets come from the tile's tap table; > 0: k-pair kk is at kk·stride (one
   * input word after the other for a linear layer, one plane after the other for a 1x1 conv).
   */
  stride: number;
  /** 'pool': one output per quad, the max of its 4 pixels; 'each': 4 outputs. */
  mode: 'pool' | 'each';
  /** The output stage's form (./stage.ts). */
  requant: RequantSpec;
}

/** Locals the output stage uses: the stage pointer, nPairs, the destination, and four v128 temporaries. */
interface StageLocals {
  st: number;
  np: number;
  dst: number;
  s: number;
  h: number;
  lo: number;
  hi: number;
}

/**
 * The output stage of 4 channels in `src` with the constants at st + base (./stage.ts); leaves the
 * result in local h. 'oneShift': x' = (acc + bias)·f, floor((x'·m + K) / 2^31) from the low words
 * of the 64-bit sums shifted by 31, then an arithmetic shift by E, then the clamp.
 */
function requantCode(l: StageLocals, src: Code, base: number, mode: RequantSpec): Code[] {
  const g = local.get, set = local.set;
  const c = (i: number): Code => v128.load(g(l.st), base + 16 * i);
  const x = S.add32(src, c(0));
  if (mode.kind === 'oneShift') {
    const high = S.lowWords(
      S.shrU64(S.add64(S.extmulLow(g(l.h), c(2)), c(3)), i32.const(31)),
      S.shrU64(S.add64(S.extmulHigh(g(l.h), c(2)), c(4)), i32.const(31)),
    );
    return [
      set(l.h, mode.scale ? S.mul32(x, c(1)) : x),
      set(l.h, S.min32(S.max32(mode.shift > 0 ? S.shrS32(high, i32.const(mode.shift)) : high, c(6)), c(7))),
    ];
  }
  return [
    set(l.h, mode.leftShift ? S.mul32(x, c(1)) : x),
    set(l.lo, S.shrU64(S.add64(S.extmulLow(g(l.h), c(2)), S.i64x2Const(2 ** 30)), i32.const(31))),
    set(l.hi, S.shrU64(S.add64(S.extmulHigh(g(l.h), c(2)), S.i64x2Const(2 ** 30)), i32.const(31))),
    set(l.h, S.lowWords(g(l.lo), g(l.hi))),
    // + 2^(e-1) - [h < 0] (the sign mask is 0 when e = 0)
    set(l.h, S.add32(g(l.h), S.add32(c(3), S.and(S.shrS32(g(l.h), i32.const(31)), c(4))))),
    set(l.lo, S.shrU64(S.extmulLow(g(l.h), c(5)), i32.const(30))),
    set(l.hi, S.shrU64(S.extmulHigh(g(l.h), c(5)), i32.const(30))),
    set(l.h, S.min32(S.max32(S.lowWords(g(l.lo), g(l.hi)), c(6)), c(7))),
  ];
}

/** Requantize 8 channels (two halves) and store their nPairs channel pairs at dst. */
function finishCode(l: StageLocals, half0: Code, half1: Code, mode: RequantSpec): Code[] {
  const g = local.get, set = local.set;
  return [
    ...requantCode(l, half0, 0, mode),
    set(l.s, g(l.h)),
    ...requantCode(l, half1, STAGE_HALF_BYTES, mode),
    set(l.s, S.narrow16(g(l.s), g(l.h))),
    ifElse(i32.eqz(i32.sub(g(l.np), i32.const(4))), [v128.store(g(l.dst), g(l.s))], [
      store32Lane(g(l.dst), g(l.s), 0),
      ifElse(i32.gtU(g(l.np), i32.const(1)), [
        store32Lane(g(l.dst), g(l.s), 1, 4),
        ifElse(i32.gtU(g(l.np), i32.const(2)), [store32Lane(g(l.dst), g(l.s), 2, 8)], []),
      ], []),
    ]),
  ];
}

/**
 * conv<i>(inBase, inStride, outBase, outStride, images, quads, nQuads, outOffs, tiles, nTiles)
 *
 * For each image n < images (input at inBase + n·inStride, output at outBase + n·outStride), each
 * quad q < nQuads (its base offset at quads + 4q) and each tile t < nTiles (descriptor at
 * tiles + 32t: wPtr, first (bytes added to the base), K2 >= 1 k-pairs, stagePtr, outOff,
 * nPairs in 1..4, -, tapPtr):
 *
 *   acc[j][o] = Σ_kk dot(word at base + first + tap[kk] + pixels[j], w[kk][o])
 *
 * with tap[kk] = kk·stride, or read from the table at tapPtr when stride is 0.
 *
 * then, 'pool': one output max_j acc[j] at outOffs[q]; 'each': four outputs acc[j] at
 * outOffs[4q + j], stored for j = 3, 2, 1, 0 in that order. An output of 8 channels is
 * requantized with the constants at stagePtr (two halves of 8 v128: bias, 2^leftShift,
 * multiplier, rounding addend, sign mask, 2^(30 - e), lo, hi)
 * and its nPairs channel pairs stored as consecutive 32-bit words at out + outOff.
 */
function convFunction(name: string, spec: ConvKernelSpec): FuncSpec {
  return defineFunction(
    name,
    {
      inBase: 'i32', inStride: 'i32', outBase: 'i32', outStride: 'i32', images: 'i32',
      quads: 'i32', nQuads: 'i32', outOffs: 'i32', tiles: 'i32', nTiles: 'i32',
    },
    {
      n: 'i32', q: 'i32', t: 'i32', inImg: 'i32', outImg: 'i32', base: 'i32', td: 'i32',
      p: 'i32', a: 'i32', w: 'i32', wEnd: 'i32', tp: 'i32', st: 'i32', dst: 'i32', np: 'i32',
      a00: 'v128', a01: 'v128', a10: 'v128', a11: 'v128', a20: 'v128', a21: 'v128', a30: 'v128', a31: 'v128',
      w0: 'v128', w1: 'v128', s: 'v128', lo: 'v128', hi: 'v128', h: 'v128',
    },
    (l) => {
      const g = local.get, set = local.set;
      const accs = accumulators(l);
      // One k-pair: the 4 pixels' words at constant offsets from one address. The first (every
      // tile has one) sets the accumulators, the loop adds the others.
      const step = (first: boolean): Code[] => {
        const code: Code[] = [];
        if (spec.stride === 0) {
          code.push(set(l.a, i32.add(g(l.p), i32.load(g(l.tp)))), set(l.tp, i32.add(g(l.tp), i32.const(4))));
        }
        code.push(...dotStep(l, accs, spec.stride === 0 ? l.a : l.p, spec.pixels, first));
        if (spec.stride !== 0) code.push(set(l.p, i32.add(g(l.p), i32.const(spec.stride))));
        code.push(set(l.w, i32.add(g(l.w), i32.const(KK_WEIGHT_BYTES))));
        return code;
      };
      const epilogue = convEpilogue(l, accs, spec);

      return [
        forLoop(l.n, i32.const(0), g(l.images), 1, [
          set(l.inImg, i32.add(g(l.inBase), i32.mul(g(l.n), g(l.inStride)))),
          set(l.outImg, i32.add(g(l.outBase), i32.mul(g(l.n), g(l.outStride)))),
          forLoop(l.q, i32.const(0), g(l.nQuads), 1, [
            set(l.base, i32.add(g(l.inImg), i32.load(i32.add(g(l.quads), i32.mul(g(l.q), i32.const(4)))))),
            forLoop(l.t, i32.const(0), g(l.nTiles), 1, [
              set(l.td, i32.add(g(l.tiles), i32.mul(g(l.t), i32.const(TILE_BYTES)))),
              set(l.w, i32.load(g(l.td))),
              set(l.p, i32.add(g(l.base), i32.load(g(l.td), 4))),
              set(l.wEnd, i32.add(g(l.w), i32.mul(i32.load(g(l.td), 8), i32.const(KK_WEIGHT_BYTES)))),
              set(l.st, i32.load(g(l.td), 12)),
              set(l.np, i32.load(g(l.td), 20)),
              set(l.tp, i32.load(g(l.td), 28)),
              ...step(true),
              whileLoop(i32.ltU(g(l.w), g(l.wEnd)), step(false)),
              ...epilogue,
            ]),
          ]),
        ]),
      ];
    },
    true,
  );
}

/** The 4 x 2 accumulators of the micro-kernel (4 pixels, 8 channels in two halves). */
function accumulators(l: Record<string, number>): [number, number][] {
  return [[l.a00, l.a01], [l.a10, l.a11], [l.a20, l.a21], [l.a30, l.a31]];
}

/**
 * One k-pair of the GEMM micro-kernel shared by conv<i> and wino<i>: the weight pairs of 8
 * channels (w0, w1 at w) times the word of each of 4 pixels (at `at` + offsets[j], splat), added
 * into the accumulators with i32x4.dot_i16x8_s; the first k-pair of a tile (first) sets them
 * instead, which spares zeroing 8 registers and 8 adds per tile.
 */
function dotStep(l: Record<string, number>, accs: [number, number][], at: number, offsets: readonly number[], first = false): Code[] {
  const g = local.get, set = local.set;
  const out: Code[] = [set(l.w0, v128.load(g(l.w))), set(l.w1, v128.load(g(l.w), 16))];
  for (let j = 0; j < 4; j++) {
    out.push(
      set(l.s, v128.load32Splat(g(at), offsets[j])),
      set(accs[j][0], first ? S.dot(g(l.s), g(l.w0)) : S.add32(g(accs[j][0]), S.dot(g(l.s), g(l.w0)))),
      set(accs[j][1], first ? S.dot(g(l.s), g(l.w1)) : S.add32(g(accs[j][1]), S.dot(g(l.s), g(l.w1)))),
    );
  }
  return out;
}

/** conv<i>'s output: 'pool', the max of the 4 accumulators at outOffs[q]; 'each', 4 outputs. */
function convEpilogue(l: StageLocals & Record<string, number>, accs: [number, number][], spec: ConvKernelSpec): Code[] {
  const g = local.get, set = local.set;
  const finish = (half0: Code, half1: Code): Code[] => finishCode(l, half0, half1, spec.requant);
  const max4 = (h: number): Code => S.max32(S.max32(g(accs[0][h]), g(accs[1][h])), S.max32(g(accs[2][h]), g(accs[3][h])));
  const outOff = i32.load(g(l.td), 16);
  if (spec.mode === 'pool') {
    return [
      set(l.dst, i32.add(g(l.outImg), i32.add(i32.load(i32.add(g(l.outOffs), i32.mul(g(l.q), i32.const(4)))), outOff))),
      ...finish(max4(0), max4(1)),
    ];
  }
  // Last pixel first: a pixel that is not there (past the end of a row) is directed to
  // pixel 0's place, which is then written last.
  const epilogue: Code[] = [];
  for (let j = 3; j >= 0; j--) {
    epilogue.push(
      set(l.dst, i32.add(g(l.outImg), i32.add(i32.load(i32.add(g(l.outOffs), i32.mul(g(l.q), i32.const(16))), 4 * j), outOff))),
      ...finish(g(accs[j][0]), g(accs[j][1])),
    );
  }
  return epilogue;
}

/**
 * Quantize 4 floats into local `into`: nearest (ties to even), or on an exact tie with ties away
 * from zero, trunc + 2·(x - trunc) = trunc ± 1; then clamp to [lo, hi]. NaN sets the nan lanes.
 * A module built for ties to even only (tiesAway false) leaves out the tie test.
 */
function quantize4(l: Record<string, number>, x: Code, into: number, tiesAway: boolean): Code[] {
  const g = local.get, set = local.set;
  const half = v128.i32Const([0x3f000000, 0x3f000000, 0x3f000000, 0x3f000000]); // 0.5f
  const head = [
    set(l.t, S.f32Mul(x, g(l.inv))),
    set(l.nan, S.or(g(l.nan), S.f32Ne(g(l.t), g(l.t)))),
  ];
  const clamp = set(into, S.truncSat(S.f32Max(S.f32Min(g(into), g(l.hi)), g(l.lo))));
  if (!tiesAway) return [...head, set(into, S.f32Nearest(g(l.t))), clamp];
  return [
    ...head,
    set(l.tr, S.f32Trunc(g(l.t))),
    set(l.dd, S.f32Sub(g(l.t), g(l.tr))),
    set(into, v128.bitselect(
      S.f32Add(g(l.tr), S.f32Add(g(l.dd), g(l.dd))),
      S.f32Nearest(g(l.t)),
      S.and(S.f32Eq(S.f32Abs(g(l.dd)), half), g(l.away)),
    )),
    clamp,
  ];
}

/** One step along a row of quantize: 4 pixels of channels c, c + 1 into their channel-pair words. */
function quantizeStep(l: Record<string, number>, tiesAway: boolean): Code[] {
  const g = local.get, set = local.set;
  const low16 = v128.i32Const([0xffff, 0xffff, 0xffff, 0xffff]);
  const pixel = (k: number): Code => (k === 0 ? g(l.d) : i32.add(g(l.d), i32.mul(g(l.dstPixel), i32.const(k))));
  return [
    ...quantize4(l, v128.load(i32.add(g(l.r0), g(l.x))), l.v0, tiesAway),
    // A missing second channel (odd C) is 0, which quantizes to the value 0 (lo <= 0 <= hi).
    ifElse(g(l.r1), quantize4(l, v128.load(i32.add(g(l.r1), g(l.x))), l.v1, tiesAway), [set(l.v1, v128.zero())]),
    set(l.v0, S.or(S.and(g(l.v0), low16), S.shl32(g(l.v1), i32.const(16)))),
    ifElse(i32.and(i32.eqz(i32.sub(g(l.dstPixel), i32.const(4))), i32.gtU(g(l.left), i32.const(3))), [
      v128.store(g(l.d), g(l.v0)),
    ], [
      store32Lane(pixel(0), g(l.v0), 0),
      ifElse(i32.gtU(g(l.left), i32.const(1)), [store32Lane(pixel(1), g(l.v0), 1)], []),
      ifElse(i32.gtU(g(l.left), i32.const(2)), [store32Lane(pixel(2), g(l.v0), 2)], []),
      ifElse(i32.gtU(g(l.left), i32.const(3)), [store32Lane(pixel(3), g(l.v0), 3)], []),
    ]),
    set(l.d, pixel(4)),
    set(l.x, i32.add(g(l.x), i32.const(16))),
    set(l.left, i32.sub(g(l.left), i32.const(4))),
  ];
}

/**
 * quantize(src, srcImage, dst, dstImage, images, C, H, W, dstRow, dstPixel, params, flag):
 * float32 images [C, H, W] at src + n·srcImage (bytes) -> int16 values at dst + n·dstImage in the
 * pixel-major channel-pair layout (the word of channels c, c + 1 at pixel (h, w) at
 * dst + h·dstRow + w·dstPixel + 2c, the interior's origin already added to dst):
 * v = clamp(round(float32(x · inv)), lo, hi) with lo = qmin - zp, hi = qmax - zp and round to
 * nearest, ties to even or (mask set) away from zero; a missing second channel (odd C) is 0. Rows
 * are read 4 floats at a time (up to 3 past their end, which must be readable) and written
 * exactly. flag receives 1 if some x was NaN.
 */
function quantizeFunction(tiesAway: boolean): FuncSpec {
  return defineFunction(
    'quantize',
    {
      src: 'i32', srcImage: 'i32', dst: 'i32', dstImage: 'i32', images: 'i32', C: 'i32', H: 'i32', W: 'i32',
      dstRow: 'i32', dstPixel: 'i32', params: 'i32', flag: 'i32',
    },
    {
      n: 'i32', c: 'i32', h: 'i32', x: 'i32', r0: 'i32', r1: 'i32', d: 'i32', dEnd: 'i32', image: 'i32', left: 'i32',
      inv: 'v128', lo: 'v128', hi: 'v128', away: 'v128', nan: 'v128', v0: 'v128', v1: 'v128', t: 'v128', tr: 'v128', dd: 'v128',
    },
    (l) => {
      const g = local.get, set = local.set;
      return [
        set(l.inv, v128.load(g(l.params))),
        set(l.lo, v128.load(g(l.params), 16)),
        set(l.hi, v128.load(g(l.params), 32)),
        set(l.away, v128.load(g(l.params), 48)),
        set(l.nan, v128.zero()),
        forLoop(l.n, i32.const(0), g(l.images), 1, [
          set(l.image, i32.add(g(l.dst), i32.mul(g(l.n), g(l.dstImage)))),
          forLoop(l.c, i32.const(0), g(l.C), 2, [
            forLoop(l.h, i32.const(0), g(l.H), 1, [
              // Rows of channels c and c + 1.
              set(l.r0, i32.add(i32.add(g(l.src), i32.mul(g(l.n), g(l.srcImage))), i32.mul(i32.add(i32.mul(g(l.c), g(l.H)), g(l.h)), i32.mul(g(l.W), i32.const(4))))),
              set(l.r1, i32.const(0)),
              ifElse(i32.ltU(i32.add(g(l.c), i32.const(1)), g(l.C)), [
                set(l.r1, i32.add(g(l.r0), i32.mul(i32.mul(g(l.H), g(l.W)), i32.const(4)))),
              ], []),
              set(l.d, i32.add(i32.add(g(l.image), i32.mul(g(l.h), g(l.dstRow))), i32.mul(g(l.c), i32.const(2)))),
              set(l.x, i32.const(0)),
              set(l.left, g(l.W)),
              doWhile(quantizeStep(l, tiesAway), gtS(g(l.left), i32.const(0))),
            ]),
          ]),
        ]),
        i32store(g(l.flag), S.anyTrue(g(l.nan))),
      ];
    },
    true,
  );
}

/**
 * pairColumns(ptr, words, dw): in place, word[i] = (lo16(word[i]), lo16(word[i + dw])), for the
 * words [0, words) (a multiple of 4) in increasing order, reading up to dw + 3 words past them: turns a
 * single channel's words (x, 0) into column pairs (x[h, w], x[h, w + dw]), see fast.ts.
 */
function pairColumns(): FuncSpec {
  return defineFunction(
    'pair_columns',
    { ptr: 'i32', words: 'i32', dw: 'i32' },
    { p: 'i32', end: 'i32', off: 'i32' },
    (l) => {
      const g = local.get, set = local.set;
      return [
        set(l.end, i32.add(g(l.ptr), i32.mul(g(l.words), i32.const(4)))),
        set(l.off, i32.mul(g(l.dw), i32.const(4))),
        forLoop(l.p, g(l.ptr), g(l.end), 16, [
          v128.store(g(l.p), S.or(
            S.and(v128.load(g(l.p)), v128.i32Const([0xffff, 0xffff, 0xffff, 0xffff])),
            S.shl32(v128.load(i32.add(g(l.p), g(l.off))), i32.const(16)),
          )),
        ]),
      ];
    },
    true,
  );
}

/** The constants the im2col function is generated for (bytes). */
export interface TapPairSpec {
  /** Offsets of the taps from a receptive field's corner in the input, two per output word (a missing last tap repeats the one before, and gets weight 0). */
  taps: number[];
  /** Bytes from one output plane (word j of every pixel) to the next. */
  planeBytes: number;
}

/**
 * im2col(src, srcImage, srcRow, dst, dstImage, images, OH, OW): the tap pairs of a conv over a
 * single channel with unit stride along W, in planes: word j of output pixel (oh, ow) of image n,
 * at dst + n·dstImage + j·planeBytes + 4·(oh·OW + ow), is (x[p + taps[2j]],
 * x[p + taps[2j + 1]]) with p = src + n·srcImage + oh·srcRow + 4·ow, x the low half of an input
 * word (x, 0). The conv is then a 1x1 conv over ceil(KH·KW / 2) channel pairs, whose k-pairs are
 * consecutive words (the kernel's stride mode: no tap table, no zero half of a pair wasted at
 * the end of every kernel row). Four output pixels per step (a v128 store per plane), taps baked
 * in as constant offsets; a row's last step writes up to 3 words past it (the next row's,
 * rewritten after, or the plane's padding) and reads up to 3 input words past its last receptive field.
 */
function im2colFunction(spec: TapPairSpec): FuncSpec {
  return defineFunction(
    'im2col',
    { src: 'i32', srcImage: 'i32', srcRow: 'i32', dst: 'i32', dstImage: 'i32', images: 'i32', OH: 'i32', OW: 'i32' },
    { n: 'i32', oh: 'i32', ow: 'i32', s: 'i32', d: 'i32', v: 'v128' },
    (l) => {
      const g = local.get, set = local.set;
      const P = spec.taps.length / 2;
      const words: Code[] = [];
      for (let j = 0; j < P; j++) {
        words.push(v128.store(g(l.d), S.or(v128.load(g(l.s), spec.taps[2 * j]), S.shl32(v128.load(g(l.s), spec.taps[2 * j + 1]), i32.const(16))), j * spec.planeBytes));
      }
      return [
        forLoop(l.n, i32.const(0), g(l.images), 1, [
          forLoop(l.oh, i32.const(0), g(l.OH), 1, [
            set(l.s, i32.add(i32.add(g(l.src), i32.mul(g(l.n), g(l.srcImage))), i32.mul(g(l.oh), g(l.srcRow)))),
            set(l.d, i32.add(i32.add(g(l.dst), i32.mul(g(l.n), g(l.dstImage))), i32.mul(i32.mul(g(l.oh), g(l.OW)), i32.const(4)))),
            forLoop(l.ow, i32.const(0), g(l.OW), 4, [
              ...words,
              set(l.s, i32.add(g(l.s), i32.const(16))),
              set(l.d, i32.add(g(l.d), i32.const(16))),
            ]),
          ]),
        ]),
      ];
    },
    true,
  );
}

/** The constants one wino<i> function is generated for (bytes). */
export interface WinogradKernelSpec {
  /** Bytes from one tile's transformed input to the next (its channel pairs, padded to a multiple of 4). */
  tileBytes: number;
  /** Bytes from one of the 16 transformed positions ξ to the next. */
  xiBytes: number;
  /** The input value's bytes per row and per pixel (winoIn<i>'s strides, constants in its code). */
  rowBytes: number;
  pixBytes: number;
  requant: RequantSpec;
}

/**
 * winoIn<i>(src, srcImage, images, PH, PW, rowBytes, pixBytes, groups, dst, tileBytes, xiBytes): the
 * input transform of Winograd's F(2x2, 3x3) (Lavin & Gray 2016), V = Bᵀ d B for the 4x4 patch d
 * at rows 2i.., columns 2j.. of each image (src already at the patch corner of tile (0, 0)), on
 * int16 values, 8 channels (4 words) at a time for `groups` groups: V[ξ = 4r + c] of tile
 * (n·PH + i)·PW + j is stored at dst + ξ·xiBytes + tile·tileBytes + 16·group. Integer adds only,
 * wrapping: |V| <= 4·max|d|, which fast.ts keeps within int16, so V is exact. Generated per layer:
 * the spec's rowBytes, pixBytes and xiBytes (equal to the arguments) are constant offsets of its
 * 16 loads and 16 stores, so a group costs no address arithmetic beyond its two base pointers.
 */
function winogradInput(name: string, spec: WinogradKernelSpec): FuncSpec {
  const e: Record<string, 'v128'> = {};
  for (let a = 0; a < 4; a++) for (let c = 0; c < 4; c++) e[`e${a}${c}`] = 'v128';
  return defineFunction(
    name,
    { src: 'i32', srcImage: 'i32', images: 'i32', PH: 'i32', PW: 'i32', rowBytes: 'i32', pixBytes: 'i32', groups: 'i32', dst: 'i32', tileBytes: 'i32', xiBytes: 'i32' },
    { n: 'i32', i: 'i32', j: 'i32', gr: 'i32', tile: 'i32', corner: 'i32', o: 'i32', tmp: 'v128', ...e },
    (l) => {
      const g = local.get, set = local.set;
      const ev = (a: number, c: number) => l[`e${a}${c}` as keyof typeof l];
      const sub = S.sub16, add = S.add16;
      /** Row a of the patch, times B on the right: e[a] = (d0 - d2, d1 + d2, d2 - d1, d1 - d3). */
      const row = (a: number): Code[] => {
        // The layer's row and pixel strides are constants: every address is corner + a constant offset.
        const d = (c: number): Code => v128.load(g(l.corner), a * spec.rowBytes + c * spec.pixBytes);
        return [
          set(ev(a, 0), d(0)), set(ev(a, 1), d(1)), set(ev(a, 2), d(2)), set(ev(a, 3), d(3)),
          set(ev(a, 0), sub(g(ev(a, 0)), g(ev(a, 2)))),
          set(ev(a, 3), sub(g(ev(a, 1)), g(ev(a, 3)))),
          set(l.tmp, g(ev(a, 1))),
          set(ev(a, 1), add(g(l.tmp), g(ev(a, 2)))),
          set(ev(a, 2), sub(g(ev(a, 2)), g(l.tmp))),
        ];
      };
      /** Store V[4r + c] for c = 0..3. */
      const put = (r: number, vals: Code[]): Code[] =>
        vals.map((v, c) => v128.store(g(l.o), v, spec.xiBytes * (4 * r + c)));
      const cols = [0, 1, 2, 3];
      return [
        forLoop(l.n, i32.const(0), g(l.images), 1, [
          forLoop(l.i, i32.const(0), g(l.PH), 1, [
            forLoop(l.j, i32.const(0), g(l.PW), 1, [
              forLoop(l.gr, i32.const(0), g(l.groups), 1, [
                set(l.corner, i32.add(
                  i32.add(g(l.src), i32.mul(g(l.n), g(l.srcImage))),
                  i32.add(i32.mul(i32.mul(g(l.i), i32.const(2)), g(l.rowBytes)), i32.add(i32.mul(i32.mul(g(l.j), i32.const(2)), g(l.pixBytes)), i32.mul(g(l.gr), i32.const(16)))),
                )),
                set(l.o, i32.add(g(l.dst), i32.add(i32.mul(g(l.tile), g(l.tileBytes)), i32.mul(g(l.gr), i32.const(16))))),
                // Bᵀ on the left: V0 = e0 - e2, V1 = e1 + e2, V2 = e2 - e1, V3 = e1 - e3 (rows).
                ...row(1), ...row(2),
                ...put(1, cols.map((c) => add(g(ev(1, c)), g(ev(2, c))))),
                ...put(2, cols.map((c) => sub(g(ev(2, c)), g(ev(1, c))))),
                ...row(0),
                ...put(0, cols.map((c) => sub(g(ev(0, c)), g(ev(2, c))))),
                ...row(3),
                ...put(3, cols.map((c) => sub(g(ev(1, c)), g(ev(3, c))))),
              ]),
              set(l.tile, i32.add(g(l.tile), i32.const(1))),
            ]),
          ]),
        ]),
      ];
    },
    true,
  );
}

/**
 * wino<i>(vBase, outBase, nQuads, outOffs, tiles, nTiles, scratch): the rest of a Winograd
 * F(2x2, 3x3) conv2d fused with its 2x2 max pool. For each quad of 4 tiles (q·4·tileBytes from
 * vBase) and each tile of 8 output channels (descriptor as conv<i>'s: wPtr, -, K2 channel pairs,
 * stagePtr, outOff, nPairs, -, -), the 16 products M[ξ] = Σ_cp U[ξ][cp]·V[ξ][cp] (the GEMM
 * micro-kernel of conv<i>, weights [ξ][cp][channel]) go to scratch (2 KiB), then per tile
 * Y = Aᵀ M A (4 outputs, exactly 4× the conv accumulators: U holds (2G) g (2G)ᵀ), the max of the
 * 4, an arithmetic shift by 2, and the output stage, stored at outBase + outOffs[4q + j] + outOff.
 */
/** Y = Aᵀ M A of the 16 M[ξ] vectors of one half at m + 128ξ + 16h, max over the 4 outputs, / 4: into local y0 or y1. */
function winogradOutput(l: Record<string, number>, h: number, into: number): Code[] {
  const M = (r: number, c: number): Code => v128.load(local.get(l.m), 128 * (4 * r + c) + 16 * h);
  const sub = S.sub32;
  // T0[c] = M0c + M1c + M2c, T1[c] = M1c - M2c - M3c; Y0v / Y1v from T0 / T1 likewise along c.
  const t0 = (c: number): Code => S.add32(S.add32(M(0, c), M(1, c)), M(2, c));
  const t1 = (c: number): Code => sub(sub(M(1, c), M(2, c)), M(3, c));
  const y = (t: (c: number) => Code): [Code, Code] => [S.add32(S.add32(t(0), t(1)), t(2)), sub(sub(t(1), t(2)), t(3))];
  const [y00, y01] = y(t0), [y10, y11] = y(t1);
  return [local.set(into, S.shrS32(S.max32(S.max32(y00, y01), S.max32(y10, y11)), i32.const(2)))];
}

function winogradFunction(name: string, spec: WinogradKernelSpec): FuncSpec {
  return defineFunction(
    name,
    { vBase: 'i32', outBase: 'i32', nQuads: 'i32', outOffs: 'i32', tiles: 'i32', nTiles: 'i32', scratch: 'i32' },
    {
      q: 'i32', t: 'i32', base: 'i32', td: 'i32', p: 'i32', pp: 'i32', w: 'i32', wEnd: 'i32', K2: 'i32', xi: 'i32', m: 'i32', j: 'i32',
      st: 'i32', dst: 'i32', np: 'i32', oo: 'i32',
      a00: 'v128', a01: 'v128', a10: 'v128', a11: 'v128', a20: 'v128', a21: 'v128', a30: 'v128', a31: 'v128',
      w0: 'v128', w1: 'v128', s: 'v128', lo: 'v128', hi: 'v128', h: 'v128', y0: 'v128', y1: 'v128',
    },
    (l) => {
      const g = local.get, set = local.set;
      const accs = accumulators(l);
      const T = spec.tileBytes;
      const step = (first: boolean): Code[] => [
        ...dotStep(l, accs, l.pp, [0, T, 2 * T, 3 * T], first),
        set(l.pp, i32.add(g(l.pp), i32.const(4))), set(l.w, i32.add(g(l.w), i32.const(KK_WEIGHT_BYTES))),
      ];

      return [
        forLoop(l.q, i32.const(0), g(l.nQuads), 1, [
          set(l.base, i32.add(g(l.vBase), i32.mul(g(l.q), i32.const(4 * T)))),
          forLoop(l.t, i32.const(0), g(l.nTiles), 1, [
            set(l.td, i32.add(g(l.tiles), i32.mul(g(l.t), i32.const(TILE_BYTES)))),
            set(l.w, i32.load(g(l.td))),
            set(l.K2, i32.mul(i32.load(g(l.td), 8), i32.const(KK_WEIGHT_BYTES))),
            set(l.st, i32.load(g(l.td), 12)),
            set(l.oo, i32.load(g(l.td), 16)),
            set(l.np, i32.load(g(l.td), 20)),
            set(l.p, g(l.base)),
            set(l.m, g(l.scratch)),
            forLoop(l.xi, i32.const(0), i32.const(16), 1, [
              set(l.pp, g(l.p)),
              set(l.wEnd, i32.add(g(l.w), g(l.K2))),
              ...step(true),
              whileLoop(i32.ltU(g(l.w), g(l.wEnd)), step(false)),
              ...accs.flatMap(([a0, a1], j) => [v128.store(g(l.m), g(a0), 32 * j), v128.store(g(l.m), g(a1), 32 * j + 16)]),
              set(l.m, i32.add(g(l.m), i32.const(128))),
              set(l.p, i32.add(g(l.p), i32.const(spec.xiBytes))),
            ]),
            forLoop(l.j, i32.const(0), i32.const(4), 1, [
              set(l.m, i32.add(g(l.scratch), i32.mul(g(l.j), i32.const(32)))),
              ...winogradOutput(l, 0, l.y0),
              ...winogradOutput(l, 1, l.y1),
              set(l.dst, i32.add(i32.add(g(l.outBase), g(l.oo)), i32.load(i32.add(g(l.outOffs), i32.mul(i32.add(i32.mul(g(l.q), i32.const(4)), g(l.j)), i32.const(4)))))),
              ...finishCode(l, g(l.y0), g(l.y1), spec.requant),
            ]),
          ]),
        ]),
      ];
    },
    true,
  );
}

/**
 * relu16(ptr, bytes): v = max(v, 0) over int16 values, 16 bytes at a time (bytes a multiple of
 * 16): a standalone ReLU on centred values (real 0 is the zero point, i.e. the value 0).
 */
function relu16(): FuncSpec {
  return defineFunction(
    'relu16',
    { ptr: 'i32', bytes: 'i32' },
    { p: 'i32', end: 'i32' },
    (l) => [
      local.set(l.end, i32.add(local.get(l.ptr), local.get(l.bytes))),
      forLoop(l.p, local.get(l.ptr), local.get(l.end), 16, [
        v128.store(local.get(l.p), S.max16(v128.load(local.get(l.p)), v128.zero())),
      ]),
    ],
    true,
  );
}

/** Memory bounds of one model's instance, in 64 KiB pages. */
export const INT8_INITIAL_PAGES = 1;
export const INT8_MAXIMUM_PAGES = 16384; // 1 GiB of address space

/** A layer's generated function: a direct conv2d / linear (conv<i>) or a Winograd conv2d + pool (wino<i>). */
export type LayerKernelSpec = ({ kind: 'conv' } & ConvKernelSpec) | ({ kind: 'wino' } & WinogradKernelSpec);

/** The module for a model: quantize, relu16, pair_columns, [im2col,] and conv<i> or winoIn<i> + wino<i> for layers[i]. */
export function int8ModuleBytes(layers: readonly LayerKernelSpec[], im2col: TapPairSpec | null = null, tiesAway = true): Uint8Array<ArrayBuffer> {
  return buildModule(
    [
      quantizeFunction(tiesAway), relu16(), pairColumns(), ...(im2col ? [im2colFunction(im2col)] : []),
      ...layers.flatMap((spec, i) => (spec.kind === 'conv' ? [convFunction(`conv${i}`, spec)] : [winogradInput(`winoIn${i}`, spec), winogradFunction(`wino${i}`, spec)])),
    ],
    { initialPages: INT8_INITIAL_PAGES, maximumPages: INT8_MAXIMUM_PAGES, shared: false },
  );
}

/** Exports of an instance (all addresses in bytes); conv<i> for each ConvKernelSpec. */
export interface Int8KernelExports {
  quantize(
    src: number, srcImage: number, dst: number, dstImage: number, images: number, C: number, H: number, W: number,
    dstRow: number, dstPixel: number, params: number, flag: number,
  ): void;
  relu16(ptr: number, bytes: number): void;
  pair_columns(ptr: number, words: number, dw: number): void;
  /** Present when the module was built with a TapPairSpec. */
  im2col(src: number, srcImage: number, srcRow: number, dst: number, dstImage: number, images: number, OH: number, OW: number): void;
  [winoIn: `winoIn${number}`]: (
    src: number, srcImage: number, images: number, PH: number, PW: number, rowBytes: number, pixBytes: number, groups: number,
    dst: number, tileBytes: number, xiBytes: number,
  ) => void;
  [conv: `conv${number}`]: (
    inBase: number, inStride: number, outBase: number, outStride: number, images: number,
    quads: number, nQuads: number, outOffs: number, tiles: number, nTiles: number,
  ) => void;
  [wino: `wino${number}`]: (vBase: number, outBase: number, nQuads: number, outOffs: number, tiles: number, nTiles: number, scratch: number) => void;
}

/** Compiled modules by architecture (the specs that determine their bytes), so that models of one architecture compile once. */
const compiled = new Map<string, WebAssembly.Module | null>();
const MAX_CACHED = 32;

/** A fresh instance for `layers` over a memory of its own, or null where WebAssembly SIMD is unavailable. */
export function instantiateInt8Kernels(
  layers: readonly LayerKernelSpec[], im2col: TapPairSpec | null = null, tiesAway = true,
): { memory: WebAssembly.Memory; exports: Int8KernelExports } | null {
  if (typeof WebAssembly === 'undefined') return null;
  const key = JSON.stringify([layers, im2col, tiesAway]);
  let module = compiled.get(key);
  if (module === undefined) {
    module = null;
    const bytes = int8ModuleBytes(layers, im2col, tiesAway);
    if (WebAssembly.validate(bytes)) {
      try {
        module = new WebAssembly.Module(bytes);
      } catch {
        module = null;
      }
    }
    if (compiled.size >= MAX_CACHED) compiled.delete(compiled.keys().next().value!);
    compiled.set(key, module);
  }
  if (!module) return null;
  const memory = new WebAssembly.Memory({ initial: INT8_INITIAL_PAGES, maximum: INT8_MAXIMUM_PAGES });
  const exports = new WebAssembly.Instance(module, { env: { memory } }).exports as unknown as Int8KernelExports;
  return { memory, exports };
}
