import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { manualSeed } from '../../src/index.js';
import { quantizeOwnModel } from '../../examples/own-model.js';

const dir = mkdtempSync(join(tmpdir(), 'qgrad-own-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('README: quantize your own model', () => {
  it('the README quotes examples/own-model.ts verbatim', () => {
    const source = readFileSync(new URL('../../examples/own-model.ts', import.meta.url), 'utf8');
    const block = source.slice(source.indexOf('// README:begin\n') + '// README:begin\n'.length, source.indexOf('// README:end'));
    const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
    expect(block.length).toBeGreaterThan(500);
    expect(readme).toContain('```ts\n' + block + '```');
  });

  it('runs: prepare, calibrate, convert, save, load, predict', () => {
    manualSeed(3);
    const r = quantizeOwnModel(2048, join(dir, 'own.qgrd'));
    expect(r.float).toBeGreaterThan(0.6);
    expect(Math.abs(r.int8 - r.fakeQuant)).toBeLessThan(0.02);
    expect(r.predicted).toHaveLength(8);
    expect(Array.from(r.predicted).every((c) => c >= 0 && c < 10)).toBe(true);
  });
});
