/**
 * The playground in a real browser (opt-in: QGRAD_BROWSER_TEST=1, which CI sets; needs apt
 * `chromium` and npm `playwright-core`): scripts/build-demo.mjs builds and serves the page,
 * headless Chromium (SwiftShader WebGL2) opens it, trains a few steps on gpu.js WebGL2 and on
 * WebAssembly, runs QAT at 4 bits, inspects a layer, draws a digit by dispatching pointer events on
 * the canvas, and downloads the int8 model. The oracle for the page's integer-only prediction is
 * this Node process: the same model bytes and the same 28x28 input through Node's Int8Model must
 * give bit-identical logits. The page must log no errors.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MnistLoader, evaluate, mnistCnn } from '../../src/index.js';
import { loadMnist, saveInt8Model } from '../../src/node.js';
import { Int8Model } from '../../src/quant/index.js';

const root = join(import.meta.dirname, '../..');
const enabled = process.env.QGRAD_BROWSER_TEST === '1';

interface PageState {
  ready: boolean;
  busy: boolean;
  errors: string[];
  trained: { device: string; accuracy: number; imagesPerSec: number; gpuMode?: string }[];
  quantized: { mode: string; bits: number; acc: { float: number; fake: number; int: number } }[];
  prediction: { input: Record<string, number>; int: Record<string, number> | null; intLogits: Record<string, number> | null } | null;
  modelBytes: Record<string, number> | null;
  inspection: { qmin: number; qmax: number; values: Record<string, number>; mask: Record<string, number>; scale: number; zeroPoint: number } | null;
  sweep: { bits: number; acc: { float: number; fake: number; int: number } }[];
  loaded: { name: string; accuracy: number } | null;
}

describe.skipIf(!enabled)('playground in headless Chromium', () => {
  let server: ChildProcess | null = null;
  let url = '';
  let dir = '';

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'qgrad-demo-'));
    server = spawn(process.execPath, [join(root, 'scripts/build-demo.mjs'), '--serve', '--port', '0', '--out', dir, '--train', '2000', '--test', '500'], { stdio: ['ignore', 'pipe', 'pipe'] });
    url = await new Promise<string>((resolve, reject) => {
      let out = '';
      server!.stdout!.on('data', (d: Buffer) => {
        out += d.toString();
        const m = /(http:\/\/127\.0\.0\.1:\d+\/)/.exec(out);
        if (m) resolve(m[1]!);
      });
      server!.stderr!.on('data', (d: Buffer) => (out += d.toString()));
      server!.on('exit', (code) => reject(new Error(`build-demo exited ${code}: ${out}`)));
    });
  }, 60_000);

  afterAll(() => {
    server?.kill();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('trains on WebGL2 and WebAssembly, runs 4-bit QAT, and predicts a drawn digit as Node does', async () => {
    const { chromium } = await import('playwright-core');
    const browser = await chromium.launch({
      executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
      args: ['--no-sandbox', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync',
        '--disable-quic', '--use-angle=swiftshader', '--enable-unsafe-swiftshader'],
    });
    const logs: string[] = [];
    try {
      const page = await browser.newPage();
      page.on('console', (m) => {
        if (m.type() === 'error' || m.type() === 'warning') logs.push(`[${m.type()}] ${m.text()}`);
      });
      page.on('pageerror', (e) => logs.push(`[pageerror] ${e.message}`));
      await page.goto(url);
      const get = () => page.evaluate(() => window.__playground as unknown) as Promise<PageState>;
      const waitFor = (fn: string, timeout = 60_000) => page.waitForFunction(fn, null, { timeout, polling: 100 });
      await waitFor('window.__playground.ready || window.__playground.errors.length > 0');

      // Every control is labelled for a screen reader.
      const unlabelled = await page.evaluate(() => Array.from(document.querySelectorAll('input, select'))
        .filter((el) => !(el as HTMLInputElement).labels?.length && !el.getAttribute('aria-label')).map((el) => el.id));
      expect(unlabelled).toEqual([]);

      await page.selectOption('#channels', '8');
      await page.fill('#batch', '16');
      await page.fill('#steps', '4');
      for (const [i, device] of (['gpu', 'wasm'] as const).entries()) {
        await page.selectOption('#device', device);
        if (device === 'wasm') await page.fill('#steps', '30');
        await page.click('#reset');
        await waitFor(`window.__playground.trained.length > ${i} || window.__playground.errors.length > 0`, 120_000);
      }
      let s = await get();
      expect(s.errors).toEqual([]);
      expect(s.trained.map((t) => t.device)).toEqual(['gpu', 'wasm']);
      expect(s.trained[0]!.gpuMode).toBe('webgl2');
      for (const t of s.trained) expect(t.imagesPerSec).toBeGreaterThan(0);
      // 30 SGD steps of 16 images already beat chance (10%) on the held-out digits.
      expect(s.trained[1]!.accuracy).toBeGreaterThan(0.3);

      // PTQ at 8 bits loses little (Jacob et al. 2018; the seed tutorial's table: 98% at 8 bits as in float).
      await page.fill('#bits', '8');
      await page.click('#ptq');
      await waitFor('window.__playground.quantized.length > 0 || window.__playground.errors.length > 0', 60_000);
      await page.click('#sweep');
      await waitFor('window.__playground.sweep.length === 7 || window.__playground.errors.length > 0', 60_000);
      s = await get();
      expect(s.errors).toEqual([]);
      const ptq8 = s.quantized[0]!.acc;
      expect(Math.abs(ptq8.int - ptq8.float)).toBeLessThan(0.03);
      expect(s.sweep.map((p) => p.bits)).toEqual([2, 3, 4, 5, 6, 7, 8]);

      await page.fill('#bits', '4');
      await page.fill('#qat-steps', '10');
      await page.click('#qat');
      await waitFor('window.__playground.quantized.length > 1 || window.__playground.errors.length > 0', 120_000);
      await page.selectOption('#layer', '1');
      await page.click('#inspect');
      await waitFor('window.__playground.inspection !== null || window.__playground.errors.length > 0');

      // A "7": pointer events dispatched on the canvas, in its client coordinates.
      const box = (await page.locator('#draw').boundingBox())!;
      const pts = [[0.25, 0.2], [0.75, 0.2], [0.6, 0.5], [0.45, 0.85]].map(([x, y]) => ({ clientX: box.x + x! * box.width, clientY: box.y + y! * box.height }));
      await page.dispatchEvent('#draw', 'pointerdown', { ...pts[0], pointerId: 1, bubbles: true });
      for (const p of pts.slice(1)) await page.dispatchEvent('#draw', 'pointermove', { ...p, pointerId: 1, bubbles: true });
      await page.dispatchEvent('#draw', 'pointerup', { ...pts[3], pointerId: 1, bubbles: true });
      await waitFor('window.__playground.prediction !== null || window.__playground.errors.length > 0');
      await page.click('#download');
      await waitFor('window.__playground.modelBytes !== null || window.__playground.errors.length > 0');
      s = await get();
      expect(s.errors).toEqual([]);

      // QAT at 4 bits: the three accuracies are reported; 4-bit signed weights use levels -8..7.
      expect(s.quantized[1]!.bits).toBe(4);
      expect(s.inspection!.qmin).toBe(-8);
      expect(s.inspection!.qmax).toBe(7);

      // The oracle: Node's Int8Model on the page's model bytes and input.
      const bytes = Uint8Array.from(Object.values(s.modelBytes!));
      const input = Float32Array.from(Object.values(s.prediction!.input));
      expect(input.length).toBe(784);
      expect(input.some((v) => v > 1)).toBe(true); // the drawing reached the model
      const logits = new Int8Model(Int8Model.fromBytes(bytes, 'page download').toSpec()).forward(input, 1);
      const pageLogits = Float32Array.from(Object.values(s.prediction!.intLogits!));
      expect(Array.from(pageLogits)).toEqual(Array.from(logits));
      const argmax = (a: ArrayLike<number>) => Array.from(a).indexOf(Math.max(...Array.from(a)));
      expect(argmax(Object.values(s.prediction!.int!))).toBe(argmax(logits));

      // A model file written by Node loads in the page; its integer-only accuracy on the page's 500
      // test images (the first 500 of MNIST's test set) is what Node measures on them.
      const file = join(dir, 'from-node.qgrd');
      saveInt8Model(Int8Model.fromBytes(bytes), file);
      await page.setInputFiles('#upload', file);
      await waitFor('window.__playground.loaded !== null || window.__playground.errors.length > 0');
      s = await get();
      const nodeModel = Int8Model.fromBytes(bytes);
      const nodeAcc = evaluate(mnistCnn({ channels: 8 }), new MnistLoader(loadMnist({ split: 'test', limit: 500 }), { batchSize: 250 }), {
        forward: (x, shape) => nodeModel.forward(x, shape[0]!),
      }).accuracy;
      expect(s.loaded).toEqual({ name: 'from-node.qgrd', accuracy: nodeAcc });
    } finally {
      await browser.close();
    }
    expect(logs).toEqual([]);
  }, 180_000);
});
