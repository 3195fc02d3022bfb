import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Generator } from '../../../src/index.js';
import { MnistResNet, SGD, trainEpoch, type GraphModule } from '../../../src/nn/index.js';
import { loadCheckpoint, saveCheckpoint } from '../../../src/node.js';
import { freezeBn, prepareQAT, qconfig, setQuantState } from '../../../src/quant/index.js';
import { randomBatches } from './helpers.js';
import { batchTensor } from '../graph/helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'qgrad-resume-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const shape: [number, number, number] = [1, 12, 12];
const batches = randomBatches(6, 8, shape, 77);

function fresh(learnable: boolean, observer: 'movingAverage' | 'histogram'): GraphModule {
  const model = new MnistResNet({ channels: 4, generator: new Generator(11) });
  return prepareQAT(model, { default: qconfig({ bits: 4, learnable, activationObserver: observer }) }, { exampleInput: batchTensor(1, 2, shape) });
}

/** QAT steps [from, to): BN frozen from step 2, observers off from step 4 (a usual schedule). */
function train(gm: GraphModule, from: number, to: number): void {
  const opt = new SGD(gm.parameters(), { lr: 0.05 });
  for (let s = from; s < to; s++) {
    if (s === 2) freezeBn(gm);
    if (s === 4) setQuantState(gm, { observe: false });
    trainEpoch(gm, opt, [batches[s]]);
  }
}

function bits(gm: GraphModule): Map<string, number[]> {
  return new Map([...gm.stateDict()].map(([k, t]) => [k, Array.from(t.toTypedArray())]));
}

describe('quantization state in state dicts', () => {
  for (const [learnable, observer] of [[false, 'movingAverage'], [true, 'movingAverage'], [false, 'histogram']] as const) {
    it(`saving mid-QAT and resuming gives the uninterrupted run's state bit for bit (${learnable ? 'LSQ' : 'observed'} scales, ${observer})`, () => {
      const straight = fresh(learnable, observer);
      train(straight, 0, 6);

      const first = fresh(learnable, observer);
      train(first, 0, 3);
      const file = join(dir, `mid-${learnable}-${observer}.ckpt`);
      saveCheckpoint(file, first);
      const resumed = fresh(learnable, observer);
      loadCheckpoint(file, resumed);
      train(resumed, 3, 6);

      const a = bits(straight), b = bits(resumed);
      expect([...b.keys()]).toEqual([...a.keys()]);
      for (const [k, v] of a) expect(b.get(k), k).toEqual(v);
      // The state holds what a resume needs, by name.
      expect(a.has('layer1.conv1.bn_frozen')).toBe(true);
      expect(a.get('layer1.add.activation_fq.observer_enabled')).toEqual([0]);
      expect(a.has(observer === 'histogram' ? 'layer1.add.activation_fq.observer.counts' : 'layer1.add.activation_fq.observer.min')).toBe(true);
    });
  }

  it('a resume that drops the quantization state does not match (the test can fail)', () => {
    const straight = fresh(false, 'movingAverage');
    train(straight, 0, 6);
    const first = fresh(false, 'movingAverage');
    train(first, 0, 3);
    const partial = new Map([...first.namedParameters(), ...first.namedBuffers()]);
    const resumed = fresh(false, 'movingAverage');
    resumed.loadStateDict(partial, { strict: false });
    train(resumed, 3, 6);
    const a = bits(straight), b = bits(resumed);
    expect([...a].some(([k, v]) => JSON.stringify(b.get(k)) !== JSON.stringify(v))).toBe(true);
  });

  it('rejects invalid quantization state by name, loading nothing', () => {
    const gm = fresh(false, 'movingAverage');
    train(gm, 0, 1);
    const state = gm.stateDict();
    const before = bits(gm);
    const bad = new Map(state);
    const zp = state.get('layer1.add.activation_fq.qparams.zero_point')!;
    bad.set('layer1.add.activation_fq.qparams.zero_point', zp.mul(0).add(99).to({ dtype: 'int32' }));
    bad.set('fc.linear.weight', state.get('fc.linear.weight')!.mul(2));
    expect(() => gm.loadStateDict(bad)).toThrow(/'layer1.add.activation_fq': 'qparams.zero_point'\[0\] = 99 is outside \[0, 15\]/);
    expect(bits(gm)).toEqual(before);
  });
});
