/**
 * `npm start -- --study mixed` (examples/lib/study-mixed.ts), wired end to end on a tiny synthetic
 * dataset and an untrained narrow CNN (seconds, no MNIST): the flag parses, bad widths fail before
 * any work, and the study (labels: the float model's own predictions, so quantizing costs accuracy) writes a JSON whose sizes follow the packed-size formula (recomputed here
 * from the layer shapes), whose frontier is monotone, whose evaluated configurations include every
 * uniform width, and a chart with numeric x ticks in KB.
 */
import { describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { evaluate, Generator, getDefaultDevice, mnistCnn, MnistLoader, type MnistDataset, type Sequential } from '../../src/index.js';
import { parse } from '../../examples/lib/cli.js';
import { MNIST_QUANT_FLAGS } from '../../examples/lib/flags.js';
import { STUDIES, type StudyContext } from '../../examples/lib/study.js';
import { accuracyChartSvg } from '../../examples/lib/chart.js';

function synthetic(count: number, seed: number): MnistDataset {
  let s = seed >>> 0;
  const rand = () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32);
  return {
    images: Uint8Array.from({ length: count * 28 * 28 }, () => (rand() < 0.2 ? Math.floor(rand() * 256) : 0)),
    labels: Uint8Array.from({ length: count }, () => Math.floor(rand() * 10)),
    count, rows: 28, cols: 28,
  };
}

/** Labels = the float model's own predictions, so float is 100% right and quantization can only hurt on average. */
function labelledBy(model: Sequential, ds: MnistDataset): MnistDataset {
  const r = evaluate(model, new MnistLoader(ds, { batchSize: 64 }));
  return { ...ds, labels: Uint8Array.from(r.predictions) };
}

function context(outDir: string, bits: number[] | undefined): StudyContext {
  const make = (): Sequential => mnistCnn({ channels: 4, batchNorm: true, generator: new Generator(7) });
  const float = make();
  return {
    floatModel: float, cloneFloat: make, floatAccuracy: 1,
    train: synthetic(64, 1), val: labelledBy(float, synthetic(48, 2)), test: labelledBy(float, synthetic(40, 3)),
    device: getDefaultDevice(), seed: 1, quick: true, bits, calibImages: 32, outDir, qatAlpha: 0.05,
  };
}

describe('--study mixed', () => {
  it('is a study the flag accepts', () => {
    const r = parse(MNIST_QUANT_FLAGS, ['--study', 'mixed']);
    expect(r.help ? null : r.values.study).toBe('mixed');
    expect(Object.keys(STUDIES)).toContain('mixed');
  });

  it('refuses widths outside 2..8 before any work', async () => {
    const { runStudy } = await STUDIES.mixed();
    await expect(runStudy(context('/nonexistent-dir', [1, 4]))).rejects.toThrow(/--study mixed: --bits must lie in 2\.\.8, got 1/);
  });

  it('writes a JSON and a chart consistent with the size formula', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'qgrad-mixed-'));
    try {
      const { runStudy } = await STUDIES.mixed();
      await runStudy(context(dir, [2, 4, 8]));
      const json = JSON.parse(readFileSync(join(dir, 'study-mixed.json'), 'utf8'));
      // channels 4: conv 1→4 k3 (36 weights), conv 4→4 k3 (144), linear 5·5·4 → 10 (1000); all with a bias
      expect(json.layers.map((l: { weightCount: number; outChannels: number }) => [l.weightCount, l.outChannels])).toEqual([[36, 4], [144, 4], [1000, 10]]);
      const size = (b: number[]) => Math.ceil((36 * b[0]) / 8) + 16 * 4 + Math.ceil((144 * b[1]) / 8) + 16 * 4 + Math.ceil((1000 * b[2]) / 8) + 16 * 10;
      const names = json.layers.map((l: { name: string }) => l.name);
      for (const e of [...json.evaluated.mixed, ...json.evaluated.uniform]) {
        expect(e.packedBytes).toBe(size(names.map((n: string) => e.bits[n])));
        expect(e.agreement).toBe(1);
        // QAT ran on every evaluated configuration; a kept PTQ reports PTQ's own figures
        expect(e.qat.agreement).toBe(1);
        expect(e.qat.p).toBeGreaterThanOrEqual(0);
        expect(e.qat.p).toBeLessThanOrEqual(1);
        if (e.qat.kept === 'ptq') expect([e.qat.test, e.qat.intOnly]).toEqual([e.test, e.intOnly]);
        else expect(e.qat.p).toBeLessThanOrEqual(0.05);
      }
      expect(json.evaluated.uniform.map((e: { bits: Record<string, number> }) => e.bits[names[0]])).toEqual([2, 4, 8]);
      expect(json.sensitivity).toHaveLength(3 * 3);
      const f = json.frontier as { bytes: number; loss: number }[];
      expect(f.length).toBeGreaterThanOrEqual(3);
      for (let i = 1; i < f.length; i++) {
        expect(f[i].bytes).toBeGreaterThan(f[i - 1].bytes);
        expect(f[i].loss).toBeLessThan(f[i - 1].loss);
      }
      expect(f[0].bytes).toBe(size([2, 2, 2]));
      const svg = readFileSync(join(dir, 'mixed-frontier.svg'), 'utf8');
      expect(svg).toContain('packed model size (KB)');
      expect(svg).toContain('data-series="mixed, Pareto frontier (PTQ fake-quant)"');
      expect(svg).toContain('data-series="mixed, Pareto frontier (QAT fake-quant)"');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);
});

describe('accuracyChartSvg with explicit x ticks', () => {
  it('puts ticks where asked and spans them', () => {
    const svg = accuracyChartSvg({
      title: 't', xLabel: 'KB', yLabel: 'acc', caption: [], xTicks: [0, 5, 10],
      series: [{ label: 's', color: 'blue', points: [{ x: 2.5, y: 50 }, { x: 7.5, y: 60 }] }],
      panels: [{ yMin: 0, yMax: 100, yStep: 50 }],
    });
    const labels = [...svg.matchAll(/<text x="([\d.]+)" y="[\d.]+" text-anchor="middle">([\d.]+)<\/text>/g)].map((m) => [Number(m[1]), m[2]] as const);
    expect(labels.map((l) => l[1])).toEqual(['0', '5', '10']);
    // the plot spans x 0..10 over [64, 760 - 24]: 2.5 sits a quarter of the way
    const cx = Number(/<circle cx="([\d.]+)"/.exec(svg)![1]);
    expect(cx).toBeCloseTo(64 + 0.25 * (760 - 64 - 24), 0);
    expect(labels[1][0]).toBeCloseTo(64 + 0.5 * (760 - 64 - 24), 0);
  });
});
