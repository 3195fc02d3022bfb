/**
 * The wasm backend's fused batch normalisation (src/tensor/wasm/batchnorm.ts) against the
 * composed ops it replaces, transcribed here from src/autograd/ops/batchnorm.ts's formulas
 * (Ioffe & Szegedy 2015, §3) as separate tensor ops on the same device: forward y, x̂, mean,
 * variance, 1/√(σ² + ε) and backward ∂x, ∂γ, ∂β the same bits everywhere (Object.is). Shapes cover
 * H·W not a multiple of 4, channels whose N·H·W rows span several staging blocks (flushed mid
 * channel), data with a large common offset (where the order of the float64 sums shows), and sizes
 * the fused path declines (H·W < 32: the composed ops run, so the Function still agrees). Through
 * autograd: BatchNormTrain's outputs and gradients equal the transcription as well.
 */
import { describe, expect, it } from 'vitest';
import { fromArray, type Tensor } from '../../../src/index.js';
import * as raw from '../../../src/tensor/raw.js';
import { d } from '../../../src/tensor/cpu/index.js';
import { fromBuffer } from '../../../src/tensor/tensor.js';
import { BatchNormTrain, type BatchStats } from '../../../src/autograd/ops/batchnorm.js';
import { getBackend } from '../../../src/tensor/backend.js';
import '../../../src/tensor/wasm/index.js';
import { rng } from './util.js';

const wasm = getBackend('wasm');

/** The composed forward and backward, op by op, as the Function's reference formulas. */
function composed(x: Tensor, w: Tensor, b: Tensor, eps: number, g: Tensor) {
  const C = x.shape[1];
  const axes = x.shape.map((_, i) => i).filter((i) => i !== 1);
  const bshape = x.shape.map((s, i) => (i === 1 ? s : 1));
  const n = x.size / C;
  const mean = raw.binaryScalar('div', raw.reduce('sum', x, axes, true), n);
  const xc = raw.binary('sub', x, mean);
  const variance = raw.binaryScalar('div', raw.reduce('sum', raw.unary('square', xc), axes, true), n);
  const invstd = raw.unary('reciprocal', raw.unary('sqrt', raw.binaryScalar('add', variance, eps)));
  const xhat = raw.binary('mul', xc, invstd);
  const y = raw.binary('add', raw.binary('mul', xhat, raw.reshape(w, bshape)), raw.reshape(b, bshape));
  const gw = raw.reduce('sum', raw.binary('mul', g, xhat), axes);
  const gb = raw.reduce('sum', g, axes);
  const gh = raw.binary('mul', g, raw.reshape(w, bshape));
  const sumGh = raw.reduce('sum', gh, axes, true);
  const sumGhXh = raw.reduce('sum', raw.binary('mul', gh, xhat), axes, true);
  const inner = raw.binary('sub', raw.binary('sub', raw.binaryScalar('mul', gh, n), sumGh), raw.binary('mul', xhat, sumGhXh));
  const gx = raw.binary('mul', inner, raw.binaryScalar('div', invstd, n));
  return { y, xhat, mean, variance, invstd, gx, gw, gb };
}

function sameBits(a: ArrayLike<number>, b: ArrayLike<number>, label: string): void {
  expect(a.length, `${label}: length`).toBe(b.length);
  for (let i = 0; i < a.length; i++) if (!Object.is(a[i], b[i])) expect.fail(`${label}: element ${i} is ${a[i]}, expected ${b[i]}`);
}

function data(shape: number[], seed: number, offset: number) {
  const rand = rng(seed);
  const size = shape.reduce((p, s) => p * s, 1), C = shape[1];
  const t = (n: number, f: () => number, s: number[]) => fromArray(Float32Array.from({ length: n }, f), s, { device: 'wasm' });
  return {
    x: t(size, () => offset + rand() * 2 - 1, shape),
    g: t(size, () => (rand() * 2 - 1) * 1e-3, shape),
    w: t(C, () => 0.5 + rand(), [C]),
    b: t(C, () => rand() - 0.5, [C]),
  };
}

// [N, C, H, W]: the MNIST CNN's two BN layers (batch 64), H·W = 33 and 32 (the smallest fused rows), and two it declines (N·H·W < 256, H·W < 32)
const SHAPES: [number[], boolean][] = [[[64, 4, 26, 26], true], [[64, 5, 11, 11], true], [[9, 3, 3, 11], true], [[7, 3, 3, 11], false], [[9, 2, 4, 8], true], [[5, 3, 5, 5], false]];

describe('fused batch norm = the composed ops, bit for bit', () => {
  for (const [shape, fuses] of SHAPES) {
    it(`backend primitives, shape [${shape}]${fuses ? '' : ' (declined)'}`, () => {
      for (const offset of [0, 3.7]) {
        const { x, g, w, b } = data(shape, shape.reduce((p, s) => p * 31 + s, 7), offset);
        const want = composed(x, w, b, 1e-5, g);
        const [N, C] = shape, HW = x.size / (N * C);
        const f = wasm.batchNormTrain!(x.buffer, N, C, HW, w.buffer, b.buffer, 1e-5);
        const bw = wasm.batchNormTrainBackward!(g.buffer, want.xhat.buffer, want.invstd.buffer, w.buffer, N, C, HW);
        expect(f !== null, 'forward fused').toBe(fuses);
        expect(bw !== null, 'backward fused').toBe(fuses);
        if (!f || !bw) continue;
        for (const k of ['y', 'xhat', 'mean', 'variance', 'invstd'] as const) sameBits(d(f[k]), want[k].toTypedArray(), `${k} (offset ${offset})`);
        for (const k of ['gx', 'gw', 'gb'] as const) sameBits(d(bw[k]), want[k].toTypedArray(), `${k} (offset ${offset})`);
      }
    });
  }

  it('through autograd: BatchNormTrain outputs, running-stat inputs and gradients', () => {
    for (const [shape] of SHAPES) {
      const { x, g, w, b } = data(shape, 11, 1.5);
      const want = composed(x, w, b, 1e-5, g);
      const xs = x.detach().requiresGrad_(), ws = w.detach().requiresGrad_(), bs = b.detach().requiresGrad_();
      const stats: BatchStats = {};
      const y = BatchNormTrain.apply(xs, ws, bs, 1e-5, stats);
      sameBits(y.toTypedArray(), want.y.toTypedArray(), `y [${shape}]`);
      sameBits(stats.mean!.toTypedArray(), want.mean.toTypedArray(), `mean [${shape}]`);
      sameBits(stats.variance!.toTypedArray(), want.variance.toTypedArray(), `variance [${shape}]`);
      // an upstream gradient that owns its buffer, as a layer's backward hands it on
      y.backward(fromBuffer(wasm, raw.contiguous(g).buffer, g.shape));
      sameBits(xs.grad!.toTypedArray(), want.gx.toTypedArray(), `gx [${shape}]`);
      sameBits(ws.grad!.toTypedArray(), want.gw.toTypedArray(), `gw [${shape}]`);
      sameBits(bs.grad!.toTypedArray(), want.gb.toTypedArray(), `gb [${shape}]`);
    }
  });
});
