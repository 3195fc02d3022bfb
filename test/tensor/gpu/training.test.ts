/**
 * Training through the public API on the gpu backend: the same small CNN and MLP, initialised
 * identically, trained with plain SGD on cpu and on each gpu mode, must produce the same losses
 * step after step (within 1e-4 relative: float32 accumulation on the gpu against float64 on the
 * cpu, compounded over the steps). Then the leak test: 1000 steps inside tidy() must not grow the
 * number of live device buffers (nor, in GL modes, the number of GL textures).
 */
import { describe, expect, it } from 'vitest';
import { F, fromArray, noGrad, tidy, type Tensor } from '../../../src/index.js';
import { prng } from '../../helpers/arbitraries.js';
import { deviceFor, expectRanOn, gpuBackend, MODES } from './modes.js';

interface Model {
  init: (rnd: () => number) => { shape: number[]; values: Float32Array }[];
  forward: (p: Tensor[], x: Tensor) => Tensor;
}

const randArray = (rnd: () => number, n: number, scale: number) => Float32Array.from({ length: n }, () => (rnd() * 2 - 1) * scale);

/** conv 3x3 (1 -> 4, padding 1) + relu + maxpool 2 + conv 3x3 stride 2 (4 -> 6) + avgpool + linear 6 -> 5. */
const cnn: Model = {
  init: (rnd) => [
    { shape: [4, 1, 3, 3], values: randArray(rnd, 36, 0.5) },
    { shape: [4], values: randArray(rnd, 4, 0.1) },
    { shape: [6, 4, 3, 3], values: randArray(rnd, 216, 0.3) },
    { shape: [6, 5], values: randArray(rnd, 30, 0.4) },
    { shape: [5], values: randArray(rnd, 5, 0.1) },
  ],
  forward: ([w1, b1, w2, fc, fb], x) => {
    let h = F.relu(F.conv2d(x, w1, b1, { padding: 1 }));
    h = F.maxPool2d(h, 2);
    h = F.tanh(F.conv2d(h, w2, null, { stride: 2, dilation: 1, padding: 1 }));
    h = F.avgPool2d(h, 2, { stride: 2 });
    return F.add(F.matmul(h.reshape([x.shape[0], 6]), fc), fb);
  },
};

/** linear 12 -> 16, sigmoid, linear 16 -> 5. */
const mlp: Model = {
  init: (rnd) => [
    { shape: [12, 16], values: randArray(rnd, 192, 0.4) },
    { shape: [16], values: randArray(rnd, 16, 0.1) },
    { shape: [16, 5], values: randArray(rnd, 80, 0.4) },
    { shape: [5], values: randArray(rnd, 5, 0.1) },
  ],
  forward: ([w1, b1, w2, b2], x) => F.add(F.matmul(F.sigmoid(F.add(F.matmul(x, w1), b1)), w2), b2),
};

function makeParams(model: Model, seed: number, device: string): Tensor[] {
  return model.init(prng(seed)).map((p) => fromArray(p.values, p.shape, { device, requiresGrad: true }));
}

/** One SGD step inside tidy(); the parameters are replaced by new kept leaves and the old ones freed. */
function sgdStep(model: Model, params: Tensor[], x: Tensor, labels: Tensor, lr: number): { loss: number; params: Tensor[] } {
  return tidy(() => {
    const loss = F.crossEntropy(model.forward(params, x), labels);
    loss.backward();
    const next = noGrad(() => params.map((p) => F.sub(p, F.mul(p.grad!, lr)).keep()));
    for (const p of params) {
      p.grad?.dispose();
      p.grad = null;
      p.dispose();
    }
    return { loss: loss.item(), params: next.map((t) => t.requiresGrad_()) };
  });
}

function train(model: Model, device: string, xShape: number[], steps: number): number[] {
  const rnd = prng(7);
  const n = xShape[0];
  const x = fromArray(randArray(rnd, xShape.reduce((a, b) => a * b, 1), 1), xShape, { device });
  const labels = fromArray(Int32Array.from({ length: n }, (_, i) => (i * 7) % 5), [n], { dtype: 'int32', device });
  let params = makeParams(model, 3, device);
  const losses: number[] = [];
  for (let s = 0; s < steps; s++) {
    const r = sgdStep(model, params, x, labels, 0.5);
    losses.push(r.loss);
    params = r.params;
  }
  for (const t of [x, labels, ...params]) t.dispose();
  return losses;
}

describe.each(MODES)('training on gpu mode %s', (mode) => {
  const g = gpuBackend(mode);
  const dev = deviceFor(mode);

  for (const [name, model, xShape] of [['CNN', cnn, [6, 1, 8, 8]], ['MLP', mlp, [10, 12]]] as const) {
    it(`${name}: SGD losses match the cpu step by step, and fall`, () => {
      const cpu = train(model, 'cpu', [...xShape], 8);
      const gpu = train(model, dev, [...xShape], 8);
      for (let s = 0; s < cpu.length; s++) expect(Math.abs(gpu[s] - cpu[s]), `step ${s}: gpu ${gpu[s]} cpu ${cpu[s]}`).toBeLessThanOrEqual(1e-4 * Math.max(1, cpu[s]));
      expect(gpu[gpu.length - 1]).toBeLessThan(gpu[0]);
      expectRanOn(g, mode, name === 'CNN' ? ['conv2d', 'conv2dGradInput', 'conv2dGradWeight', 'maxPool2dGrad', 'avgPool2dGrad', 'matmul'] : ['matmul', 'map:sigmoid']);
    });
  }

  it('a training loop compiles each kernel once; a new batch size reuses the kernels', () => {
    train(mlp, dev, [10, 12], 2);
    const warm = g.kernelCache();
    train(mlp, dev, [10, 12], 5);
    const same = g.kernelCache();
    expect(same.count).toBe(warm.count);
    expect(same.builds).toBe(warm.builds);
    expect(same.hits).toBeGreaterThan(warm.hits);
    train(mlp, dev, [7, 12], 3);
    const resized = g.kernelCache();
    expect(resized.count, 'no new kernels for a new batch size').toBe(warm.count);
    // GL and gpu.js's cpu mode take sizes as arguments; webasm bakes sizes into its module and rebuilds (~ms).
    if (mode === 'webasm') expect(resized.builds).toBeGreaterThan(warm.builds);
    else expect(resized.builds).toBe(warm.builds);
    expectRanOn(g, mode, ['matmul']);
  });

  it('leak test: 1000 training steps inside tidy() do not grow live buffers or GL textures', () => {
    const rnd = prng(11);
    const x = fromArray(randArray(rnd, 8 * 12, 1), [8, 12], { device: dev });
    const labels = fromArray(Int32Array.from({ length: 8 }, (_, i) => i % 5), [8], { dtype: 'int32', device: dev });
    let params = makeParams(mlp, 5, dev);
    let at10 = { live: -1, textures: null as number | null }, first = 0, last = 0;
    for (let s = 1; s <= 1000; s++) {
      const r = sgdStep(mlp, params, x, labels, 0.5);
      params = r.params;
      if (s === 1) first = r.loss;
      last = r.loss;
      if (s === 10) at10 = { live: g.liveBuffers(), textures: g.deviceTextures() };
    }
    expect(g.liveBuffers(), 'live buffers after step 1000 vs after step 10').toBe(at10.live);
    expect(g.deviceTextures(), 'net GL textures after step 1000 vs after step 10').toBe(at10.textures);
    if (g.onDevice) expect(at10.textures).not.toBeNull();
    expect(last).toBeLessThan(first);
    for (const t of [x, labels, ...params]) t.dispose();
    expectRanOn(g, mode, ['matmul']);
  });
});
