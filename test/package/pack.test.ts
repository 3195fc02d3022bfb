/**
 * The package as a user gets it: `npm pack` (which builds dist/ through the prepack script), a fresh
 * Node project outside the repository installs the tarball from npm's local cache (--offline), and
 * plain JavaScript imports the core, quant, numerics and node entries and computes values checked
 * against closed forms. Also checks what the tarball holds: dist/ and docs, no sources or tests.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { build } from 'esbuild';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const root = join(import.meta.dirname, '../..');
const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
let dir = '';
let files: string[] = [];

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'qgrad-pack-'));
  const out = execFileSync(npm, ['pack', '--json', '--pack-destination', dir], { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  // prepack's build output precedes the JSON report on stdout.
  const report = JSON.parse(out.slice(out.indexOf('\n[') + 1)) as { filename: string; files: { path: string }[] }[];
  files = report[0]!.files.map((f) => f.path);
  const project = join(dir, 'project');
  mkdirSync(project);
  writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'outside', private: true, type: 'module' }));
  execFileSync(npm, ['install', join(dir, report[0]!.filename), '--offline', '--no-audit', '--no-fund'], { cwd: project, stdio: 'pipe' });
}, 240_000);

afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('the packed package', () => {
  it('ships dist/ (JavaScript and declarations for every entry), docs and README, not sources or tests', () => {
    for (const entry of ['index', 'quant/index', 'quant/numerics/index', 'tensor/gpu/index', 'testing/index', 'node']) {
      expect(files).toContain(`dist/${entry}.js`);
      expect(files).toContain(`dist/${entry}.d.ts`);
    }
    expect(files).toContain('README.md');
    expect(files.filter((f) => /^(src|test|bench|examples|scripts)\//.test(f))).toEqual([]);
  });

  it('a fresh project imports core, quant, numerics and node from JavaScript', () => {
    const script = [
      "import { tensor, backward } from 'qgrad';",
      "import { fakeQuantizeTensor } from 'qgrad/quant';",
      "import { computeQParams, quantize } from 'qgrad/numerics';",
      "import { writeFileAtomic } from 'qgrad/node';",
      'const x = tensor([[1, 2], [3, 4]], { requiresGrad: true });',
      'const y = x.matmul(tensor([[5], [6]]));',
      'backward(y.sum());',
      'const p = computeQParams(-1, 1.5, { qmin: 0, qmax: 255, scheme: "affine" });',
      'const levels = Array.from(quantize([0.5, 9], { ...p, qmin: 0, qmax: 255 }));',
      'const fq = Array.from(fakeQuantizeTensor(tensor([0.26]), { scale: [0.5], zeroPoint: [0], qmin: -8, qmax: 7 }).toTypedArray());',
      'console.log(JSON.stringify({ y: Array.from(y.toTypedArray()), grad: Array.from(x.grad.toTypedArray()), p, levels, fq, atomic: typeof writeFileAtomic }));',
    ].join('\n');
    writeFileSync(join(dir, 'project', 'check.mjs'), script);
    const out = JSON.parse(execFileSync(process.execPath, ['check.mjs'], { cwd: join(dir, 'project'), encoding: 'utf8' })) as {
      y: number[]; grad: number[]; p: { scale: number; zeroPoint: number }; levels: number[]; fq: number[]; atomic: string;
    };
    // [[1,2],[3,4]] @ [[5],[6]] = [[17],[39]]; d(sum y)/dx[i][j] = w[j].
    expect(out.y).toEqual([17, 39]);
    expect(out.grad).toEqual([5, 6, 5, 6]);
    // Affine qparams (Jacob et al. 2018 eq. 1-2): scale = (max - min) / 255, zero point = -round(min / scale) = 102.
    expect(out.p.scale).toBeCloseTo(2.5 / 255, 7);
    expect(out.p.zeroPoint).toBe(102);
    // 0.5 / scale = 51, + 102; 9 clamps to qmax.
    expect(out.levels).toEqual([153, 255]);
    // round(0.26 / 0.5) * 0.5 = 0.5.
    expect(out.fq).toEqual([0.5]);
    expect(out.atomic).toBe('function');
  });

  it("the installed browser entries bundle for the browser from dist/ (esbuild, platform 'browser')", async () => {
    const project = join(dir, 'project');
    writeFileSync(join(project, 'page.js'), [
      "import { tensor } from 'qgrad';",
      "import { Int8Model } from 'qgrad/quant';",
      "import { quantize } from 'qgrad/numerics';",
      'console.log(tensor([1]).shape, typeof Int8Model, typeof quantize);',
    ].join('\n'));
    // Any import esbuild cannot resolve for a browser (a Node built-in) fails the build.
    const r = await build({ entryPoints: [join(project, 'page.js')], absWorkingDir: project, bundle: true, write: false, platform: 'browser', format: 'esm', logLevel: 'silent', metafile: true });
    const inputs = Object.keys(r.metafile.inputs);
    expect(inputs.some((f) => f.includes('node_modules/qgrad/dist/index.js'))).toBe(true);
    expect(inputs.filter((f) => f.includes('node_modules/qgrad/') && !f.includes('node_modules/qgrad/dist/'))).toEqual([]);
  }, 60_000);
});
