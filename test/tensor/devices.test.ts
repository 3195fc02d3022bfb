/**
 * The one place the default device is chosen (src/tensor/devices.ts): the environment's choice,
 * the older QGRAD_CPU_KERNELS=js switch mapped onto it, and a clear error for anything else.
 */
import { describe, expect, it } from 'vitest';
import { chooseDefaultDevice, getBackend, registeredBackends } from '../../src/index.js';
import { wasmSimdAvailable } from '../../src/tensor/wasm/index.js';

describe('default device', () => {
  it('is wasm where WebAssembly SIMD exists (Node 20 has it), else cpu', () => {
    expect(wasmSimdAvailable()).toBe(true);
    expect(chooseDefaultDevice({})).toBe('wasm');
    expect(registeredBackends()).toEqual(expect.arrayContaining(['cpu', 'wasm']));
    expect(getBackend('wasm').name).toBe('wasm');
    expect(getBackend('cpu').describe()).toBe('cpu (TypeScript loops, float64 accumulation)');
  });

  it('follows QGRAD_DEVICE, and maps the old QGRAD_CPU_KERNELS=js onto the cpu device', () => {
    expect(chooseDefaultDevice({ QGRAD_DEVICE: 'cpu' })).toBe('cpu');
    expect(chooseDefaultDevice({ QGRAD_DEVICE: 'wasm', QGRAD_CPU_KERNELS: 'js' })).toBe('wasm');
    expect(chooseDefaultDevice({ QGRAD_CPU_KERNELS: 'js' })).toBe('cpu');
    expect(chooseDefaultDevice({ QGRAD_DEVICE: '' })).toBe('wasm');
  });

  it('refuses an unknown QGRAD_DEVICE, naming the allowed values', () => {
    expect(() => chooseDefaultDevice({ QGRAD_DEVICE: 'tpu' })).toThrow(/QGRAD_DEVICE must be 'cpu' or 'wasm' \(got 'tpu'\)/);
  });
});
