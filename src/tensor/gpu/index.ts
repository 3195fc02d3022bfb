/**
 * The gpu backend: kernels generated with gpu.js. Importing this module registers it as 'gpu'
 * (the cpu backend registers itself the same way), after which `x.to('gpu')`,
 * `{ device: 'gpu' }` and setDefaultDevice('gpu') work.
 *
 * The registered instance uses useGpuMode()'s mode if it was called first, else QGRAD_GPU_MODE,
 * else a default per environment (modes.ts). createGpuBackend() makes independent instances,
 * e.g. to compare modes side by side (register them under other names with registerBackend).
 * docs/gpu.md describes modes, precision and limits.
 */
import { registerBackend } from '../backend.js';
import { GpuBackend, type GpuBackendOptions } from './backend.js';
import { defaultMode, parseMode, type GpuMode } from './modes.js';

export { GpuBackend, GpuBuffer, INT32_EXACT_LIMIT, MAX_ELEMENTS, type GpuBackendOptions } from './backend.js';
export { GPU_MODES, defaultMode, headlessglStatus, type GpuMode, type KernelMode } from './modes.js';
export type { KernelCacheStats, Fallback } from './runtime.js';

export function createGpuBackend(opts: GpuBackendOptions = {}): GpuBackend {
  const mode = opts.mode === undefined ? defaultMode() : parseMode(opts.mode, 'createGpuBackend');
  return new GpuBackend(mode, { strict: opts.strict, name: opts.name });
}

let chosenMode: GpuMode | undefined;
let registered: GpuBackend | null = null;

/**
 * Chooses the mode of the registered 'gpu' backend. Call it before the first use of device 'gpu':
 * tensors keep the backend instance they were made on, so the mode cannot change afterwards.
 */
export function useGpuMode(mode: GpuMode): void {
  const m = parseMode(mode, 'useGpuMode');
  if (registered && registered.mode !== m) {
    throw new Error(`useGpuMode('${m}'): the 'gpu' backend is already running in mode '${registered.mode}'; call useGpuMode before the first use of device 'gpu'`);
  }
  chosenMode = m;
}

registerBackend('gpu', () => {
  registered = createGpuBackend({ mode: chosenMode });
  return registered;
});
