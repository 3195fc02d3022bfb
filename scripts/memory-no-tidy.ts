/**
 * Memory of a conv training loop with and without tidy() (issue 11, item 7): the loop without
 * tidy() must stay under 2x the memory of the loop with it, on the cpu-side backends, because
 * buffers no tensor references are left to the garbage collector.
 *
 *   npx tsx scripts/memory-no-tidy.ts [steps=2000] [device=wasm]
 *   node --expose-gc --import tsx scripts/memory-no-tidy.ts 2000 cpu   (adds a forced GC before each reading)
 *
 * Each mode runs in a fresh child process (so one mode's heap cannot flatter the other) and
 * prints peak RSS, the final heap and ArrayBuffer bytes, and the backend's live-buffer count.
 */
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { F, fromArray, Generator, getBackend, setDefaultDevice, tidy } from '../src/index.js';
import { mnistCnn, SGD } from '../src/nn/index.js';

export interface MemoryReport {
  mode: 'tidy' | 'no-tidy';
  steps: number;
  device: string;
  peakRssMB: number;
  finalRssMB: number;
  heapUsedMB: number;
  arrayBuffersMB: number;
  liveBuffers: number;
  seconds: number;
}

const MB = 2 ** 20;

/** A small CNN on random 28x28 batches; `useTidy` wraps each step in tidy(). */
export function trainLoop(steps: number, useTidy: boolean, device = 'wasm'): MemoryReport {
  setDefaultDevice(device);
  const g = new Generator(7);
  const model = mnistCnn({ generator: g, channels: 4 });
  const opt = new SGD(model.parameters(), { lr: 0.01 });
  const B = 8;
  const x = fromArray(Array.from({ length: B * 784 }, (_, i) => Math.sin(i) * 0.5), [B, 1, 28, 28]).keep();
  const labels = Array.from({ length: B }, (_, i) => i % 10);
  const gc = (globalThis as { gc?: () => void }).gc;
  let peak = 0;
  const t0 = performance.now();
  const step = () => {
    opt.zeroGrad();
    const loss = F.crossEntropy(model.call(x), labels);
    loss.backward();
    opt.step();
  };
  for (let s = 0; s < steps; s++) {
    if (useTidy) tidy(step);
    else step();
    if (s % 50 === 0) peak = Math.max(peak, process.memoryUsage.rss());
  }
  gc?.();
  const m = process.memoryUsage();
  peak = Math.max(peak, m.rss);
  return {
    mode: useTidy ? 'tidy' : 'no-tidy', steps, device,
    peakRssMB: Math.round(peak / MB), finalRssMB: Math.round(m.rss / MB),
    heapUsedMB: Math.round(m.heapUsed / MB), arrayBuffersMB: Math.round(m.arrayBuffers / MB),
    liveBuffers: getBackend(device).liveBuffers(),
    seconds: Math.round((performance.now() - t0) / 100) / 10,
  };
}

const self = fileURLToPath(import.meta.url);
if (process.argv[1] && fileURLToPath(new URL(`file://${process.argv[1]}`)) === self) {
  const [stepsArg, deviceArg, modeArg] = process.argv.slice(2);
  const steps = Number(stepsArg ?? 2000), device = deviceArg ?? 'wasm';
  if (!Number.isInteger(steps) || steps < 1) {
    console.error(`memory-no-tidy: steps must be a positive integer, got ${stepsArg}`);
    process.exit(2);
  }
  if (modeArg === 'tidy' || modeArg === 'no-tidy') {
    console.log(JSON.stringify(trainLoop(steps, modeArg === 'tidy', device)));
  } else {
    const run = (mode: string): MemoryReport =>
      JSON.parse(execFileSync(process.execPath, [...process.execArgv, self, String(steps), device, mode], { encoding: 'utf8' }).trim().split('\n').pop()!);
    const a = run('tidy'), b = run('no-tidy');
    console.table([a, b]);
    console.log(`no-tidy / tidy peak RSS: ${(b.peakRssMB / a.peakRssMB).toFixed(2)}x (must be < 2)`);
    process.exit(b.peakRssMB < 2 * a.peakRssMB ? 0 : 1);
  }
}
