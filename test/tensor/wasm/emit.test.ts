/**
 * The wasm emitter: LEB128 encodings against values from the spec's examples, and a tiny
 * module built with it that computes something checkable; the real module validates in both
 * variants that the engine supports.
 */
import { describe, expect, it } from 'vitest';
import { buildModule, defineFunction, f32, forLoop, i32, local, sleb, uleb } from '../../../src/tensor/wasm/emit.js';
import { gemmModuleBytes } from '../../../src/tensor/wasm/kernels.js';
import { getWasmKernelConfig } from '../../../src/tensor/wasm/index.js';

describe('wasm emitter', () => {
  it('encodes LEB128', () => {
    expect(uleb(0)).toEqual([0]);
    expect(uleb(127)).toEqual([0x7f]);
    expect(uleb(128)).toEqual([0x80, 0x01]);
    expect(uleb(624485)).toEqual([0xe5, 0x8e, 0x26]);
    expect(sleb(0)).toEqual([0]);
    expect(sleb(-1)).toEqual([0x7f]);
    expect(sleb(63)).toEqual([0x3f]);
    expect(sleb(64)).toEqual([0xc0, 0x00]);
    expect(sleb(-64)).toEqual([0x40]);
    expect(sleb(-123456)).toEqual([0xc0, 0xbb, 0x78]);
  });

  it('builds a module whose loop runs: out[i] = in[i] + in[i]', () => {
    const double = defineFunction('double', { src: 'i32', dst: 'i32', n: 'i32' }, { i: 'i32', o: 'i32' }, (v) => [
      forLoop(v.i, i32.const(0), local.get(v.n), 1, [
        local.set(v.o, i32.mul(local.get(v.i), i32.const(4))),
        f32.store(i32.add(local.get(v.dst), local.get(v.o)), f32.add(
          f32.load(i32.add(local.get(v.src), local.get(v.o))),
          f32.load(i32.add(local.get(v.src), local.get(v.o))),
        )),
      ]),
    ], true);
    const bytes = buildModule([double], { initialPages: 1, maximumPages: 1 });
    expect(WebAssembly.validate(bytes)).toBe(true);
    const memory = new WebAssembly.Memory({ initial: 1, maximum: 1, shared: true });
    const ex = new WebAssembly.Instance(new WebAssembly.Module(bytes), { env: { memory } }).exports as { double: (s: number, d: number, n: number) => void };
    const f = new Float32Array(memory.buffer);
    f.set([1, 2.5, -3], 0);
    ex.double(0, 64, 3);
    expect(Array.from(f.subarray(16, 19))).toEqual([2, 5, -6]);
    ex.double(0, 64, 0); // an empty loop runs no iteration
    expect(f[16]).toBe(2);
  });

  it('emits a valid gemm module, and uses relaxed SIMD exactly when the engine validates it', () => {
    expect(WebAssembly.validate(gemmModuleBytes(false))).toBe(true);
    expect(getWasmKernelConfig().relaxedSimd).toBe(WebAssembly.validate(gemmModuleBytes(true)));
  });
});
