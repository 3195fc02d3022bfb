/**
 * PyTorch weights in: scripts/fixtures/make_torch_cnn.py built the seed tutorial's CNN in PyTorch
 * 1.13, trained it briefly on MNIST and saved its state_dict() as safetensors together with its
 * eval-mode logits on the first 16 test images. qgrad loads those weights into mnistCnn() by
 * PyTorch's own key names and must reproduce PyTorch's logits (the independent oracle) within
 * 1e-5 relative to max(1, |logit|). The BatchNorm variant also exercises the 0-d int64
 * num_batches_tracked buffers.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { fromArray, MnistLoader, mnistCnn, noGrad } from '../../src/index.js';
import { loadMnist, loadSafetensors } from '../../src/node.js';

const DIR = new URL('../fixtures/torch-cnn/', import.meta.url);

function first16Test(): { x: Float32Array; y: Int32Array } {
  const [batch] = new MnistLoader(loadMnist({ split: 'test', limit: 16 }), { batchSize: 16 });
  return { x: batch.x, y: batch.y };
}

describe('PyTorch state dict (safetensors) -> mnistCnn()', () => {
  for (const [name, opts] of [['cnn', {}], ['cnn-bn', { channels: 8, batchNorm: true }]] as const) {
    it(`${name}: qgrad reproduces PyTorch's logits on 16 MNIST test images within 1e-5`, () => {
      const fixture = JSON.parse(readFileSync(new URL(`${name}-logits.json`, DIR), 'utf8')) as { keys: string[]; labels: number[]; logits: number[][] };
      const model = mnistCnn(opts);
      expect([...model.stateDict().keys()].sort(), 'qgrad keys = torch state_dict() keys').toEqual([...fixture.keys].sort());
      loadSafetensors(fileURLToPath(new URL(`${name}.safetensors`, DIR)), model);
      model.eval();
      const { x, y } = first16Test();
      expect([...y]).toEqual(fixture.labels);
      const logits = noGrad(() => model.call(fromArray(x, [16, 1, 28, 28])).toTypedArray());
      let worst = 0;
      for (let i = 0; i < 16; i++) {
        for (let j = 0; j < 10; j++) {
          const ref = fixture.logits[i][j];
          worst = Math.max(worst, Math.abs(logits[i * 10 + j] - ref) / Math.max(1, Math.abs(ref)));
        }
      }
      expect(worst).toBeLessThanOrEqual(1e-5);
      // The fixture is a trained model, not noise: its logits separate the classes.
      const correct = fixture.labels.filter((l, i) => fixture.logits[i].indexOf(Math.max(...fixture.logits[i])) === l).length;
      expect(correct).toBeGreaterThanOrEqual(12);
    });
  }
});
