/**
 * The gpu backend in a real browser (opt-in: QGRAD_BROWSER_TEST=1, as it needs apt `chromium`
 * and npm `playwright-core`): scripts/browser-run.mjs bundles examples/browser, serves it on
 * 127.0.0.1 and trains a small CNN in headless Chromium (SwiftShader) on the gpu backend; it exits
 * 0 when the requested gpu.js mode actually ran and the losses fall and match the cpu backend's.
 */
import { execFileSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = join(dirname(fileURLToPath(import.meta.url)), '../../..');
const enabled = process.env.QGRAD_BROWSER_TEST === '1';

describe.skipIf(!enabled)('gpu backend in headless Chromium', () => {
  for (const mode of ['webgl2', 'webasm']) {
    it(`trains on ${mode} and matches the cpu backend`, () => {
      let out = '';
      try {
        out = execFileSync(process.execPath, [join(root, 'scripts/browser-run.mjs'), '--mode', mode, '--steps', '6'], { encoding: 'utf8', timeout: 240_000 });
      } catch (e) {
        const err = e as { stdout?: string; stderr?: string; message: string };
        expect.fail(`browser run failed (${mode}): ${err.stderr || err.message}\n${err.stdout ?? ''}`);
      }
      const line = out.split('\n').find((l) => l.startsWith('RESULT '));
      expect(line, `no RESULT line in:\n${out}`).toBeDefined();
      const result = JSON.parse(line!.slice('RESULT '.length)) as { ok: boolean; mode: string; maxRelDiff: number };
      expect(result.ok).toBe(true);
      expect(result.mode).toBe(mode);
      expect(result.maxRelDiff).toBeLessThanOrEqual(1e-4);
    }, 300_000);
  }
});
