#!/usr/bin/env node
/**
 * Runs examples/browser (the gpu backend's smoke test; the interactive page is examples/playground,
 * `npm run demo`) in headless Chromium: bundles examples/browser/main.ts with esbuild (in
 * memory), serves it on 127.0.0.1, opens it with playwright-core, and checks the page's result:
 * the gpu backend ran the requested gpu.js mode, its losses fall and match the cpu backend's.
 *
 *   node scripts/browser-run.mjs                 mode webgl2 (SwiftShader), 10 steps
 *   node scripts/browser-run.mjs --mode webgl --steps 5
 *   node scripts/browser-run.mjs --serve         only serve, print the URL (open it yourself)
 *
 * Needs: apt `chromium` (or --chromium /path), npm `playwright-core` (resolved from the project,
 * or from the directory in PLAYWRIGHT_CORE_DIR), and esbuild (a dependency of tsx).
 * Exit code 0 when the check passes.
 */
import { createServer } from 'node:http';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : dflt;
};
const mode = opt('mode', 'webgl2');
const steps = Number(opt('steps', '10'));
const chromiumPath = opt('chromium', '/usr/bin/chromium');

async function bundle() {
  const esbuild = await import('esbuild');
  const t0 = performance.now();
  const r = await esbuild.build({
    entryPoints: [join(root, 'examples/browser/main.ts')],
    bundle: true, format: 'esm', platform: 'browser', target: 'es2022', write: false,
    // No minification: gpu.js compiles kernel functions from their source text.
    minify: false, sourcemap: 'inline', logLevel: 'warning',
  });
  return { js: r.outputFiles[0].text, ms: performance.now() - t0 };
}

function serve(js) {
  const html = readFileSync(join(root, 'examples/browser/index.html'));
  const server = createServer((req, res) => {
    const path = new URL(req.url, 'http://x').pathname;
    if (path === '/' || path === '/index.html') res.writeHead(200, { 'content-type': 'text/html' }).end(html);
    else if (path === '/main.js') res.writeHead(200, { 'content-type': 'text/javascript' }).end(js);
    else if (path === '/favicon.ico') res.writeHead(204).end();
    else res.writeHead(404).end();
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

async function loadPlaywright() {
  const dir = process.env.PLAYWRIGHT_CORE_DIR;
  try {
    if (dir) return createRequire(pathToFileURL(join(dir, 'package.json')).href)('playwright-core');
    return await import('playwright-core');
  } catch (e) {
    throw new Error(`playwright-core is not installed (npm install --no-save playwright-core, or set PLAYWRIGHT_CORE_DIR): ${e.message}`);
  }
}

const { js, ms: bundleMs } = await bundle();
const server = await serve(js);
const url = `http://127.0.0.1:${server.address().port}/?mode=${mode}&steps=${steps}`;
if (args.includes('--serve')) {
  console.log(`serving ${url} (Ctrl-C to stop)`);
} else {
  const { chromium } = await loadPlaywright();
  const t0 = performance.now();
  const browser = await chromium.launch({
    executablePath: chromiumPath,
    args: [
      '--no-sandbox', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync',
      '--disable-quic', '--use-angle=swiftshader', '--enable-unsafe-swiftshader',
    ],
  });
  let result, exit = 1;
  try {
    const page = await browser.newPage();
    const logs = [];
    page.on('console', (m) => logs.push(`[${m.type()}] ${m.text()}`));
    page.on('pageerror', (e) => logs.push(`[pageerror] ${e.message}`));
    await page.goto(url);
    await page.waitForFunction(() => window.__qgrad !== undefined, null, { timeout: 300_000 });
    result = await page.evaluate(() => window.__qgrad);
    const totalMs = performance.now() - t0;
    const report = { url, bundleMs: Math.round(bundleMs), browserTotalMs: Math.round(totalMs), ...result };
    console.log(JSON.stringify(report, null, 2));
    console.log(`RESULT ${JSON.stringify(report)}`);
    if (logs.length) console.log(logs.join('\n'));
    const wanted = mode === 'gpu' ? result.mode : mode;
    if (!result.ok) console.error(`FAIL: ${result.error ?? `losses differ by ${result.maxRelDiff} or did not fall`}`);
    else if (result.mode !== wanted) console.error(`FAIL: gpu.js ran ${result.mode}, asked for ${wanted}`);
    else exit = 0;
  } finally {
    await browser.close();
    server.close();
  }
  process.exit(exit);
}
