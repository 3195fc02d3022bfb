/**
 * Assertions shared by the tensor test suites: elementwise closeness against a reference (with
 * NaN == NaN and exact infinities, as torch.testing.assert_close(equal_nan=True)), and gradient
 * checks that report the worst element when they fail.
 */
import fc from 'fast-check';
import { expect } from 'vitest';
import { gradCheck, Tensor, type GradCheckOptions } from '../../src/index.js';
import type { NDArray } from './reference.js';

export interface CloseOptions {
  rtol?: number;
  atol?: number;
  /** Prefixed to failure messages. */
  label?: string;
}

/** Tolerances for comparing a dtype's results with the float64 reference. */
export function tolFor(dtype: string): { rtol: number; atol: number } {
  return dtype === 'float32' ? { rtol: 1e-5, atol: 1e-5 } : { rtol: 1e-10, atol: 1e-12 };
}

function valuesOf(x: Tensor | NDArray | ArrayLike<number>): { shape?: readonly number[]; data: ArrayLike<number> } {
  if (x instanceof Tensor) return { shape: x.shape, data: x.toTypedArray() };
  if (typeof x === 'object' && x !== null && 'shape' in x && 'data' in x) return { shape: x.shape, data: x.data };
  return { data: x as ArrayLike<number> };
}

/** Asserts same shape (when both sides have one) and |a - e| <= atol + rtol |e| everywhere. */
export function expectClose(actual: Tensor | NDArray | ArrayLike<number>, expected: Tensor | NDArray | ArrayLike<number>, opts: CloseOptions = {}): void {
  const { rtol = 1e-10, atol = 1e-12, label = '' } = opts;
  const a = valuesOf(actual), e = valuesOf(expected);
  const where = label ? `${label}: ` : '';
  if (a.shape && e.shape) expect([...a.shape], `${where}shape`).toEqual([...e.shape]);
  expect(a.data.length, `${where}element count`).toBe(e.data.length);
  for (let i = 0; i < e.data.length; i++) {
    const x = a.data[i], y = e.data[i];
    const ok = Number.isNaN(y) ? Number.isNaN(x) : !Number.isFinite(y) ? x === y : Math.abs(x - y) <= atol + rtol * Math.abs(y);
    if (!ok) {
      expect.fail(`${where}element ${i} is ${x}, expected ${y} (rtol ${rtol}, atol ${atol})\nactual:   ${fmt(a.data)}\nexpected: ${fmt(e.data)}`);
    }
  }
}

function fmt(d: ArrayLike<number>): string {
  const xs = Array.from(d).slice(0, 24).map((v) => (Number.isInteger(v) ? String(v) : v.toPrecision(6)));
  return `[${xs.join(', ')}${d.length > 24 ? ', ...' : ''}]`;
}

/** Asserts that fn's analytic gradient matches central differences for every input requiring grad. */
export function expectGradOk(fn: (...xs: Tensor[]) => Tensor, inputs: Tensor[], opts: GradCheckOptions & { label?: string } = {}): void {
  const r = gradCheck(fn, inputs, opts);
  if (!r.ok) {
    const w = r.worst;
    expect.fail(
      `${opts.label ?? 'gradCheck'} failed: input ${w?.input} element ${w?.index}: analytic ${w?.analytic}, numeric ${w?.numeric} (max abs error ${r.maxAbsError})`,
    );
  }
}

/** Runs fn and returns the message of the Error it throws (fails the test if it does not throw). */
export function errorOf(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(Error);
    return (e as Error).message;
  }
  return expect.fail('expected an error, none was thrown');
}

/**
 * fast-check parameters for a property: a fixed seed (so a run is reproducible and CI cannot fail
 * on a correct change by drawing new cases) and numRuns scaled by QGRAD_FC_SCALE (default 1), so
 * a slow backend's suite can run fewer cases and a soak run many more, without editing the tests.
 * QGRAD_FC_SEED replaces the seed (explore new cases on purpose). On failure fast-check's message
 * names the seed and the counterexample path; `reporter` adds the seed in one line to stderr.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export function runs(numRuns: number, seed = DEFAULT_SEED): { numRuns: number; seed: number; reporter: (d: fc.RunDetails<any>) => void } {
  const scale = Number(process.env.QGRAD_FC_SCALE ?? '1');
  const envSeed = Number(process.env.QGRAD_FC_SEED);
  const s = Number.isInteger(envSeed) && process.env.QGRAD_FC_SEED !== undefined && process.env.QGRAD_FC_SEED !== '' ? envSeed : seed;
  return {
    numRuns: Math.max(1, Math.round(numRuns * (Number.isFinite(scale) && scale > 0 ? scale : 1))),
    seed: s,
    reporter: (d) => {
      if (d.failed) {
        process.stderr.write(`fast-check property failed with seed ${d.seed} (path ${d.counterexamplePath}); rerun with QGRAD_FC_SEED=${d.seed}\n`);
        const cause = d.errorInstance instanceof Error ? `\n${d.errorInstance.message}` : '';
        throw new Error(`${fc.defaultReportMessage(d) ?? `property failed (seed ${d.seed})`}${cause}`);
      }
    },
  };
}

/** The seed of every property that does not name its own. */
export const DEFAULT_SEED = 20261206;
