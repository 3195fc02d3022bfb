/**
 * QAT's snapshot selection rule (examples/lib/qat-selection.ts): the exact McNemar p-value against
 * independent oracles (binomial tails summed exactly with BigInt from Pascal's triangle, closed
 * forms, the symmetry of Binomial(n, 1/2)), and the rule's decisions on constructed predictions;
 * the paired t-test of the loss rule against the closed-form Student t tails at 1, 2 and 3 degrees
 * of freedom, the normal tail at large ones, and statistics computed by hand.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  binomialHalfUpperTail, chooseQatSnapshot, chooseQatSnapshotByLoss, mcnemarExact, pairedLossTTest, regularizedIncompleteBeta, studentTUpperTail,
} from '../../examples/lib/qat-selection.js';
import { runs } from '../helpers/assert.js';
import { mulberry32 } from '../helpers/rng.js';

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

/** Student t upper tails in closed form (e.g. Abramowitz & Stegun 26.7.3-4): nu = 1 (Cauchy), 2, 3. */
const closedT: Record<number, (t: number) => number> = {
  1: (t) => 0.5 - Math.atan(t) / Math.PI,
  2: (t) => 0.5 - t / (2 * Math.sqrt(2 + t * t)),
  3: (t) => {
    const th = Math.atan(t / Math.sqrt(3));
    return 0.5 - (th + Math.sin(th) * Math.cos(th)) / Math.PI;
  },
};

describe('regularizedIncompleteBeta and studentTUpperTail', () => {
  it('I_x(a, 1) = x^a and I_x(1, b) = 1 - (1 - x)^b', () => {
    for (const x of [0, 0.01, 0.3, 0.5, 0.77, 0.999, 1]) {
      for (const a of [0.5, 1, 2.5, 7]) {
        expect(regularizedIncompleteBeta(x, a, 1)).toBeCloseTo(x ** a, 12);
        expect(regularizedIncompleteBeta(x, 1, a)).toBeCloseTo(1 - (1 - x) ** a, 12);
      }
    }
  });

  it('equals the closed-form t tails at 1, 2 and 3 degrees of freedom', () => {
    let checked = 0;
    for (const nu of [1, 2, 3]) {
      for (const t of [-30, -4, -1.5, -0.2, 0, 0.1, 0.7, 1, 2.5, 6, 50]) {
        expect(studentTUpperTail(t, nu), `nu=${nu} t=${t}`).toBeCloseTo(closedT[nu](t), 12);
        checked++;
      }
    }
    expect(checked).toBe(33);
  });

  it('tends to the normal tail: P(Z >= 1.959964) = 0.025, P(Z >= 1.644854) = 0.05, P(Z >= 3.090232) = 0.001', () => {
    expect(studentTUpperTail(1.959963984540054, 1e7)).toBeCloseTo(0.025, 7);
    expect(studentTUpperTail(1.6448536269514722, 1e7)).toBeCloseTo(0.05, 7);
    expect(studentTUpperTail(3.090232306167813, 1e7)).toBeCloseTo(0.001, 7);
    // the textbook table's critical value: t(0.05; 1999) = 1.64562
    expect(studentTUpperTail(1.64562, 1999)).toBeCloseTo(0.05, 5);
  });

  it('P(T >= t) + P(T >= -t) = 1 and decreases in t', () => {
    fc.assert(
      fc.property(fc.double({ min: -40, max: 40, noNaN: true }), fc.double({ min: 0.5, max: 5000, noNaN: true }), (t, nu) => {
        expect(studentTUpperTail(t, nu) + studentTUpperTail(-t, nu)).toBeCloseTo(1, 10);
        expect(studentTUpperTail(t + 0.1, nu)).toBeLessThanOrEqual(studentTUpperTail(t, nu) + 1e-15);
      }),
      runs(300, 1402),
    );
  });

  it('refuses bad parameters', () => {
    expect(() => studentTUpperTail(1, 0)).toThrow(/degrees of freedom must be > 0/);
    expect(() => studentTUpperTail(NaN, 3)).toThrow(/t is NaN/);
    expect(() => regularizedIncompleteBeta(1.5, 1, 1)).toThrow(/x must be in \[0, 1\]/);
  });
});

describe('pairedLossTTest', () => {
  it('differences 1, 2, 3, 4: mean 2.5, s = sqrt(5/3), t = 2.5 / (s / 2), p from the 3-df closed form', () => {
    const r = pairedLossTTest([1.5, 2.5, 3.5, 4.5], [0.5, 0.5, 0.5, 0.5]);
    const t = 2.5 / (Math.sqrt(5 / 3) / 2);
    expect(r.n).toBe(4);
    expect(r.meanDiff).toBeCloseTo(2.5, 14);
    expect(r.t).toBeCloseTo(t, 12);
    expect(r.p).toBeCloseTo(closedT[3](t), 12);
    expect(r.p).toBeCloseTo(0.01521, 4); // hand: 1/2 - (atan(t/√3) + tan/(1+tan²)) / π with tan = 2.2361
    // the reverse question: is the baseline's loss lower? p = 1 - p
    expect(pairedLossTTest([0.5, 0.5, 0.5, 0.5], [1.5, 2.5, 3.5, 4.5]).p).toBeCloseTo(1 - r.p, 12);
  });

  it('matches a naive two-pass computation on random skewed losses (2,000 images)', () => {
    const rnd = mulberry32(1403);
    const n = 2000;
    const base = Array.from({ length: n }, () => -Math.log(1 - 0.999 * rnd()) * 0.03);
    const cand = base.map((b) => Math.max(0, b - 0.002 + 0.01 * (rnd() - 0.5)));
    const d = base.map((b, i) => b - cand[i]);
    const mean = d.reduce((a, x) => a + x, 0) / n;
    const sd = Math.sqrt(d.reduce((a, x) => a + (x - mean) ** 2, 0) / (n - 1));
    const r = pairedLossTTest(base, cand);
    expect(r.t).toBeCloseTo(mean / (sd / Math.sqrt(n)), 10);
    expect(r.t).toBeGreaterThan(3); // the constructed gain is real
    expect(r.p).toBeLessThan(0.01);
  });

  it('constant differences: p = 0 when positive, 1 when zero or negative; refuses bad input', () => {
    expect(pairedLossTTest([1, 2, 3], [0.5, 1.5, 2.5]).p).toBe(0);
    expect(pairedLossTTest([1, 2, 3], [1, 2, 3]).p).toBe(1);
    expect(pairedLossTTest([1, 2, 3], [2, 3, 4]).p).toBe(1);
    expect(() => pairedLossTTest([1, 2], [1])).toThrow(/2 baseline losses but 1 candidate/);
    expect(() => pairedLossTTest([1], [1])).toThrow(/at least 2/);
    expect(() => pairedLossTTest([1, Infinity], [1, 2])).toThrow(/image 1 is not finite/);
  });
});

describe('chooseQatSnapshotByLoss', () => {
  const N = 2000;
  const labels = Array.from({ length: N }, (_, i) => i % 10);
  const wrongOn = (idx: number[]) => {
    const p = [...labels];
    for (const i of idx) p[i] = (labels[i] + 1) % 10;
    return p;
  };
  const range = (a: number, b: number) => Array.from({ length: b - a }, (_, i) => a + i);
  const rnd = mulberry32(1404);
  const ptqLoss = Array.from({ length: N }, () => 0.02 + 0.02 * rnd());
  const ptq = { predictions: wrongOn(range(0, 14)), losses: ptqLoss };
  const lower = (by: number) => ptqLoss.map((l, i) => l - by + 0.004 * Math.sin(i));

  it('keeps the lowest-loss snapshot when its loss is significantly lower and it is as accurate as PTQ', () => {
    const snaps = [
      { step: '160', predictions: wrongOn(range(2, 14)), losses: lower(0.002) },
      { step: '200', predictions: wrongOn(range(0, 14)), losses: lower(0.004) }, // b = c = 0: accuracy equal
    ];
    const d = chooseQatSnapshotByLoss(labels, ptq, snaps, 0.05);
    expect(d.bestStep).toBe('200');
    expect(d.kept).toBe('200');
    expect(d.lossTest.p).toBeLessThan(1e-6);
    expect(d.test).toMatchObject({ b: 0, c: 0 });
  });

  it('keeps PTQ when the lowest-loss snapshot is less accurate on validation, whatever its loss', () => {
    const d = chooseQatSnapshotByLoss(labels, ptq, [{ step: '200', predictions: wrongOn(range(0, 15)), losses: lower(0.01) }], 0.05);
    expect(d.lossTest.p).toBeLessThan(1e-6);
    expect(d.test).toMatchObject({ b: 0, c: 1 });
    expect(d.kept).toBe('ptq');
  });

  it('keeps PTQ when the loss is not significantly lower, however many images it fixes', () => {
    const noisy = ptqLoss.map((l, i) => l + (i % 2 === 0 ? 0.01 : -0.01) - 1e-5);
    const d = chooseQatSnapshotByLoss(labels, ptq, [{ step: '200', predictions: wrongOn([]), losses: noisy }], 0.05);
    expect(d.test.b).toBe(14);
    expect(d.lossTest.p).toBeGreaterThan(0.4);
    expect(d.kept).toBe('ptq');
  });

  it('refuses a bad alpha, no snapshots, or losses of another length', () => {
    expect(() => chooseQatSnapshotByLoss(labels, ptq, [{ step: 's', ...ptq }], 1)).toThrow(/alpha must be in \(0, 1\)/);
    expect(() => chooseQatSnapshotByLoss(labels, ptq, [], 0.05)).toThrow(/no QAT snapshot/);
    expect(() => chooseQatSnapshotByLoss(labels, ptq, [{ step: 's', predictions: ptq.predictions, losses: [1] }], 0.05)).toThrow(/2000 labels but 1 losses for s/);
  });
});
