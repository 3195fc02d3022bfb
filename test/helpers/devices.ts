/**
 * One op suite over every cpu-side backend: `onEachDevice(() => { describe(...) ... })` runs the
 * suite's describe blocks once with the default device 'cpu' (the reference) and once with 'wasm'
 * (the fast kernels), against the same oracles. These suites work in float64, which the gpu
 * backend does not hold (float textures); every accelerated backend (wasm and the gpu in each
 * gpu.js mode) instead runs one shared suite of Backend primitives in float32 and int32 against
 * the cpu reference (test/tensor/backend-primitives.test.ts).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getDefaultDevice, setDefaultDevice, zeros } from '../../src/index.js';

export const CPU_SIDE_DEVICES = ['cpu', 'wasm'] as const;

export function onEachDevice(body: () => void): void {
  describe.each(CPU_SIDE_DEVICES)('on device %s', (device) => {
    let before = getDefaultDevice();
    beforeAll(() => {
      before = getDefaultDevice();
      setDefaultDevice(device);
    });
    afterAll(() => setDefaultDevice(before));
    it(`creates tensors on ${device}`, () => expect(zeros([1]).device).toBe(device));
    body();
  });
}
