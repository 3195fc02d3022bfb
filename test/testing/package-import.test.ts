/**
 * qgrad/testing is importable by the package's name, as an outside project imports it: once through
 * Node's package self-reference (the "exports" field) in this process, and once from a scratch
 * project outside the repository whose node_modules/qgrad links here (run from source with Node's
 * --conditions=source; the published files in dist/ are tested by test/package/pack.test.ts).
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import * as kit from 'qgrad/testing';
import * as direct from '../../src/testing/index.js';

describe('qgrad/testing as a package entry', () => {
  it('resolves by name to the same module as the source path', () => {
    expect(kit.runConformance).toBe(direct.runConformance);
    expect(typeof kit.arbQParams).toBe('function');
    expect(kit.SUITE_NAMES).toContain('fakeQuantize per channel');
  });

  it('is importable from a project outside the repository (node_modules/qgrad -> this package)', () => {
    const root = resolve(import.meta.dirname, '../..');
    const dir = mkdtempSync(join(tmpdir(), 'qgrad-outside-'));
    try {
      mkdirSync(join(dir, 'node_modules'));
      symlinkSync(root, join(dir, 'node_modules', 'qgrad'), 'dir');
      writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'outside', type: 'module' }));
      writeFileSync(join(dir, 'check.ts'), [
        "import { runConformance, referenceKernels } from 'qgrad/testing';",
        "const r = runConformance(referenceKernels(), { numRuns: 20, only: ['quantize', 'fakeQuantize'] });",
        "console.log(JSON.stringify({ passed: r.passed, suites: r.suites.map((s) => s.suite) }));",
      ].join('\n'));
      const tsx = join(root, 'node_modules', '.bin', 'tsx');
      const res = spawnSync(tsx, ['--conditions=source', 'check.ts'], { cwd: dir, encoding: 'utf8', timeout: 60_000 });
      expect(res.stderr).toBe('');
      expect(JSON.parse(res.stdout.trim())).toEqual({ passed: true, suites: ['quantize', 'fakeQuantize'] });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
