/**
 * QAT's snapshot selection rule (examples/lib/qat-selection.ts): the exact McNemar p-value against
 * independent oracles (binomial tails summed exactly with BigInt from Pascal's triangle, closed
 * forms, the symmetry of Binomial(n, 1/2)), and the rule's decisions on constructed predictions.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { binomialHalfUpperTail, chooseQatSnapshot, mcnemarExact } from '../../examples/lib/qat-selection.js';
import { runs } from '../helpers/assert.js';

/** P(X >= k), X ~ Bin(n, 1/2), as an exact rational: sum of Pascal's row n from k, over 2^n. */
function exactTail(n: number, k: number): number {
  let row = [1n];
  for (let i = 0; i < n; i++) row = [...row, 0n].map((v, j) => v + (j > 0 ? row[j - 1] : 0n));
  let num = 0n;
  for (let j = Math.max(k, 0); j <= n; j++) num += row[j];
  // divide in floating point only at the end: num / 2^n
  return Number(num) / 2 ** n;
}

describe('binomialHalfUpperTail', () => {
  it('equals the exact BigInt tail for every k at n up to 60', () => {
    let checked = 0;
    for (const n of [0, 1, 2, 3, 7, 12, 25, 40, 60]) {
      for (let k = -1; k <= n + 1; k++) {
        const want = exactTail(n, k);
        const got = binomialHalfUpperTail(n, k);
        expect(Math.abs(got - want), `n=${n} k=${k}: ${got} vs ${want}`).toBeLessThanOrEqual(1e-12 * Math.max(want, 1e-300) + 1e-300);
        checked++;
      }
    }
    expect(checked).toBe(177); // sum of (n + 3) over the nine n
  });

  it('closed forms: P(X >= n) = 2^-n, P(X >= n-1) = (n+1)/2^n, odd n: P(X >= (n+1)/2) = 1/2, and b=10 of 12 is 79/4096', () => {
    for (const n of [1, 5, 20, 100, 1000]) {
      expect(binomialHalfUpperTail(n, n) / 2 ** -n).toBeCloseTo(1, 10);
      expect(binomialHalfUpperTail(n, n - 1) / ((n + 1) * 2 ** -n)).toBeCloseTo(1, 10);
    }
    for (const n of [1, 3, 11, 101, 2001]) expect(binomialHalfUpperTail(n, (n + 1) / 2)).toBeCloseTo(0.5, 10);
    // C(12,10) + C(12,11) + C(12,12) = 66 + 12 + 1
    expect(binomialHalfUpperTail(12, 10)).toBeCloseTo(79 / 4096, 15);
  });

  it('symmetry of Bin(n, 1/2): P(X >= k) + P(X >= n - k + 1) = 1, up to n = 5000', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 5000 }), fc.double({ min: 0, max: 1, noNaN: true }), (n, u) => {
        const k = Math.round(u * (n + 1));
        const s = binomialHalfUpperTail(n, k) + binomialHalfUpperTail(n, n - k + 1);
        expect(s).toBeCloseTo(1, 9);
      }),
      runs(200, 1401),
    );
  });

  it('refuses non-integer or negative counts', () => {
    expect(() => binomialHalfUpperTail(-1, 0)).toThrow(/n must be an integer >= 0/);
    expect(() => binomialHalfUpperTail(3.5, 1)).toThrow(/n must be an integer/);
    expect(() => binomialHalfUpperTail(4, 1.5)).toThrow(/k must be an integer/);
  });
});

describe('mcnemarExact', () => {
  it('counts the discordant images each way and tests b against Bin(b + c, 1/2)', () => {
    // 20 images: both right on 6, both wrong on 2, candidate only on 10, baseline only on 2
    const labels: number[] = [], base: number[] = [], cand: number[] = [];
    const add = (n: number, bOk: boolean, cOk: boolean) => {
      for (let i = 0; i < n; i++) {
        const y = (labels.length * 7) % 10;
        labels.push(y);
        base.push(bOk ? y : (y + 1) % 10);
        cand.push(cOk ? y : (y + 2) % 10);
      }
    };
    add(6, true, true); add(2, false, false); add(10, false, true); add(2, true, false);
    const r = mcnemarExact(labels, base, cand);
    expect(r.b).toBe(10);
    expect(r.c).toBe(2);
    expect(r.p).toBeCloseTo(79 / 4096, 15);
  });

  it('refuses predictions of another length', () => {
    expect(() => mcnemarExact([1, 2, 3], [1, 2], [1, 2, 3])).toThrow(/3 labels but 2 baseline/);
  });
});

describe('chooseQatSnapshot', () => {
  const N = 2000;
  const labels = Array.from({ length: N }, (_, i) => i % 10);
  /** predictions right everywhere except on the listed image indices */
  const wrongOn = (idx: number[]) => {
    const p = [...labels];
    for (const i of idx) p[i] = (labels[i] + 1) % 10;
    return p;
  };
  const range = (a: number, b: number) => Array.from({ length: b - a }, (_, i) => a + i);
  const ptq = wrongOn(range(0, 30));

  it('keeps PTQ when the best snapshot is better by a few images only (p > alpha)', () => {
    // snapshot fixes 3 of PTQ's errors and makes 1 new one: +2 images, p = P(X >= 3 | 4) = 5/16
    const snap = wrongOn([...range(3, 30), 1000]);
    const d = chooseQatSnapshot(labels, ptq, [{ step: '160', predictions: snap }], 0.05);
    expect(d.kept).toBe('ptq');
    expect(d.bestStep).toBe('160');
    expect(d.test).toMatchObject({ b: 3, c: 1 });
    expect(d.test.p).toBeCloseTo(5 / 16, 12);
  });

  it('leaves PTQ when the gain is significant, and takes the more accurate snapshot (the earlier on ties)', () => {
    const a = wrongOn(range(20, 30)); // fixes 20: b = 20, c = 0, p = 2^-20
    const b = wrongOn(range(15, 25)); // also fixes 20, same accuracy, later
    const worse = wrongOn(range(10, 30));
    const d = chooseQatSnapshot(labels, ptq, [{ step: '80', predictions: worse }, { step: '160', predictions: a }, { step: '200', predictions: b }], 0.05);
    expect(d.kept).toBe('160');
    expect(d.test.b).toBe(20);
    expect(d.test.c).toBe(0);
    expect(d.test.p).toBeCloseTo(2 ** -20, 15);
  });

  it('keeps PTQ when every snapshot is worse', () => {
    const d = chooseQatSnapshot(labels, ptq, [{ step: '200', predictions: wrongOn(range(0, 40)) }], 0.05);
    expect(d.kept).toBe('ptq');
    expect(d.test.b).toBe(0);
    expect(d.test.p).toBe(1);
  });

  it('the threshold is alpha: p exactly at alpha keeps the snapshot, just above keeps PTQ', () => {
    // b = 5, c = 0: p = 1/32
    const snap = wrongOn(range(5, 30));
    expect(chooseQatSnapshot(labels, ptq, [{ step: 's', predictions: snap }], 1 / 32).kept).toBe('s');
    expect(chooseQatSnapshot(labels, ptq, [{ step: 's', predictions: snap }], 1 / 33).kept).toBe('ptq');
  });

  it('refuses a bad alpha, no snapshots, or predictions of another length', () => {
    expect(() => chooseQatSnapshot(labels, ptq, [{ step: 's', predictions: ptq }], 0)).toThrow(/alpha must be in \(0, 1\)/);
    expect(() => chooseQatSnapshot(labels, ptq, [], 0.05)).toThrow(/no QAT snapshot/);
    expect(() => chooseQatSnapshot(labels, ptq, [{ step: 's', predictions: [1, 2] }], 0.05)).toThrow(/2000 labels but 2 predictions/);
  });
});
