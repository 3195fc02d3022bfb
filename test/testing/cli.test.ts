/**
 * examples/conformance/cli.ts end to end: `vectors` writes JSON and binary that decode to the same
 * set, `check` passes the vectors' own values and reports a Math.round kernel's mismatches by case
 * (exit 1), `suite` prints the kit's report, and every bad flag is one line on stderr with exit 2.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { decodeVectors, type VectorSet } from '../../src/testing/index.js';
import { mathRoundKernel } from '../../examples/conformance/wrong-kernels.js';

const root = resolve(import.meta.dirname, '../..');
const dir = mkdtempSync(join(tmpdir(), 'qgrad-conformance-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function cli(...args: string[]) {
  const r = spawnSync(join(root, 'node_modules', '.bin', 'tsx'), [join(root, 'examples/conformance/cli.ts'), ...args], { cwd: root, encoding: 'utf8', timeout: 60_000 });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

describe('conformance CLI', () => {
  const out = join(dir, 'vec');

  it('vectors writes vectors.json and vectors.bin holding the same set; check passes them and flags a Math.round kernel', () => {
    const w = cli('vectors', '--convention', 'pytorch', '--rounding', 'halfEven', '--bits', '8,4', '--out', out);
    expect(w.err).toBe('');
    expect(w.code).toBe(0);
    expect(w.out).toMatch(/quant records \(\d+ exact ties\)/);
    const json = JSON.parse(readFileSync(join(out, 'vectors.json'), 'utf8')) as VectorSet;
    expect(decodeVectors(readFileSync(join(out, 'vectors.bin')))).toEqual(json);

    const good = join(dir, 'good.json');
    writeFileSync(good, JSON.stringify({ quant: json.quant.map((q) => ({ id: q.id, level: q.level, deq: q.deq, fq: q.fq, mask: q.mask })), requantize: json.requantize.map((r) => ({ id: r.id, out: r.out })) }));
    const ok = cli('check', '--vectors', out, '--outputs', good);
    expect(ok.code).toBe(0);
    expect(ok.out).toMatch(/ 0 mismatches, 0 records without outputs/);

    const bad = join(dir, 'bad.json');
    writeFileSync(bad, JSON.stringify({
      quant: json.quant.map((q) => {
        const g = json.groups[q.group];
        return { id: q.id, level: mathRoundKernel.quantize!(Float32Array.of(q.x), { scale: g.scale, zeroPoint: g.zeroPoint, qmin: g.qmin, qmax: g.qmax })[0] };
      }),
    }));
    const no = cli('check', '--vectors', out, '--outputs', bad, '--max', '3');
    expect(no.code).toBe(1);
    const lines = no.out.trim().split('\n');
    expect(lines.filter((l) => /^ {2}quant\[\d+\] level: expected/.test(l))).toHaveLength(3);
    expect(no.out).toMatch(/by flag: tie \d+/);
  });

  it('suite prints the report with the broken rule', () => {
    const r = cli('suite', '--kernel', 'math-round', '--runs', '50');
    expect(r.code).toBe(1);
    expect(r.out).toMatch(/FAIL quantize: tie rounding/);
  });

  it.each([
    [['vectors', '--convention', 'torch', '--bits', '8', '--out', 'x'], /--convention must be pytorch or tflite, got "torch"/],
    [['vectors', '--convention', 'pytorch', '--bits', '8,x', '--out', 'x'], /--bits must be a comma-separated list of integers in 1\.\.16/],
    [['check', '--vectors', join(dir, 'none'), '--outputs', join(dir, 'none.json'), '--colour'], /Unknown option '--colour'/],
  ])('%j: one line on stderr, exit 2', (args, message) => {
    const r = cli(...args);
    expect(r.code).toBe(2);
    expect(r.err.trim().split('\n')).toHaveLength(1);
    expect(r.err).toMatch(/^conformance: /);
    expect(r.err).toMatch(message);
    expect(r.out).toBe('');
  });
});
