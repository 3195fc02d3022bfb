/**
 * Independent oracles for the nn tests: each layer's definition written as plain loops over flat
 * row-major arrays in float64 (PyTorch's documented formulas), plus small helpers to set a
 * module's tensors and to read them back. Nothing here calls the code under test's math.
 */
import { fromArray, noGrad, type Module, type Tensor } from '../../src/index.js';
import { valuesFromSeed } from '../helpers/arbitraries.js';

/** n deterministic values in [-2, 2], exactly representable in float32. */
export function vals(seed: number, n: number, lo = -2, hi = 2): number[] {
  return valuesFromSeed(seed, n, { kind: 'uniform', min: lo, max: hi }, 'float32');
}

/** n distinct values (no ties, so max pooling has one winner per window), in random order. */
export function distinctVals(seed: number, n: number): number[] {
  return valuesFromSeed(seed, n, { kind: 'distinct', spacing: 0.125 }, 'float32');
}

export const values = (t: Tensor): number[] => Array.from(t.toTypedArray());

/** Overwrites a parameter or buffer in place (keeping its identity, dtype and device). */
export function setValues(t: Tensor, data: readonly number[]): void {
  noGrad(() => t.assign_(fromArray(data, t.shape, { dtype: t.dtype, device: t.device })));
}

/** Converts every parameter and buffer of a module to float64 in place, for finite differences. */
export function toFloat64(m: Module): void {
  for (const [, t] of m.stateDict()) {
    if (t.dtype === 'float32') noGrad(() => t.assign_(fromArray(Float64Array.from(t.toTypedArray()), t.shape, { dtype: 'float64', device: t.device })));
  }
}

/** Snapshot of a module's whole state, by name, as plain numbers (for "unchanged" checks). */
export function snapshot(m: Module): Record<string, { shape: number[]; data: number[] }> {
  const out: Record<string, { shape: number[]; data: number[] }> = {};
  for (const [k, t] of m.stateDict()) out[k] = { shape: [...t.shape], data: values(t) };
  return out;
}

/** y[n, o] = Σ_i x[n, i] W[o, i] + b[o]  (x: rows × inF, W: outF × inF). */
export function linearRef(x: readonly number[], rows: number, inF: number, w: readonly number[], outF: number, b: readonly number[] | null): number[] {
  const y: number[] = [];
  for (let n = 0; n < rows; n++) {
    for (let o = 0; o < outF; o++) {
      let s = b ? b[o] : 0;
      for (let i = 0; i < inF; i++) s += x[n * inF + i] * w[o * inF + i];
      y.push(s);
    }
  }
  return y;
}

export interface ConvRefOptions {
  stride?: [number, number];
  padding?: [number, number];
  dilation?: [number, number];
  groups?: number;
}

/** floor((n + 2p − d(k − 1) − 1) / s) + 1, the output size in PyTorch's Conv2d docs. */
export const outSize = (n: number, k: number, s: number, p: number, d: number): number => Math.floor((n + 2 * p - d * (k - 1) - 1) / s) + 1;

/**
 * torch.nn.Conv2d's definition: out[n, o, i, j] = b[o] + Σ_{c in o's group} Σ_{p,q}
 * w[o, c', p, q] · x[n, c, i·sh − ph + p·dh, j·sw − pw + q·dw], zero outside the input.
 */
export function conv2dRef(
  x: readonly number[], xShape: readonly number[], w: readonly number[], wShape: readonly number[], b: readonly number[] | null, o: ConvRefOptions = {},
): { shape: number[]; data: number[] } {
  const [N, C, H, W] = xShape;
  const [O, CG, KH, KW] = wShape;
  const [sh, sw] = o.stride ?? [1, 1], [ph, pw] = o.padding ?? [0, 0], [dh, dw] = o.dilation ?? [1, 1];
  const groups = o.groups ?? 1;
  const OG = O / groups;
  if (CG * groups !== C) throw new Error('conv2dRef: channel mismatch');
  const OH = outSize(H, KH, sh, ph, dh), OW = outSize(W, KW, sw, pw, dw);
  const data: number[] = [];
  for (let n = 0; n < N; n++) {
    for (let oc = 0; oc < O; oc++) {
      const g = Math.floor(oc / OG);
      for (let i = 0; i < OH; i++) {
        for (let j = 0; j < OW; j++) {
          let s = b ? b[oc] : 0;
          for (let cg = 0; cg < CG; cg++) {
            const c = g * CG + cg;
            for (let p = 0; p < KH; p++) {
              const hi = i * sh - ph + p * dh;
              if (hi < 0 || hi >= H) continue;
              for (let q = 0; q < KW; q++) {
                const wi = j * sw - pw + q * dw;
                if (wi < 0 || wi >= W) continue;
                s += w[((oc * CG + cg) * KH + p) * KW + q] * x[((n * C + c) * H + hi) * W + wi];
              }
            }
          }
          data.push(s);
        }
      }
    }
  }
  return { shape: [N, O, OH, OW], data };
}

/** Per-channel statistics of [N, C] or [N, C, H, W] (channel = dim 1): mean, biased and unbiased variance. */
export function channelStats(x: readonly number[], shape: readonly number[]): { mean: number[]; varBiased: number[]; varUnbiased: number[]; count: number } {
  const [N, C] = shape;
  const inner = shape.slice(2).reduce((a, b) => a * b, 1);
  const count = N * inner;
  const mean: number[] = [], varBiased: number[] = [], varUnbiased: number[] = [];
  for (let c = 0; c < C; c++) {
    let s = 0;
    for (let n = 0; n < N; n++) for (let k = 0; k < inner; k++) s += x[(n * C + c) * inner + k];
    const m = s / count;
    let ss = 0;
    for (let n = 0; n < N; n++) for (let k = 0; k < inner; k++) ss += (x[(n * C + c) * inner + k] - m) ** 2;
    mean.push(m);
    varBiased.push(ss / count);
    varUnbiased.push(ss / (count - 1));
  }
  return { mean, varBiased, varUnbiased, count };
}

/** y = (x − mean[c]) / sqrt(var[c] + eps) · γ[c] + β[c] over channel dim 1. */
export function normalizeRef(
  x: readonly number[], shape: readonly number[], mean: readonly number[], variance: readonly number[], eps: number, gamma: readonly number[] | null, beta: readonly number[] | null,
): number[] {
  const [N, C] = shape;
  const inner = shape.slice(2).reduce((a, b) => a * b, 1);
  const y = new Array<number>(x.length);
  for (let n = 0; n < N; n++) {
    for (let c = 0; c < C; c++) {
      for (let k = 0; k < inner; k++) {
        const i = (n * C + c) * inner + k;
        const z = (x[i] - mean[c]) / Math.sqrt(variance[c] + eps);
        y[i] = gamma && beta ? z * gamma[c] + beta[c] : z;
      }
    }
  }
  return y;
}

export interface PoolRefOptions {
  kernel: [number, number];
  stride?: [number, number];
  padding?: [number, number];
  dilation?: [number, number];
}

/**
 * MaxPool2d / AvgPool2d (count_include_pad=True, PyTorch's default): the window
 * [i·s − p + k·d] over the input, padding is −∞ for max and 0 (but counted) for the average.
 */
export function poolRef(kind: 'max' | 'avg', x: readonly number[], xShape: readonly number[], o: PoolRefOptions): { shape: number[]; data: number[] } {
  const [N, C, H, W] = xShape;
  const [kh, kw] = o.kernel, [sh, sw] = o.stride ?? o.kernel, [ph, pw] = o.padding ?? [0, 0], [dh, dw] = o.dilation ?? [1, 1];
  const OH = outSize(H, kh, sh, ph, dh), OW = outSize(W, kw, sw, pw, dw);
  const data: number[] = [];
  for (let nc = 0; nc < N * C; nc++) {
    for (let i = 0; i < OH; i++) {
      for (let j = 0; j < OW; j++) {
        let best = -Infinity, sum = 0;
        for (let p = 0; p < kh; p++) {
          for (let q = 0; q < kw; q++) {
            const hi = i * sh - ph + p * dh, wi = j * sw - pw + q * dw;
            if (hi < 0 || hi >= H || wi < 0 || wi >= W) continue;
            const v = x[(nc * H + hi) * W + wi];
            if (v > best) best = v;
            sum += v;
          }
        }
        data.push(kind === 'max' ? best : sum / (kh * kw));
      }
    }
  }
  return { shape: [N, C, OH, OW], data };
}

/** log Σ exp(row) − row[label], computed with the max shifted out. */
export function crossEntropyRow(row: readonly number[], label: number): number {
  const m = Math.max(...row);
  const lse = m + Math.log(row.reduce((s, v) => s + Math.exp(v - m), 0));
  return lse - row[label];
}
