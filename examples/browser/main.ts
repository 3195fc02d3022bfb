/**
 * Browser demo of the gpu backend: a small CNN trained for a few SGD steps on device 'gpu' (gpu.js
 * in WebGL2 unless ?mode= says otherwise) and on the cpu backend from the same initial weights.
 * The page shows both loss curves; the result is also left on window.__qgrad for
 * scripts/browser-run.mjs, which bundles this file, serves it and drives headless Chromium.
 */
import { F, noGrad } from '../../src/autograd/index.js';
import { fromArray, getBackend, tidy, type Tensor } from '../../src/tensor/index.js';
import { useGpuMode, type GpuBackend, type GpuMode } from '../../src/tensor/gpu/index.js';

interface Result {
  ok: boolean;
  mode: string;
  describe: string;
  steps: number;
  losses: { gpu: number[]; cpu: number[] };
  maxRelDiff: number;
  ms: { gpu: number; cpu: number };
  kernels: { count: number; builds: number; compileMs: number };
  error?: string;
}

declare global {
  interface Window {
    __qgrad?: Result;
  }
}

function rand(n: number, scale: number, seed: number): Float32Array {
  let s = seed;
  return Float32Array.from({ length: n }, () => (((s = (s * 16807) % 2147483647) / 2147483647) * 2 - 1) * scale);
}

const INIT: { shape: number[]; values: Float32Array }[] = [
  { shape: [8, 1, 3, 3], values: rand(72, 0.5, 1) },
  { shape: [8], values: rand(8, 0.1, 2) },
  { shape: [8 * 7 * 7, 10], values: rand(3920, 0.05, 3) },
  { shape: [10], values: rand(10, 0.1, 4) },
];

function forward([w, b, fc, fb]: Tensor[], x: Tensor): Tensor {
  const h = F.maxPool2d(F.relu(F.conv2d(x, w, b, { padding: 1 })), 2);
  return F.add(F.matmul(h.reshape([x.shape[0], 8 * 7 * 7]), fc), fb);
}

function train(device: string, steps: number): { losses: number[]; ms: number } {
  const n = 16;
  const x = fromArray(rand(n * 14 * 14, 1, 5), [n, 1, 14, 14], { device });
  const labels = fromArray(Int32Array.from({ length: n }, (_, i) => (i * 3) % 10), [n], { dtype: 'int32', device });
  let params = INIT.map((p) => fromArray(p.values, p.shape, { device, requiresGrad: true }));
  const losses: number[] = [];
  const t0 = performance.now();
  for (let s = 0; s < steps; s++) {
    const r = tidy(() => {
      const loss = F.crossEntropy(forward(params, x), labels);
      loss.backward();
      const next = noGrad(() => params.map((p) => F.sub(p, F.mul(p.grad!, 0.5)).keep()));
      for (const p of params) {
        p.grad?.dispose();
        p.dispose();
      }
      return { loss: loss.item(), next };
    });
    losses.push(r.loss);
    params = r.next.map((t) => t.requiresGrad_());
  }
  const ms = performance.now() - t0;
  for (const t of [x, labels, ...params]) t.dispose();
  return { losses, ms };
}

function run(): Result {
  const mode = new URLSearchParams(location.search).get('mode');
  if (mode) useGpuMode(mode as GpuMode);
  const steps = Number(new URLSearchParams(location.search).get('steps') ?? 10);
  const gpu = train('gpu', steps);
  const cpu = train('cpu', steps);
  const b = getBackend('gpu') as GpuBackend;
  const maxRelDiff = Math.max(...gpu.losses.map((l, i) => Math.abs(l - cpu.losses[i]) / Math.max(1, Math.abs(cpu.losses[i]))));
  const k = b.kernelCache();
  return {
    ok: maxRelDiff <= 1e-4 && gpu.losses[steps - 1] < gpu.losses[0] && b.fallbacks().length === 0,
    mode: b.actualMode(), describe: b.describe(), steps,
    losses: { gpu: gpu.losses, cpu: cpu.losses }, maxRelDiff,
    ms: { gpu: gpu.ms, cpu: cpu.ms }, kernels: { count: k.count, builds: k.builds, compileMs: k.compileMs },
  };
}

const out = document.getElementById('out')!;
let result: Result;
try {
  result = run();
} catch (e) {
  result = { ok: false, mode: '?', describe: '', steps: 0, losses: { gpu: [], cpu: [] }, maxRelDiff: NaN, ms: { gpu: 0, cpu: 0 }, kernels: { count: 0, builds: 0, compileMs: 0 }, error: String((e as Error).stack ?? e) };
}
out.textContent = JSON.stringify(result, null, 2);
window.__qgrad = result;
