/**
 * A free list of the wasm backend's typed arrays, by element type and exact length.
 *
 * Why: every op returns a new buffer, and a large typed array freshly allocated costs about
 * 0.5 ms per MB on its first write (the allocator hands out new pages that the OS maps one
 * page fault at a time) — as much as the op itself once that op is a SIMD loop. A training
 * or inference loop allocates the same shapes at every step, so arrays released at the end of
 * one step are exactly the ones the next step asks for.
 *
 * Safety: an array enters the pool only from WasmBackend.dispose (through CpuBackend.freed), which Storage calls once per
 * buffer (explicitly, or at the end of a tidy scope); an array whose tensors simply become
 * unreachable is freed by the garbage collector and never enters the pool (CpuBackend.collectable);
 * the backend first detaches the array from its buffer, so a
 * stale reference to the buffer throws instead of reading recycled memory, and an array that is
 * already in the pool is never added twice. An array taken from the pool belongs to the taker.
 *
 * Bounds: arrays under MIN_BYTES are not kept (small allocations are cheap). The pool holds at
 * most `limitBytes` (default 512 MiB; `(getBackend('wasm') as WasmBackend).bufferPool.limitBytes`
 * changes it, 0 turns the pool off) and never more than the peak number of bytes that were live
 * at once, so it at most doubles what the program needed anyway and usually adds nothing (what
 * it holds is what the next step reuses). When full, it drops the arrays released longest ago.
 */
import type { DType, TypedArray } from '../dtype.js';
import { allocTyped, dtypeOf } from '../dtype.js';

/** Arrays smaller than this are left to the allocator. */
const MIN_BYTES = 32 * 1024;
const DEFAULT_LIMIT_BYTES = 512 * 2 ** 20;
const BYTES: Record<DType, number> = { float32: 4, float64: 8, int32: 4 };

export class BufferPool {
  /** Free arrays by `${dtype}:${length}`, most recently released last. */
  private readonly free = new Map<string, TypedArray[]>();
  /** Every pooled array, in release order: what eviction drops first. */
  private readonly order = new Set<TypedArray>();
  private bytes = 0;
  private limit: number;
  /** Bytes of the backend's arrays now live, and the most that ever were at once. */
  private live = 0;
  private peakLive = 0;
  /** Takes served from the pool, and takes (of poolable size) that allocated. */
  hits = 0;
  misses = 0;

  constructor(limitBytes = DEFAULT_LIMIT_BYTES) {
    this.limit = limitBytes;
  }

  /** The most bytes the pool holds; lowering it drops arrays at once, 0 turns the pool off. */
  get limitBytes(): number {
    return this.limit;
  }
  set limitBytes(bytes: number) {
    this.limit = bytes;
    while (this.bytes > bytes) this.evictOldest();
  }

  /** Bytes held for reuse. */
  get pooledBytes(): number {
    return this.bytes;
  }

  /**
   * An array of this type and length with unspecified contents (the caller overwrites every
   * element), recycled when one is free.
   */
  take(dtype: DType, length: number): TypedArray {
    if (length * BYTES[dtype] < MIN_BYTES) return allocTyped(dtype, length);
    const a = this.free.get(`${dtype}:${length}`)?.pop();
    if (!a) {
      this.misses++;
      return allocTyped(dtype, length);
    }
    this.order.delete(a);
    this.bytes -= a.byteLength;
    this.hits++;
    return a;
  }

  /** A zero-filled array (a recycled one is cleared; a new one is zero already). */
  takeZeroed(dtype: DType, length: number): TypedArray {
    const before = this.hits;
    const a = this.take(dtype, length);
    if (this.hits !== before) a.fill(0);
    return a;
  }

  /** Counts an array the backend now owns (from take, or a kernel's own result), for the peak. */
  track(a: TypedArray): void {
    this.live += a.byteLength;
    if (this.live > this.peakLive) this.peakLive = this.live;
  }

  /**
   * A tracked array was freed by the garbage collector (its tensors became unreachable without a
   * dispose): it is no longer live, and the pool never saw it. The pool holds only disposed
   * arrays, so it keeps nothing alive that a tensor could still reach or that the collector
   * could free.
   */
  forget(bytes: number): void {
    this.live -= bytes;
  }

  /** Takes back a tracked array that nothing references any more (see the file comment). */
  give(a: TypedArray): void {
    this.live -= a.byteLength;
    const budget = Math.min(this.limit, this.peakLive);
    if (a.byteLength < MIN_BYTES || a.byteLength > budget || this.order.has(a)) return;
    while (this.bytes + a.byteLength > budget) this.evictOldest();
    const key = `${dtypeOf(a)}:${a.length}`;
    let list = this.free.get(key);
    if (!list) this.free.set(key, (list = []));
    list.push(a);
    this.order.add(a);
    this.bytes += a.byteLength;
  }

  /** Drops every pooled array (the garbage collector frees them). */
  clear(): void {
    this.free.clear();
    this.order.clear();
    this.bytes = 0;
  }

  private evictOldest(): void {
    const a = this.order.values().next().value as TypedArray;
    this.order.delete(a);
    const list = this.free.get(`${dtypeOf(a)}:${a.length}`)!;
    list.splice(list.indexOf(a), 1);
    this.bytes -= a.byteLength;
  }
}
