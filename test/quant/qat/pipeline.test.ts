/**
 * The whole pipeline, end to end, on a few hundred real MNIST images, kept small (8 channels,
 * batches of 32): train float → prepareQAT → calibrate → QAT (BN frozen, then activation ranges
 * frozen, as the example does) → convert → Int8Model. The integer model's accuracy must equal the
 * fake-quant model's within a small margin, with nearly all predictions identical, and the
 * pipeline must have learned something (well above chance) so the comparison means something.
 */
import { describe, expect, it } from 'vitest';
import { Adam, evaluate, Generator, mnistCnn, SGD, trainEpoch } from '../../../src/index.js';
import { calibrate, convert, fakeQuantizers, freezeBn, Int8Model, prepareQAT, qconfig, QConvBn2d } from '../../../src/quant/index.js';
import { mnistBatches } from './helpers.js';

describe('float → QAT → int8 on real MNIST', () => {
  for (const batchNorm of [false, true]) {
    it(`mnistCnn(channels 8${batchNorm ? ', batchNorm' : ''}): int8 accuracy = fake-quant accuracy within 1%`, () => {
      const train = mnistBatches('train', 384, 32);
      const test = mnistBatches('test', 256, 64);

      const model = mnistCnn({ channels: 8, batchNorm, generator: new Generator(batchNorm ? 22 : 21) });
      trainEpoch(model, new Adam(model.parameters(), { lr: 1e-2 }), train.slice(0, 10));
      const floatAcc = evaluate(model, test).accuracy;

      const q = prepareQAT(model, { default: qconfig({ bits: 8 }) });
      calibrate(q, train.slice(10, 11));
      // QAT: observers and fake quantization on, a few steps; then freeze BN and activation ranges
      for (const fq of fakeQuantizers(q)) fq.enableObserver(true).enableFakeQuant(true);
      const opt = new SGD(q.parameters(), { lr: 0.01, momentum: 0.9 });
      trainEpoch(q, opt, train.slice(9, 11));
      freezeBn(q);
      for (const fq of fakeQuantizers(q)) if (!fq.config.signed) fq.enableObserver(false);
      const loss = trainEpoch(q, opt, train.slice(11, 12));
      expect(Number.isFinite(loss)).toBe(true);
      if (batchNorm) expect(q.namedChildren().filter(([, m]) => m instanceof QConvBn2d && m.bnFrozen)).toHaveLength(2);

      const fqRes = evaluate(q, test);
      const int8 = new Int8Model(convert(q, { inputShape: [1, 28, 28] }));
      const intRes = evaluate(q, test, { forward: (x, shape) => int8.forward(x, shape[0]) });

      expect(floatAcc, 'the float model learned something').toBeGreaterThan(0.5);
      expect(fqRes.accuracy, `fake-quant ${fqRes.accuracy} vs float ${floatAcc}`).toBeGreaterThan(floatAcc - 0.1);
      expect(Math.abs(intRes.accuracy - fqRes.accuracy), `int8 ${intRes.accuracy} vs fake-quant ${fqRes.accuracy}`).toBeLessThanOrEqual(0.01);
      const same = intRes.predictions.filter((p, i) => p === fqRes.predictions[i]).length / intRes.count;
      expect(same, 'prediction agreement').toBeGreaterThanOrEqual(0.98);
      expect(intRes.count).toBe(256);
    });
  }
});
