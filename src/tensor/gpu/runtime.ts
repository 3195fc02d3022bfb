/**
 * The gpu.js runtime under the gpu backend: one gpu.js instance, a cache of compiled kernels keyed
 * by a printable string, and the device memory those kernels read and write.
 *
 * Kernels. Every kernel writes a 1-D output of n float32 values (dtype is the backend's business:
 * int32 is stored as float32). Sizes are kernel *arguments* (uniforms in GL) and outputs are
 * resized with dynamicOutput, so the cache key names only the structure (op, rank, number of
 * inputs, dtype conversion, mode) and one compiled GL program serves every batch size. gpu.js's
 * webasm backend bakes every size into its module, so there a new size signature is an internal
 * rebuild (fast, ~2 ms, LRU of 8 per kernel); `stats().builds` counts those too.
 *
 * Memory. GL modes keep results on the device: kernels run with pipeline: true and
 * immutable: true, so each call returns its own texture (a clone sharing gpu.js's ref count) that
 * only `release` frees. webasm and cpu have no device memory: gpu.js returns a fresh Float32Array
 * per call even with pipeline: true, which is what buffers hold there.
 *
 * Silent fallback. gpu.js may run a kernel on another backend than the one asked for (its
 * fallbackReason says why). After every build the class that actually ran is checked; in strict
 * mode (the default) a fallback is an error, never a quiet slowdown.
 */
import type { GPU, IGPUKernelSettings, IKernelRunShortcut, Texture } from 'gpu.js';
import { helperSources } from './kernels/helpers.js';
import { createGpu, isGlMode, kernelClassMode, type GpuMode, type KernelMode } from './modes.js';

/** What a device buffer holds: a GL texture, or a Float32Array in modes without device memory. */
export type DeviceData = Texture | Float32Array;

export type KernelArg = DeviceData | number;

/**
 * gpu.js's GL backends count loop iterations against loopMaxIterations (default 1000) and stop
 * silently when a loop bound is a run-time value; webasm does the same for loops it cannot prove
 * safe. Every loop here is bounded by a size argument below 2^24, so the cap is set above that.
 */
export const LOOP_MAX = 1 << 25;

const HELPERS = helperSources();

export interface KernelCacheStats {
  /** Compiled kernels held (one per key). */
  count: number;
  /** Calls that found their kernel in the cache. */
  hits: number;
  /** Calls that created a kernel (= count unless the cache was cleared). */
  misses: number;
  /** gpu.js builds: the first call of each kernel plus internal rebuilds (a new size signature on webasm, an argument-type switch on GL). */
  builds: number;
  /** Wall time of the calls that built, in ms (compile plus that one run). */
  compileMs: number;
  keys: string[];
}

export interface Fallback {
  key: string;
  ran: KernelMode;
  reason: string | null;
}

interface Entry {
  key: string;
  fn: IKernelRunShortcut;
  output: number;
  /** Identities of the gpu.js builds seen (kernel objects, or webasm module entries). */
  builds: Set<object>;
  /** The gpu.js kernel object of the first build. */
  kernel: object | null;
}

type KernelInternals = {
  fallbackReason?: string | null;
  _active?: object | null;
};

function internals(fn: IKernelRunShortcut): KernelInternals {
  return fn.kernel as unknown as KernelInternals;
}

/** The object that identifies one gpu.js build of a kernel (webasm keeps a module per size signature). */
function buildIdentity(fn: IKernelRunShortcut): object {
  const k = internals(fn);
  return k._active ?? k;
}

/**
 * gpu.js bug workaround (GL, immutable kernels). When a kernel is given its own latest output as an
 * argument, gpu.js keeps a clone of that argument (`prevArg`) and, on the next such call, renders
 * into the recycled texture instead of a new one. With dynamicOutput the recycled texture can
 * have an older, different size, and the kernel then writes a wrong-sized texture (measured:
 * logSoftmax's sub(shifted, lse) after a batch-size change). Dropping the kept clone after every
 * call disables the recycling; the kernel then allocates a fresh output texture when its current
 * one is still referenced, which is the documented immutable behaviour.
 */
function dropArgumentRecycling(fn: IKernelRunShortcut): void {
  const args = (fn.kernel as unknown as { kernelArguments?: { prevArg?: { delete(): void } | null }[] }).kernelArguments;
  for (const kv of args ?? []) {
    if (kv.prevArg) {
      kv.prevArg.delete();
      kv.prevArg = null;
    }
  }
}

function isHostArray(d: DeviceData): d is Float32Array {
  return d instanceof Float32Array;
}

export interface RuntimeOptions {
  mode: GpuMode;
  /** Throw when gpu.js falls back to another backend (default true). */
  strict?: boolean;
}

export class KernelRuntime {
  readonly requested: GpuMode;
  /** The kernel class gpu.js chose for the requested mode. */
  readonly expected: KernelMode;
  readonly onDevice: boolean;
  readonly strict: boolean;
  private readonly gpu: GPU;
  private readonly entries = new Map<string, Entry>();
  private hits = 0;
  private misses = 0;
  private builds = 0;
  private compileMs = 0;
  private ran: KernelMode | null = null;
  private readonly ranOn = new Map<string, KernelMode>();
  private readonly fallbacks: Fallback[] = [];
  private standIn: DeviceData | null = null;
  private glTextures: { created: number; deleted: number } | null = null;

  constructor(opts: RuntimeOptions) {
    this.requested = opts.mode;
    this.strict = opts.strict ?? true;
    const { gpu, expected } = createGpu(opts.mode);
    this.gpu = gpu;
    this.expected = expected;
    this.onDevice = isGlMode(expected);
  }

  /** The mode the kernels actually ran on (null before the first kernel). */
  actualMode(): KernelMode | null {
    return this.ran;
  }

  fallbackList(): readonly Fallback[] {
    return this.fallbacks;
  }

  /** Per cache key, the gpu.js class its latest build ran on. */
  kernelModes(): Record<string, KernelMode> {
    return Object.fromEntries(this.ranOn);
  }

  stats(): KernelCacheStats {
    return {
      count: this.entries.size, hits: this.hits, misses: this.misses, builds: this.builds,
      compileMs: this.compileMs, keys: [...this.entries.keys()],
    };
  }

  /** Net GL textures (created - deleted) since the first kernel, or null in modes without textures. */
  textureCount(): number | null {
    return this.glTextures ? this.glTextures.created - this.glTextures.deleted : null;
  }

  /**
   * Runs the kernel cached under `key` (building it from `source()` on first use) over n output
   * elements. `key` must determine the source: it is what the cache and the stats print.
   */
  run(key: string, source: () => string, n: number, args: readonly KernelArg[]): DeviceData {
    const fullKey = `${key}|${this.expected}`;
    let e = this.entries.get(fullKey);
    if (e) this.hits++;
    else {
      this.misses++;
      // loopMaxIterations is a kernel setting gpu.js's typings omit.
      const settings: IGPUKernelSettings & { loopMaxIterations: number } = {
        output: [n],
        pipeline: true,
        immutable: true,
        precision: 'single',
        tactic: 'precision',
        dynamicOutput: true,
        dynamicArguments: true,
        loopMaxIterations: LOOP_MAX,
        functions: HELPERS as unknown as (() => number)[],
      };
      const fn = this.gpu.createKernel(source(), settings);
      e = { key: fullKey, fn, output: n, builds: new Set(), kernel: null };
      this.entries.set(fullKey, e);
    }
    if (e.output !== n) {
      e.fn.setOutput([n]);
      e.output = n;
    }
    const callArgs = args.map((a) => (typeof a === 'number' || !this.isEmpty(a) ? a : this.emptyStandIn()));
    const t0 = performance.now();
    const out = (e.fn as unknown as (...a: unknown[]) => unknown)(...callArgs) as DeviceData;
    if (this.onDevice) dropArgumentRecycling(e.fn);
    // gpu.js replaces a kernel whose argument types change ("switching"), but builds the
    // replacement without dynamicArguments (its settings say `dynamicArgument`), so that kernel
    // would misread (GL) or reject (webasm) the next argument of another size. The result of this
    // call is right; the entry is dropped so that the next call builds a fresh kernel.
    e.kernel ??= e.fn.kernel;
    if (e.fn.kernel !== e.kernel) this.entries.delete(fullKey);
    const id = buildIdentity(e.fn);
    if (!e.builds.has(id)) {
      e.builds.add(id);
      this.builds++;
      this.compileMs += performance.now() - t0;
      this.checkRan(e);
    }
    return out;
  }

  private checkRan(e: Entry): void {
    const k = internals(e.fn);
    const mode = kernelClassMode(k);
    this.ranOn.set(e.key, mode);
    if (this.onDevice && !this.glTextures) this.instrumentTextures();
    if (mode === this.expected) {
      this.ran ??= mode;
      return;
    }
    const fb: Fallback = { key: e.key, ran: mode, reason: k.fallbackReason ?? null };
    this.fallbacks.push(fb);
    this.ran = mode;
    if (this.strict) {
      throw new Error(`gpu backend: gpu.js ran kernel '${e.key}' on ${mode} instead of ${this.expected}${fb.reason ? `: ${fb.reason}` : ''} (create the backend with strict: false to allow this)`);
    }
  }

  /** Counts GL texture creation and deletion on gpu.js's shared context: what a leak test can watch below gpu.js. */
  private instrumentTextures(): void {
    const gl = (this.gpu as unknown as { context: WebGLRenderingContext | null }).context;
    if (!gl) return;
    const counts = { created: 0, deleted: 0 };
    const create = gl.createTexture.bind(gl), del = gl.deleteTexture.bind(gl);
    gl.createTexture = () => {
      counts.created++;
      return create();
    };
    gl.deleteTexture = (t: WebGLTexture | null) => {
      if (t) counts.deleted++;
      del(t);
    };
    this.glTextures = counts;
  }

  // ---- memory ---------------------------------------------------------------------------------

  private isEmpty(d: DeviceData): boolean {
    return isHostArray(d) ? d.length === 0 : false;
  }

  /** Stands in for an empty buffer (gpu.js cannot size a 0-element argument); never read. */
  private emptyStandIn(): DeviceData {
    this.standIn ??= this.upload(new Float32Array(1));
    return this.standIn;
  }

  upload(data: Float32Array): DeviceData {
    if (!this.onDevice) return Float32Array.from(data);
    if (data.length === 0) return new Float32Array(0);
    return this.run('upload', () => 'function upload(a) { return a[this.thread.x]; }', data.length, [data]);
  }

  zeros(n: number): DeviceData {
    if (!this.onDevice || n === 0) return new Float32Array(n);
    return this.run('zeros', () => 'function zeros() { return 0; }', n, []);
  }

  /** The first n values of d as a new host array. */
  download(d: DeviceData, n: number): Float32Array {
    if (isHostArray(d)) return d.slice(0, n);
    const arr = d.toArray() as unknown;
    if (arr instanceof Float32Array) return arr.length === n ? arr : arr.slice(0, n);
    return Float32Array.from((arr as ArrayLike<number>)).slice(0, n);
  }

  release(d: DeviceData): void {
    if (!isHostArray(d)) d.delete();
  }

  /** Releases every compiled kernel (and, in GL, the context). The runtime is unusable afterwards. */
  destroy(): Promise<void> {
    this.entries.clear();
    return this.gpu.destroy();
  }
}
