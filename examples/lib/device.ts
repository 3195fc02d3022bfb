/**
 * Selecting the examples' device, saying plainly what 'gpu' will run on.
 *
 * gpu.js falls back to its WebAssembly (or JavaScript) emulation where no WebGL context can be
 * made (Node without a display, CI): the kernels then run on the CPU through gpu.js, about 16x
 * slower than --device wasm on the MNIST CNN (issue 11's measurement). Running that silently looks
 * like a hung job, so the choice is printed before any work starts.
 */
import { setDefaultDevice, getBackend } from '../../src/index.js';

export async function selectDevice(device: string): Promise<void> {
  if (device === 'gpu') {
    const gpuModule = '../../src/tensor/gpu/index.js'; // registers the gpu backend (loads gpu.js only when asked)
    await import(gpuModule);
    const b = getBackend('gpu') as unknown as { onDevice: boolean; describe(): string };
    const what = b.describe();
    if (!b.onDevice) {
      process.stderr.write(
        `note: --device gpu: no hardware-backed gpu.js mode is available here, so this runs on the CPU through gpu.js's emulation: ${what}. ` +
          'Expect it to be about 16x slower than --device wasm. For a real GPU in Node run under a display (xvfb-run -a) with QGRAD_GPU_MODE=headlessgl.\n',
      );
    } else process.stderr.write(`device gpu: ${what}\n`);
  }
  setDefaultDevice(device);
}
