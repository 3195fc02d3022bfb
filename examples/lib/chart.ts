/**
 * A dependency-free SVG line chart: accuracy against bit width, one line per series, dashed
 * lines for published reference figures. Opens in any browser; no plotting library needed.
 */
export interface Series {
  label: string;
  points: { x: number; y: number }[];
  color: string;
  dashed?: boolean;
}

export function lineChartSvg(title: string, xLabel: string, yLabel: string, series: Series[], opts: { width?: number; height?: number; yMin?: number; yMax?: number } = {}): string {
  const W = opts.width ?? 720, H = opts.height ?? 440;
  const m = { l: 64, r: 180, t: 48, b: 56 };
  const xs = series.flatMap((s) => s.points.map((p) => p.x));
  const xMin = Math.min(...xs), xMax = Math.max(...xs);
  const yMin = opts.yMin ?? 0, yMax = opts.yMax ?? 100;
  const px = (x: number) => m.l + ((x - xMin) / Math.max(xMax - xMin, 1e-9)) * (W - m.l - m.r);
  const py = (y: number) => H - m.b - ((y - yMin) / (yMax - yMin)) * (H - m.t - m.b);
  const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;');
  const parts: string[] = [];
  parts.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`);
  parts.push(`<rect width="${W}" height="${H}" fill="white"/>`);
  parts.push(`<text x="${W / 2 - m.r / 2 + m.l / 2}" y="24" text-anchor="middle" font-size="15" font-weight="bold">${esc(title)}</text>`);
  for (let y = yMin; y <= yMax + 1e-9; y += (yMax - yMin) / 10) {
    parts.push(`<line x1="${m.l}" x2="${W - m.r}" y1="${py(y)}" y2="${py(y)}" stroke="#e5e5e5"/>`);
    parts.push(`<text x="${m.l - 8}" y="${py(y) + 4}" text-anchor="end">${y.toFixed(0)}</text>`);
  }
  for (let x = xMin; x <= xMax; x++) {
    parts.push(`<line x1="${px(x)}" x2="${px(x)}" y1="${H - m.b}" y2="${H - m.b + 5}" stroke="black"/>`);
    parts.push(`<text x="${px(x)}" y="${H - m.b + 20}" text-anchor="middle">${x}</text>`);
  }
  parts.push(`<line x1="${m.l}" x2="${W - m.r}" y1="${H - m.b}" y2="${H - m.b}" stroke="black"/>`);
  parts.push(`<line x1="${m.l}" x2="${m.l}" y1="${m.t}" y2="${H - m.b}" stroke="black"/>`);
  parts.push(`<text x="${(m.l + W - m.r) / 2}" y="${H - 14}" text-anchor="middle">${esc(xLabel)}</text>`);
  parts.push(`<text transform="translate(18 ${(m.t + H - m.b) / 2}) rotate(-90)" text-anchor="middle">${esc(yLabel)}</text>`);
  series.forEach((s, i) => {
    const pts = s.points.filter((p) => Number.isFinite(p.y));
    const d = pts.map((p, k) => `${k ? 'L' : 'M'}${px(p.x).toFixed(1)},${py(Math.max(yMin, Math.min(yMax, p.y))).toFixed(1)}`).join(' ');
    parts.push(`<path d="${d}" fill="none" stroke="${s.color}" stroke-width="2.5"${s.dashed ? ' stroke-dasharray="6 4"' : ''}/>`);
    for (const p of pts) parts.push(`<circle cx="${px(p.x).toFixed(1)}" cy="${py(Math.max(yMin, Math.min(yMax, p.y))).toFixed(1)}" r="3.5" fill="${s.color}"/>`);
    const ly = m.t + 10 + i * 22;
    parts.push(`<line x1="${W - m.r + 14}" x2="${W - m.r + 44}" y1="${ly}" y2="${ly}" stroke="${s.color}" stroke-width="2.5"${s.dashed ? ' stroke-dasharray="6 4"' : ''}/>`);
    parts.push(`<text x="${W - m.r + 50}" y="${ly + 4}">${esc(s.label)}</text>`);
  });
  parts.push('</svg>');
  return parts.join('\n');
}
