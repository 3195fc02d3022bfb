/**
 * Which backends exist at startup and which one tensors use by default: the one place this is
 * decided.
 *
 * - 'cpu': plain TypeScript loops (src/tensor/cpu), the readable reference; float64 accumulation.
 * - 'wasm': WebAssembly SIMD for float32 matmul, convolution, pooling and elementwise ops, the
 *   reference for everything else (src/tensor/wasm). The default wherever WebAssembly SIMD exists.
 * - 'gpu' registers itself when src/tensor/gpu (the package's ./gpu export) is imported.
 *
 * The environment can choose: QGRAD_DEVICE=cpu|wasm. QGRAD_CPU_KERNELS=js, the older switch for
 * "no WebAssembly", still means QGRAD_DEVICE=cpu. setDefaultDevice changes it at run time.
 */
import { setDefaultDevice, type Device } from './backend.js';
import './cpu/index.js';
import { wasmSimdAvailable } from './wasm/index.js';

/** The default device this environment asks for. */
export function chooseDefaultDevice(env: Record<string, string | undefined> = typeof process !== 'undefined' ? process.env : {}): Device {
  const asked = env.QGRAD_DEVICE;
  if (asked !== undefined && asked !== '') {
    if (asked !== 'cpu' && asked !== 'wasm') throw new Error(`QGRAD_DEVICE must be 'cpu' or 'wasm' (got '${asked}'); the gpu device is chosen with setDefaultDevice('gpu') after importing qgrad/gpu`);
    if (asked === 'wasm' && !wasmSimdAvailable()) throw new Error('QGRAD_DEVICE=wasm, but this engine has no WebAssembly SIMD');
    return asked;
  }
  if (env.QGRAD_CPU_KERNELS === 'js') return 'cpu';
  return wasmSimdAvailable() ? 'wasm' : 'cpu';
}

setDefaultDevice(chooseDefaultDevice());
