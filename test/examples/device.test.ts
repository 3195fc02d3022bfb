/**
 * Issue 11, item 9: `--device gpu` where no hardware-backed gpu.js mode exists used to run
 * gpu.js's CPU emulation silently, about 16x slower than --device wasm, which looks like a hang.
 * selectDevice must say, before any work, what it will run on and how slow that is.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { getDefaultDevice, setDefaultDevice } from '../../src/index.js';
import { selectDevice } from '../../examples/lib/device.js';

describe('selectDevice', () => {
  const before = getDefaultDevice();
  afterEach(() => {
    setDefaultDevice(before);
    delete process.env.QGRAD_GPU_MODE;
    vi.restoreAllMocks();
  });

  it("--device gpu on gpu.js's emulation names the mode and the slowdown, then selects gpu", async () => {
    process.env.QGRAD_GPU_MODE = 'webasm'; // what Node without a display falls back to
    const lines: string[] = [];
    vi.spyOn(process.stderr, 'write').mockImplementation((s: string | Uint8Array) => {
      lines.push(String(s));
      return true;
    });
    await selectDevice('gpu');
    const text = lines.join('');
    expect(text).toMatch(/no hardware-backed gpu\.js mode/);
    expect(text).toMatch(/webasm/);
    expect(text).toMatch(/16x slower than --device wasm/);
    expect(getDefaultDevice()).toBe('gpu');
  });

  it('--device wasm and --device cpu print nothing', async () => {
    const write = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    await selectDevice('wasm');
    expect(getDefaultDevice()).toBe('wasm');
    await selectDevice('cpu');
    expect(getDefaultDevice()).toBe('cpu');
    expect(write).not.toHaveBeenCalled();
  });
});
