/**
 * The kernels the CLI's `suite` command can check: the three wrong ones of wrong-kernels.ts, and
 * qgrad's own (reference numerics, the int8 engine's fast fixed point, the cpu backend's tensor ops,
 * and the gpu.js backend's kernels in its webasm and cpu modes, which run in Node without a display).
 */
import { registerBackend, registeredBackends } from '../../src/index.js';
import { createGpuBackend, type GpuMode } from '../../src/tensor/gpu/index.js';
import { fastInt8Kernels, referenceKernels, tensorKernels, type KernelsUnderTest } from '../../src/testing/index.js';
import { float64DivisionKernel, floatRangeMaskKernel, mathRoundKernel } from './wrong-kernels.js';

/** gpu.js kernels through the tensor ops, on a backend registered as 'gpu-<mode>'. */
export function gpuKernels(mode: GpuMode): KernelsUnderTest {
  const device = `gpu-${mode}`;
  if (!registeredBackends().includes(device)) registerBackend(device, () => createGpuBackend({ mode, name: device }));
  return tensorKernels(device, `qgrad gpu.js kernels (mode ${mode})`);
}

export const KERNELS: Record<string, () => KernelsUnderTest | Promise<KernelsUnderTest>> = {
  'math-round': () => mathRoundKernel,
  'float-range-mask': () => floatRangeMaskKernel,
  'float64-division': () => float64DivisionKernel,
  reference: () => referenceKernels('fixedPoint'),
  'reference-float': () => referenceKernels('float'),
  fast: () => fastInt8Kernels(),
  cpu: () => tensorKernels('cpu'),
  'gpu-webasm': () => gpuKernels('webasm'),
  'gpu-cpu': () => gpuKernels('cpu'),
  /** WebGL 1 through the `gl` package: needs a display (xvfb-run -a). */
  'gpu-headlessgl': () => gpuKernels('headlessgl'),
};
