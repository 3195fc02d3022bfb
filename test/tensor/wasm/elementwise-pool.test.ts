/**
 * The wasm backend's pool of released typed arrays: what it reuses, what it refuses, and that a
 * recycled array is never reachable from a tensor or buffer it used to belong to. End to end,
 * a few CNN training steps must give bit-identical losses and parameters with the pool on and
 * off, and tensors kept out of tidy() must not change while later steps recycle memory.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { F, getBackend, manualSeed, randn, tidy, type Tensor } from '../../../src/index.js';
import { mnistCnn, SGD } from '../../../src/nn/index.js';
import type { CpuBuffer } from '../../../src/tensor/cpu/index.js';
import { BufferPool, type WasmBackend } from '../../../src/tensor/wasm/index.js';

/** The buffer pool is the wasm backend's (the default device where WebAssembly SIMD exists). */
const cpu = () => getBackend('wasm') as WasmBackend;
const BIG = 64 * 1024; // elements: well above the pool's minimum size

describe('BufferPool', () => {
  it('hands a released array back for the same type and length only', () => {
    const pool = new BufferPool();
    const a = pool.take('float32', BIG);
    pool.track(a);
    pool.give(a);
    expect(pool.pooledBytes).toBe(a.byteLength);
    expect(pool.take('float64', BIG) !== a, 'a different array').toBe(true);
    expect(pool.take('float32', BIG + 1) !== a, 'a different array').toBe(true);
    expect(pool.take('float32', BIG) === a, 'the released array').toBe(true);
    expect(pool.pooledBytes).toBe(0);
    expect(pool.take('float32', BIG) !== a, 'a different array').toBe(true); // taken once, gone
  });

  it('zeroes a recycled array for takeZeroed', () => {
    const pool = new BufferPool();
    const a = pool.take('int32', BIG);
    pool.track(a);
    a.fill(7);
    pool.give(a);
    const b = pool.takeZeroed('int32', BIG);
    expect(b === a, 'the released array').toBe(true);
    expect(b.every((v) => v === 0)).toBe(true);
  });

  it('never holds an array twice, small arrays, or more than its limit and the peak live bytes', () => {
    const pool = new BufferPool(3 * BIG * 4);
    const arrays = Array.from({ length: 5 }, () => pool.take('float32', BIG));
    arrays.forEach((a) => pool.track(a));
    pool.give(arrays[0]);
    pool.give(arrays[0]); // a second release of the same array is ignored
    expect(pool.pooledBytes).toBe(BIG * 4);
    const small = new Float32Array(16);
    pool.track(small);
    pool.give(small);
    expect(pool.pooledBytes).toBe(BIG * 4);
    for (const a of arrays.slice(1)) pool.give(a);
    expect(pool.pooledBytes).toBe(3 * BIG * 4); // the limit: the oldest were dropped
    const back = [pool.take('float32', BIG), pool.take('float32', BIG), pool.take('float32', BIG)];
    expect(new Set(back).size).toBe(3);
    expect(back.every((x) => arrays.slice(2).includes(x)), 'the three released last').toBe(true);

    const fresh = new BufferPool();
    const one = fresh.take('float32', BIG);
    fresh.track(one);
    fresh.give(one);
    const other = new Float32Array(2 * BIG);
    fresh.track(other); // live: 2 BIG floats; peak 2 BIG floats (the first was released before)
    fresh.give(other);
    expect(fresh.pooledBytes).toBeLessThanOrEqual(2 * BIG * 4);
  });

  it('limit 0 turns it off; lowering the limit drops arrays at once', () => {
    const pool = new BufferPool(0);
    const a = pool.take('float32', BIG);
    pool.track(a);
    pool.give(a);
    expect(pool.pooledBytes).toBe(0);
    expect(pool.take('float32', BIG) !== a, 'a different array').toBe(true);

    const on = new BufferPool();
    const xs = [on.take('float32', BIG), on.take('float32', BIG)];
    xs.forEach((x) => on.track(x));
    xs.forEach((x) => on.give(x));
    expect(on.pooledBytes).toBe(2 * BIG * 4);
    on.limitBytes = BIG * 4;
    expect(on.pooledBytes).toBe(BIG * 4);
    expect(on.take('float32', BIG) === xs[1], 'the newer array').toBe(true); // the older one was dropped
    on.limitBytes = 0;
    expect(on.pooledBytes).toBe(0);
  });
});

describe('the cpu backend recycles disposed buffers', () => {
  const limit = cpu().bufferPool.limitBytes;
  afterEach(() => {
    cpu().bufferPool.limitBytes = limit;
  });

  it('detaches the array from a disposed buffer, and a stale tensor cannot read it', () => {
    const t = randn([BIG]);
    const buf = t.buffer as CpuBuffer;
    const before = t.toTypedArray();
    t.dispose();
    expect(() => buf.data).toThrow(/disposed/);
    expect(() => t.toTypedArray()).toThrow(/disposed/);
    const u = randn([BIG]); // may get the recycled array: it must hold u's values only
    expect(u.toTypedArray()).not.toEqual(before);
    u.dispose();
  });

  it('reuses the array of a disposed result for the next result of the same size', () => {
    const b = cpu();
    const x = randn([BIG]);
    const y = x.relu();
    const arr = (y.buffer as CpuBuffer).data;
    y.dispose();
    const z = x.neg();
    expect((z.buffer as CpuBuffer).data === arr, 'the released array').toBe(true);
    expect(Array.from(z.toTypedArray().subarray(0, 5))).toEqual(Array.from(x.toTypedArray().subarray(0, 5)).map((v) => -v));
    const live = b.liveBuffers();
    const zeros = b.alloc('float32', BIG);
    expect((zeros as CpuBuffer).data.every((v) => v === 0)).toBe(true);
    b.dispose(zeros);
    expect(b.liveBuffers()).toBe(live);
    x.dispose();
    z.dispose();
  });

  it('gives identical CNN training with and without the pool; tensors kept from a step stay intact', () => {
    const train = (poolBytes: number) => {
      cpu().bufferPool.limitBytes = poolBytes;
      cpu().bufferPool.clear();
      manualSeed(3);
      const model = mnistCnn({ channels: 8 });
      const opt = new SGD(model.parameters(), { lr: 0.05, momentum: 0.9 });
      const x = randn([16, 1, 28, 28]);
      const y = Array.from({ length: 16 }, (_, i) => (i * 7) % 10);
      const losses: number[] = [];
      let firstLogits: Tensor | null = null;
      let firstValues: Float32Array | null = null;
      for (let s = 0; s < 4; s++) {
        const logits = tidy(() => {
          opt.zeroGrad();
          const out = model.call(x);
          const loss = F.crossEntropy(out, y);
          loss.backward();
          opt.step();
          losses.push(loss.item());
          return out;
        });
        if (s === 0) {
          firstLogits = logits;
          firstValues = logits.toTypedArray() as Float32Array;
        } else logits.dispose();
      }
      // Three more steps recycled every buffer of the same sizes; the kept logits are untouched.
      expect(firstLogits!.toTypedArray()).toEqual(firstValues);
      const params = model.parameters().map((p) => Array.from(p.toTypedArray()));
      firstLogits!.dispose();
      x.dispose();
      return { losses, params };
    };
    const off = train(0);
    const on = train(limit);
    expect(cpu().bufferPool.pooledBytes).toBeGreaterThan(0);
    expect(on.losses).toEqual(off.losses);
    expect(on.params).toEqual(off.params);
  });
});
