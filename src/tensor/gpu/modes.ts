/**
 * Which gpu.js mode the gpu backend runs, and why.
 *
 * Modes this backend accepts (gpu.js names):
 * - 'webasm'     gpu.js's WebAssembly backend, synchronous. Runs everywhere; no device memory.
 * - 'headlessgl' WebGL 1 in Node through the npm package `gl` (needs an X display: xvfb-run -a).
 * - 'webgl2', 'webgl' the browser's WebGL.
 * - 'cpu'        gpu.js's own JavaScript backend (float64 arithmetic, float32 storage).
 * - 'gpu'        gpu.js's automatic choice (headlessgl, webgl2, webgl, then webasm).
 * 'webgpu' and 'async' are refused: their results come back only through Promises, and the
 * Backend interface reads synchronously.
 *
 * Default: QGRAD_GPU_MODE when set; in a browser webgl2, else webgl, else webasm; in Node
 * headlessgl when a display is present and `gl` can create a context, else webasm.
 */
import * as gpujs from 'gpu.js';
import { CPUKernel, GPU, HeadlessGLKernel, WebAssemblyKernel, WebGL2Kernel, WebGLKernel } from 'gpu.js';

/** gpu.js exports WebGPUKernel but its typings do not declare it. */
const WebGPUKernel = (gpujs as unknown as { WebGPUKernel?: abstract new (...a: never[]) => object }).WebGPUKernel;

export type GpuMode = 'webasm' | 'headlessgl' | 'webgl2' | 'webgl' | 'cpu' | 'gpu';

/** The gpu.js kernel classes' mode names: what actually ran. */
export type KernelMode = 'webasm' | 'headlessgl' | 'webgl2' | 'webgl' | 'webgpu' | 'cpu';

export const GPU_MODES: readonly GpuMode[] = ['webasm', 'headlessgl', 'webgl2', 'webgl', 'cpu', 'gpu'];

/** Modes whose buffers are GL textures (device memory); the others hold host Float32Arrays. */
export function isGlMode(m: KernelMode): boolean {
  return m === 'headlessgl' || m === 'webgl2' || m === 'webgl';
}

/**
 * The mode of a gpu.js kernel class. The classes' own static `mode` says 'gpu' for all three GL
 * classes, so identity decides (HeadlessGLKernel extends WebGLKernel: test subclasses first).
 */
export function kernelClassMode(k: object): KernelMode {
  return kernelClassOf(k.constructor);
}

function kernelClassOf(C: Function): KernelMode {
  const is = (K: Function | undefined) => K !== undefined && (C === K || C.prototype instanceof K);
  if (is(HeadlessGLKernel)) return 'headlessgl';
  if (is(WebGL2Kernel)) return 'webgl2';
  if (is(WebGLKernel)) return 'webgl';
  if (is(WebAssemblyKernel)) return 'webasm';
  if (is(WebGPUKernel)) return 'webgpu';
  if (is(CPUKernel)) return 'cpu';
  throw new Error(`gpu backend: unknown gpu.js kernel class ${C.name}`);
}

interface ProcessLike {
  env?: Record<string, string | undefined>;
  getBuiltinModule?: (id: string) => unknown;
}

function nodeProcess(): ProcessLike | undefined {
  const p = (globalThis as { process?: ProcessLike }).process;
  return p && typeof p === 'object' ? p : undefined;
}

export function inBrowser(): boolean {
  const g = globalThis as { window?: unknown; document?: unknown };
  return typeof g.window === 'object' && typeof g.document === 'object';
}

export function parseMode(s: string, source: string): GpuMode {
  if ((GPU_MODES as readonly string[]).includes(s)) return s as GpuMode;
  if (s === 'webgpu' || s === 'async') {
    throw new Error(`${source}: gpu.js mode '${s}' returns results only through Promises, and the Backend interface reads synchronously; use one of ${GPU_MODES.join(', ')}`);
  }
  throw new Error(`${source}: unknown gpu.js mode '${s}'; expected one of ${GPU_MODES.join(', ')}`);
}

/** The mode named by QGRAD_GPU_MODE, if any. */
export function envMode(): GpuMode | undefined {
  const v = nodeProcess()?.env?.QGRAD_GPU_MODE;
  return v ? parseMode(v.trim(), 'QGRAD_GPU_MODE') : undefined;
}

/**
 * Whether headless-gl can run here, and if not, why: the npm package `gl` is missing or failed
 * to build, or it loads but cannot open a context (usually: no X display; run under xvfb-run -a).
 */
export function headlessglStatus(): { ok: true } | { ok: false; reason: string } {
  const proc = nodeProcess();
  if (!proc || inBrowser()) return { ok: false, reason: 'headlessgl runs only in Node' };
  if (GPU.isHeadlessGLSupported) return { ok: true };
  const moduleApi = proc.getBuiltinModule?.('node:module') as { createRequire(url: string): (id: string) => unknown } | undefined;
  if (!moduleApi) return { ok: false, reason: 'gpu.js reports headlessgl unsupported (and this Node cannot say why: no process.getBuiltinModule)' };
  let createContext: (w: number, h: number) => unknown;
  try {
    createContext = moduleApi.createRequire(import.meta.url)('gl') as typeof createContext;
  } catch (e) {
    return { ok: false, reason: `the npm package 'gl' (gpu.js's optional dependency) cannot be loaded: ${(e as Error).message.split('\n')[0]}. Install it with its build script allowed (npm install-scripts approve gl; npm rebuild gl) and the apt packages libxi-dev libx11-dev libxext-dev pkg-config` };
  }
  let ctx: unknown = null;
  try {
    ctx = createContext(2, 2);
  } catch (e) {
    return { ok: false, reason: `'gl' loaded but creating a context threw: ${(e as Error).message}` };
  }
  if (!ctx) {
    const display = proc.env?.DISPLAY;
    return { ok: false, reason: `'gl' loaded but could not create a WebGL context (DISPLAY=${display ?? 'unset'}); run under xvfb-run -a` };
  }
  return { ok: false, reason: "'gl' creates a context but gpu.js's feature checks failed (no OES_texture_float?)" };
}

/** The mode used when none is requested. */
export function defaultMode(): GpuMode {
  const fromEnv = envMode();
  if (fromEnv) return fromEnv;
  if (inBrowser()) {
    if (GPU.isWebGL2Supported) return 'webgl2';
    if (GPU.isWebGLSupported) return 'webgl';
    return 'webasm';
  }
  if (nodeProcess()?.env?.DISPLAY && GPU.isHeadlessGLSupported) return 'headlessgl';
  return 'webasm';
}

/** Creates the gpu.js instance for a mode, with an error that says why a mode cannot run. */
export function createGpu(mode: GpuMode): { gpu: GPU; expected: KernelMode } {
  if (mode === 'headlessgl') {
    const st = headlessglStatus();
    if (!st.ok) throw new Error(`gpu backend: mode 'headlessgl' is not available: ${st.reason}`);
  }
  let gpu: GPU;
  try {
    gpu = new GPU({ mode });
  } catch (e) {
    throw new Error(`gpu backend: gpu.js cannot run mode '${mode}' here: ${(e as Error).message}`);
  }
  const chosen = (gpu as unknown as { Kernel: Function }).Kernel;
  return { gpu, expected: kernelClassOf(chosen) };
}
