/** The WebAssembly SIMD kernels of the cpu backend: see kernels.ts (the code) and runtime.ts (the glue). */
export { MR, NR } from './kernels.js';
export {
  col2imWasm, getCpuKernelConfig, maxPool2x2Wasm, gemmWorkspace, packGatherWasm, packPanelsF32, packPanelsI16, readyThreads, runWorkspace, setCpuKernelConfig,
  shutdownThreads, threadedCallCounts, wasmEnabled,
} from './runtime.js';
export type { CpuKernelConfig, Workspace } from './runtime.js';
