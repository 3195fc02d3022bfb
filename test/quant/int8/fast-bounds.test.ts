/**
 * The fast path's planner against crafted shapes (issue 11, items 2 and 3): every size is bounded
 * with safe-integer arithmetic before anything sized by the model is allocated, so a model whose
 * kernel memory would pass the documented limit (src/quant/int8/fast/layout.ts MEMORY_LIMIT) is
 * refused with a reason and runs on the reference engine; no stack overflow from spreading large
 * arrays; no 32-bit wrap of layout sizes.
 */
import { describe, expect, it } from 'vitest';
import { Int8Model, type Int8Layer, type Int8ModelSpec } from '../../../src/quant/int8/index.js';
import { MEMORY_LIMIT } from '../../../src/quant/int8/fast/layout.js';
import { getDefaultDevice, setDefaultDevice } from '../../../src/tensor/index.js';

const range = { zeroPoint: 0, qmin: -127, qmax: 127 };

function conv(O: number, C: number, k: number, padding: [number, number]): Int8Layer {
  return {
    kind: 'conv2d', weightShape: [O, C, k, k], weight: new Int32Array(O * C * k * k).fill(1), weightQmin: -127, weightQmax: 127,
    weightZeroPoint: new Int32Array(O), bias: null, inZeroPoint: 0, outZeroPoint: 0, qmin: -127, qmax: 127,
    multiplier: new Int32Array(O).fill(2 ** 30), shift: new Int32Array(O).fill(-8),
    stride: [1, 1], padding, dilation: [1, 1], groups: 1,
  };
}

function spec(inputShape: number[], inner: Int8Layer[]): Int8ModelSpec {
  return { inputShape, layers: [{ kind: 'quantize', scale: 1, ...range }, ...inner, { kind: 'dequantize', scale: 1, zeroPoint: 0 }] };
}

/** Runs f with the default device 'wasm', the one where the fast path is taken. */
function onWasm<T>(f: () => T): T {
  const d = getDefaultDevice();
  setDefaultDevice('wasm');
  try {
    return f();
  } finally {
    setDefaultDevice(d);
  }
}

describe('FastProgram.plan bounds', () => {
  it('refuses a 1x1 conv with padding [10000, 10000] on a [1, 1, 1] input before allocating its output tables', () => {
    const before = process.memoryUsage().arrayBuffers + process.memoryUsage().heapUsed;
    // 20001 x 20001 output pixels: the loader's element bound (validate.ts INT8_LIMITS) refuses the
    // model before the planner could size anything by it.
    expect(() => new Int8Model(spec([1, 1, 1], [conv(1, 1, 1, [10000, 10000])]))).toThrow(/layer 1 \(conv2d\): output \[1, 20001, 20001\] has more than 67108864 \(2\^26\) elements/);
    const after = process.memoryUsage().arrayBuffers + process.memoryUsage().heapUsed;
    expect(after - before).toBeLessThan(256 * 2 ** 20);
    expect(MEMORY_LIMIT).toBeLessThan(2 ** 30);
  });

  it('plans a 1x768x768 input with a 3x3 conv without overflowing the stack (and runs it like the reference)', () => {
    const s = spec([1, 768, 768], [conv(2, 1, 3, [1, 1])]);
    const model = new Int8Model(s);
    expect(onWasm(() => model.forwardPath())).toEqual({ kernels: 'wasm' });
    const x = new Float32Array(768 * 768);
    for (let i = 0; i < x.length; i++) x[i] = ((i * 7919) % 255) - 127;
    const fast = onWasm(() => model.forward(x, 1));
    const ref = new Int8Model(s, { kernels: 'js' }).forward(x, 1);
    expect(fast).toEqual(ref);
  });

  it('a pool model with inputShape [1, 1e8, 1] gets a clear reason, not a RangeError', () => {
    expect(() => new Int8Model(spec([1, 1e8, 1], [{ kind: 'maxpool2d', kernel: [2, 1], stride: [2, 1], padding: [0, 0] }]))).toThrow(
      /inputShape: shape \[1, 100000000, 1\] has more than 67108864 \(2\^26\) elements/,
    );
  });
});
