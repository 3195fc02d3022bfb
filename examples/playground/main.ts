/**
 * The playground page: controls, charts and the drawing canvas. It does no numerics itself: it
 * sends requests to the worker (worker.ts) and draws the replies. What it last computed is also
 * left on window.__playground, which the browser test (test/examples/playground.test.ts) reads.
 */
import type { Accuracies, DeviceName, Inspection, Prediction, QuantSettings, Reply, Request } from './protocol.js';

interface PageState {
  ready: boolean;
  busy: boolean;
  errors: string[];
  trained: { device: string; accuracy: number; imagesPerSec: number; gpuMode?: string }[];
  quantized: { mode: string; bits: number; acc: Accuracies }[];
  prediction: Prediction | null;
  modelBytes: Uint8Array | null;
  inspection: Inspection | null;
  sweep: { bits: number; acc: Accuracies }[];
  loaded: { name: string; accuracy: number } | null;
}
declare global {
  interface Window {
    __playground: PageState;
  }
}
const state: PageState = { ready: false, busy: false, errors: [], trained: [], quantized: [], prediction: null, modelBytes: null, inspection: null, sweep: [], loaded: null };
window.__playground = state;

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const status = (s: string, err = false) => {
  $('status').textContent = s;
  $('status').className = err ? 'status err' : 'status';
};
const worker = new Worker(new URL('./worker.js', import.meta.url), { type: 'module' });
const send = (r: Request, transfer: Transferable[] = []) => {
  state.busy = true;
  worker.postMessage(r, transfer);
};

// ------------------------------------------------------------------ charts

function lineChart(canvas: HTMLCanvasElement, series: { color: string; points: [number, number][]; label: string }[], opts: { xLabel: string; yLabel: string; yMin?: number; yMax?: number }): void {
  const g = canvas.getContext('2d')!;
  const W = canvas.width, H = canvas.height, L = 45, B = 28, T = 10, R = 10;
  g.clearRect(0, 0, W, H);
  const all = series.flatMap((s) => s.points);
  if (all.length === 0) return;
  const xs = all.map((p) => p[0]), ys = all.map((p) => p[1]);
  const x0 = Math.min(...xs), x1 = Math.max(...xs, x0 + 1);
  const y0 = opts.yMin ?? Math.min(...ys), y1 = opts.yMax ?? Math.max(...ys, y0 + 1e-6);
  const px = (x: number) => L + ((x - x0) / (x1 - x0)) * (W - L - R);
  const py = (y: number) => H - B - ((y - y0) / (y1 - y0)) * (H - B - T);
  g.strokeStyle = '#999';
  g.strokeRect(L, T, W - L - R, H - B - T);
  g.fillStyle = '#444';
  g.font = '11px sans-serif';
  g.fillText(`${y1.toPrecision(3)}`, 2, T + 8);
  g.fillText(`${y0.toPrecision(3)}`, 2, H - B);
  g.fillText(`${opts.xLabel}: ${x0} .. ${x1}`, L, H - 8);
  g.fillText(opts.yLabel, L + 4, T + 12);
  series.forEach((s, k) => {
    g.strokeStyle = s.color;
    g.fillStyle = s.color;
    g.beginPath();
    s.points.forEach(([x, y], i) => (i ? g.lineTo(px(x), py(y)) : g.moveTo(px(x), py(y))));
    g.stroke();
    for (const [x, y] of s.points.length < 20 ? s.points : []) g.fillRect(px(x) - 2, py(y) - 2, 4, 4);
    g.fillText(s.label, W - R - 150, T + 14 + 13 * k);
  });
}

const lossPoints: [number, number][] = [];
let lossStep = 0;
const qatLoss: [number, number][] = [];
function drawLoss(): void {
  lineChart($('loss'), [
    { color: '#1f77b4', label: 'float training loss', points: lossPoints },
    { color: '#d62728', label: 'QAT loss', points: qatLoss },
  ], { xLabel: 'step', yLabel: 'loss', yMin: 0 });
}

const sweepPoints = state.sweep;
function drawBits(): void {
  const pts = (f: (a: Accuracies) => number, src: { bits: number; acc: Accuracies }[]) =>
    [...src].sort((a, b) => a.bits - b.bits).map((p) => [p.bits, 100 * f(p.acc)] as [number, number]);
  const qat = state.quantized.filter((q) => q.mode === 'qat');
  lineChart($('bits-chart'), [
    { color: '#1f77b4', label: 'PTQ fake-quant', points: pts((a) => a.fake, sweepPoints) },
    { color: '#17becf', label: 'PTQ integer-only', points: pts((a) => a.int, sweepPoints) },
    { color: '#d62728', label: 'QAT integer-only', points: pts((a) => a.int, qat) },
  ], { xLabel: 'bits', yLabel: 'test accuracy %', yMin: 0, yMax: 100 });
}

/** Histogram of the values with the quantization grid, clipping band and zero point over it. */
function drawInspection(d: Inspection): void {
  const c = $<HTMLCanvasElement>('hist'), g = c.getContext('2d')!;
  const W = c.width, H = c.height, B = 22;
  g.clearRect(0, 0, W, H);
  const lo = d.scale * (d.qmin - d.zeroPoint), hi = d.scale * (d.qmax - d.zeroPoint);
  let vmin = Math.min(lo, ...d.values), vmax = Math.max(hi, ...d.values);
  const pad = (vmax - vmin) * 0.05 || 1;
  vmin -= pad;
  vmax += pad;
  const px = (v: number) => ((v - vmin) / (vmax - vmin)) * W;
  g.fillStyle = 'rgba(80,160,90,0.13)';
  g.fillRect(px(lo), 0, px(hi) - px(lo), H - B);
  const bins = new Float64Array(160);
  for (const v of d.values) bins[Math.min(bins.length - 1, Math.floor(((v - vmin) / (vmax - vmin)) * bins.length))]++;
  const top = Math.max(...bins);
  g.fillStyle = '#345';
  bins.forEach((n, i) => {
    const h = (Math.sqrt(n) / Math.sqrt(top)) * (H - B - 10);
    g.fillRect((i / bins.length) * W, H - B - h, W / bins.length - 0.5, h);
  });
  // the grid: one tick per level (thinned when there are more than the canvas can show)
  const levels = d.qmax - d.qmin + 1, every = Math.ceil(levels / 128);
  for (let q = d.qmin; q <= d.qmax; q += every) {
    const x = px(d.scale * (q - d.zeroPoint));
    g.strokeStyle = 'rgba(30,100,200,0.25)';
    g.beginPath();
    g.moveTo(x, 0);
    g.lineTo(x, H - B);
    g.stroke();
    g.strokeStyle = 'rgba(30,100,200,0.9)';
    g.beginPath();
    g.moveTo(x, H - B);
    g.lineTo(x, H - B + 7);
    g.stroke();
  }
  g.strokeStyle = '#d22';
  g.beginPath();
  g.moveTo(px(0), 0);
  g.lineTo(px(0), H - B);
  g.stroke();
  g.fillStyle = '#333';
  g.font = '11px sans-serif';
  g.fillText(`${vmin.toPrecision(3)}`, 2, H - 3);
  g.fillText(`${vmax.toPrecision(3)}`, W - 50, H - 3);
  g.fillText(`z = ${d.zeroPoint} (value 0)`, Math.min(px(0) + 3, W - 90), 12);
  // the STE mask as an image
  const m = $<HTMLCanvasElement>('mask'), mg = m.getContext('2d')!;
  const [rows, cols] = d.maskShape;
  mg.clearRect(0, 0, m.width, m.height);
  const cw = m.width / cols, ch = m.height / rows;
  for (let r = 0; r < rows; r++) {
    for (let k = 0; k < cols; k++) {
      mg.fillStyle = d.mask[r * cols + k] ? '#fff' : '#d22';
      mg.fillRect(k * cw, r * ch, Math.ceil(cw), Math.ceil(ch));
      if (cw >= 6 && ch >= 6) {
        mg.strokeStyle = '#ccc';
        mg.strokeRect(k * cw, r * ch, cw, ch);
      }
    }
  }
  const clipped = d.mask.length - d.mask.reduce((a, b) => a + b, 0);
  m.setAttribute('aria-label', `straight-through estimator mask, ${rows} x ${cols}: ${clipped} of ${d.mask.length} values clipped`);
  $('inspect-out').textContent = `${d.layer} ${d.what}: ${d.note}. scale s = ${d.scale.toPrecision(4)}, zero point z = ${d.zeroPoint}, levels ${d.qmin}..${d.qmax}, ` +
    `clipping range [${lo.toPrecision(3)}, ${hi.toPrecision(3)}]; ${clipped} of ${d.mask.length} values clipped (zero gradient).`;
}

function drawPrediction(p: Prediction): void {
  const body = $('pred-table').querySelector('tbody')!;
  body.innerHTML = '';
  const cell = (probs: Float32Array | null, d: number) => {
    const td = document.createElement('td');
    if (!probs) {
      td.textContent = '-';
      return td;
    }
    const best = probs.indexOf(Math.max(...probs));
    td.innerHTML = `<span class="bar" style="width:${Math.round(probs[d]! * 60)}px"></span> ${(100 * probs[d]!).toFixed(1)}%`;
    if (d === best) td.style.fontWeight = 'bold';
    return td;
  };
  for (let d = 0; d < 10; d++) {
    const tr = document.createElement('tr');
    const th = document.createElement('th');
    th.scope = 'row';
    th.textContent = String(d);
    tr.append(th, cell(p.float, d), cell(p.fake, d), cell(p.int, d));
    body.append(tr);
  }
  const arg = (x: Float32Array | null) => (x ? String(x.indexOf(Math.max(...x))) : '-');
  $('pred-out').textContent = `float says ${arg(p.float)}, fake-quant says ${arg(p.fake)}, integer-only says ${arg(p.int)}`;
}

// ------------------------------------------------------------------ worker replies

worker.onmessage = (e: MessageEvent<Reply>) => {
  const r = e.data;
  if (r.type !== 'step') state.busy = false;
  switch (r.type) {
    case 'ready':
      state.ready = true;
      status(`MNIST loaded: ${r.train} training and ${r.test} test images. Pick a device and train.`);
      break;
    case 'step':
      if (r.phase === 'float') lossPoints.push([++lossStep, r.loss]);
      else qatLoss.push([lossStep + r.step, r.loss]);
      if (r.step % 2 === 0 || r.step === r.steps) drawLoss();
      status(`${r.phase === 'float' ? 'training' : 'QAT'} step ${r.step}/${r.steps}: loss ${r.loss.toFixed(4)}, ${r.imagesPerSec.toFixed(1)} images/s`);
      break;
    case 'trained':
      state.trained.push(r);
      drawLoss();
      $('train-out').textContent = `${r.device}${r.gpuMode ? ` (gpu.js ${r.gpuMode})` : ''}: ${r.imagesPerSec.toFixed(1)} images/s; float test accuracy ${(100 * r.accuracy).toFixed(2)}%`;
      status('trained.');
      break;
    case 'quantized': {
      state.quantized.push({ mode: r.mode, bits: r.settings.bits, acc: r.acc });
      const tr = document.createElement('tr');
      const s = r.settings;
      tr.innerHTML = `<th scope="row">${r.mode.toUpperCase()} ${s.bits}-bit ${s.scheme} ${s.perChannel ? 'per-channel' : 'per-tensor'} ${s.observer}</th>` +
        [r.acc.float, r.acc.fake, r.acc.int].map((a) => `<td>${(100 * a).toFixed(2)}%</td>`).join('') + `<td>${r.bytes} B</td>`;
      $('acc-table').querySelector('tbody')!.append(tr);
      $('describe').textContent = r.describe;
      drawBits();
      status(`${r.mode.toUpperCase()} done.`);
      break;
    }
    case 'sweepPoint':
      sweepPoints.push({ bits: r.bits, acc: r.acc });
      drawBits();
      status(`PTQ sweep: ${r.bits} bits done`);
      break;
    case 'inspection':
      state.inspection = r.data;
      drawInspection(r.data);
      status('inspected.');
      break;
    case 'prediction':
      state.prediction = r.data;
      drawPrediction(r.data);
      break;
    case 'model': {
      state.modelBytes = r.bytes;
      const a = document.createElement('a');
      a.href = URL.createObjectURL(new Blob([r.bytes as Uint8Array<ArrayBuffer>], { type: 'application/octet-stream' }));
      a.download = 'mnist-cnn-int8.qgrd';
      a.click();
      setTimeout(() => URL.revokeObjectURL(a.href), 10_000);
      status(`int8 model: ${r.bytes.length} bytes`);
      break;
    }
    case 'loaded':
      state.loaded = { name: r.name, accuracy: r.accuracy };
      $('describe').textContent = r.describe;
      status(`loaded ${r.name}: integer-only test accuracy ${(100 * r.accuracy).toFixed(2)}%`);
      break;
    case 'error':
      state.errors.push(r.message);
      console.error(`worker: ${r.message}`);
      status(r.message, true);
      break;
  }
};
worker.onerror = (e) => {
  state.busy = false;
  state.errors.push(e.message);
  console.error(`worker: ${e.message}`);
  status(e.message, true);
};

// ------------------------------------------------------------------ controls

const num = (id: string) => Number($<HTMLInputElement>(id).value);
const val = (id: string) => $<HTMLInputElement>(id).value;
const settings = (): QuantSettings => ({
  bits: num('bits'),
  scheme: val('scheme') as QuantSettings['scheme'],
  perChannel: val('granularity') === 'channel',
  observer: val('observer') as QuantSettings['observer'],
});
const trainRequest = (reset: boolean): Request => ({
  type: 'train', device: val('device') as DeviceName, channels: num('channels'), steps: num('steps'), batch: num('batch'), lr: num('lr'), reset,
});
$('train').onclick = () => {
  status('training...');
  send(trainRequest(false));
};
$('reset').onclick = () => {
  lossPoints.length = 0;
  qatLoss.length = 0;
  lossStep = 0;
  status('training a new model...');
  send(trainRequest(true));
};
$('ptq').onclick = () => send({ type: 'quantize', mode: 'ptq', settings: settings(), qatSteps: 0 });
$('qat').onclick = () => {
  qatLoss.length = 0;
  send({ type: 'quantize', mode: 'qat', settings: settings(), qatSteps: num('qat-steps') });
};
$('sweep').onclick = () => {
  sweepPoints.length = 0;
  send({ type: 'sweep', settings: settings(), bits: [2, 3, 4, 5, 6, 7, 8] });
};
$('inspect').onclick = () => send({ type: 'inspect', layer: num('layer'), what: val('what') as 'weight' | 'activation', channel: num('channel') });
$('download').onclick = () => send({ type: 'download' });
$<HTMLInputElement>('upload').onchange = async (e) => {
  const f = (e.target as HTMLInputElement).files?.[0];
  if (f) send({ type: 'load', bytes: new Uint8Array(await f.arrayBuffer()), name: f.name });
};

// ------------------------------------------------------------------ drawing

const draw = $<HTMLCanvasElement>('draw');
const dg = draw.getContext('2d', { willReadFrequently: true })!;
function clearDrawing(): void {
  dg.fillStyle = '#000';
  dg.fillRect(0, 0, draw.width, draw.height);
}
clearDrawing();
let last: [number, number] | null = null;
const at = (e: PointerEvent): [number, number] => {
  const r = draw.getBoundingClientRect();
  return [((e.clientX - r.left) / r.width) * draw.width, ((e.clientY - r.top) / r.height) * draw.height];
};
draw.addEventListener('pointerdown', (e) => {
  last = at(e);
  draw.setPointerCapture?.(e.pointerId);
});
draw.addEventListener('pointermove', (e) => {
  if (!last) return;
  const p = at(e);
  dg.strokeStyle = '#fff';
  dg.lineWidth = 22;
  dg.lineCap = 'round';
  dg.beginPath();
  dg.moveTo(...last);
  dg.lineTo(...p);
  dg.stroke();
  last = p;
});
const finish = () => {
  if (!last) return;
  last = null;
  send({ type: 'predict', pixels: downsample() });
};
draw.addEventListener('pointerup', finish);
draw.addEventListener('pointerleave', finish);
$('clear').onclick = clearDrawing;

/**
 * 280x280 -> 28x28 as MNIST was made: the digit's bounding box scaled into 20x20 and placed so its
 * centre of mass is at the centre of the 28x28 field (LeCun et al.'s description of the dataset).
 */
function downsample(): Float32Array {
  const { width: W, height: H } = draw;
  const img = dg.getImageData(0, 0, W, H).data;
  let x0 = W, y0 = H, x1 = -1, y1 = -1;
  for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) if (img[(y * W + x) * 4]! > 0) {
    x0 = Math.min(x0, x); x1 = Math.max(x1, x); y0 = Math.min(y0, y); y1 = Math.max(y1, y);
  }
  const out = new Float32Array(784);
  if (x1 < 0) return out;
  const side = Math.max(x1 - x0 + 1, y1 - y0 + 1);
  const small = document.createElement('canvas');
  small.width = small.height = 20;
  const sg = small.getContext('2d', { willReadFrequently: true })!;
  sg.drawImage(draw, x0 - (side - (x1 - x0 + 1)) / 2, y0 - (side - (y1 - y0 + 1)) / 2, side, side, 0, 0, 20, 20);
  const s = sg.getImageData(0, 0, 20, 20).data;
  let mx = 0, my = 0, mass = 0;
  for (let y = 0; y < 20; y++) for (let x = 0; x < 20; x++) {
    const v = s[(y * 20 + x) * 4]! / 255;
    mx += v * x; my += v * y; mass += v;
  }
  const dx = Math.round(14 - mx / mass - 0.5), dy = Math.round(14 - my / mass - 0.5);
  for (let y = 0; y < 20; y++) for (let x = 0; x < 20; x++) {
    const tx = x + dx, ty = y + dy;
    if (tx >= 0 && tx < 28 && ty >= 0 && ty < 28) out[ty * 28 + tx] = s[(y * 20 + x) * 4]! / 255;
  }
  return out;
}

send({ type: 'init', dataUrl: new URL('./mnist-small.bin', location.href).href });
drawLoss();
drawBits();
