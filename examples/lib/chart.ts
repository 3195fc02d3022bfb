/**
 * A dependency-free SVG chart of accuracy against bit width: one line per series, a caption, and
 * any number of stacked panels over the same x axis, each with its own y range. The main job
 * draws the full 0-100% range above a 90-100% zoom: at full scale every width from 3 bits up sits
 * in one pixel band near the top and the differences that matter (PTQ vs QAT, fake-quant vs
 * integer-only, the float baseline) are invisible. Points outside a panel's range are drawn on
 * its edge as open markers, so clipping is never silent. Opens in any browser.
 */
export interface Series {
  label: string;
  points: { x: number; y: number }[];
  color: string;
  dashed?: boolean;
  /** Dotted line and square markers (the integer-only series). */
  dotted?: boolean;
  /** Draw only the line, no markers (a baseline). */
  noMarkers?: boolean;
}

export interface Panel {
  yMin: number;
  yMax: number;
  /** Gridline spacing in y units. */
  yStep: number;
  /** Shown at the panel's bottom-right, e.g. 'zoom: 90-100%'. */
  note?: string;
}

export interface ChartOptions {
  title: string;
  /** One or more lines under the plot: what was measured, on how many images, in which mode. */
  caption: string[];
  xLabel: string;
  yLabel: string;
  series: Series[];
  panels: Panel[];
  /**
   * Where to put x ticks, for a continuous x (e.g. model size in KB). Default: every integer from
   * the smallest to the largest x, which suits bit widths. The axis spans the points and the ticks.
   */
  xTicks?: readonly number[];
  width?: number;
  panelHeight?: number;
}

export function accuracyChartSvg(o: ChartOptions): string {
  const W = o.width ?? 760, PH = o.panelHeight ?? 260;
  const m = { l: 64, r: 24, t: 44 };
  const gap = 34;
  const xs = [...o.series.flatMap((s) => s.points.map((p) => p.x)), ...(o.xTicks ?? [])];
  const xMin = Math.min(...xs), xMax = Math.max(...xs);
  const ticks = o.xTicks ?? Array.from({ length: Math.floor(xMax - xMin) + 1 }, (_, k) => xMin + k);
  const px = (x: number) => m.l + ((x - xMin) / Math.max(xMax - xMin, 1e-9)) * (W - m.l - m.r);
  const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/"/g, '&quot;');
  const legendRows = Math.ceil(o.series.length / 2);
  const plotBottom = m.t + o.panels.length * PH + (o.panels.length - 1) * gap;
  const H = plotBottom + 40 + legendRows * 20 + 12 + o.caption.length * 17 + 10;
  const parts: string[] = [];
  parts.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`);
  parts.push(`<rect width="${W}" height="${H}" fill="white"/>`);
  parts.push(`<text x="${W / 2}" y="24" text-anchor="middle" font-size="15" font-weight="bold">${esc(o.title)}</text>`);

  o.panels.forEach((panel, pi) => {
    const top = m.t + pi * (PH + gap), bottom = top + PH;
    const py = (y: number) => bottom - ((y - panel.yMin) / (panel.yMax - panel.yMin)) * PH;
    parts.push(`<g class="panel" data-ymin="${panel.yMin}" data-ymax="${panel.yMax}" data-top="${top}" data-bottom="${bottom}">`);
    for (let k = 0; panel.yMin + k * panel.yStep <= panel.yMax + 1e-9; k++) {
      const y = panel.yMin + k * panel.yStep;
      parts.push(`<line x1="${m.l}" x2="${W - m.r}" y1="${py(y).toFixed(1)}" y2="${py(y).toFixed(1)}" stroke="#e5e5e5"/>`);
      parts.push(`<text x="${m.l - 8}" y="${(py(y) + 4).toFixed(1)}" text-anchor="end">${Number.isInteger(y) ? y : y.toFixed(1)}</text>`);
    }
    for (const x of ticks) {
      parts.push(`<line x1="${px(x)}" x2="${px(x)}" y1="${bottom}" y2="${bottom + 5}" stroke="black"/>`);
      parts.push(`<text x="${px(x)}" y="${bottom + 18}" text-anchor="middle">${x}</text>`);
    }
    parts.push(`<line x1="${m.l}" x2="${W - m.r}" y1="${bottom}" y2="${bottom}" stroke="black"/>`);
    parts.push(`<line x1="${m.l}" x2="${m.l}" y1="${top}" y2="${bottom}" stroke="black"/>`);
    if (panel.note) parts.push(`<text x="${W - m.r - 8}" y="${bottom - 8}" text-anchor="end" fill="#555">${esc(panel.note)}</text>`);
    parts.push(`<text transform="translate(18 ${(top + bottom) / 2}) rotate(-90)" text-anchor="middle">${esc(o.yLabel)}</text>`);
    const clamp = (y: number) => Math.max(panel.yMin, Math.min(panel.yMax, y));
    for (const s of o.series) {
      const pts = s.points.filter((p) => Number.isFinite(p.y));
      const d = pts.map((p, k) => `${k ? 'L' : 'M'}${px(p.x).toFixed(1)},${py(clamp(p.y)).toFixed(1)}`).join(' ');
      parts.push(`<path d="${d}" fill="none" stroke="${s.color}" stroke-width="${s.noMarkers ? 1.5 : 2.2}"${dash(s)}/>`);
      if (s.noMarkers) continue;
      for (const p of pts) {
        const inside = p.y >= panel.yMin && p.y <= panel.yMax;
        const cx = px(p.x).toFixed(1), cy = py(clamp(p.y)).toFixed(1);
        const fill = inside ? s.color : 'white';
        const data = `data-series="${esc(s.label)}" data-x="${p.x}" data-y="${p.y}" data-clipped="${!inside}"`;
        parts.push(s.dotted
          ? `<rect x="${(Number(cx) - 3.5).toFixed(1)}" y="${(Number(cy) - 3.5).toFixed(1)}" width="7" height="7" fill="${fill}" stroke="${s.color}" ${data}/>`
          : `<circle cx="${cx}" cy="${cy}" r="3.5" fill="${fill}" stroke="${s.color}" ${data}/>`);
      }
    }
    parts.push('</g>');
  });
  parts.push(`<text x="${(m.l + W - m.r) / 2}" y="${plotBottom + 34}" text-anchor="middle">${esc(o.xLabel)}</text>`);

  const legendTop = plotBottom + 52;
  o.series.forEach((s, i) => {
    const col = i % 2, row = Math.floor(i / 2);
    const lx = m.l + col * ((W - m.l) / 2), ly = legendTop + row * 20;
    parts.push(`<line x1="${lx}" x2="${lx + 30}" y1="${ly}" y2="${ly}" stroke="${s.color}" stroke-width="2.2"${dash(s)}/>`);
    parts.push(`<text x="${lx + 36}" y="${ly + 4}" class="legend">${esc(s.label)}</text>`);
  });
  const capTop = legendTop + legendRows * 20 + 8;
  o.caption.forEach((line, i) => parts.push(`<text x="${m.l}" y="${capTop + i * 17}" fill="#333" class="caption">${esc(line)}</text>`));
  parts.push('</svg>');
  return parts.join('\n');
}

function dash(s: Series): string {
  return s.dashed ? ' stroke-dasharray="7 4"' : s.dotted ? ' stroke-dasharray="2 3"' : '';
}
