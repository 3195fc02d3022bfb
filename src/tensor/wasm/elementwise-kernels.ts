/**
 * Float32 elementwise kernels and a float32 sum as WebAssembly SIMD, written with ./emit.ts.
 *
 * Why: on the machines this was tuned on, a JavaScript loop over a Float32Array costs ~3 ns per
 * element (each value is widened to a double and narrowed back), and ReLU written as
 * `x < 0 ? 0 : x` costs ~9 ns on activations of random sign, since the branch mispredicts half
 * the time. These kernels do 4 lanes per instruction with compare-and-mask instead of branches,
 * so an op runs at about the speed of copying its operands (see ./elementwise.ts, which
 * stages operands through this module's small memory in blocks).
 *
 * Tested, not generated: each kernel is exactly its JavaScript definition in the shared table
 * src/tensor/elementwise-expr.ts (as the cpu backend's loops run it), bit for bit, NaN payloads
 * aside, which test/tensor/wasm/elementwise.test.ts checks on every layout: float32 add, sub, mul, div and sqrt are correctly rounded, and rounding the
 * double result of the same operation on float32 inputs to float32 gives the same value (the
 * double rounding is innocuous since 53 >= 2 * 24 + 2), so it does not matter that JavaScript
 * computes in double. relu keeps NaN and -0 as `x < 0 ? 0 : x` does (x & ~(x < 0)); min/max
 * propagate NaN and order -0 below +0, as Math.min/Math.max do; comparisons yield 1 or 0.
 *
 * Signatures (all byte addresses; `bytes` is a multiple of 16, or of 32 for the sum):
 *   unary_<op>(src, dst, bytes)        dst[i] = op(src[i])
 *   binary_<op>(a, b, dst, bytes)      dst[i] = op(a[i], b[i])
 *   sum_f32(src, bytes, acc)           acc[0..8) += partial float64 sums of src (8 lanes)
 *   bn_*                                batch normalisation's passes, see ./batchnorm.ts
 *   where_f32(c, a, b, dst, bytes)     dst[i] = c[i] !== 0 ? a[i] : b[i]   (a select of bits: NaN
 *                                      conditions are true and -0 false, as in JavaScript)
 */
import type { BinaryOp, UnaryOp } from '../backend.js';
import type { Code, FuncSpec } from './emit.js';
import { buildModule, defineFunction, forLoop, i32, local, uleb, v128 } from './emit.js';

/** A SIMD instruction (prefix 0xfd) after its operands. */
const simd = (op: number, ...operands: Code[]): Code => [...operands.flat(), 0xfd, ...uleb(op)];
/** A SIMD memory instruction: address, then opcode and memarg (alignment hint, offset). */
const simdMem = (op: number, align: number, addr: Code, offset = 0): Code => [...addr, 0xfd, ...uleb(op), ...uleb(align), ...uleb(offset)];

const ONE = v128.i32Const([0x3f800000, 0x3f800000, 0x3f800000, 0x3f800000]); // 1.0f in every lane
const ZERO = v128.zero();

const f32x4 = {
  eq: (a: Code, b: Code) => simd(0x41, a, b),
  ne: (a: Code, b: Code) => simd(0x42, a, b),
  lt: (a: Code, b: Code) => simd(0x43, a, b),
  gt: (a: Code, b: Code) => simd(0x44, a, b),
  le: (a: Code, b: Code) => simd(0x45, a, b),
  ge: (a: Code, b: Code) => simd(0x46, a, b),
  ceil: (a: Code) => simd(0x67, a),
  floor: (a: Code) => simd(0x68, a),
  abs: (a: Code) => simd(0xe0, a),
  neg: (a: Code) => simd(0xe1, a),
  sqrt: (a: Code) => simd(0xe3, a),
  add: (a: Code, b: Code) => simd(0xe4, a, b),
  sub: (a: Code, b: Code) => simd(0xe5, a, b),
  mul: (a: Code, b: Code) => simd(0xe6, a, b),
  div: (a: Code, b: Code) => simd(0xe7, a, b),
  min: (a: Code, b: Code) => simd(0xe8, a, b),
  max: (a: Code, b: Code) => simd(0xe9, a, b),
};
/** a & ~b */
const andnot = (a: Code, b: Code) => simd(0x4f, a, b);
/** A lane mask (all ones or zeros) as 1.0f or 0.0f. */
const oneWhere = (mask: Code) => v128.and(mask, ONE);
const load64Zero = (addr: Code, offset = 0) => simdMem(0x5d, 3, addr, offset);
const f64x2 = {
  promoteLow: (a: Code) => simd(0x5f, a),
  add: (a: Code, b: Code) => simd(0xf0, a, b),
};

/**
 * The ops with a kernel, as expressions over f32x4 values. An op missing here runs in
 * JavaScript (exp, log, tanh, sigmoid, sign, pow have no exact SIMD form).
 */
export const WASM_UNARY: Partial<Record<UnaryOp, (x: Code) => Code>> = {
  relu: (x) => andnot(x, f32x4.lt(x, ZERO)),
  step: (x) => oneWhere(f32x4.gt(x, ZERO)),
  neg: (x) => f32x4.neg(x),
  abs: (x) => f32x4.abs(x),
  sqrt: (x) => f32x4.sqrt(x),
  square: (x) => f32x4.mul(x, x),
  reciprocal: (x) => f32x4.div(ONE, x),
  floor: (x) => f32x4.floor(x),
  ceil: (x) => f32x4.ceil(x),
};

export const WASM_BINARY: Partial<Record<BinaryOp, (a: Code, b: Code) => Code>> = {
  add: f32x4.add,
  sub: f32x4.sub,
  mul: f32x4.mul,
  div: f32x4.div,
  maximum: f32x4.max,
  minimum: f32x4.min,
  eq: (a, b) => oneWhere(f32x4.eq(a, b)),
  ne: (a, b) => oneWhere(f32x4.ne(a, b)),
  lt: (a, b) => oneWhere(f32x4.lt(a, b)),
  le: (a, b) => oneWhere(f32x4.le(a, b)),
  gt: (a, b) => oneWhere(f32x4.gt(a, b)),
  ge: (a, b) => oneWhere(f32x4.ge(a, b)),
  // Clears the bits of a where b <= 0: +0 there (as the literal 0 of the definition), a's exact
  // bits elsewhere (Infinity, NaN and -0 included). A select, not a multiply.
  reluBackward: (a, b) => andnot(a, f32x4.le(b, ZERO)),
};

function unaryKernel(op: string, expr: (x: Code) => Code): FuncSpec {
  return defineFunction(`unary_${op}`, { src: 'i32', dst: 'i32', bytes: 'i32' }, { i: 'i32', x: 'v128' }, (v) => [
    forLoop(v.i, i32.const(0), local.get(v.bytes), 16, [
      local.set(v.x, v128.load(i32.add(local.get(v.src), local.get(v.i)))),
      v128.store(i32.add(local.get(v.dst), local.get(v.i)), expr(local.get(v.x))),
    ]),
  ], true);
}

function binaryKernel(op: string, expr: (a: Code, b: Code) => Code): FuncSpec {
  return defineFunction(`binary_${op}`, { a: 'i32', b: 'i32', dst: 'i32', bytes: 'i32' }, { i: 'i32' }, (v) => [
    forLoop(v.i, i32.const(0), local.get(v.bytes), 16, [
      v128.store(
        i32.add(local.get(v.dst), local.get(v.i)),
        expr(v128.load(i32.add(local.get(v.a), local.get(v.i))), v128.load(i32.add(local.get(v.b), local.get(v.i)))),
      ),
    ]),
  ], true);
}

function whereKernel(): FuncSpec {
  return defineFunction('where_f32', { c: 'i32', a: 'i32', b: 'i32', dst: 'i32', bytes: 'i32' }, { i: 'i32' }, (v) => {
    const at = (base: number) => i32.add(local.get(base), local.get(v.i));
    return [
      forLoop(v.i, i32.const(0), local.get(v.bytes), 16, [
        v128.store(at(v.dst), v128.bitselect(v128.load(at(v.a)), v128.load(at(v.b)), f32x4.ne(v128.load(at(v.c)), ZERO))),
      ]),
    ];
  }, true);
}

/**
 * Batch normalisation's elementwise passes (driven by ./batchnorm.ts), each the float32 operations
 * of the composed ops it replaces, in their order (one rounding per operation, as before):
 *   bn_sqdev(src, bytes, cst)               src[i] = (src[i] − mean)²            in place
 *   bn_out(x, xhat, y, bytes, cst)          xhat = (x − mean)·invstd,  y = xhat·w + b
 *   bn_gsums(g, xh, e, f, h, bytes, cst)    e = g·xhat,  f = g·w,  h = (g·w)·xhat
 *   bn_gx(g, xh, dst, bytes, cst)           dst = (((g·w)·n − Σgh) − xhat·Σghx̂)·k
 * cst points at splatted float32 constants (16 bytes each): mean, invstd, w, b for the forward;
 * w, n, Σgh, Σghx̂, k for the backward.
 */
function bnKernels(): FuncSpec[] {
  const g = local.get;
  const c = (v: Record<string, number>, i: number) => v128.load(g(v.cst), 16 * i);
  const at = (v: Record<string, number>, base: string) => i32.add(g(v[base]), g(v.i));
  const loop = (v: Record<string, number>, body: Code[]) => forLoop(v.i, i32.const(0), g(v.bytes), 16, body);
  return [
    defineFunction('bn_sqdev', { src: 'i32', bytes: 'i32', cst: 'i32' }, { i: 'i32', t: 'v128' }, (v) => [
      loop(v, [
        local.set(v.t, f32x4.sub(v128.load(at(v, 'src')), c(v, 0))),
        v128.store(at(v, 'src'), f32x4.mul(g(v.t), g(v.t))),
      ]),
    ], true),
    defineFunction('bn_out', { x: 'i32', xh: 'i32', y: 'i32', bytes: 'i32', cst: 'i32' }, { i: 'i32', t: 'v128' }, (v) => [
      loop(v, [
        local.set(v.t, f32x4.mul(f32x4.sub(v128.load(at(v, 'x')), c(v, 0)), c(v, 1))),
        v128.store(at(v, 'xh'), g(v.t)),
        v128.store(at(v, 'y'), f32x4.add(f32x4.mul(g(v.t), c(v, 2)), c(v, 3))),
      ]),
    ], true),
    defineFunction('bn_gsums', { g: 'i32', xh: 'i32', e: 'i32', f: 'i32', h: 'i32', bytes: 'i32', cst: 'i32' }, { i: 'i32', gv: 'v128', xv: 'v128', t: 'v128' }, (v) => [
      loop(v, [
        local.set(v.gv, v128.load(at(v, 'g'))),
        local.set(v.xv, v128.load(at(v, 'xh'))),
        v128.store(at(v, 'e'), f32x4.mul(g(v.gv), g(v.xv))),
        local.set(v.t, f32x4.mul(g(v.gv), c(v, 0))),
        v128.store(at(v, 'f'), g(v.t)),
        v128.store(at(v, 'h'), f32x4.mul(g(v.t), g(v.xv))),
      ]),
    ], true),
    defineFunction('bn_gx', { g: 'i32', xh: 'i32', dst: 'i32', bytes: 'i32', cst: 'i32' }, { i: 'i32', t: 'v128' }, (v) => [
      loop(v, [
        local.set(v.t, f32x4.sub(f32x4.mul(f32x4.mul(v128.load(at(v, 'g')), c(v, 0)), c(v, 1)), c(v, 2))),
        local.set(v.t, f32x4.sub(g(v.t), f32x4.mul(v128.load(at(v, 'xh')), c(v, 3)))),
        v128.store(at(v, 'dst'), f32x4.mul(g(v.t), c(v, 4))),
      ]),
    ], true),
  ];
}

/**
 * sum_f32(src, bytes, acc): widens each float to float64 and adds it into one of 8 running sums
 * (4 f64x2 accumulators, so consecutive adds do not wait on each other), which live in memory at
 * acc between calls. Float64 accumulation, as the JavaScript reduction; only the order differs.
 */
function sumKernel(): FuncSpec {
  return defineFunction('sum_f32', { src: 'i32', bytes: 'i32', acc: 'i32' }, { i: 'i32', p: 'i32', s0: 'v128', s1: 'v128', s2: 'v128', s3: 'v128' }, (v) => {
    const g = local.get;
    const acc = [v.s0, v.s1, v.s2, v.s3];
    return [
      ...acc.map((s, k) => local.set(s, v128.load(g(v.acc), 16 * k))),
      forLoop(v.i, i32.const(0), g(v.bytes), 32, [
        local.set(v.p, i32.add(g(v.src), g(v.i))),
        ...acc.map((s, k) => local.set(s, f64x2.add(g(s), f64x2.promoteLow(load64Zero(g(v.p), 8 * k))))),
      ]),
      ...acc.map((s, k) => v128.store(g(v.acc), g(s), 16 * k)),
    ];
  }, true);
}

/** Pages of the module's own (unshared, fixed) memory: enough for the staging blocks. */
export const ELEMENTWISE_PAGES = 7;

export function elementwiseModuleBytes(): Uint8Array<ArrayBuffer> {
  const funcs: FuncSpec[] = [
    ...Object.entries(WASM_UNARY).map(([op, f]) => unaryKernel(op, f!)),
    ...Object.entries(WASM_BINARY).map(([op, f]) => binaryKernel(op, f!)),
    sumKernel(),
    whereKernel(),
    ...bnKernels(),
  ];
  return buildModule(funcs, { initialPages: ELEMENTWISE_PAGES, maximumPages: ELEMENTWISE_PAGES, shared: false });
}

export type UnaryKernel = (src: number, dst: number, bytes: number) => void;
export type BinaryKernel = (a: number, b: number, dst: number, bytes: number) => void;
export type SumKernel = (src: number, bytes: number, acc: number) => void;
export type WhereKernel = (c: number, a: number, b: number, dst: number, bytes: number) => void;
export interface BnKernels {
  bn_sqdev(src: number, bytes: number, cst: number): void;
  bn_out(x: number, xh: number, y: number, bytes: number, cst: number): void;
  bn_gsums(g: number, xh: number, e: number, f: number, h: number, bytes: number, cst: number): void;
  bn_gx(g: number, xh: number, dst: number, bytes: number, cst: number): void;
}
