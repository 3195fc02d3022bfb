/**
 * The results chart and the per-class report of examples/mnist-quant.ts (issue 11): the zoom panel
 * makes 1-point differences visible, clipped points are marked, the caption and legend say what
 * was measured; the confusion matrix and per-class accuracy match counts made by hand.
 */
import { describe, expect, it } from 'vitest';
import { accuracyChartSvg, type Series } from '../../examples/lib/chart.js';
import { classReport, confusionMatrix, perClassAccuracy } from '../../examples/lib/confusion.js';

const series: Series[] = [
  { label: 'float baseline (99.00%)', color: '#555', dashed: true, noMarkers: true, points: [2, 4, 8].map((x) => ({ x, y: 99 })) },
  { label: 'PTQ fake-quant', color: 'blue', points: [{ x: 2, y: 84 }, { x: 4, y: 98 }, { x: 8, y: 99 }] },
  { label: 'PTQ integer-only', color: 'blue', dotted: true, points: [{ x: 2, y: 83 }, { x: 4, y: 97 }, { x: 8, y: 99 }] },
];
const svg = accuracyChartSvg({
  title: 't', xLabel: 'bits', yLabel: 'acc', series,
  panels: [{ yMin: 0, yMax: 100, yStep: 10 }, { yMin: 90, yMax: 100, yStep: 1, note: 'zoom' }],
  caption: ['2,000 MNIST test images, quick mode', 'Published: tutorial "X"'],
});
const attrs = (tag: string) => [...svg.matchAll(new RegExp(`<${tag} ([^>]*)/>`, 'g'))].map((m) => Object.fromEntries([...m[1].matchAll(/([\w-]+)="([^"]*)"/g)].map((a) => [a[1], a[2]])));
const panels = [...svg.matchAll(/<g class="panel" data-ymin="([\d.]+)" data-ymax="([\d.]+)" data-top="([\d.]+)" data-bottom="([\d.]+)">([\s\S]*?)<\/g>/g)];

describe('accuracyChartSvg', () => {
  it('has a full panel and a 90-100 zoom in which one point of accuracy spans 10% of the panel', () => {
    expect(panels.map((p) => [Number(p[1]), Number(p[2])])).toEqual([[0, 100], [90, 100]]);
    const zoom = panels[1];
    const top = Number(zoom[3]), bottom = Number(zoom[4]);
    const marks = [...zoom[5].matchAll(/data-series="PTQ fake-quant" data-x="(\d+)" data-y="([\d.]+)" data-clipped="(\w+)"/g)];
    expect(marks.map((m) => [m[1], m[3]])).toEqual([['2', 'true'], ['4', 'false'], ['8', 'false']]);
    // y of 98 and 99 in the zoom: closed form bottom - (y - 90)/10 · height
    const cy = (x: number) => Number(/cy="([\d.]+)"/.exec(zoom[5].split('\n').find((l) => l.includes('data-series="PTQ fake-quant"') && l.includes(`data-x="${x}"`))!)![1]);
    expect(cy(4)).toBeCloseTo(bottom - 0.8 * (bottom - top), 0);
    expect(cy(4) - cy(8)).toBeCloseTo((bottom - top) / 10, 0);
    // the clipped 84% sits on the zoom's bottom edge as an open marker
    expect(cy(2)).toBeCloseTo(bottom, 1);
  });
  it('integer-only series use square markers; the baseline has none; legend and caption are present', () => {
    expect(attrs('rect').filter((a) => a['data-series'] === 'PTQ integer-only')).toHaveLength(6); // 3 points x 2 panels
    expect(attrs('circle').filter((a) => a['data-series']?.startsWith('float'))).toHaveLength(0);
    for (const s of series) expect(svg).toContain(`class="legend">${s.label.replace(/&/g, '&amp;')}<`);
    expect(svg).toContain('class="caption">2,000 MNIST test images, quick mode<');
    expect(svg).toContain('tutorial &quot;X&quot;');
  });
});

describe('confusion matrix and per-class accuracy', () => {
  it('match hand counts', () => {
    const labels = [0, 0, 1, 1, 1, 2];
    const preds = [0, 1, 1, 1, 0, 2];
    expect(confusionMatrix(labels, preds, 3)).toEqual([[1, 1, 0], [1, 2, 0], [0, 0, 1]]);
    expect(perClassAccuracy([[1, 1, 0], [1, 2, 0], [0, 0, 0]])).toEqual([0.5, 2 / 3, null]);
    const r = classReport(labels, preds, 3);
    expect(r.accuracy).toBeCloseTo(4 / 6, 12);
    expect(r.perClassAccuracy).toEqual([0.5, 2 / 3, 1]);
  });
  it('refuses mismatched lengths and out-of-range classes', () => {
    expect(() => confusionMatrix([0, 1], [0], 2)).toThrow(/2 labels but 1 predictions/);
    expect(() => confusionMatrix([0, 5], [0, 1], 2)).toThrow(/example 1 has label 5/);
  });
});
