/**
 * Differential test against PyTorch 1.13 (issue 11, item 13): seeded chains of 1-4 ops over views
 * (permute, transpose, stepped slices, expanded size-1 dims, size-1 dims with other strides),
 * broadcasting, and inf / -inf / NaN / 0 inputs and infinite upstream gradients. The forward values
 * and every input's gradient, in float64, were computed by PyTorch with
 * scripts/fixtures/make_diff_fixtures.py (committed in test/fixtures/diff/cases.json); this file
 * replays them on every cpu-side device and compares NaN-aware (NaN matches NaN, an infinity must
 * match exactly, finite values within 1e-9 relative).
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { F, fromArray, type Tensor } from '../../src/index.js';
import { onEachDevice } from '../helpers/devices.js';

type Num = number | 'nan' | 'inf' | '-inf';
type Step = ['permute', number[]] | ['transpose', number, number] | ['slice', number, number, number, number] | ['expand', number[]];
interface Case {
  in: [number[], Num[], Step[]][];
  ops: [string, ...number[]][];
  up: Num[];
  out: [number[], Num[]];
  grad: Num[][];
}
const fixture = JSON.parse(readFileSync(new URL('../fixtures/diff/cases.json', import.meta.url), 'utf8')) as { torch: string; seed: number; cases: Case[] };

const dec = (v: Num): number => (v === 'nan' ? NaN : v === 'inf' ? Infinity : v === '-inf' ? -Infinity : v);

function view(t: Tensor, steps: Step[]): Tensor {
  for (const s of steps) {
    if (s[0] === 'permute') t = t.permute(s[1]);
    else if (s[0] === 'transpose') t = F.transpose(t, s[1], s[2]);
    else if (s[0] === 'slice') t = t.slice(s[1], s[2], s[3], s[4]);
    else t = t.expand(s[1]);
  }
  return t;
}

const UNARY: Record<string, (x: Tensor) => Tensor> = {
  neg: F.neg, exp: F.exp, log: F.log, sqrt: F.sqrt, abs: F.abs, relu: F.relu, sigmoid: F.sigmoid, tanh: F.tanh, square: F.square,
};
const BINARY: Record<string, (a: Tensor, b: Tensor) => Tensor> = {
  add: F.add, sub: F.sub, mul: F.mul, div: F.div, maximum: F.maximum, minimum: F.minimum, pow: F.pow,
};

function run(xs: Tensor[], ops: Case['ops']): Tensor {
  let cur = xs[0];
  for (const [name, a, b] of ops) {
    if (UNARY[name]) cur = UNARY[name](cur);
    else if (BINARY[name]) cur = BINARY[name](cur, xs[a]);
    else if (name === 'clamp') cur = F.clamp(cur, a, b);
    else if (name === 'where') cur = F.where(F.gt(cur, xs[a]), cur, xs[a]);
    else if (name === 'matmul') cur = F.matmul(cur, xs[a]);
    else if (name === 'sum') cur = F.sum(cur, a, true);
    else if (name === 'mean') cur = F.mean(cur, a, true);
    else if (name === 'softmax') cur = F.softmax(cur, a);
    else if (name === 'logSoftmax') cur = F.logSoftmax(cur, a);
    else throw new Error(`unknown op ${name}`);
  }
  return cur;
}

/** The first mismatch of actual against expected, NaN-aware, or null. */
function mismatch(actual: ArrayLike<number>, expected: Num[], rtol = 1e-9, atol = 1e-12): string | null {
  if (actual.length !== expected.length) return `length ${actual.length}, expected ${expected.length}`;
  for (let i = 0; i < expected.length; i++) {
    const x = actual[i], y = dec(expected[i]);
    const ok = Number.isNaN(y) ? Number.isNaN(x) : !Number.isFinite(y) ? x === y : Math.abs(x - y) <= atol + rtol * Math.abs(y);
    if (!ok) return `element ${i}: ${x}, PyTorch ${y}`;
  }
  return null;
}

function replay(c: Case): string[] {
  const problems: string[] = [];
  const leaves = c.in.map(([shape, vals]) => fromArray(vals.map(dec), shape, { dtype: 'float64', requiresGrad: true }));
  const xs = leaves.map((l, i) => view(l, c.in[i][2]));
  const y = run(xs, c.ops);
  if (JSON.stringify([...y.shape]) !== JSON.stringify(c.out[0])) return [`shape [${y.shape}], PyTorch [${c.out[0]}]`];
  const m = mismatch(y.toTypedArray(), c.out[1]);
  if (m) problems.push(`forward ${m}`);
  y.backward(fromArray(c.up.map(dec), [...y.shape], { dtype: 'float64' }));
  leaves.forEach((l, i) => {
    const g = l.grad ? l.grad.toTypedArray() : new Float64Array(l.size);
    const gm = mismatch(g, c.grad[i]);
    if (gm) problems.push(`grad of input ${i}: ${gm}`);
  });
  return problems;
}

const describeCase = (c: Case, k: number) =>
  `case ${k}: ops ${JSON.stringify(c.ops)} inputs ${JSON.stringify(c.in.map(([s, , v]) => [s, v]))}`;

describe('PyTorch differential fixtures', () => {
  it('were made by PyTorch 1.13 with a fixed seed and cover views, broadcasting and special values', () => {
    expect(fixture.torch.startsWith('1.13')).toBe(true);
    const cs = fixture.cases;
    expect(cs.length).toBeGreaterThanOrEqual(300);
    const has = (p: (c: Case) => boolean) => cs.filter(p).length;
    // Chosen coverage, counted on the committed cases (the file does not change between runs).
    expect(has((c) => c.in.some(([, v]) => v.some((x) => x === 'nan')))).toBeGreaterThan(20);
    expect(has((c) => c.in.some(([, v]) => v.some((x) => x === 'inf' || x === '-inf')))).toBeGreaterThan(20);
    expect(has((c) => c.up.some((x) => x === 'inf' || x === '-inf'))).toBeGreaterThan(20);
    for (const step of ['permute', 'transpose', 'slice', 'expand']) expect(has((c) => c.in.some(([, , v]) => v.some((s) => s[0] === step))), step).toBeGreaterThan(20);
    for (const op of ['relu', 'clamp', 'where', 'maximum', 'minimum', 'pow', 'matmul', 'softmax', 'logSoftmax']) expect(has((c) => c.ops.some((o) => o[0] === op)), op).toBeGreaterThan(5);
  });
});

onEachDevice(() => {
  describe('replays PyTorch 1.13 forward values and gradients (float64)', () => {
    it(`all ${fixture.cases.length} cases`, () => {
      const failures: string[] = [];
      fixture.cases.forEach((c, k) => {
        let problems: string[];
        try {
          problems = replay(c);
        } catch (e) {
          problems = [`threw ${(e as Error).message}`];
        }
        if (problems.length) failures.push(`${describeCase(c, k)}: ${problems.join('; ')}`);
      });
      expect(failures.slice(0, 10).join('\n'), `${failures.length} of ${fixture.cases.length} cases differ`).toBe('');
    });
  });
});
