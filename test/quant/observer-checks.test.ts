/**
 * MovingAverageMinMaxObserver (issue 11 item 10): the averaging constant must lie in (0, 1]
 * (1.5 extrapolated past the data), and "no data observed yet" means exactly that.
 */
import { describe, expect, it } from 'vitest';
import { MovingAverageMinMaxObserver, MovingAveragePerChannelMinMaxObserver, MinMaxObserver } from '../../src/quant/observer.js';
import { fromArray } from '../../src/index.js';

const range = { qmin: 0, qmax: 255, scheme: 'affine' as const };
/** The observers' qparams method (named calculateQParams here; the refactor of issue 10 may rename it computeQParams). */
type QP = (r: typeof range) => unknown;
const qparams = (o: object) => {
  const named = o as { computeQParams?: QP; calculateQParams?: QP };
  return (named.computeQParams ?? named.calculateQParams)!.call(o, range);
};

describe('averaging constant', () => {
  it.each([1.5, 0, -1, NaN, 5, Infinity])('%s is refused, naming the allowed interval', (c) => {
    expect(() => new MovingAverageMinMaxObserver(c)).toThrow(/averagingConstant must be in \(0, 1\], got/);
    expect(() => new MovingAveragePerChannelMinMaxObserver(0, c)).toThrow(/averagingConstant must be in \(0, 1\]/);
  });
  it('c = 1 tracks the last batch, c = 0.5 averages (closed form)', () => {
    const o = new MovingAverageMinMaxObserver(0.5);
    o.observe(fromArray([0, 2], [2]));
    o.observe(fromArray([-2, 6], [2]));
    expect(o.range()).toEqual({ min: [-1], max: [4] });
    const last = new MovingAverageMinMaxObserver(1);
    last.observe(fromArray([0, 2], [2]));
    last.observe(fromArray([-2, 6], [2]));
    expect(last.range()).toEqual({ min: [-2], max: [6] });
  });
});

describe('"no data observed yet"', () => {
  it('is reported before any data and after reset, and not after data', () => {
    for (const o of [new MinMaxObserver(), new MovingAverageMinMaxObserver(0.1)]) {
      expect(o.initialized).toBe(false);
      expect(() => qparams(o)).toThrow(/no data observed yet/);
      o.observe(fromArray([5, 5], [2])); // a constant batch: min = max, still data
      expect(o.initialized).toBe(true);
      expect(() => qparams(o)).not.toThrow();
      o.reset();
      expect(() => qparams(o)).toThrow(/no data observed yet/);
    }
  });
});
