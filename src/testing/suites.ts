/**
 * Property suites that hold an implementation under test (kernels.ts) to qgrad's reference under
 * the convention and tie rule it claims, and name the rule a shrunk counterexample broke.
 *
 * Each suite draws a case (qparams and a batch of inputs, from arbitraries.ts), calls the
 * implementation on the whole batch, and compares every element with the reference: levels and
 * float32 values exactly, masks as 0/1. fast-check shrinks a failing case (usually to one element);
 * the suite then re-runs the implementation on the shrunk case and diagnoses it (diagnose.ts).
 * Runs are deterministic: every suite uses the given seed (default SEED) and numRuns.
 */
import fc from 'fast-check';
import {
  int8Add,
  int8Mul,
  isPerChannel,
  multiplyByQuantizedMultiplier,
  type AnyQParams,
  type QParams,
  type Rounding,
} from '../quant/numerics/index.js';
import {
  arbAccumulator,
  arbInt8ArithCase,
  arbLevel,
  arbPerChannelCase,
  arbQuantizeCase,
  arbQuantizedMultiplier,
  arbZeroPoint,
  arbRange,
} from './arbitraries.js';
import { defaultRounding, reference, type Reference } from './convention.js';
import { claimedProduct, diagnoseLevel, diagnoseMask, type FailureKind, type Hypothesis } from './diagnose.js';
import type { KernelsUnderTest } from './kernels.js';

/** The default seed of every suite. */
export const SEED = 20261206;
export const DEFAULT_NUM_RUNS = 200;

export interface ConformanceOptions {
  seed?: number;
  numRuns?: number;
  /** Run only these suites (names as in SUITE_NAMES). */
  only?: readonly string[];
}

/** A failing element, in the terms of the formula. */
export interface Counterexample {
  suite: string;
  kind: FailureKind;
  /** Why the rule is broken, in words. */
  why: string;
  /** Index of the element in the batch the implementation was called on. */
  index: number;
  /** The element's input and parameters (x, scale, zeroPoint, qmin, qmax, ... as applicable). */
  input: Record<string, number | string>;
  expected: Record<string, number>;
  got: Record<string, number>;
  /** The whole (shrunk) batch, for reproducing it. */
  batchLength: number;
}

export interface SuiteResult {
  suite: string;
  passed: boolean;
  seed: number;
  numRuns: number;
  /** Cases run (fewer than numRuns when one failed). */
  runs: number;
  numShrinks?: number;
  counterexample?: Counterexample;
}

export interface ConformanceReport {
  implementation: string;
  convention: string;
  rounding: Rounding;
  passed: boolean;
  suites: SuiteResult[];
  /** Suites not run because the implementation lacks the kernel. */
  skipped: string[];
}

interface Ctx {
  impl: KernelsUnderTest;
  ref: Reference;
  rounding: Rounding;
  claimed: Hypothesis;
}

interface Suite<C> {
  name: string;
  applies(impl: KernelsUnderTest): boolean;
  arbitrary(ctx: Ctx): fc.Arbitrary<C>;
  check(ctx: Ctx, c: C): Counterexample | null;
  /** The case cut down to its element i alone, where the layout allows (per-tensor suites). */
  single?(c: C, i: number): C;
}

const fround = Math.fround;

/** `got` is exactly the float32 value `want` (a float64 that float32 would round differently does not pass). */
function same32(got: number, want: number): boolean {
  return got === want || (Number.isNaN(got) && Number.isNaN(want));
}

function qpWords(p: QParams): Record<string, number | string> {
  return { scale: fround(p.scale), zeroPoint: p.zeroPoint, qmin: p.qmin, qmax: p.qmax };
}

/** The per-tensor qparams of element i of a per-channel (or per-tensor) parameter set. */
function channelParams(p: AnyQParams, i: number, rounding: Rounding): QParams & { channel?: number } {
  if (!isPerChannel(p)) return { scale: p.scale, zeroPoint: p.zeroPoint, qmin: p.qmin, qmax: p.qmax, rounding };
  const inner = p.shape.slice(p.axis + 1).reduce((a, b) => a * b, 1);
  const c = Math.floor(i / inner) % p.shape[p.axis];
  return { scale: p.scale[c], zeroPoint: p.zeroPoint[c], qmin: p.qmin, qmax: p.qmax, rounding, channel: c };
}

/** Calls the implementation, turning a throw or a wrong length into a counterexample. */
function call<T extends { length: number }>(
  suite: string,
  n: number,
  input: Record<string, number | string>,
  f: () => T,
): { ok: true; value: T } | { ok: false; cx: Counterexample } {
  try {
    const value = f();
    if (value.length !== n) {
      return { ok: false, cx: { suite, kind: 'output length', why: `returned ${value.length} values for ${n} inputs`, index: -1, input, expected: { length: n }, got: { length: value.length }, batchLength: n } };
    }
    return { ok: true, value };
  } catch (e) {
    return { ok: false, cx: { suite, kind: 'exception', why: `threw on valid input: ${(e as Error)?.message ?? String(e)}`, index: -1, input, expected: {}, got: {}, batchLength: n } };
  }
}

function levelFromY(y: number, p: QParams): number {
  return p.zeroPoint + Math.round(y / fround(p.scale));
}

// ---- quantize / dequantize / fakeQuantize --------------------------------------------------------

function quantizeSuite(perChannel: boolean): Suite<{ p: AnyQParams; xs: number[] }> {
  const name = perChannel ? 'quantize per channel' : 'quantize';
  return {
    name,
    applies: (impl) => impl.quantize !== undefined && (!perChannel || impl.perChannel === true),
    arbitrary: ({ impl, rounding }) =>
      perChannel
        ? arbPerChannelCase({ bits: impl.bits, rounding, convention: impl.convention })
        : arbQuantizeCase({ bits: impl.bits, rounding, convention: impl.convention }),
    single: perChannel ? undefined : (c, i) => ({ p: c.p, xs: [c.xs[i]] }),
    check: ({ impl, ref, rounding, claimed }, { p, xs }) => {
      const params = { ...p, rounding } as AnyQParams;
      const x = Float32Array.from(xs);
      const r = call(name, xs.length, { n: xs.length }, () => impl.quantize!(x, params));
      if (!r.ok) return r.cx;
      const want = ref.quantize(x, params);
      for (let i = 0; i < xs.length; i++) {
        if (r.value[i] === want[i]) continue;
        const pc = channelParams(params, i, rounding);
        const d = diagnoseLevel(x[i], pc, want[i], r.value[i], claimed, (probe) => impl.quantize!(Float32Array.from(probe), pc));
        return { suite: name, ...d, index: i, input: { x: x[i], ...qpWords(pc), ...(pc.channel !== undefined ? { channel: pc.channel } : {}) }, expected: { level: want[i] }, got: { level: r.value[i] }, batchLength: xs.length };
      }
      return null;
    },
  };
}

function dequantizeSuite(perChannel: boolean): Suite<{ p: AnyQParams; levels: number[] }> {
  const name = perChannel ? 'dequantize per channel' : 'dequantize';
  return {
    name,
    applies: (impl) => impl.dequantize !== undefined && (!perChannel || impl.perChannel === true),
    arbitrary: ({ impl, rounding }) => {
      const withLevels = (pa: fc.Arbitrary<{ p: AnyQParams; xs: number[] }>) =>
        pa.chain(({ p, xs }) => fc.tuple(...xs.map(() => arbLevel(p))).map((levels) => ({ p, levels })));
      return perChannel ? withLevels(arbPerChannelCase({ bits: impl.bits, rounding })) : withLevels(arbQuantizeCase({ bits: impl.bits, rounding }));
    },
    single: perChannel ? undefined : (c, i) => ({ p: c.p, levels: [c.levels[i]] }),
    check: ({ impl, ref, rounding }, { p, levels }) => {
      const params = { ...p, rounding } as AnyQParams;
      const q = Int32Array.from(levels);
      const r = call(name, q.length, { n: q.length }, () => impl.dequantize!(q, params));
      if (!r.ok) return r.cx;
      const want = ref.dequantize(q, params);
      for (let i = 0; i < q.length; i++) {
        if (same32(r.value[i], want[i])) continue;
        const pc = channelParams(params, i, rounding);
        const exact = (q[i] - pc.zeroPoint) * fround(pc.scale);
        const why = r.value[i] === exact && fround(exact) !== exact
          ? `(q - zp) * scale = ${exact} must be rounded to float32`
          : `expected float32((q - zp) * scale) = ${want[i]}`;
        return { suite: name, kind: 'dequantize', why, index: i, input: { q: q[i], ...qpWords(pc) }, expected: { y: want[i] }, got: { y: r.value[i] }, batchLength: q.length };
      }
      return null;
    },
  };
}

function fakeQuantizeSuite(perChannel: boolean): Suite<{ p: AnyQParams; xs: number[] }> {
  const name = perChannel ? 'fakeQuantize per channel' : 'fakeQuantize';
  return {
    name,
    applies: (impl) => impl.fakeQuantize !== undefined && (!perChannel || impl.perChannel === true),
    arbitrary: quantizeSuite(perChannel).arbitrary,
    single: quantizeSuite(perChannel).single,
    check: ({ impl, ref, rounding, claimed }, { p, xs }) => {
      const params = { ...p, rounding } as AnyQParams;
      const x = Float32Array.from(xs);
      let got: { y: ArrayLike<number>; mask: ArrayLike<number> };
      try {
        got = impl.fakeQuantize!(x, params);
      } catch (e) {
        const none: Record<string, number> = {};
        return { suite: name, kind: 'exception', why: `threw on valid input: ${(e as Error)?.message ?? String(e)}`, index: -1, input: { n: xs.length }, expected: none, got: none, batchLength: xs.length };
      }
      for (const [field, arr] of [['y', got.y], ['mask', got.mask]] as const) {
        if (arr.length !== xs.length) {
          return { suite: name, kind: 'output length', why: `returned ${arr.length} ${field} values for ${xs.length} inputs`, index: -1, input: { n: xs.length }, expected: { length: xs.length }, got: { length: arr.length }, batchLength: xs.length };
        }
      }
      const want = ref.fakeQuantize(x, params);
      const wantLevels = ref.quantize(x, params);
      for (let i = 0; i < xs.length; i++) {
        const yOk = same32(got.y[i], want.y[i]);
        const mOk = Number(got.mask[i]) === want.mask[i];
        if (yOk && mOk) continue;
        const pc = channelParams(params, i, rounding);
        const input = { x: x[i], ...qpWords(pc), ...(pc.channel !== undefined ? { channel: pc.channel } : {}) };
        const gotLevel = levelFromY(got.y[i], pc);
        const expected = { level: wantLevels[i], y: want.y[i], mask: want.mask[i] };
        const gotRec = { level: gotLevel, y: got.y[i], mask: Number(got.mask[i]) };
        if (!yOk && gotLevel !== wantLevels[i]) {
          const d = diagnoseLevel(x[i], pc, wantLevels[i], gotLevel, claimed, (probe) => {
            const out = impl.fakeQuantize!(Float32Array.from(probe), pc);
            return Array.from(out.y, (y) => levelFromY(y, pc));
          });
          return { suite: name, ...d, index: i, input, expected, got: gotRec, batchLength: xs.length };
        }
        if (!yOk) {
          return { suite: name, kind: 'dequantize', why: `level ${gotLevel} is right but y must be ${want.y[i]}`, index: i, input, expected, got: gotRec, batchLength: xs.length };
        }
        const d = diagnoseMask(x[i], pc, ref.convention, claimed, (probe) => impl.fakeQuantize!(Float32Array.from(probe), pc).mask);
        return { suite: name, ...d, index: i, input, expected, got: gotRec, batchLength: xs.length };
      }
      return null;
    },
  };
}

// ---- fixed point ---------------------------------------------------------------------------------

/** Whether acc * multiplier * 2^(shift - 31) is exactly halfway between two integers. */
function isFixedPointTie(acc: number, multiplier: number, shift: number): boolean {
  const num = BigInt(acc) * BigInt(multiplier) * (shift > 0 ? 2n ** BigInt(shift) : 1n);
  const e = 31n + (shift > 0 ? 0n : BigInt(-shift));
  const den = 2n ** e;
  const r = ((num % den) + den) % den;
  return r === den / 2n;
}

function fixedPointKind(acc: number, m: number, s: number, want: number, got: number): { kind: FailureKind; why: string } {
  if (Math.abs(want - got) === 1) {
    return isFixedPointTie(acc, m, s)
      ? { kind: 'fixed-point rounding', why: `acc * multiplier * 2^(shift - 31) is an exact tie; TFLite's SaturatingRoundingDoublingHighMul rounds ties up, then RoundingDivideByPOT rounds ties away from zero` }
      : { kind: 'fixed-point rounding', why: `off by one: TFLite rounds twice (SaturatingRoundingDoublingHighMul to Q31, then RoundingDivideByPOT), not once from the exact product` };
  }
  return { kind: 'level', why: `expected MultiplyByQuantizedMultiplier(${acc}, ${m}, ${s}) = ${want}` };
}

const mbqmSuite: Suite<{ m: number; s: number; acc: number[] }> = {
  name: 'multiplyByQuantizedMultiplier',
  applies: (impl) => impl.multiplyByQuantizedMultiplier !== undefined,
  arbitrary: () => arbQuantizedMultiplier.chain(({ multiplier, shift }) =>
    fc.record({ m: fc.constant(multiplier), s: fc.constant(shift), acc: fc.array(arbAccumulator(shift), { minLength: 1, maxLength: 16 }) })),
  check: ({ impl }, { m, s, acc }) => {
    const a = Int32Array.from(acc);
    const name = 'multiplyByQuantizedMultiplier';
    const r = call(name, a.length, { multiplier: m, shift: s }, () => impl.multiplyByQuantizedMultiplier!(a, m, s));
    if (!r.ok) return r.cx;
    for (let i = 0; i < a.length; i++) {
      const want = multiplyByQuantizedMultiplier(a[i], m, s);
      if (r.value[i] === want) continue;
      return { suite: name, ...fixedPointKind(a[i], m, s, want, r.value[i]), index: i, input: { acc: a[i], multiplier: m, shift: s }, expected: { value: want }, got: { value: r.value[i] }, batchLength: a.length };
    }
    return null;
  },
};

const requantizeSuite: Suite<{ m: number; s: number; acc: number[]; zp: number; qmin: number; qmax: number }> = {
  name: 'requantize',
  applies: (impl) => impl.requantize !== undefined,
  arbitrary: ({ impl }) =>
    fc.tuple(arbQuantizedMultiplier, arbRange(impl.bits ?? [8])).chain(([{ multiplier, shift }, r]) =>
      fc.record({
        m: fc.constant(multiplier),
        s: fc.constant(shift),
        acc: fc.array(fc.oneof(arbAccumulator(shift), fc.integer({ min: -(2 ** Math.max(0, -shift + 8)), max: 2 ** Math.max(0, -shift + 8) }).map((v) => Math.max(-(2 ** 31), Math.min(2 ** 31 - 1, v)))), { minLength: 1, maxLength: 16 })
          .map((xs) => xs.map((v) => (shift > 0 ? Math.max(-(2 ** (31 - shift)) + 1, Math.min(2 ** (31 - shift) - 1, v)) : v))),
        zp: arbZeroPoint(r),
        qmin: fc.constant(r.qmin),
        qmax: fc.constant(r.qmax),
      })),
  single: (c, i) => ({ ...c, acc: [c.acc[i]] }),
  check: ({ impl }, { m, s, acc, zp, qmin, qmax }) => {
    const a = Int32Array.from(acc);
    const name = 'requantize';
    const r = call(name, a.length, { multiplier: m, shift: s, zeroPoint: zp, qmin, qmax }, () => impl.requantize!(a, m, s, zp, qmin, qmax));
    if (!r.ok) return r.cx;
    for (let i = 0; i < a.length; i++) {
      const unclamped = multiplyByQuantizedMultiplier(a[i], m, s) + zp;
      const want = Math.min(qmax, Math.max(qmin, unclamped));
      if (r.value[i] === want) continue;
      const d = unclamped !== want || r.value[i] < qmin || r.value[i] > qmax
        ? { kind: 'clamp' as const, why: `the unclamped level ${unclamped} must saturate to [${qmin}, ${qmax}]` }
        : fixedPointKind(a[i], m, s, want - zp, r.value[i] - zp);
      return { suite: name, ...d, index: i, input: { acc: a[i], multiplier: m, shift: s, zeroPoint: zp, qmin, qmax }, expected: { level: want }, got: { level: r.value[i] }, batchLength: a.length };
    }
    return null;
  },
};

// ---- int8 add / mul ------------------------------------------------------------------------------

type ArithCase = { a: QParams; b: QParams; out: QParams; qa: number[]; qb: number[] };

function arithSuite(op: 'int8Add' | 'int8Mul'): Suite<ArithCase> {
  return {
    name: op,
    applies: (impl) => impl[op] !== undefined,
    arbitrary: ({ impl }) => arbInt8ArithCase({ bits: impl.bits?.filter((b) => b <= 8) ?? [8] }),
    single: (c, i) => ({ ...c, qa: [c.qa[i]], qb: [c.qb[i]] }),
    check: ({ impl, rounding }, { a, b, out, qa, qb }) => {
      const kernel = impl[op]!;
      const options = kernel.mode === 'float' ? { mode: 'float' as const, rounding } : { mode: 'fixedPoint' as const };
      const reference = op === 'int8Add' ? int8Add : int8Mul;
      let want: Int32Array;
      try {
        want = reference(qa, a, qb, b, out, options);
      } catch {
        return null; // parameters TFLite's Prepare would refuse: not a case
      }
      const A = Int32Array.from(qa), B = Int32Array.from(qb);
      const r = call(op, A.length, { mode: kernel.mode }, () => kernel.run(A, a, B, b, out));
      if (!r.ok) return r.cx;
      for (let i = 0; i < A.length; i++) {
        if (r.value[i] === want[i]) continue;
        const sa = fround(a.scale), sb = fround(b.scale), so = fround(out.scale);
        const da = A[i] - a.zeroPoint, db = B[i] - b.zeroPoint;
        const real = op === 'int8Add'
          ? ((2 * Math.max(sa, sb)) / so) * ((sa / (2 * Math.max(sa, sb))) * da + (sb / (2 * Math.max(sa, sb))) * db)
          : ((sa * sb) / so) * (da * db);
        const unclamped = Math.round(real) + out.zeroPoint;
        const got = r.value[i];
        let d: { kind: FailureKind; why: string };
        if (unclamped < out.qmin || unclamped > out.qmax || got < out.qmin || got > out.qmax) {
          d = { kind: 'clamp', why: `the result ${real} + zp must saturate to [${out.qmin}, ${out.qmax}]` };
        } else if (Math.abs(got - want[i]) === 1) {
          const tie = Math.abs(real - Math.trunc(real)) === 0.5;
          d = kernel.mode === 'float'
            ? { kind: tie ? 'tie rounding' : 'level', why: tie ? `the real result ${real} is an exact tie, to be rounded ${rounding}` : `off by one from round(${real})` }
            : { kind: 'fixed-point rounding', why: `TFLite rounds each rescaled input and the output in fixed point; off by one from its kernel` };
        } else {
          d = { kind: 'level', why: `the real result is ${real} output steps from the zero point` };
        }
        return {
          suite: op, ...d, index: i,
          input: { mode: kernel.mode, qa: A[i], qb: B[i], scaleA: sa, zeroPointA: a.zeroPoint, scaleB: sb, zeroPointB: b.zeroPoint, scaleOut: so, zeroPointOut: out.zeroPoint, qmin: out.qmin, qmax: out.qmax },
          expected: { level: want[i] }, got: { level: got }, batchLength: A.length,
        };
      }
      return null;
    },
  };
}

// ---- running -------------------------------------------------------------------------------------

// Each suite has its own case type; `any` lets one list hold them (a suite only ever sees its own cases).
// eslint-disable-next-line @typescript-eslint/no-explicit-any
const SUITES: Suite<any>[] = [
  quantizeSuite(false),
  quantizeSuite(true),
  dequantizeSuite(false),
  dequantizeSuite(true),
  fakeQuantizeSuite(false),
  fakeQuantizeSuite(true),
  mbqmSuite,
  requantizeSuite,
  arithSuite('int8Add'),
  arithSuite('int8Mul'),
];

export const SUITE_NAMES: readonly string[] = SUITES.map((s) => s.name);

function context(impl: KernelsUnderTest): Ctx {
  const rounding = impl.rounding ?? defaultRounding(impl.convention);
  return { impl, ref: reference(impl.convention, rounding), rounding, claimed: { product: claimedProduct(impl.convention), rule: rounding } };
}

function checkImpl(impl: KernelsUnderTest): void {
  if (impl === null || typeof impl !== 'object') throw new Error('conformance: the implementation must be an object (KernelsUnderTest)');
  if (impl.convention !== 'pytorch' && impl.convention !== 'tflite') {
    throw new Error(`conformance: convention must be 'pytorch' or 'tflite', got ${JSON.stringify(impl.convention)}`);
  }
  if (impl.rounding !== undefined && impl.rounding !== 'halfEven' && impl.rounding !== 'halfAwayFromZero') {
    throw new Error(`conformance: rounding must be 'halfEven' or 'halfAwayFromZero', got ${JSON.stringify(impl.rounding)}`);
  }
}

/** One suite against one implementation: fast-check with the seed, then the shrunk counterexample diagnosed. */
function runSuite(suite: Suite<unknown>, ctx: Ctx, seed: number, numRuns: number): SuiteResult {
  const details = fc.check(fc.property(suite.arbitrary(ctx), (c) => suite.check(ctx, c) === null), { seed, numRuns });
  if (!details.failed) return { suite: suite.name, passed: true, seed, numRuns, runs: details.numRuns };
  const shrunk = details.counterexample?.[0];
  let cx = shrunk === undefined ? null : suite.check(ctx, shrunk);
  // fast-check shrinks chained cases only so far; the failing element alone is the clearest report.
  if (cx && cx.index >= 0 && cx.batchLength > 1 && suite.single) {
    const alone = suite.check(ctx, suite.single(shrunk, cx.index));
    if (alone && alone.kind === cx.kind) cx = alone;
  }
  return {
    suite: suite.name,
    passed: false,
    seed,
    numRuns,
    runs: details.numRuns,
    numShrinks: details.numShrinks,
    counterexample: cx ?? { suite: suite.name, kind: 'exception', why: String(details.errorInstance ?? 'property failed'), index: -1, input: {}, expected: {}, got: {}, batchLength: 0 },
  };
}

/** Plain check functions, one per applicable suite: call run() to get its result. */
export function conformanceChecks(impl: KernelsUnderTest, opts: ConformanceOptions = {}): { name: string; run: () => SuiteResult }[] {
  checkImpl(impl);
  const ctx = context(impl);
  const seed = opts.seed ?? SEED;
  const numRuns = opts.numRuns ?? DEFAULT_NUM_RUNS;
  if (opts.only) {
    for (const n of opts.only) if (!SUITE_NAMES.includes(n)) throw new Error(`conformance: unknown suite ${JSON.stringify(n)}; suites are ${SUITE_NAMES.join(', ')}`);
  }
  return SUITES.filter((s) => s.applies(impl) && (!opts.only || opts.only.includes(s.name))).map((s) => ({
    name: s.name,
    run: () => runSuite(s, ctx, seed, numRuns),
  }));
}

/** Every applicable suite, standalone; the report says which passed and, for each failure, why. */
export function runConformance(impl: KernelsUnderTest, opts: ConformanceOptions = {}): ConformanceReport {
  const checks = conformanceChecks(impl, opts);
  const suites = checks.map((c) => c.run());
  const ran = new Set(checks.map((c) => c.name));
  return {
    implementation: impl.name,
    convention: impl.convention,
    rounding: impl.rounding ?? defaultRounding(impl.convention),
    passed: suites.every((s) => s.passed),
    suites,
    skipped: SUITE_NAMES.filter((n) => !ran.has(n) && (!opts.only || opts.only.includes(n))),
  };
}

function fmt(v: number | string): string {
  return typeof v === 'number' && !Number.isInteger(v) ? String(v) : String(v);
}

function record(r: Record<string, number | string>): string {
  return Object.entries(r).map(([k, v]) => `${k} ${fmt(v)}`).join(', ');
}

/** A suite's result in a few lines. */
export function formatSuiteResult(r: SuiteResult): string {
  if (r.passed) return `PASS ${r.suite} (${r.runs} cases, seed ${r.seed})`;
  const cx = r.counterexample!;
  return [
    `FAIL ${r.suite}: ${cx.kind} (seed ${r.seed}, after ${r.runs} cases, ${r.numShrinks ?? 0} shrinks)`,
    `  input:    ${record(cx.input)}${cx.index >= 0 ? ` (element ${cx.index} of ${cx.batchLength})` : ''}`,
    `  expected: ${record(cx.expected)}`,
    `  got:      ${record(cx.got)}`,
    `  rule:     ${cx.why}`,
  ].join('\n');
}

/** The whole report as text. */
export function formatReport(report: ConformanceReport): string {
  const head = `${report.implementation} (convention ${report.convention}, rounding ${report.rounding}): ${report.passed ? 'conforms' : 'DOES NOT CONFORM'}`;
  const skipped = report.skipped.length ? [`  not provided: ${report.skipped.join(', ')}`] : [];
  return [head, ...report.suites.map((s) => formatSuiteResult(s).replace(/^/gm, '  ')), ...skipped].join('\n');
}

/** Minimal shape of vitest's (or jest's / mocha's) describe and it. */
export interface TestRegistrar {
  describe(name: string, body: () => void): void;
  it(name: string, body: () => void, timeout?: number): void;
}

/**
 * Registers one test per applicable suite under vitest (pass `{ describe, it }` from 'vitest'):
 * a failing suite throws with formatSuiteResult's text, so the runner prints the counterexample.
 */
export function registerConformance(impl: KernelsUnderTest, t: TestRegistrar, opts: ConformanceOptions & { timeout?: number } = {}): void {
  const checks = conformanceChecks(impl, opts);
  t.describe(`conformance: ${impl.name} (${impl.convention})`, () => {
    for (const c of checks) {
      t.it(c.name, () => {
        const r = c.run();
        if (!r.passed) throw new Error(formatSuiteResult(r));
      }, opts.timeout);
    }
  });
}

