#!/usr/bin/env node
/**
 * Training throughput of the playground page in headless Chromium, per device: builds and serves
 * the page (scripts/build-demo.mjs), trains the seed tutorial's CNN for --steps steps of --batch
 * images on each device from a new model, and prints the images/s the page itself measured (the
 * first --warmup steps' kernel compilation included, as a user sees it).
 *
 *   node bench/playground.mjs [--channels 40] [--batch 32] [--steps 20] [--devices gpu,wasm,cpu] [--screenshot out.png]
 *
 * WebGL2 here is SwiftShader (software), so 'gpu' measures a CPU rasterizer, not a GPU.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, readFileSync } from 'node:fs';
import { tmpdir, cpus } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : dflt;
};
const channels = opt('channels', '40'), batch = opt('batch', '32'), steps = opt('steps', '20');
const devices = opt('devices', 'gpu,wasm,cpu').split(',');
const shot = opt('screenshot');

const dir = mkdtempSync(join(tmpdir(), 'qgrad-demo-bench-'));
const server = spawn(process.execPath, [join(root, 'scripts/build-demo.mjs'), '--serve', '--port', '0', '--out', dir], { stdio: ['ignore', 'pipe', 'inherit'] });
const url = await new Promise((resolve, reject) => {
  let out = '';
  server.stdout.on('data', (d) => {
    out += d;
    const m = /(http:\/\/127\.0\.0\.1:\d+\/)/.exec(out);
    if (m) resolve(m[1]);
  });
  server.on('exit', (c) => reject(new Error(`build-demo exited ${c}`)));
});

const { chromium } = await import('playwright-core');
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
  args: ['--no-sandbox', '--no-first-run', '--disable-background-networking', '--use-angle=swiftshader', '--enable-unsafe-swiftshader'],
});
try {
  const page = await browser.newPage({ viewport: { width: 1200, height: 900 } });
  page.on('pageerror', (e) => console.error(`[pageerror] ${e.message}`));
  await page.goto(url);
  await page.waitForFunction(() => window.__playground.ready, null, { timeout: 60_000 });
  await page.selectOption('#channels', channels);
  await page.fill('#batch', batch);
  await page.fill('#steps', steps);
  const cpu = /model name\s*:\s*(.*)/.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1] ?? cpus()[0]?.model;
  console.log(`CPU: ${cpu} (${cpus().length} logical cores); mnistCnn channels ${channels}, batch ${batch}, ${steps} steps`);
  for (const [i, device] of devices.entries()) {
    await page.selectOption('#device', device);
    await page.click('#reset');
    await page.waitForFunction((n) => window.__playground.trained.length > n || window.__playground.errors.length > 0, i, { timeout: 600_000, polling: 200 });
    const s = await page.evaluate(() => window.__playground);
    if (s.errors.length) throw new Error(s.errors.join('\n'));
    const t = s.trained[i];
    console.log(`${device.padEnd(5)} ${t.gpuMode ? `(gpu.js ${t.gpuMode}) ` : ''}${t.imagesPerSec.toFixed(1)} images/s, test accuracy ${(100 * t.accuracy).toFixed(1)}%`);
  }
  if (shot) {
    await page.fill('#bits', '4');
    await page.fill('#qat-steps', '20');
    await page.click('#qat');
    await page.waitForFunction(() => window.__playground.quantized.length > 0 || window.__playground.errors.length > 0, null, { timeout: 600_000 });
    await page.click('#inspect');
    await page.waitForFunction(() => window.__playground.inspection !== null, null, { timeout: 60_000 });
    await page.screenshot({ path: shot, fullPage: true });
    console.log(`screenshot: ${shot}`);
  }
} finally {
  await browser.close();
  server.kill();
  rmSync(dir, { recursive: true, force: true });
}
