/**
 * The benchmark cases, as qgrad runs them. Each case builds its inputs once and returns the
 * function a sample times. The shapes are those of the seed tutorial CNN (docs/seeds 004):
 * conv(1->40, k3) ReLU maxpool2, conv(40->40, k3) ReLU maxpool2, flatten, linear(1000->10).
 */
import { F, manualSeed, noGrad, randn, tidy } from '../src/index.js';
import type { Tensor } from '../src/index.js';
import { mnistCnn, SGD } from '../src/nn/index.js';
import type { Conv2dParams } from '../src/tensor/backend.js';
import { getDefaultDevice } from '../src/index.js';
import { gemmInt8 as gemmInt8Wasm, gemmInt8Reference } from '../src/quant/int8/fast/gemm-int8.js';
import type { DType, TypedArray } from '../src/tensor/dtype.js';
import * as ref from '../src/tensor/cpu/conv.js';
import * as fast from '../src/tensor/wasm/conv.js';

// The kernels of the device a column runs on ('cpu': the reference; 'wasm': SIMD, else the reference).
const wasm = () => getDefaultDevice() === 'wasm';
const conv2dForward = (x: Float32Array, xs: number[], w: Float32Array, ws: number[], p: Conv2dParams, dt: DType): TypedArray =>
  (wasm() ? fast.conv2dForwardF32(x, xs, w, ws, p) : null) ?? ref.conv2dForward(x, xs, w, ws, p, dt);
const conv2dGradInput = (gy: Float32Array, ws: number[], w: Float32Array, xs: number[], p: Conv2dParams, dt: DType): TypedArray =>
  (wasm() ? fast.conv2dGradInputF32(gy, ws, w, xs, p) : null) ?? ref.conv2dGradInput(gy, ws, w, xs, p, dt);
const conv2dGradWeight = (x: Float32Array, xs: number[], gy: Float32Array, ws: number[], p: Conv2dParams, dt: DType): TypedArray =>
  (wasm() ? fast.conv2dGradWeightF32(x, xs, gy, ws, p) : null) ?? ref.conv2dGradWeight(x, xs, gy, ws, p, dt);
const gemmInt8: typeof gemmInt8Wasm = (...a) => (wasm() ? gemmInt8Wasm : gemmInt8Reference)(...a);

export interface BenchCase {
  /** Row label, shared with the peers (tfjs, PyTorch) so their numbers line up. */
  name: string;
  group: 'matmul' | 'conv' | 'cnn' | 'int8';
  /** Floating-point operations per run, where meaningful (for GFLOP/s). */
  flops?: number;
  setup: () => () => unknown;
}

export const MATMUL_SIZES = [128, 256, 512, 1024];
export const TRAIN_BATCH = 64;
export const INFER_IMAGES = 1000;
export const INFER_BATCH = 100;

const valid: Conv2dParams = { stride: [1, 1], padding: [0, 0], dilation: [1, 1], groups: 1 };
/** The two convolutions of the CNN at batch 64: input, weight and output shapes. */
export const CONVS = [
  { name: 'conv1', x: [64, 1, 28, 28], w: [40, 1, 3, 3], y: [64, 40, 26, 26] },
  { name: 'conv2', x: [64, 40, 13, 13], w: [40, 40, 3, 3], y: [64, 40, 11, 11] },
];

/**
 * Tensors live on the device that was the default when they were made, so a case that builds a
 * model or operands must build them once per column's device (the js column is device 'cpu');
 * this memoises `make` per default device, seeded identically for each.
 */
function perDevice<T>(make: () => T): () => T {
  const made = new Map<string, T>();
  return () => {
    const dev = getDefaultDevice();
    let v = made.get(dev);
    if (v === undefined) made.set(dev, (v = make()));
    return v;
  };
}

const numel = (s: readonly number[]) => s.reduce((a, b) => a * b, 1);
const data = (t: Tensor) => t.toTypedArray() as Float32Array;

export function qgradCases(): BenchCase[] {
  const cases: BenchCase[] = [];
  for (const n of MATMUL_SIZES) {
    cases.push({
      name: `matmul ${n}`,
      group: 'matmul',
      flops: 2 * n ** 3,
      setup: () => {
        const ops = perDevice(() => ({ a: randn([n, n]), b: randn([n, n]) }));
        return () => {
          const { a, b } = ops();
          tidy(() => noGrad(() => void F.matmul(a, b)));
        };
      },
    });
  }
  for (const c of CONVS) {
    const flops = 2 * numel(c.y) * numel(c.w.slice(1));
    cases.push({
      name: `${c.name} forward`,
      group: 'conv',
      flops,
      setup: () => {
        const x = data(randn(c.x)), w = data(randn(c.w));
        return () => conv2dForward(x, c.x, w, c.w, valid, 'float32');
      },
    });
    // The training step needs gradInput only where the input requires grad: not for conv1.
    const needsInput = c.name !== 'conv1';
    cases.push({
      name: `${c.name} backward`,
      group: 'conv',
      flops: flops * (needsInput ? 2 : 1),
      setup: () => {
        const x = data(randn(c.x)), w = data(randn(c.w)), gy = data(randn(c.y));
        return () => {
          if (needsInput) conv2dGradInput(gy, c.w, w, c.x, valid, 'float32');
          conv2dGradWeight(x, c.x, gy, c.w, valid, 'float32');
        };
      },
    });
  }
  // The integer product of int8 inference at conv2's shape (weights [40, 360] times the im2col
  // patches of one batch-64 layer, in the "NT" layout the int8 engine uses), values in [-255, 255].
  {
    const [M, N, K] = [40, 7744, 360];
    cases.push({
      name: `gemmInt8 ${M}x${N}x${K}`,
      group: 'int8',
      flops: 2 * M * N * K,
      setup: () => {
        let seed = 1;
        const next = () => ((seed = (seed * 16807) % 2147483647) % 511) - 255;
        const A = Int32Array.from({ length: M * K }, next), B = Int32Array.from({ length: N * K }, next);
        const C = new Int32Array(M * N);
        return () => gemmInt8(M, N, K, { data: A, offset: 0, rowStride: K, colStride: 1 }, { data: B, offset: 0, rowStride: 1, colStride: K }, C);
      },
    });
  }
  cases.push({
    name: `CNN train step (batch ${TRAIN_BATCH})`,
    group: 'cnn',
    setup: () => {
      const state = perDevice(() => {
        manualSeed(0);
        const model = mnistCnn();
        return { model, opt: new SGD(model.parameters(), { lr: 0.01, momentum: 0.5 }), x: randn([TRAIN_BATCH, 1, 28, 28]) };
      });
      const y = Array.from({ length: TRAIN_BATCH }, (_, i) => i % 10);
      return () => {
        const { model, opt, x } = state(); // outside tidy: the model outlives the sample
        return tidy(() => {
          opt.zeroGrad();
          const loss = F.crossEntropy(model.call(x), y);
          loss.backward();
          opt.step();
          return loss.item();
        });
      };
    },
  });
  cases.push({
    name: `CNN inference ${INFER_IMAGES} images`,
    group: 'cnn',
    setup: () => {
      const state = perDevice(() => {
        manualSeed(0);
        return { model: mnistCnn(), x: randn([INFER_BATCH, 1, 28, 28]) };
      });
      return () => {
        const { model, x } = state(); // outside noGrad and tidy: made once, kept
        noGrad(() => {
          for (let b = 0; b < INFER_IMAGES / INFER_BATCH; b++) tidy(() => void model.call(x).toTypedArray());
        });
      };
    },
  });
  return cases;
}
