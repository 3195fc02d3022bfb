/**
 * Which gpu.js modes the gpu test suites run on, and one registered backend per mode.
 *
 * Default: webasm (runs everywhere) and gpu.js's cpu mode, plus headlessgl when an X display is
 * present (run `xvfb-run -a npx vitest run test/gpu`). QGRAD_GPU_TEST_MODES=webasm,headlessgl
 * overrides the list. A mode that is listed but cannot run here is reported by
 * environment.test.ts (and fails it when QGRAD_EXPECT_HEADLESSGL=1), not silently dropped from it.
 *
 * Each mode's backend is registered as device 'gpu-<mode>', so tensors can be moved to it with
 * x.to('gpu-webasm') and the cpu backend stays the reference in the same process.
 */
import { expect } from 'vitest';
import { getBackend, registerBackend, registeredBackends, type Device } from '../../../src/index.js';
import { createGpuBackend, headlessglStatus, type GpuBackend, type GpuMode } from '../../../src/tensor/gpu/index.js';

function requestedModes(): GpuMode[] {
  const env = process.env.QGRAD_GPU_TEST_MODES;
  if (env) return env.split(',').map((s) => s.trim()).filter(Boolean) as GpuMode[];
  const modes: GpuMode[] = ['webasm', 'cpu'];
  if (process.env.DISPLAY || process.env.QGRAD_EXPECT_HEADLESSGL === '1') modes.push('headlessgl');
  return modes;
}

/** Listed modes that can run here (headlessgl needs `gl` and a display). */
export function availableModes(): GpuMode[] {
  return requestedModes().filter((m) => m !== 'headlessgl' || headlessglStatus().ok);
}

export const MODES = availableModes();

export function deviceFor(mode: GpuMode): Device {
  return `gpu-${mode}`;
}

/** The backend for a mode, registered as device 'gpu-<mode>' on first use. */
export function gpuBackend(mode: GpuMode): GpuBackend {
  const name = deviceFor(mode);
  if (!registeredBackends().includes(name)) registerBackend(name, () => createGpuBackend({ mode, name }));
  return getBackend(name) as GpuBackend;
}

/**
 * Asserts that gpu.js ran this backend's kernels on the requested mode (it falls back silently
 * otherwise) and, for each prefix, that a kernel with that cache key ran and ran on that mode.
 */
export function expectRanOn(b: GpuBackend, mode: GpuMode, prefixes: readonly string[] = []): void {
  expect(b.actualMode(), `${b.name}: mode that actually ran`).toBe(mode);
  expect(b.fallbacks(), `${b.name}: kernels that fell back`).toEqual([]);
  const ran = b.kernelModes();
  for (const p of prefixes) {
    const keys = Object.keys(ran).filter((k) => k.startsWith(p));
    expect(keys.length, `${b.name}: a kernel '${p}*' ran`).toBeGreaterThan(0);
    for (const k of keys) expect(ran[k], `${b.name}: kernel ${k} ran on`).toBe(mode);
  }
}
