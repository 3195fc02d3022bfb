/**
 * The gpu backend's environment: which modes run here (and a failure, not a skip, when headlessgl
 * is expected but cannot load), mode selection, registration as device 'gpu', describe(), and the
 * gpu.js behaviours the backend exists to work around, measured on each mode.
 */
import { CPUKernel, GPU, HeadlessGLKernel, WebAssemblyKernel, WebGL2Kernel, WebGLKernel } from 'gpu.js';
import { describe, expect, it } from 'vitest';
import { fromArray, getBackend, registeredBackends } from '../../../src/index.js';
import {
  createGpuBackend, defaultMode, headlessglStatus, useGpuMode, type GpuBackend, type GpuMode,
} from '../../../src/tensor/gpu/index.js';
import { kernelClassMode } from '../../../src/tensor/gpu/modes.js';
import { MODES } from './modes.js';

/** Runs fn with some environment variables set (undefined: unset), restoring them afterwards. */
function withEnv<T>(vars: Record<string, string | undefined>, fn: () => T): T {
  const saved = Object.fromEntries(Object.keys(vars).map((k) => [k, process.env[k]]));
  const set = (k: string, v: string | undefined) => (v === undefined ? delete process.env[k] : (process.env[k] = v));
  try {
    for (const [k, v] of Object.entries(vars)) set(k, v);
    return fn();
  } finally {
    for (const [k, v] of Object.entries(saved)) set(k, v);
  }
}

describe('gpu modes available here', () => {
  it('headlessgl loads when QGRAD_EXPECT_HEADLESSGL=1 (else this fails and says why)', () => {
    const st = headlessglStatus();
    if (process.env.QGRAD_EXPECT_HEADLESSGL === '1') {
      if (!st.ok) expect.fail(`QGRAD_EXPECT_HEADLESSGL=1 but the headlessgl mode cannot run: ${st.reason}`);
      expect(MODES).toContain('headlessgl');
    } else if (!st.ok) {
      console.info(`[gpu tests] headlessgl not tested: ${st.reason}`);
    }
  });

  it('every mode named in QGRAD_GPU_TEST_MODES runs here', () => {
    const listed = (process.env.QGRAD_GPU_TEST_MODES ?? '').split(',').map((s) => s.trim()).filter(Boolean);
    for (const m of listed) {
      if (m === 'headlessgl' && !headlessglStatus().ok) expect.fail(`QGRAD_GPU_TEST_MODES lists headlessgl, which cannot run: ${(headlessglStatus() as { reason: string }).reason}`);
      expect(MODES).toContain(m);
    }
    expect(MODES).toContain(listed.length ? listed[0] : 'webasm');
  });
});

describe('mode selection and registration', () => {
  it('QGRAD_GPU_MODE wins; otherwise Node uses headlessgl only with a display, else webasm', () => {
    expect(withEnv({ QGRAD_GPU_MODE: 'cpu' }, defaultMode)).toBe('cpu');
    expect(withEnv({ QGRAD_GPU_MODE: ' webasm ' }, defaultMode)).toBe('webasm');
    expect(withEnv({ QGRAD_GPU_MODE: undefined, DISPLAY: undefined }, defaultMode)).toBe('webasm');
    if (headlessglStatus().ok) expect(withEnv({ QGRAD_GPU_MODE: undefined }, defaultMode)).toBe('headlessgl');
    expect(() => withEnv({ QGRAD_GPU_MODE: 'webgpu' }, defaultMode)).toThrow(/Promises/);
    expect(() => withEnv({ QGRAD_GPU_MODE: 'vulkan' }, defaultMode)).toThrow(/unknown gpu\.js mode 'vulkan'/);
    expect(() => createGpuBackend({ mode: 'async' as GpuMode })).toThrow(/reads synchronously/);
  });

  it("importing the module registers device 'gpu'; describe() names the mode that actually ran", async () => {
    await import('../../../src/tensor/gpu/index.js');
    expect(registeredBackends()).toContain('gpu');
    const t = fromArray([1, 2, 3], [3], { device: 'gpu' });
    expect(Array.from(t.mul(2).toTypedArray())).toEqual([2, 4, 6]);
    const b = getBackend('gpu') as GpuBackend;
    expect(b.mode).toBe(defaultMode());
    expect(b.actualMode()).toBe(b.mode === 'gpu' ? b.actualMode() : b.mode);
    expect(b.describe()).toMatch(new RegExp(`^gpu \\(gpu\\.js ${b.actualMode()};`));
    // The registered instance's mode cannot change once it is in use.
    const other: GpuMode = b.mode === 'webasm' ? 'cpu' : 'webasm';
    expect(() => useGpuMode(other)).toThrow(/already running in mode/);
    expect(() => useGpuMode(b.mode)).not.toThrow();
  });

  it('a mode that cannot run here fails with a reason, not a silent fallback', () => {
    if (headlessglStatus().ok) return;
    expect(() => createGpuBackend({ mode: 'headlessgl' })).toThrow(/mode 'headlessgl' is not available: /);
  });

  it('fallback detection knows gpu.js classes apart (its GL classes all report mode "gpu")', () => {
    const of = (C: { prototype: object }) => kernelClassMode(Object.create(C.prototype) as object);
    expect(of(HeadlessGLKernel)).toBe('headlessgl');
    expect(of(WebGL2Kernel)).toBe('webgl2');
    expect(of(WebGLKernel)).toBe('webgl');
    expect(of(WebAssemblyKernel)).toBe('webasm');
    expect(of(CPUKernel)).toBe('cpu');
  });
});

describe.each(MODES)('gpu.js behaviour the backend works around, mode %s', (mode) => {
  const gpu = new GPU({ mode });
  const ranOn = (k: { kernel: object }) => kernelClassMode(k.kernel);

  it('a loop bounded by an argument stops silently at 1000 iterations by default', () => {
    const k = gpu.createKernel(function (n: number) {
      let s = 0;
      for (let i = 0; i < n; i++) {
        s += 1;
      }
      return s;
    }, { output: [1], precision: 'single' });
    expect((k(5000) as Float32Array)[0]).toBe(1000);
    expect(ranOn(k)).toBe(mode);
    const b = createGpuBackend({ mode });
    const ones = b.upload(new Float32Array(5000).fill(1));
    expect(Array.from(b.read({ buffer: b.reduce('sum', ones, 1, 5000), shape: [1], strides: [1], offset: 0 }))).toEqual([5000]);
  });

  it('Math.round is half up (and floor(x + 0.5) in float32 outside the cpu mode)', () => {
    const k = gpu.createKernel(function (this: { thread: { x: number } }, x: Float32Array) {
      return Math.round(x[this.thread.x]);
    }, { output: [7], precision: 'single' });
    const r = Array.from(k(new Float32Array([0.5, 1.5, 2.5, -0.5, -1.5, -2.5, 0.49999997])) as Float32Array, (v) => v + 0);
    expect(r.slice(0, 6)).toEqual([1, 2, 3, 0, -1, -2]);
    expect(r[6]).toBe(mode === 'cpu' ? 0 : 1);
    expect(ranOn(k)).toBe(mode);
  });
});
