/**
 * Issue 17's precision check at CI size: the seed CNN trained 5 SGD steps (lr 0.01, momentum 0.5,
 * batch 64, the first 320 training images in file order) in float32 with the wasm kernels must
 * end within 1.5e-6 (relative L2 of the logits on 64 test images) of the same training in float64
 * on the reference backend, the bound (PyTorch 1.13's own float32-vs-float64 drift on
 * this experiment: 5.2e-7 after 5 steps, 4.7e-7 after 20; scripts/torch_drift.py). The full
 * 20-step figure is `npx tsx scripts/precision-drift.ts` (docs/performance.md). The drift does not
 * grow with the number of steps here (5 and 20 steps give the same order), so the bound is not
 * scaled down. The float32 training is also bit-identical on 1 and 2 threads.
 */
import { afterAll, describe, expect, it } from 'vitest';
import '../../../src/tensor/wasm/index.js';
import { setWasmKernelConfig, shutdownThreads, wasmSimdAvailable } from '../../../src/tensor/wasm/index.js';
import { relativeDiff, trainRun } from '../../helpers/drift.js';
import { useThreads } from './util.js';

afterAll(async () => {
  await shutdownThreads();
  setWasmKernelConfig();
});

const opts = { steps: 5, evalImages: 64 };

describe('float32 training on the wasm kernels vs float64 on the reference', () => {
  it('drifts no more than PyTorch allows (<= 1.5e-6 after 5 steps), identically on 1 and 2 threads', async () => {
    expect(wasmSimdAvailable()).toBe(true);
    const ref = trainRun('float64', 'cpu', opts);
    await useThreads(1);
    const one = trainRun('float32', 'wasm', opts);
    const d = relativeDiff(one.logits, ref.logits);
    console.log(`5-step drift, wasm float32 vs cpu float64: relative L2 ${d.l2.toExponential(3)}, max ${d.max.toExponential(3)}`);
    // The two runs really trained (the loss moved) and followed the same trajectory.
    expect(ref.losses[4]).toBeLessThan(ref.losses[0]! - 0.05);
    expect(d.l2).toBeGreaterThan(0);
    expect(d.l2).toBeLessThanOrEqual(1.5e-6);
    await useThreads(2);
    const two = trainRun('float32', 'wasm', opts);
    expect(two.losses).toEqual(one.losses);
    expect(two.logits).toEqual(one.logits);
  }, 120_000);
});
