/**
 * qconfig, makeObserver and HistogramObserver check their string options at run time: a plain
 * JavaScript caller (or a JSON config) passing a misspelt option gets an error naming the option
 * and its allowed values at construction, not a TypeError after the float phase (issue 11).
 */
import { describe, expect, it } from 'vitest';
import { qconfig, makeObserver, HistogramObserver, FakeQuantize, type QConfigOptions, type FakeQuantConfig } from '../../../src/quant/index.js';

const js = <T>(v: unknown) => v as T; // what an untyped caller can pass

describe('qconfig run-time option checks', () => {
  it.each([
    [{ activationObserver: 'bogus' }, /qconfig: activationObserver must be one of minmax, movingAverage, histogram; got "bogus"/],
    [{ calibration: 'bogus' }, /qconfig: calibration must be one of max, percentile, mse, kl; got "bogus"/],
    [{ rounding: 'halfUp' }, /qconfig: rounding must be one of halfEven, halfAwayFromZero; got "halfUp"/],
    [{ weightScheme: 'asym' }, /qconfig: weightScheme must be one of affine, symmetric/],
    [{ rouding: 'halfAwayFromZero' }, /qconfig: unknown option 'rouding'; known: .*rounding/],
  ])('%j', (o, re) => {
    expect(() => qconfig(js<QConfigOptions>(o))).toThrow(re);
  });
  it('valid options still build the documented config', () => {
    const c = qconfig({ bits: 4, activationObserver: 'histogram', calibration: 'kl', rounding: 'halfAwayFromZero' });
    expect([c.activation.bits, c.activation.observer, c.activation.calibration, c.weight.rounding]).toEqual([4, 'histogram', 'kl', 'halfAwayFromZero']);
  });
});

describe('observers', () => {
  it('makeObserver / FakeQuantize refuse an unknown observer kind', () => {
    const cfg = js<FakeQuantConfig>({ bits: 8, signed: false, scheme: 'affine', observer: 'bogus' });
    expect(() => makeObserver(cfg)).toThrow(/observer must be one of minmax, movingAverage, histogram; got "bogus"/);
    expect(() => new FakeQuantize(cfg)).toThrow(/got "bogus"/);
  });
  it('HistogramObserver refuses an unknown calibration method', () => {
    expect(() => new HistogramObserver({ method: js('bogus') })).toThrow(/method must be one of max, percentile, mse, kl; got "bogus"/);
  });
});
