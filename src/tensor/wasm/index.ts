/**
 * The wasm backend (device 'wasm'): WebAssembly SIMD kernels for the hot float32 primitives, the
 * cpu reference for the rest (./backend.ts). Importing this file registers it; src/tensor/devices.ts
 * makes it the default device where WebAssembly SIMD exists.
 *
 * Besides the backend, this is the public kernel toolkit other engines build on (the int8 engine's
 * fast path in src/quant/int8/fast/ does): the module emitter, the packed gemm workspace, and the
 * thread configuration. Nothing else in this folder is meant to be imported from outside it.
 */
import { registerBackend } from '../backend.js';
import { WasmBackend } from './backend.js';

export { WasmBackend } from './backend.js';
export { BufferPool } from './buffer-pool.js';
export { MR, NR } from './kernels.js';
export {
  gemmWorkspace, getWasmKernelConfig, packPanelsI16, readyThreads, runWorkspace, setWasmKernelConfig, shutdownThreads,
  threadedCallCounts, wasmSimdAvailable,
} from './runtime.js';
export type { WasmKernelConfig, Workspace } from './runtime.js';
export * as emit from './emit.js';

registerBackend('wasm', () => new WasmBackend());
