/** CosineAnnealingLR refuses a period that is not a positive count (tMax = 0 made lr NaN; issue 11 item 10). */
import { expect, it } from 'vitest';
import '../../../src/index.js'; // registers the cpu backend
import { CosineAnnealingLR, SGD, Linear } from '../../../src/nn/index.js';

it('CosineAnnealingLR(opt, 0) and other bad periods are refused; tMax = 1 works', () => {
  const opt = new SGD(new Linear(2, 1).parameters(), { lr: 0.1 });
  for (const t of [0, -1, 0.5, NaN, Infinity]) expect(() => new CosineAnnealingLR(opt, t)).toThrow(/CosineAnnealingLR: tMax must be a positive integer/);
  expect(() => new CosineAnnealingLR(opt, 10, -1)).toThrow(/etaMin must be a finite number >= 0/);
  const s = new CosineAnnealingLR(opt, 1);
  s.step();
  expect(opt.lr).toBe(0); // eta_min + (0.1 - 0)(1 + cos(pi))/2 = 0
});
