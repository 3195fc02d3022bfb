/**
 * Memory without tidy() on the cpu-side backends (issue 11, item 7): buffers that no tensor
 * references are freed by the garbage collector, also inside a synchronous loop that never yields
 * (where a FinalizationRegistry callback never runs). A conv training loop without tidy() must stay
 * under 2x the memory of the same loop with tidy(). Measured as ArrayBuffer bytes (where tensor data
 * lives) after a full, synchronous GC; the full 2000-step figure is scripts/memory-no-tidy.ts.
 */
import v8 from 'node:v8';
import vm from 'node:vm';
import { describe, expect, it } from 'vitest';
import { F, fromArray, Generator, getDefaultDevice, setDefaultDevice, tidy } from '../../src/index.js';
import { mnistCnn, SGD } from '../../src/nn/index.js';
import { CPU_SIDE_DEVICES } from '../helpers/devices.js';

// A synchronous full GC without --expose-gc on the command line. Twice: V8 frees ArrayBuffer
// backing stores on a background sweeper after a GC, and the next GC waits for that sweep to end,
// so the count read after the second one is complete even on a loaded machine.
v8.setFlagsFromString('--expose_gc');
const fullGc = vm.runInNewContext('gc') as () => void;
const gc = () => {
  fullGc();
  fullGc();
};

/** ArrayBuffer bytes held after `steps` training steps (with or without tidy), all in one task. */
function arrayBytesAfter(steps: number, useTidy: boolean): number {
  const model = mnistCnn({ generator: new Generator(3), channels: 4 });
  const opt = new SGD(model.parameters(), { lr: 0.01 });
  const x = fromArray(Array.from({ length: 8 * 784 }, (_, i) => Math.sin(i) * 0.5), [8, 1, 28, 28]);
  const labels = [0, 1, 2, 3, 4, 5, 6, 7];
  const step = () => {
    opt.zeroGrad();
    F.crossEntropy(model.call(x), labels).backward();
    opt.step();
  };
  gc();
  const before = process.memoryUsage().arrayBuffers;
  for (let s = 0; s < steps; s++) {
    if (useTidy) tidy(step);
    else step();
  }
  gc();
  return process.memoryUsage().arrayBuffers - before;
}

describe('memory without tidy()', () => {
  for (const device of CPU_SIDE_DEVICES) {
    it(`${device}: 40 conv training steps without tidy() hold < 2x the memory of the loop with tidy()`, () => {
      const prev = getDefaultDevice();
      setDefaultDevice(device);
      try {
        arrayBytesAfter(2, true); // warm up: kernels, workspaces, the buffer pool
        const withTidy = arrayBytesAfter(40, true);
        const without = arrayBytesAfter(40, false);
        // Before the fix every step's ~0.7 MB stayed reachable from the finalization registry
        // (about 28 MB here); now the garbage collector frees them. The floor of 4 MB covers a
        // tidy loop that holds almost nothing beyond the model.
        const MB = 2 ** 20;
        expect(without / MB, `without tidy ${(without / MB).toFixed(1)} MB, with tidy ${(withTidy / MB).toFixed(1)} MB`).toBeLessThan(Math.max(2 * withTidy, 4 * MB) / MB);
      } finally {
        setDefaultDevice(prev);
      }
    });
  }
});

describe('gpu backend', () => {
  it('warns once live buffers pass the threshold, and again each time they double', async () => {
    const { gpuBackend, MODES } = await import('./gpu/modes.js');
    const { vi } = await import('vitest');
    const b = gpuBackend(MODES[0]);
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => {});
    try {
      const base = b.liveBuffers();
      b.liveBufferWarning = base + 10;
      const bufs = Array.from({ length: 25 }, () => b.alloc('float32', 4));
      // Crossed base + 10 and base + 20: two warnings naming tidy().
      expect(warn).toHaveBeenCalledTimes(2);
      expect(String(warn.mock.calls[0][0])).toMatch(/live buffers and growing.*tidy\(\)/);
      for (const x of bufs) b.dispose(x);
    } finally {
      warn.mockRestore();
    }
  });
});
